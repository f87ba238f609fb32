# ruff: noqa: F811  (the graph and eager_celery fixtures are imported, then named as arguments)
"""The WhatsApp id Meta answers a send with: a Brazilian mobile written with its ninth digit often
belongs to an id without it, and the customer's replies come from that id."""

import pytest

from conversations.models import Contact, Conversation, Message
from tests import factories
from tests.whatsapp.graph_fake import graph  # noqa: F401 (fixture)
from tests.whatsapp.support import eager_celery  # noqa: F401 (fixture)
from whatsapp import services

pytestmark = pytest.mark.django_db

WRITTEN, RESOLVED = "5511987654321", "551187654321"


@pytest.fixture
def conversation(tenant, agent):
    account = factories.WhatsAppAccountFactory(tenant=tenant)
    contact = factories.ContactFactory(tenant=tenant, wa_id=WRITTEN, phone=f"+{WRITTEN}")
    return factories.ConversationFactory(tenant=tenant, contact=contact, whatsapp_account=account, assignee=agent)


def _send(conversation, agent):
    message = factories.MessageFactory(
        conversation=conversation, direction="outbound", sender_type="agent", sender=agent, status="pending"
    )
    services.message_send(message_id=message.pk)
    return Message.objects.get(pk=message.pk)


def test_the_contact_takes_the_id_meta_resolved_the_number_to(graph, conversation, agent):
    graph.wa_ids[WRITTEN] = RESOLVED
    sent = _send(conversation, agent)
    assert sent.whatsapp_message_id and graph.sent[0]["to"] == WRITTEN
    contact = Contact.objects.get(pk=conversation.contact_id)
    assert contact.wa_id == RESOLVED  # the customer's replies come from it: they meet this contact
    assert contact.phone == f"+{WRITTEN}"  # the number shown stays as written

    _send(conversation, agent)  # the next send goes to the resolved id
    assert graph.sent[1]["to"] == RESOLVED


def test_a_contact_already_known_by_the_resolved_id_is_merged_into_it(graph, conversation, agent, tenant):
    older = factories.ContactFactory(tenant=tenant, wa_id=RESOLVED, phone=f"+{RESOLVED}")
    earlier = factories.ConversationFactory(
        tenant=tenant, contact=older, whatsapp_account=conversation.whatsapp_account
    )
    graph.wa_ids[WRITTEN] = RESOLVED
    _send(conversation, agent)
    assert not Contact.objects.filter(pk=older.pk).exists()
    assert Contact.objects.get(pk=conversation.contact_id).wa_id == RESOLVED
    assert Conversation.objects.get(pk=earlier.pk).contact_id == conversation.contact_id


def test_the_same_id_changes_nothing(graph, conversation, agent):
    _send(conversation, agent)
    assert Contact.objects.get(pk=conversation.contact_id).wa_id == WRITTEN
