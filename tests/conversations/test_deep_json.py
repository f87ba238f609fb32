"""Deeply nested JSON is a 400 (or an ``error`` frame), never a 500 or a dropped socket."""

import json

import pytest
from django.test import Client

from pytake.jsonsafe import MAX_DEPTH, JSONTooDeep, loads, too_deep
from tests import factories
from tests.ws import command, connect

DEEP = "[" * 50000 + "]" * 50000


def test_depth_is_counted_outside_strings_only():
    assert not too_deep('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')
    assert not too_deep("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert too_deep("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert not too_deep('["\\"[[[[", ' + "[]," * 500 + "[]]")  # wide is fine, escapes respected
    with pytest.raises(JSONTooDeep):
        loads(DEEP)
    assert loads('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/auth/token/", "/api/webchat/sessions/", "/api/auth/logout/"])
def test_public_json_endpoints_answer_400(path):
    response = Client().post(path, DEEP, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "parse_error" and body["message"]


@pytest.mark.django_db
def test_an_authenticated_endpoint_answers_400(api_for, agent):
    conversation = factories.ConversationFactory(tenant=agent.tenant, assignee=agent)
    response = api_for(agent).post(
        f"/api/conversations/{conversation.pk}/messages/", DEEP, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    assert not conversation.messages.exists()


@pytest.mark.django_db
def test_the_webhook_answers_400_and_stores_nothing():
    from whatsapp.models import WebhookEvent

    response = Client().post("/webhooks/whatsapp/", DEEP, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_payload"
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_a_deep_frame_gets_an_error_frame_and_the_socket_stays_open(agent):
    comm = await connect(agent)
    await comm.send_to(text_data="[" * 3000 + "]" * 3000)
    error = await comm.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "bad_request"
    frame = {"action": "ping", "ref": "x", "pad": json.loads("[" * 10 + "]" * 10)}
    assert (await command(comm, **frame))["type"] == "pong"
    await comm.disconnect()
