"""Hostile input on the socket: random and malformed frames never raise in the consumer, never
leak another tenant's data, and the socket either survives or closes with a documented code."""

import json

import pytest
from asgiref.sync import async_to_sync
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from realtime.presence import reset_registry
from tests import factories
from tests.conftest import access_token_for
from tests.ws import close_layer, connect, flush_layer

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENTED_CLOSE_CODES = {4001, 4003, 4008, 4009, 4029, 1009, 1012}
FRAME_TYPES = {
    "ack",
    "error",
    "pong",
    "resync",
    "typing",
    "presence",
    "message.new",
    "message.status",
    "conversation.updated",
    "conversation.new",
    "conversation.assigned",
    "conversation.revoked",
}
ERROR_CODES = {
    "bad_request",
    "unknown_action",
    "invalid",
    "not_found",
    "not_joined",
    "rate_limited",
    "too_many_joined",
    "empty_message",
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
actions = st.sampled_from(
    ["join", "leave", "typing", "read", "ping", "resume", "message", "", "JOIN", "__class__"]
) | st.text(max_size=12)
command_frames = st.fixed_dictionaries(
    {"action": actions | json_values},
    optional={
        "conversation_id": st.integers(min_value=-5, max_value=10**12) | json_values,
        "ref": json_values,
        "state": st.sampled_from(["start", "stop"]) | json_values,
        "last_event_id": st.integers(min_value=-5, max_value=10**12) | json_values,
        "text": st.text(max_size=50) | json_values,
        "client_id": st.text(max_size=80) | json_values,
    },
).map(json.dumps)
raw_frames = st.text(max_size=200) | json_values.map(json.dumps)
frames = st.lists(command_frames | raw_frames, min_size=1, max_size=15)


@pytest.fixture
def cast(tenant, other_tenant, agent):
    mine = factories.ConversationFactory(tenant=tenant, assignee=agent)
    foreign = factories.ConversationFactory(tenant=other_tenant)
    factories.MessageFactory(conversation=foreign, content={"text": "FOREIGN-SECRET"})
    return {"token": access_token_for(agent), "mine": mine, "foreign": foreign}


@hsettings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(batch=frames)
def test_random_frames_never_break_the_consumer(cast, settings, batch):
    settings.PYTAKE_WS_RATE = 1000
    settings.PYTAKE_WS_BURST = 1000

    async def run():
        reset_registry()
        await flush_layer()
        comm = await connect(cast["token"])
        closed = None
        for raw in batch:
            await comm.send_input({"type": "websocket.receive", "text": raw})  # send_to refuses ""
        # A ping at the end must still be answered, unless the socket closed with a documented code.
        await comm.send_to(text_data=json.dumps({"action": "ping", "ref": "final"}))
        while True:
            output = await comm.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                closed = output.get("code")
                break
            frame = json.loads(output["text"])
            assert frame["type"] in FRAME_TYPES, frame
            assert "FOREIGN-SECRET" not in output["text"]
            if frame.get("conversation_id") is not None:
                assert frame["conversation_id"] != cast["foreign"].pk
            if frame["type"] == "error":
                assert frame["code"] in ERROR_CODES and frame["message"], frame
            if frame["type"] == "pong" and frame.get("ref") == "final":
                break
        if closed is not None:
            assert closed in DOCUMENTED_CLOSE_CODES
        else:
            await comm.disconnect()
        await close_layer()

    async_to_sync(run)()


def test_binary_frames_are_refused_with_an_error(cast):
    async def run():
        await flush_layer()
        comm = await connect(cast["token"])
        await comm.send_to(bytes_data=b"\x00\x01binary")
        error = await comm.receive_json_from(timeout=5)
        assert error["type"] == "error" and error["code"] == "bad_request"
        await comm.disconnect()
        await close_layer()

    async_to_sync(run)()
