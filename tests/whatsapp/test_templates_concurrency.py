"""Two agents start a conversation with the same new number at the same moment, on real
PostgreSQL: one contact, one conversation; the second agent is told it is the first's."""

import threading

import pytest
from django.db import connection

from conversations import services as conversation_services
from conversations.models import Contact, Conversation, Message, MessageType
from pytake.errors import Conflict
from tests import factories
from tests.whatsapp.graph_fake import WABA_ID, graph  # noqa: F401 (fixture)
from whatsapp.models import MessageTemplate, TemplateStatus


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_agents_starting_with_one_number_make_one_conversation(tenant, agent, agent2, graph):  # noqa: F811
    factories.WhatsAppAccountFactory(tenant=tenant, business_account_id=WABA_ID)
    MessageTemplate.objects.create(
        tenant=tenant,
        business_account_id=WABA_ID,
        name="hello",
        language="en_US",
        status=TemplateStatus.APPROVED,
        components=[{"type": "BODY", "text": "Hello!"}],
    )
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def start(user) -> None:
        try:
            barrier.wait(timeout=10)
            message, _ = conversation_services.conversation_start(
                user=user,
                channel="whatsapp",
                phone="+55 11 95555-0000",
                template={"name": "hello", "language": "en_US"},
            )
            outcomes.append(message.conversation_id)
        except BaseException as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=start, args=(user,)) for user in (agent, agent2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert Contact.objects.filter(tenant=tenant, wa_id="5511955550000").count() == 1
    conversation = Conversation.objects.get(tenant=tenant)
    winners = [o for o in outcomes if o == conversation.pk]
    losers = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].code == "already_assigned"
    assert conversation.assignee_id in (agent.pk, agent2.pk)
    assert Message.objects.filter(conversation=conversation, type=MessageType.TEMPLATE).count() == 1
