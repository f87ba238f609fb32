import importlib

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.loader import MigrationLoader

from conversations.models import Channel, Direction, Message, MessageStatus
from conversations.transitions import conversation_can_move, message_status_can_advance
from tests import factories

pytestmark = pytest.mark.django_db


def test_duplicate_whatsapp_message_id_is_refused_per_account():
    account = factories.WhatsAppAccountFactory()
    conversation = factories.ConversationFactory(tenant=account.tenant, whatsapp_account=account)
    factories.MessageFactory(conversation=conversation, whatsapp_account=account, whatsapp_message_id="wamid.1")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.MessageFactory(conversation=conversation, whatsapp_account=account, whatsapp_message_id="wamid.1")
    # The same id on another account is another message; messages without an id never collide.
    other = factories.WhatsAppAccountFactory(tenant=account.tenant)
    factories.MessageFactory(conversation=conversation, whatsapp_account=other, whatsapp_message_id="wamid.1")
    factories.MessageFactory.create_batch(2, conversation=conversation, whatsapp_message_id=None)
    assert Message.objects.filter(whatsapp_message_id="wamid.1").count() == 2


def test_duplicate_client_id_is_refused_per_conversation():
    conversation = factories.ConversationFactory()
    factories.MessageFactory(conversation=conversation, client_id="abc")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.MessageFactory(conversation=conversation, client_id="abc")


def test_contact_wa_id_unique_per_tenant_but_blank_allowed():
    tenant = factories.TenantFactory()
    factories.ContactFactory(tenant=tenant, wa_id="5511")
    factories.ContactFactory(wa_id="5511")  # another tenant
    factories.ContactFactory.create_batch(2, tenant=tenant, wa_id="")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ContactFactory(tenant=tenant, wa_id="5511")


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        ("pending", "sent", True),
        ("sent", "delivered", True),
        ("sent", "read", True),
        ("read", "delivered", False),
        ("delivered", "sent", False),
        ("read", "read", False),
        ("delivered", "failed", True),
        ("failed", "read", False),
        ("read", "failed", False),
    ],
)
def test_message_status_only_moves_forward(current, new, allowed):
    assert message_status_can_advance(current, new) is allowed


def test_conversation_transitions():
    assert conversation_can_move("open", "resolved")
    assert conversation_can_move("resolved", "open")
    assert not conversation_can_move("resolved", "pending")


def test_the_account_migration_gives_older_outbound_whatsapp_messages_their_conversations_account():
    """Older rows had no account of their own; after migration 0008 the message's account is the
    one rule every sending and status path reads."""
    name = "0008_message_account_from_conversation"
    account = factories.WhatsAppAccountFactory()
    conversation = factories.ConversationFactory(tenant=account.tenant, whatsapp_account=account)
    outbound = {"direction": Direction.OUTBOUND, "status": MessageStatus.PENDING, "whatsapp_account": None}
    older = factories.MessageFactory(conversation=conversation, **outbound)
    note = factories.MessageFactory(conversation=conversation, internal=True, **outbound)
    webchat = factories.MessageFactory(conversation=factories.ConversationFactory(channel=Channel.WEBCHAT), **outbound)
    other = factories.WhatsAppAccountFactory(tenant=account.tenant)
    own = factories.MessageFactory(conversation=conversation, **{**outbound, "whatsapp_account": other})

    apps = MigrationLoader(connection).project_state(("conversations", name)).apps
    importlib.import_module(f"conversations.migrations.{name}").fill_message_accounts(apps, None)

    accounts = dict(Message.objects.values_list("pk", "whatsapp_account_id"))
    assert accounts[older.pk] == account.pk
    assert accounts[own.pk] == other.pk  # a message's own account is kept
    assert accounts[note.pk] is None and accounts[webchat.pk] is None  # never sent to WhatsApp
