"""Lock order on real PostgreSQL: an agent reading a conversation (the conversation locked, then
its unread messages, then an event recorded) while a webhook changes one of its messages (a
status, a reaction, an edit). Both must finish: a writer that locked the message or the tenant's
event counter before the conversation would wait on the agent while the agent waits on it, and
PostgreSQL would kill one of them ("deadlock detected")."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Conversation, Direction, MessageStatus, SenderType
from tests import factories
from tests.locks import WAIT, backend_pid, wait_until_blocked
from whatsapp import inbound

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("without_flow")]


def _webhook_changes(kind: str, *, account, answer, question):
    """What the Celery worker does for one of Meta's deliveries about a message of the conversation."""
    now = timezone.now()
    if kind == "status":
        return lambda: conversation_services.message_status_apply(
            message_id=answer.pk, status=MessageStatus.DELIVERED, at=now
        )
    if kind == "reaction":
        return lambda: inbound.message_react(
            account=account, target_wamid=answer.whatsapp_message_id, emoji="👍", at=now, by="contact"
        )
    return lambda: inbound.message_edit(
        account=account,
        target_wamid=question.whatsapp_message_id,
        edit_wamid="wamid.edit",
        text="Qual o prazo de entrega?",
        at=now,
    )


@pytest.mark.parametrize("kind", ["status", "reaction", "edit"])
def test_an_agent_reading_and_a_webhook_on_one_of_its_messages_both_finish(tenant, agent, kind):
    account = factories.WhatsAppAccountFactory(tenant=tenant)
    conversation = factories.ConversationFactory(tenant=tenant, whatsapp_account=account, assignee=agent)
    earlier = timezone.now() - timedelta(minutes=1)
    question = factories.MessageFactory(
        conversation=conversation, whatsapp_message_id="wamid.question", created_at=earlier
    )
    answer = factories.MessageFactory(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.AGENT,
        sender=agent,
        status=MessageStatus.SENT,
        whatsapp_message_id="wamid.answer",
        created_at=earlier,
    )
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=1)
    webhook = _webhook_changes(kind, account=account, answer=answer, question=question)

    errors: list[BaseException] = []
    webhook_pid: list[int] = []
    agent_holds, webhook_started = threading.Event(), threading.Event()

    def agent_reads() -> None:
        try:
            with transaction.atomic():
                conversation_services.conversation_lock(conversation)
                agent_holds.set()
                assert webhook_started.wait(WAIT)
                wait_until_blocked(webhook_pid[0])  # the webhook now waits behind the agent's lock
                conversation_services.conversation_mark_read(conversation=conversation, actor=agent)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def worker() -> None:
        try:
            assert agent_holds.wait(WAIT)
            webhook_pid.append(backend_pid())
            webhook_started.set()
            webhook()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=agent_reads), threading.Thread(target=worker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=2 * WAIT)
    assert not any(t.is_alive() for t in threads)
    assert errors == []

    question.refresh_from_db()
    answer.refresh_from_db()
    assert question.read_at is not None  # the agent's read went through
    if kind == "status":
        assert answer.status == MessageStatus.DELIVERED
    elif kind == "reaction":
        assert [r["emoji"] for r in answer.reactions] == ["👍"]
    else:
        assert question.text == "Qual o prazo de entrega?"
