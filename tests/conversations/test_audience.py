"""The one audience rule, seen from both sides: for every durable event type and every kind of
viewer, what the socket delivers (live and on resume) agrees with what the REST API shows.

Live: a viewer receives an event if and only if REST shows them its object (for message events,
on a conversation their socket joined). Resume: what is replayed is never more than REST shows
now (an agent who lost a conversation replays none of its messages)."""

from typing import Any

import pytest
from channels.db import database_sync_to_async as db
from rest_framework.test import APIClient

from conversations.access import Audience, Recipients
from conversations.models import Attachment, Channel, Role
from flow import assignment
from realtime.events import event_record
from realtime.presence import reset_registry
from realtime.tokens import WebchatToken
from tests import factories
from tests.conftest import access_token_for
from tests.ws import close_layer, command, connect, flush_layer

pytestmark = pytest.mark.django_db(transaction=True)

STAFF = ("assigned agent", "other agent", "supervisor", "admin", "other tenant admin")
CUSTOMERS = ("customer of this conversation", "customer of another")


class Viewer:
    def __init__(self, name: str, token: str, *, staff: bool) -> None:
        self.name, self.token, self.staff = name, token, staff
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        self.comm: Any = None
        self.joined = False
        self.could_see = False  # before the change being checked
        self.frames: list[dict] = []


async def drain(viewer: Viewer) -> list[dict]:
    """Every frame the socket has for us now (a short silence ends it)."""
    frames = []
    while not await viewer.comm.receive_nothing(timeout=0.3):
        frame = await viewer.comm.receive_json_from(timeout=2)
        if "id" in frame:  # durable events only
            frames.append(frame)
    return frames


def rest_sees(viewer: Viewer, event: dict, tenant_id: int) -> bool:
    """Whether the REST API shows ``viewer`` what ``event`` is about, as it is now."""
    kind, data = event["type"], event["data"]
    conversation_id = data.get("conversation_id") if kind.startswith(("message.", "queue.")) else data.get("id")
    if not viewer.staff:
        if not kind.startswith("message."):
            return False  # the widget's protocol has message events only
        answer = viewer.client.get("/api/webchat/conversation/")
        return answer.status_code == 200 and data["id"] in {m["id"] for m in answer.json()["messages"]}
    me = viewer.client.get("/api/me/").json()
    if kind in {"queue.updated", "broadcast"}:
        return me["tenant"]["id"] == tenant_id  # the tenant's staff
    if kind.startswith("message."):
        answer = viewer.client.get(f"/api/conversations/{conversation_id}/messages/?limit=200")
        return answer.status_code == 200 and data["id"] in {m["id"] for m in answer.json()["results"]}
    answer = viewer.client.get(f"/api/conversations/{conversation_id}/")
    if kind == "conversation.revoked":
        return answer.status_code == 404 and viewer.could_see  # to exactly those who lost it
    if kind == "conversation.assigned":
        return answer.status_code == 200 and (answer.json()["assignee"] or {}).get("id") == me["id"]
    return answer.status_code == 200


