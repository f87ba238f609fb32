"""The simulator playing Meta as Meta is, where PyTake's handling depends on it: a customer who
hides their number behind a username, replies, reactions, edits and deletions from the phone,
several messages and statuses of several customers in one POST, statuses skipped, repeated or
out of order, and redelivery that keeps trying."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Contact, Direction, Message, MessageStatus, SenderType
from simulator import services as simulator
from simulator.models import SimDirection, SimulatedMessage
from tests import factories
from tests.simulator.support import wait_until
from tests.whatsapp.support import eager_celery  # noqa: F401 (fixture)

pytestmark = [pytest.mark.usefixtures("without_flow"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def account(tenant):
    return factories.WhatsAppAccountFactory(tenant=tenant)


def phone(account, wa_id="5511988887777", **fields):
    return simulator.phone_send(phone_number_id=account.phone_number_id, wa_id=wa_id, name="Rita", **fields)


def inbound(wamid: str) -> Message:
    return wait_until(lambda: Message.objects.filter(whatsapp_message_id=wamid).first(), what=f"message {wamid}")


def test_a_customer_with_a_username_writes_and_gets_the_agents_answer(sim, account, api_for, supervisor):
    said = phone(account, text="Oi, sou a Rita", username="rita.s")
    message = inbound(said.wamid)
    contact = message.conversation.contact
    assert (contact.wa_id, contact.wa_username) == ("", "rita.s")
    assert contact.wa_user_id == simulator.user_id_of("5511988887777")
    # The answer goes to the user id (the number is unknown) and reaches the same phone.
    message.conversation.last_customer_message_at = timezone.now()
    message.conversation.save()
    response = api_for(supervisor).post(
        f"/api/conversations/{message.conversation_id}/messages/", {"text": "Olá, Rita!"}, format="json"
    )
    assert response.status_code == 201, response.content
    on_phone = wait_until(
        lambda: SimulatedMessage.objects.filter(direction=SimDirection.TO_CUSTOMER).first(), what="the answer"
    )
    assert on_phone.wa_id == "5511988887777" and on_phone.body["body"] == "Olá, Rita!"
    # Later the same customer writes with the number shown: one contact, both identifiers.
    again = phone(account, text="Meu número é este")
    assert inbound(again.wamid).conversation.contact_id == contact.pk
    contact.refresh_from_db()
    assert contact.wa_id == "5511988887777" and Contact.objects.count() == 1


def test_reply_react_edit_and_delete_from_the_phone(sim, account):
    first = phone(account, text="Quero o azul")
    original = inbound(first.wamid)
    agent_says = factories.MessageFactory(
        conversation=original.conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.AGENT,
        status=MessageStatus.DELIVERED,
        content={"text": "Temos azul e vermelho"},
        whatsapp_message_id="wamid.agent-says",
    )
    reply = phone(account, text="O azul, por favor", action="reply", target="wamid.agent-says")
    assert inbound(reply.wamid).reply_to_id == agent_says.pk

    phone(account, action="react", target="wamid.agent-says", emoji="❤️")
    wait_until(lambda: Message.objects.get(pk=agent_says.pk).reactions, what="the reaction")
    assert [r["emoji"] for r in Message.objects.get(pk=agent_says.pk).reactions] == ["❤️"]

    phone(account, action="edit", target=first.wamid, text="Quero o vermelho")
    wait_until(lambda: Message.objects.get(pk=original.pk).edited_at, what="the edit")
    assert Message.objects.get(pk=original.pk).text == "Quero o vermelho"

    phone(account, action="delete", target=first.wamid)
    wait_until(lambda: Message.objects.get(pk=original.pk).deleted_at, what="the deletion")
    # Four changes, no new bubbles: the first message, the reply, the agent's.
    assert Message.objects.count() == 3


def test_one_post_with_several_customers_messages_and_statuses(sim, account, tenant):
    outbound = factories.MessageFactory(
        conversation=factories.ConversationFactory(tenant=tenant, whatsapp_account=account),
        direction=Direction.OUTBOUND,
        sender_type=SenderType.AGENT,
        status=MessageStatus.PENDING,
        whatsapp_message_id="wamid.out-in-batch",
    )
    second_number = factories.WhatsAppAccountFactory(tenant=tenant, app_secret=account.app_secret)
    values = [
        {
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511900000001"}],
            "messages": [
                {
                    "from": "5511900000001",
                    "id": "wamid.b1",
                    "timestamp": "1712595600",
                    "type": "text",
                    "text": {"body": "a"},
                }
            ],
        },
        {
            "contacts": [{"profile": {"name": "Bia", "username": "bia"}, "user_id": "BR.555"}],
            "messages": [
                {
                    "from_user_id": "BR.555",
                    "id": "wamid.b2",
                    "timestamp": "1712595601",
                    "type": "text",
                    "text": {"body": "b"},
                }
            ],
            "statuses": [
                {"id": "wamid.out-in-batch", "status": "read", "timestamp": "1712595602", "recipient_id": "1"}
            ],
        },
        {
            "phone_number_id": second_number.phone_number_id,
            "contacts": [{"profile": {"name": "Caio"}, "wa_id": "5511900000003"}],
            "messages": [
                {
                    "from": "5511900000003",
                    "id": "wamid.b3",
                    "timestamp": "1712595603",
                    "type": "text",
                    "text": {"body": "c"},
                }
            ],
        },
    ]
    simulator.deliver_batch(account.phone_number_id, values)
    assert {inbound(w).conversation.whatsapp_account_id for w in ("wamid.b1", "wamid.b2")} == {account.pk}
    assert inbound("wamid.b3").conversation.whatsapp_account_id == second_number.pk
    wait_until(lambda: Message.objects.get(pk=outbound.pk).status == MessageStatus.READ, what="the batched status")


def test_statuses_skipped_repeated_and_out_of_order_still_end_right(sim, settings, account, api_for, supervisor):
    plan = simulator.status_plan([0.1, 0.2, 0.3], chaos=1.0)
    statuses = [s for _, s in plan]
    assert statuses != ["sent", "delivered", "read"]  # chaos: not the tidy order
    settings.WHATSAPP_SIMULATOR_STATUS_CHAOS = 0.9
    conversation = factories.ConversationFactory(
        tenant=account.tenant, whatsapp_account=account, last_customer_message_at=timezone.now() - timedelta(minutes=1)
    )
    for n in range(4):
        response = api_for(supervisor).post(
            f"/api/conversations/{conversation.pk}/messages/", {"text": f"reply {n}"}, format="json"
        )
        assert response.status_code == 201
    wait_until(
        lambda: set(Message.objects.filter(conversation=conversation).values_list("status", flat=True)) == {"read"},
        what="every reply read, whatever order its statuses came in",
    )
    assert not Message.objects.filter(conversation=conversation, read_at__isnull=True).exists()


def test_redelivery_backs_off_and_keeps_trying(settings):
    settings.WHATSAPP_SIMULATOR_REDELIVERY_MAX_DELAY = 300
    delays = [simulator.redelivery_delay(n) for n in range(12)]
    assert delays == sorted(delays) and delays[0] == 0.5 and delays[-1] == 300
    assert sum(delays) > 600  # minutes of trying, not seconds
    assert settings.WHATSAPP_SIMULATOR_REDELIVERY_ATTEMPTS >= 10


def test_orders_number_changes_and_unsupported_messages_from_the_phone(sim, account):
    order = inbound(phone(account, action="order", text="Entrega à tarde").wamid)
    assert order.type == "order" and order.content["order"]["total"] == 85
    unsupported = inbound(phone(account, action="unsupported").wamid)
    assert unsupported.type == "unsupported" and unsupported.content["errors"][0]["code"] == 131051
    with pytest.raises(simulator.PhoneError):
        phone(account, action="change_number", text="5511988887777")  # the same number
    inbound(phone(account, action="change_number", text="+55 11 97777-6666").wamid)
    wait_until(lambda: Contact.objects.filter(wa_id="5511977776666").exists(), what="the contact on its new number")
    moved = inbound(phone(account, wa_id="5511977776666", text="Do número novo").wamid)
    assert moved.conversation_id == order.conversation_id
