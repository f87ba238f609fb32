"""Recording an event: the tenant's id, the conversation's seq and the row, and what a copy of
the conversation in its data says. On PostgreSQL one statement does all three."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.access import recipients_of_conversation
from conversations.serializers import ConversationSerializer, representation
from realtime.events import Recipients, event_record
from realtime.models import Audience, Event, TenantEventCounter
from tests import factories

pytestmark = pytest.mark.django_db

STATEMENTS_PER_EVENT = {"postgresql": 1, "sqlite": 3}  # sqlite: two counters' UPDATEs and the INSERT


def test_a_tenants_first_event_creates_its_counter_and_advances_the_conversation_once(tenant):
    assert not TenantEventCounter.objects.filter(tenant=tenant).exists()
    conversation = factories.ConversationFactory(tenant=tenant)  # conversation.new: the first event
    (first,) = Event.objects.filter(tenant=tenant)
    assert (first.seq, first.conversation_seq, first.data["seq"]) == (1, 1, 1)
    conversation.refresh_from_db()
    assert conversation.event_seq == 1
    assert TenantEventCounter.objects.get(tenant=tenant).last_seq == 1


def test_an_event_is_recorded_in_as_few_statements_as_the_database_allows(tenant):
    conversation = factories.ConversationFactory(tenant=tenant)
    data = representation(ConversationSerializer, conversation)
    with CaptureQueriesContext(connection) as queries:
        event = event_record(
            tenant_id=tenant.pk,
            type="conversation.updated",
            data=data,
            recipients=recipients_of_conversation(conversation),
            conversation=conversation,
        )
    assert len(queries) == STATEMENTS_PER_EVENT[connection.vendor], [q["sql"] for q in queries]
    stored = Event.objects.get(pk=event.pk)
    assert (stored.seq, stored.conversation_seq, stored.data["seq"]) == (2, 2, 2)
    assert (event.seq, event.conversation_seq, event.data) == (2, 2, stored.data)
    assert conversation.event_seq == 2  # the caller's instance, as the row
    conversation.refresh_from_db()
    assert conversation.event_seq == 2
    # An event that does not count in the conversation's seq leaves it and the copy alone.
    notice = event_record(
        tenant_id=tenant.pk,
        type="conversation.assigned",
        data={**data, "seq": 2},
        recipients=Recipients(Audience.USER, user_id=1),
        conversation=conversation,
        counts_in_seq=False,
    )
    stored = Event.objects.get(pk=notice.pk)
    assert (stored.seq, stored.conversation_seq, stored.data["seq"]) == (3, None, 2)
    conversation.refresh_from_db()
    assert conversation.event_seq == 2


def test_saving_a_copy_read_before_an_event_never_takes_the_conversations_seq_back():
    conversation = factories.ConversationFactory()
    stale = type(conversation).objects.get(pk=conversation.pk)
    factories.MessageFactory(conversation=conversation)  # message.new advances the seq in SQL
    stale.unread_count = 5
    stale.save()  # conversation.updated, from a copy read before that event
    factories.MessageFactory(conversation=conversation)
    seqs = list(
        Event.objects.filter(conversation_id=conversation.pk).order_by("seq").values_list("conversation_seq", flat=True)
    )
    assert len(seqs) >= 3
    assert seqs == sorted(set(seqs))  # one seq per event, in the order of the log
