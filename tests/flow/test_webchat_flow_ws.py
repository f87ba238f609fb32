"""End to end over /ws/: widget customers ask for a human, see their place in line move up."""

import pytest
from channels.db import database_sync_to_async as db
from rest_framework.test import APIClient

from conversations.models import Message
from flow.bot.defaults import bot_seed_defaults
from flow.bot.models import BotSettings
from tests.flow_helpers import eager_celery  # noqa: F401
from tests.ws import command, connect, next_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery", "clean_realtime")]


@db
def open_widget(tenant, name):
    response = APIClient().post("/api/webchat/sessions/", {"tenant": tenant.slug, "name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@db
def stored_content(message_id):
    return Message.objects.get(pk=message_id).content


@db
def seed_bot(tenant):
    bot_seed_defaults(tenant=tenant)
    BotSettings.objects.filter(tenant=tenant).update(business_hours={})


async def test_customer_asks_for_human_sees_position_2_then_1(tenant, agent, supervisor, api_for):
    await seed_bot(tenant)
    boss = await connect(supervisor)  # staff see the queue change; supervisors are not assigned
    first, second = await open_widget(tenant, "Maria"), await open_widget(tenant, "John")
    maria, john = await connect(first["token"]), await connect(second["token"])

    # Maria talks to the bot first: an answer with quick replies, no queue.
    await command(maria, action="message", text="qual o horario de funcionamento?", client_id="m1")
    answer = await next_of(maria, "message.new")
    while answer["data"]["sender_type"] != "bot":
        answer = await next_of(maria, "message.new")
    assert "Falar com atendente" in answer["data"]["content"]["quick_replies"]
    # What the bot understood, and how sure it was, is for staff; the customer sees the answer.
    assert "bot" not in answer["data"]["content"]
    assert (await stored_content(answer["data"]["id"]))["bot"]["intent"] == "business_hours"

    # She presses the quick reply: the bot hands over; no agent is connected, so she waits, first.
    await command(maria, action="message", text="Falar com atendente", client_id="m2")
    assert (await next_of(maria, "queue.position"))["data"]["position"] == 1
    queued = await next_of(boss, "queue.updated")
    assert queued["data"] == {"size": 1, "conversation_id": first["conversation_id"], "reason": "queued"}

    # John asks in English: second in line, with an estimate.
    await command(john, action="message", text="I want to talk to a human", client_id="j1")
    position = await next_of(john, "queue.position")
    assert position["data"]["position"] == 2
    assert position["data"]["estimated_wait_seconds"] > 0
    assert (await next_of(boss, "queue.updated"))["data"]["size"] == 2

    # His token is for his conversation only.
    assert (await command(john, action="join", conversation_id=first["conversation_id"]))["code"] == "not_found"

    # An agent takes the first one: John moves up to 1.
    response = await db(
        lambda: api_for(agent).post(
            f"/api/conversations/{first['conversation_id']}/assign/", {"assignee_id": agent.pk}, format="json"
        )
    )()
    assert response.status_code == 200, response.content
    assert (await next_of(john, "queue.position"))["data"]["position"] == 1
    taken = await next_of(boss, "queue.updated")
    assert taken["data"] == {"size": 1, "conversation_id": first["conversation_id"], "reason": "assigned"}
    # Maria is not in line any more: her banner goes, and she is told who joined, in her language.
    seen: dict[str, dict] = {}
    while len(seen) < 2:
        frame = await maria.receive_json_from(timeout=5)
        assert frame["type"] != "queue.position"
        if frame["type"] == "queue.left":
            seen["left"] = frame
        elif frame["type"] == "message.new" and frame["data"]["content"].get("notice"):
            seen["joined"] = frame
    assert seen["left"]["data"] == {"outcome": "assigned"}
    joined = seen["joined"]["data"]
    first_name = agent.name.split()[0]
    assert joined["sender_type"] == "bot" and not joined["internal"]
    assert joined["content"]["notice"] == {"event": "agent_joined", "agent": agent.pk, "agent_name": first_name}
    assert joined["content"]["text"] == f"Um atendente entrou na conversa: {first_name}."
    # And never a place in line again (what else comes is the notice's status: sent).
    while not await maria.receive_nothing(timeout=0.3):
        assert (await maria.receive_json_from(timeout=1))["type"] == "message.status"

    for comm in (boss, maria, john):
        await comm.disconnect()
