"""An open socket never outlives the access it was opened with.

Two server processes on channels-redis and PostgreSQL; each user holds one socket on each. A change
to the user's access, or to their tenant's, made through Django admin, the REST API or the ORM,
reaches both sockets at once: they close with 4001, or, where the user keeps access (a demotion),
they keep going with the new role's audience. Nothing is mocked.
"""

import asyncio
import copy
import json
import uuid

import httpx
import pytest
import websockets
from django.conf import settings
from django.forms import MultiWidget
from django.test import Client, override_settings

from conversations.models import Channel, Role
from realtime.tokens import WebchatToken
from tests import factories
from tests.conftest import access_token_for
from tests.live import start_servers

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
TIMEOUT = 10
NEW_PASSWORD = "another-long-pass-42"


@pytest.fixture(scope="module")
def servers(tmp_path_factory, django_db_setup):
    """Two servers, and this process (where admin and ORM changes are made) on their channel
    prefix, so that what it publishes after commit reaches them."""
    prefix = f"pytake-test-{uuid.uuid4().hex[:8]}"
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["prefix"] = prefix
    with override_settings(CHANNEL_LAYERS=layers):
        running = start_servers(2, tmp_path_factory.mktemp("access"), PYTAKE_CHANNEL_PREFIX=prefix)
        yield running
        for server in running:
            server.stop()


@pytest.fixture
def agent_token(agent):
    return access_token_for(agent)


@pytest.fixture
def supervisor_token(supervisor):
    return access_token_for(supervisor)


@pytest.fixture
def agent2_token(agent2):
    return access_token_for(agent2)


async def open_socket(server, token):
    ws = await websockets.connect(server.ws_url, subprotocols=["bearer", token], open_timeout=TIMEOUT)
    hello = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert hello["type"] == "hello", hello
    return ws


async def sockets_of(servers, token):
    """One socket of the token's user on each server."""
    return [await open_socket(server, token) for server in servers]


async def request(ws, **frame):
    frame.setdefault("ref", "q")
    await ws.send(json.dumps(frame))
    frames = []
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if reply.get("ref") == frame["ref"] and reply["type"] in {"ack", "error", "pong"}:
            return frames, reply
        frames.append(reply)


