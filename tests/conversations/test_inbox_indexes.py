"""Indexes of the inbox's queries on PostgreSQL, checked against the selectors' own SQL: the
contact search's trigram GIN index (migration 0009: the index's expressions must be the
``icontains`` lookups' own), an agent's conversations of any status read in order (0010), and
a page of older history read from its anchor on in ``msg_history_id_idx``."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.selectors import contact_list, conversation_list, message_page
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

INDEX = "contact_search_trgm_idx"


def plan_of(queryset, *settings):
    """EXPLAIN of ``queryset`` with the planner ``settings`` given (undone with the test's
    transaction): a test's tables are small, and the planner would read them whole."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        for setting in settings:
            cursor.execute(setting)
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def search_plan(queryset):
    """An index if any can serve it: the tenant's B-tree index, cheap on a small table, dropped."""
    return plan_of(
        queryset, "SET LOCAL enable_seqscan = off", "DROP INDEX IF EXISTS conversations_contact_tenant_id_62a0812c"
    )


def test_the_contact_and_inbox_searches_can_use_the_trigram_index(tenant, supervisor):
    maria = factories.ContactFactory(tenant=tenant, name="Maria Souza", wa_id="5511999990001")
    factories.ContactFactory.create_batch(5, tenant=tenant)
    factories.ConversationFactory(tenant=tenant, contact=maria)
    assert list(contact_list(user=supervisor, search="souz")) == [maria]
    assert INDEX in search_plan(contact_list(user=supervisor, search="souz"))
    # The inbox's search filters conversations by that same query (a sub-select): one index.
    assert list(conversation_list(user=supervisor, search="99990001").values_list("contact", flat=True)) == [maria.pk]
    assert INDEX in search_plan(contact_list(user=supervisor, search="99990001"))


def test_an_agents_conversations_of_any_status_are_read_newest_first_from_an_index(tenant, agent):
    factories.ConversationFactory.create_batch(3, tenant=tenant, assignee=agent)
    mine = conversation_list(user=agent, assignee="me")
    plan = plan_of(mine, "SET LOCAL enable_seqscan = off", "SET LOCAL enable_sort = off")
    assert "conv_assignee_recent_idx" in plan and "Sort" not in plan, plan


def test_an_older_page_of_history_is_read_from_its_anchor_on(tenant, agent):
    """``before=`` deep in a long conversation: the bound on the id is a range of the index, not a
    filter applied to every newer message read first."""
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    start = timezone.now() - timedelta(hours=1)
    messages = [
        factories.MessageFactory(conversation=conversation, created_at=start + timedelta(seconds=i)) for i in range(20)
    ]
    with CaptureQueriesContext(connection) as queries:
        page, more = message_page(conversation=conversation, before=messages[10].pk, limit=5)
    assert [m.pk for m in page] == [m.pk for m in reversed(messages[5:10])] and more
    (sql,) = [q["sql"] for q in queries.captured_queries if "DESC" in q["sql"]]  # the page, newest first
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    lines = plan.splitlines()
    (scan,) = [i for i, line in enumerate(lines) if "msg_history_id_idx" in line]
    assert "Index Cond" in lines[scan + 1] and "id <" in lines[scan + 1], plan
