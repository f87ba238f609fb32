"""WhatsApp and the service flow together, over real HTTP: a customer writes on WhatsApp, the bot
answers through the Graph API with reply buttons, the customer taps "Falar com atendente", the
conversation waits in the queue, and an agent's take is recorded."""

import pytest

from conversations.models import Conversation, Direction, Message, SenderType
from flow.bot.defaults import HANDOFF_BUTTON, bot_seed_defaults
from simulator.models import SimDirection, SimulatedMessage
from tests import factories
from tests.simulator.support import wait_until
from tests.whatsapp.support import eager_celery  # noqa: F401 (fixture)

# PostgreSQL: the live server writes while the test polls, which SQLite's shared in-memory test
# database answers with "table is locked".
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phone(sim, client):
    client.get("/simulator/phone/")  # the CSRF cookie, as the page gets it
    client.defaults["HTTP_X_CSRFTOKEN"] = client.cookies["csrftoken"].value
    return client


def test_whatsapp_customer_meets_the_bot_then_asks_for_a_human(phone, tenant, settings, api_for, agent):
    settings.PYTAKE_AUTO_ASSIGN = False
    account = factories.WhatsAppAccountFactory(tenant=tenant)
    bot_seed_defaults(tenant=tenant)
    wa_id = "5511912345678"
    base = {"phone_number_id": account.phone_number_id, "wa_id": wa_id, "name": "Rita"}

    assert phone.post("/simulator/phone/api/send", {**base, "text": "Olá, bom dia"}).status_code == 202
    # The bot's answer leaves through the Graph API (the simulator) as reply buttons.
    answer = wait_until(
        lambda: SimulatedMessage.objects.filter(wa_id=wa_id, direction=SimDirection.TO_CUSTOMER).first(),
        what="the bot's answer on the phone",
    )
    assert answer.type == "interactive"
    titles = [b["reply"]["title"] for b in answer.body["action"]["buttons"]]
    assert HANDOFF_BUTTON["pt"] in titles
    bot_message = wait_until(
        lambda: Message.objects.filter(whatsapp_message_id=answer.wamid).first(),
        what="the wamid saved on the bot message",
    )
    assert bot_message.sender_type == SenderType.BOT

    # The customer taps the button: an interactive button_reply webhook, read as its title.
    button = next(b["reply"] for b in answer.body["action"]["buttons"] if b["reply"]["title"] == HANDOFF_BUTTON["pt"])
    tap = phone.post("/simulator/phone/api/send", {**base, "reply_id": button["id"], "reply_title": button["title"]})
    assert tap.status_code == 202, tap.content
    conversation = wait_until(
        lambda: Conversation.objects.filter(contact__wa_id=wa_id, queued_at__isnull=False).first(),
        what="the conversation in the queue",
    )
    inbound = Message.objects.filter(conversation=conversation, direction=Direction.INBOUND).order_by("id")
    assert [m.text for m in inbound] == ["Olá, bom dia", HANDOFF_BUTTON["pt"]]
    queue = api_for(agent).get("/api/queue/").json()
    rows = queue["results"] if isinstance(queue, dict) else queue
    assert [row["conversation"]["id"] for row in rows] == [conversation.pk]

    taken = api_for(agent).post(
        f"/api/conversations/{conversation.pk}/assign/", {"assignee_id": agent.pk}, format="json"
    )
    assert taken.status_code == 200
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent.pk and conversation.queued_at is None
