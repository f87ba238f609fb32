"""SQL queries per request of the inbox list and the message history: the same for 2 rows as for
20, for every filter the web inbox uses (static/pytake/inbox/list.js), so an N+1 is a failing test.

Rows are made as varied as production's: every conversation has its own contact and (when
assigned) one of several agents, every message one of several senders or none, and another tenant
has rows of its own, so a missing ``select_related`` or a lost tenant filter shows.
``bench.scenario_rest`` measures the same counts on 1,000,000 messages.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conversations.models import ConversationStatus, Direction, Message, SenderType, User
from tests import factories

pytestmark = pytest.mark.django_db

SMALL, LARGE = 2, 20

# Queries of one request today: the user with its tenant (JWT, then the permission), then the page;
# the history also loads the conversation (visibility) and, with ``before=``, the anchor message.
INBOX_BUDGET = 2
HISTORY_BUDGET = 3
HISTORY_BEFORE_BUDGET = 4


def queries_and_rows(client: APIClient, url: str, params: dict[str, Any] | None = None) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.content
    return len(captured.captured_queries), len(response.json()["results"])


def add_conversations(tenant: Any, agents: list[User], count: int, **fields: Any) -> None:
    """``count`` open conversations, each with its own contact, assigned in turn to ``agents``
    (``fields`` may override ``assignee``, ``status``, ``queued_at``)."""
    for i in range(count):
        values = {"assignee": agents[i % len(agents)], "status": ConversationStatus.OPEN, **fields}
        factories.ConversationFactory(tenant=tenant, **values)


@pytest.fixture
def agents(tenant: Any, agent: User) -> list[User]:
    return [agent] + [factories.UserFactory(tenant=tenant) for _ in range(3)]


@pytest.fixture
def foreign_rows(other_tenant: Any) -> None:
    """Another tenant's conversations and messages, which no request here may count or return."""
    other_agent = factories.UserFactory(tenant=other_tenant)
    for _ in range(3):
        conversation = factories.ConversationFactory(tenant=other_tenant, assignee=other_agent)
        factories.MessageFactory.create_batch(2, conversation=conversation)


# (who asks, query string, which conversations the filter returns: made with these fields)
INBOX_CASES = [
    pytest.param("agent", {"status": "open", "assignee": "me"}, {"assignee": "me"}, id="agent-mine-open"),
    pytest.param("agent", {"assignee": "me"}, {"assignee": "me"}, id="agent-mine-any-status"),
    pytest.param("agent", {"status": "open", "unassigned": "true"}, {"assignee": None}, id="agent-queue-open"),
    pytest.param("agent", {}, {"assignee": "me"}, id="agent-everything-visible"),
    pytest.param("supervisor", {"status": "open"}, {}, id="supervisor-all-open"),
    pytest.param(
        "supervisor", {"status": "resolved"}, {"status": ConversationStatus.RESOLVED}, id="supervisor-resolved"
    ),
    pytest.param("supervisor", {"search": "Customer"}, {}, id="supervisor-search"),
]


@pytest.mark.parametrize(("who", "params", "fields"), INBOX_CASES)
def test_inbox_list_makes_as_many_queries_for_20_conversations_as_for_2(
    api_for: Callable[[User | None], APIClient],
    agent: User,
    supervisor: User,
    agents: list[User],
    tenant: Any,
    foreign_rows: None,
    who: str,
    params: dict[str, str],
    fields: dict[str, Any],
) -> None:
    caller = agent if who == "agent" else supervisor
    rows_fields = {**fields, "assignee": agent} if fields.get("assignee") == "me" else dict(fields)
    assignees = agents if "assignee" not in rows_fields else [rows_fields.pop("assignee")]
    client = api_for(caller)

    add_conversations(tenant, assignees, SMALL, **rows_fields)
    small, small_rows = queries_and_rows(client, "/api/conversations/", params)
    add_conversations(tenant, assignees, LARGE - SMALL, **rows_fields)
    large, large_rows = queries_and_rows(client, "/api/conversations/", params)

    assert (small_rows, large_rows) == (SMALL, LARGE)  # the filter matched the rows made, no foreign ones
    assert large == small, f"{small} queries for {SMALL} conversations, {large} for {LARGE}: an N+1"
    assert large <= INBOX_BUDGET


