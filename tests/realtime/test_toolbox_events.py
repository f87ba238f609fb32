"""Live events of the agent's toolbox reach exactly who may see them: a mention its teammate,
a conversation's labels those who see the conversation, a personal saved reply its owner, a
tenant label every staff member of the tenant and no one else."""

import pytest
from channels.db import database_sync_to_async as db

from conversations import labels, saved_replies, services
from conversations.models import Label, Role
from tests import factories
from tests.ws import connect, next_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_realtime")]


async def others_than_presence(comm) -> list[dict]:
    """The frames waiting on a socket, but teammates coming online (presence)."""
    frames = []
    while not await comm.receive_nothing(timeout=0.3):
        frame = await comm.receive_json_from(timeout=1)
        if frame["type"] != "presence":
            frames.append(frame)
    return frames


async def test_a_mention_reaches_the_mentioned_teammate_only(tenant, agent, agent2, foreign_admin):
    ana = await db(factories.UserFactory)(tenant=tenant, role=Role.AGENT, name="Ana Souza")
    conversation = await db(factories.ConversationFactory)(tenant=tenant, assignee=agent)
    mentioned, bystander, foreign = await connect(ana), await connect(agent2), await connect(foreign_admin)
    await db(services.note_create)(user=agent, conversation_id=conversation.pk, text="@ana please look")
    frame = await next_of(mentioned, "notification")
    assert frame["data"]["conversation_id"] == conversation.pk and frame["id"] > 0
    assert await others_than_presence(bystander) == []
    assert await others_than_presence(foreign) == []
    for comm in (mentioned, bystander, foreign):
        await comm.disconnect()


async def test_labels_travel_with_the_conversation_to_who_may_see_it(tenant, agent, agent2, supervisor):
    conversation = await db(factories.ConversationFactory)(tenant=tenant, assignee=agent)
    owner, boss, other = await connect(agent), await connect(supervisor), await connect(agent2)
    vip = await db(Label.objects.create)(tenant=tenant, name="VIP")
    await db(labels.conversation_labels_set)(user=agent, conversation_id=conversation.pk, label_ids=[vip.pk])
    for comm in (owner, boss):
        frame = await next_of(comm, "conversation.updated")
        assert frame["data"]["labels"] == [vip.pk]
    # agent2 heard the label's creation (a tenant's label is everyone's), not the conversation.
    assert (await next_of(other, "label.saved"))["data"]["id"] == vip.pk
    assert await others_than_presence(other) == []
    for comm in (owner, boss, other):
        await comm.disconnect()


async def test_a_personal_saved_reply_is_heard_by_its_owner_only(tenant, agent, agent2, supervisor):
    owner, other, boss = await connect(agent), await connect(agent2), await connect(supervisor)
    reply = await db(saved_replies.saved_reply_create)(user=agent, scope="personal", short_code="hi", content="Hi")
    assert (await next_of(owner, "saved_reply.saved"))["data"]["id"] == reply.pk
    assert await others_than_presence(other) == []
    assert await others_than_presence(boss) == []
    for comm in (owner, other, boss):
        await comm.disconnect()