async def test_socket_and_rest_agree_for_every_event_and_viewer(tenant, other_tenant):
    reset_registry()
    await flush_layer()

    @db
    def setup() -> tuple[Any, Any, dict[str, Viewer], Any]:
        agent = factories.UserFactory(tenant=tenant, role=Role.AGENT)
        other_agent = factories.UserFactory(tenant=tenant, role=Role.AGENT)
        supervisor = factories.UserFactory(tenant=tenant, role=Role.SUPERVISOR)
        admin = factories.UserFactory(tenant=tenant, role=Role.ADMIN)
        outsider = factories.UserFactory(tenant=other_tenant, role=Role.ADMIN)
        conversation = factories.ConversationFactory(tenant=tenant, assignee=agent, channel=Channel.WEBCHAT)
        another = factories.ConversationFactory(tenant=tenant, channel=Channel.WEBCHAT)
        viewers = {
            name: Viewer(name, access_token_for(user), staff=True)
            for name, user in zip(STAFF, (agent, other_agent, supervisor, admin, outsider), strict=True)
        }
        viewers["customer of this conversation"] = Viewer(
            "customer of this conversation", str(WebchatToken.for_conversation(conversation)), staff=False
        )
        viewers["customer of another"] = Viewer(
            "customer of another", str(WebchatToken.for_conversation(another)), staff=False
        )
        return conversation, supervisor, viewers, other_agent

    conversation, supervisor, viewers, other_agent = await setup()
    start: dict[str, int] = {}
    for viewer in viewers.values():
        viewer.comm = await connect(viewer.token)
        start[viewer.name] = viewer.comm.hello["data"]["last_event_id"]
        if viewer.staff:
            reply = await command(viewer.comm, action="join", conversation_id=conversation.pk)
            viewer.joined = viewer.could_see = reply["type"] == "ack"
            # The socket lets in exactly who REST lets in.
            rest = await db(viewer.client.get)(f"/api/conversations/{conversation.pk}/")
            assert viewer.joined == (rest.status_code == 200), viewer.name

    # The rule itself, as the product states it: the assignee, supervisors and admins of the tenant.
    assert {v.name for v in viewers.values() if v.joined} == {"assigned agent", "supervisor", "admin"}

    def check(phase: str) -> list[str]:
        wrong = []
        for viewer in viewers.values():
            got = {(f["type"], f["id"]) for f in viewer.frames}
            for event in produced:
                allowed = rest_sees(viewer, event, tenant.pk)
                if event["type"].startswith("message.") and viewer.staff:
                    allowed = allowed and viewer.joined
                # A customer's events are numbered in their conversation, not in the tenant.
                position = event["id"] if viewer.staff else event["seq"]
                if allowed != ((event["type"], position) in got):
                    wrong.append(f"{phase}: {viewer.name} {'missed' if allowed else 'got'} {event['type']}")
        return wrong

    # Phase 1: the conversation is the assigned agent's. Every durable event type about it.
    @db
    def phase_one() -> list[Any]:
        events = []
        message = factories.MessageFactory(conversation=conversation, content={"text": "customer"})  # message.new
        message.status = "read"
        message.save()  # message.status
        factories.MessageFactory(
            conversation=conversation, internal=True, direction="outbound", sender_type="agent"
        )  # a note: message.new for staff only
        photo = factories.MessageFactory(conversation=conversation, type="image", content={"caption": "foto"})
        attachment = Attachment.objects.create(tenant_id=tenant.pk, message=photo, mime_type="image/png")
        attachment.status = "failed"
        attachment.save()  # message.updated (its download failed)
        conversation.refresh_from_db()
        conversation.unread_count = 3
        conversation.save()  # conversation.updated
        for kind, data in (
            ("queue.updated", {"size": 0, "conversation_id": conversation.pk, "reason": "test"}),
            ("broadcast", {"text": "team news", "from": None}),
        ):
            event_record(tenant_id=tenant.pk, type=kind, data=data, recipients=Recipients(Audience.STAFF))
        from realtime.models import Event

        for event in Event.objects.filter(tenant_id=tenant.pk, seq__gt=max(start.values())).order_by("seq"):
            events.append({"type": event.type, "id": event.seq, "seq": event.conversation_seq, "data": event.data})
        return events

    produced = await phase_one()
    assert {e["type"] for e in produced} >= {
        "message.new",
        "message.status",
        "message.updated",
        "conversation.updated",
        "queue.updated",
        "broadcast",
    }
    for viewer in viewers.values():
        viewer.frames = await drain(viewer)
    assert await db(check)("phase 1") == []

    # Phase 2: a supervisor transfers it to the other agent (assigned, revoked, updated, a system
    # line); the other agent joins once it is theirs.
    seen_before = max(e["id"] for e in produced)

    @db
    def phase_two() -> list[Any]:
        from realtime.models import Event

        assignment.conversation_assign(conversation=conversation, assignee=other_agent, actor=supervisor)
        return [
            {"type": e.type, "id": e.seq, "seq": e.conversation_seq, "data": e.data}
            for e in Event.objects.filter(tenant_id=tenant.pk, seq__gt=seen_before).order_by("seq")
        ]

    produced = await phase_two()
    assert {e["type"] for e in produced} >= {"conversation.assigned", "conversation.revoked", "conversation.updated"}
    for viewer in viewers.values():
        viewer.frames = await drain(viewer)
    other = viewers["other agent"]
    assert ("conversation.assigned", next(e["id"] for e in produced if e["type"] == "conversation.assigned")) in {
        (f["type"], f["id"]) for f in other.frames
    }
    assert await db(check)("phase 2") == []

    # Resume from before it all: never more than REST shows now.
    leaks = []
    for viewer in viewers.values():
        await viewer.comm.disconnect()
        viewer.comm = await connect(viewer.token)
        if viewer.staff:
            reply = await command(viewer.comm, action="join", conversation_id=conversation.pk)
            viewer.joined = reply["type"] == "ack"
        await command(viewer.comm, action="resume", last_event_id=start[viewer.name])
        replayed = await drain(viewer)
        for frame in replayed + list(getattr(viewer.comm, "skipped", [])):
            if "id" in frame and not await db(rest_sees)(viewer, frame, tenant.pk):
                leaks.append(f"resume: {viewer.name} got {frame['type']}")
        await viewer.comm.disconnect()
    assert leaks == []
    assert not viewers["assigned agent"].joined and viewers["other agent"].joined
    await close_layer()