def test_inbox_next_page_makes_as_many_queries_as_the_first(
    api_for: Callable[[User | None], APIClient], supervisor: User, agents: list[User], tenant: Any
) -> None:
    add_conversations(tenant, agents, 2 * LARGE)
    client = api_for(supervisor)
    with CaptureQueriesContext(connection) as first_queries:
        first = client.get("/api/conversations/", {"page_size": LARGE}).json()
    with CaptureQueriesContext(connection) as second_queries:
        second = client.get(first["next"]).json()
    assert len(first["results"]) == len(second["results"]) == LARGE
    assert len(second_queries.captured_queries) == len(first_queries.captured_queries) <= INBOX_BUDGET


def test_inbox_page_size_does_not_change_the_query_count(
    api_for: Callable[[User | None], APIClient], supervisor: User, agents: list[User], tenant: Any
) -> None:
    add_conversations(tenant, agents, LARGE)
    client = api_for(supervisor)
    small, small_rows = queries_and_rows(client, "/api/conversations/", {"page_size": SMALL})
    large, large_rows = queries_and_rows(client, "/api/conversations/", {"page_size": LARGE})
    assert (small_rows, large_rows) == (SMALL, LARGE)
    assert large == small <= INBOX_BUDGET


def add_messages(conversation: Any, senders: list[User], count: int) -> list[Message]:
    """``count`` messages alternating between the customer (no sender) and each of ``senders``."""
    made = []
    for i in range(count):
        sender = senders[i % len(senders)] if i % 2 else None
        made.append(
            factories.MessageFactory(
                conversation=conversation,
                sender=sender,
                direction=Direction.OUTBOUND if sender else Direction.INBOUND,
                sender_type=SenderType.AGENT if sender else SenderType.CONTACT,
            )
        )
    return made


@pytest.mark.parametrize("who", ["agent", "supervisor"])
def test_message_history_makes_as_many_queries_for_20_messages_as_for_2(
    api_for: Callable[[User | None], APIClient],
    agent: User,
    supervisor: User,
    agents: list[User],
    tenant: Any,
    foreign_rows: None,
    who: str,
) -> None:
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    client = api_for(agent if who == "agent" else supervisor)
    url = f"/api/conversations/{conversation.pk}/messages/"

    add_messages(conversation, agents + [supervisor], SMALL)
    small, small_rows = queries_and_rows(client, url)
    add_messages(conversation, agents + [supervisor], LARGE - SMALL)
    large, large_rows = queries_and_rows(client, url)

    assert (small_rows, large_rows) == (SMALL, LARGE)
    assert large == small, f"{small} queries for {SMALL} messages, {large} for {LARGE}: an N+1"
    assert large <= HISTORY_BUDGET


def test_older_history_page_makes_as_many_queries_for_20_messages_as_for_2(
    api_for: Callable[[User | None], APIClient], agent: User, agents: list[User], tenant: Any
) -> None:
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    client = api_for(agent)
    url = f"/api/conversations/{conversation.pk}/messages/"
    messages = add_messages(conversation, agents, 2 * LARGE + 1)
    anchor = messages[-1].pk  # the newest: everything before it is older

    small, small_rows = queries_and_rows(client, url, {"before": anchor, "limit": SMALL})
    large, large_rows = queries_and_rows(client, url, {"before": anchor, "limit": LARGE})

    assert (small_rows, large_rows) == (SMALL, LARGE)
    assert large == small, f"{small} queries for {SMALL} older messages, {large} for {LARGE}: an N+1"
    assert large <= HISTORY_BEFORE_BUDGET