async def closed_with(ws):
    """The close code the server sent (frames before it are skipped)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, "the connection dropped without a close frame"
        return closed.rcvd.code


async def still_open(ws):
    _, pong = await request(ws, action="ping", ref="alive")
    return pong["type"] == "pong"


def operator_client():
    operator = factories.UserFactory(tenant=None, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(operator)
    return client


def admin_change(url, **overrides):
    """Submit a Django admin change form as an operator would: every field as shown, some changed."""
    client = operator_client()
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for bound in form:
        if bound.field.disabled:
            continue
        value = overrides.get(bound.name, bound.value())
        if isinstance(bound.field.widget, MultiWidget):
            for i, part in enumerate(bound.field.widget.decompress(value)):
                data[f"{bound.html_name}_{i}"] = "" if part is None else part
        elif value is True:
            data[bound.html_name] = "on"
        elif value in (None, False):
            continue
        else:
            data[bound.html_name] = value
    response = client.post(url, data)
    assert response.status_code == 302, response.content[-3000:]


def user_url(user):
    return f"/admin/conversations/user/{user.pk}/change/"


def test_deactivating_a_user_in_admin_closes_their_sockets_on_every_server(servers, agent, agent_token):
    async def scenario():
        sockets = await sockets_of(servers, agent_token)
        await asyncio.to_thread(admin_change, user_url(agent), is_active=False)
        return [await closed_with(ws) for ws in sockets]

    assert asyncio.run(scenario()) == [4001, 4001]


def test_a_password_changed_through_the_rest_api_closes_every_socket(servers, agent, settings):
    # A hash the servers can check (the tests' own fast hasher is not in their settings).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    agent.set_password(factories.PASSWORD)
    agent.save()
    agent_token = token = access_token_for(agent)

    async def scenario():
        sockets = await sockets_of(servers, agent_token)
        response = await asyncio.to_thread(
            httpx.post,
            f"{servers[0].url}/api/auth/password/",
            json={"old_password": factories.PASSWORD, "new_password": NEW_PASSWORD},
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return [await closed_with(ws) for ws in sockets]

    assert asyncio.run(scenario()) == [4001, 4001]


def test_a_password_set_in_admin_closes_every_socket(servers, agent, agent_token):
    def set_password():
        response = operator_client().post(
            f"/admin/conversations/user/{agent.pk}/password/",
            {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
        )
        assert response.status_code == 302, response.content[-2000:]

    async def scenario():
        sockets = await sockets_of(servers, agent_token)
        await asyncio.to_thread(set_password)
        return [await closed_with(ws) for ws in sockets]

    assert asyncio.run(scenario()) == [4001, 4001]


def test_moving_a_user_to_another_tenant_closes_their_sockets(servers, supervisor, supervisor_token, other_tenant):
    async def scenario():
        sockets = await sockets_of(servers, supervisor_token)

        def move():
            supervisor.tenant = other_tenant
            supervisor.save()

        await asyncio.to_thread(move)
        return [await closed_with(ws) for ws in sockets]

    assert asyncio.run(scenario()) == [4001, 4001]


def test_deactivating_a_tenant_in_admin_closes_its_staff_and_customer_sockets(
    servers, tenant, agent, agent_token, foreign_admin
):
    chat = factories.ConversationFactory(tenant=tenant, channel=Channel.WEBCHAT)
    customer_token, foreign_token = str(WebchatToken.for_conversation(chat)), access_token_for(foreign_admin)

    async def scenario():
        staff = await sockets_of(servers, agent_token)
        customer = await open_socket(servers[1], customer_token)
        bystander = await open_socket(servers[0], foreign_token)
        await asyncio.to_thread(admin_change, f"/admin/conversations/tenant/{tenant.pk}/change/", is_active=False)
        codes = [await closed_with(ws) for ws in [*staff, customer]]
        assert await still_open(bystander)  # another tenant's socket is left alone
        await bystander.close()
        return codes

    assert asyncio.run(scenario()) == [4001, 4001, 4001]


def test_deactivating_a_user_through_the_orm_closes_their_sockets(servers, agent, agent_token, agent2, agent2_token):
    colleague_token = agent2_token

    async def scenario():
        sockets = await sockets_of(servers, agent_token)
        colleague = await open_socket(servers[1], colleague_token)

        def deactivate():
            agent.is_active = False
            agent.save()

        await asyncio.to_thread(deactivate)
        codes = [await closed_with(ws) for ws in sockets]
        assert await still_open(colleague)
        await colleague.close()
        return codes

    assert asyncio.run(scenario()) == [4001, 4001]


def test_a_demoted_supervisor_keeps_the_socket_but_loses_what_agents_may_not_see(
    servers, tenant, supervisor, supervisor_token, agent2, agent2_token
):
    """Supervisor → agent: the sockets stay open (the user still has access), leave the
    conversation assigned to someone else (``conversation.revoked``), are told to refetch
    (``resync``), and from then on get only what an agent gets, on both servers."""
    theirs = factories.ConversationFactory(tenant=tenant, assignee=agent2, channel=Channel.WEBCHAT)

    async def scenario():
        sockets = await sockets_of(servers, supervisor_token)
        for ws in sockets:
            _, ack = await request(ws, action="join", conversation_id=theirs.pk, ref="j")
            assert ack["type"] == "ack"

        await asyncio.to_thread(admin_change, user_url(supervisor), role=Role.AGENT)
        for ws in sockets:
            frames = []
            while not any(f["type"] == "resync" for f in frames):
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
            assert {"type": "conversation.revoked", "id": theirs.pk} in [
                {"type": f["type"], "id": f["data"].get("id")} for f in frames if f["type"] == "conversation.revoked"
            ]
            assert next(f for f in frames if f["type"] == "resync")["data"]["reason"] == "access_changed"

        # agent2 writes in their conversation: the former supervisor hears nothing of it.
        response = await asyncio.to_thread(
            httpx.post,
            f"{servers[0].url}/api/conversations/{theirs.pk}/messages/",
            json={"text": "not for the former supervisor"},
            headers={"Authorization": f"Bearer {agent2_token}"},
            timeout=TIMEOUT,
        )
        assert response.status_code == 201, response.text
        for ws in sockets:
            frames, pong = await request(ws, action="ping", ref="after")
            assert pong["type"] == "pong"
            assert not [f for f in frames if f.get("conversation_id") == theirs.pk], frames
            _, refused = await request(ws, action="join", conversation_id=theirs.pk, ref="again")
            assert refused["type"] == "error" and refused["code"] == "not_found"
            await ws.close()

    asyncio.run(scenario())


def test_a_change_that_keeps_access_leaves_sockets_alone(servers, agent, agent_token):
    async def scenario():
        sockets = await sockets_of(servers, agent_token)

        def rename():
            agent.name = "Renamed"
            agent.save()
            agent.save(update_fields=["last_login"])

        await asyncio.to_thread(rename)
        for ws in sockets:
            frames, _ = await request(ws, action="ping", ref="p")
            assert not [f for f in frames if f["type"] == "resync"]
            await ws.close()

    asyncio.run(scenario())


def test_signing_out_everywhere_closes_every_socket_and_refuses_the_token(servers, agent, agent_token):
    async def scenario():
        sockets = await sockets_of(servers, agent_token)
        response = await asyncio.to_thread(
            httpx.post,
            f"{servers[1].url}/api/auth/logout-all/",
            headers={"Authorization": f"Bearer {agent_token}"},
            timeout=TIMEOUT,
        )
        assert response.status_code == 204, response.text
        codes = [await closed_with(ws) for ws in sockets]
        # The same token opens no new socket either.
        ws = await websockets.connect(servers[0].ws_url, subprotocols=["bearer", agent_token], open_timeout=TIMEOUT)
        codes.append(await closed_with(ws))
        return codes

    assert asyncio.run(scenario()) == [4001, 4001, 4001]
