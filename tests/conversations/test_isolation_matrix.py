"""The isolation matrix as data: every operation of the OpenAPI schema (so a new endpoint is in
the matrix the day it is added), every WebSocket action and every event type, tried by everyone
who must not see the object. All refused, none leaking existence; the table is printed."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as db
from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from conversations.models import Attachment, Channel, Role
from realtime.presence import reset_registry
from realtime.tokens import WebchatToken
from tests import factories
from tests.conftest import access_token_for
from tests.ws import Communicator, close_layer, command, connect, flush_layer

# Operations anyone may call without an account, and what protects them instead.
PUBLIC = {
    ("POST", "/api/auth/token/"),
    ("POST", "/api/auth/token/refresh/"),
    ("POST", "/api/auth/token/verify/"),
    ("POST", "/api/webchat/sessions/"),
    ("GET", "/api/schema/"),
    ("POST", "/api/auth/logout/"),  # the refresh token in the body is the credential
}
# Operations on the caller's own account only (tests/conversations/test_sessions.py): run here,
# they would sign the matrix's own clients out.
OWN_ACCOUNT = {("POST", "/api/auth/logout-all/"), ("POST", "/api/auth/password/")}
REFUSED_WITHOUT_LEAK = {401, 403, 404}


def _operations():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, item in schema["paths"].items():
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method.upper(), path


def _fill(path, victim):
    """Put the victim's ids into a path template; None when the path has no object to protect."""
    if "{" not in path:
        return None
    ids = {"conversation_id": victim.pk}
    media_message = victim.messages.filter(attachment__isnull=False).first()
    if media_message is not None:  # the file endpoints: the victim's file, which holds the secret
        ids["message_id"] = media_message.pk
    if path.startswith("/api/contacts/"):
        ids["id"] = victim.contact_id
    elif path.startswith("/api/conversations/"):
        ids["id"] = victim.pk
    else:
        ids["id"] = victim.pk
    filled = path
    for name, value in ids.items():
        filled = filled.replace("{" + name + "}", str(value))
    return filled if "{" not in filled else None


def _snapshot(victim):
    victim.refresh_from_db()
    victim.contact.refresh_from_db()
    return (
        victim.status,
        victim.assignee_id,
        victim.unread_count,
        victim.messages.count(),
        victim.contact.name,
    )


@pytest.mark.django_db
def test_rest_matrix(api_for, tenant, other_tenant, agent, agent2, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    victim = factories.ConversationFactory(tenant=tenant, assignee=agent2, unread_count=1)
    factories.MessageFactory(conversation=victim, content={"text": "VICTIM-SECRET"})
    document = factories.MessageFactory(conversation=victim, type="document")
    attachment = Attachment(tenant=tenant, message=document, mime_type="text/plain", filename="s.txt", status="ready")
    attachment.file.save("secret.txt", ContentFile(b"VICTIM-SECRET"), save=False)
    attachment.save()
    outsider_admin = factories.UserFactory(tenant=other_tenant, role=Role.ADMIN)
    deactivated = factories.UserFactory(tenant=tenant, role=Role.ADMIN)
    expired = AccessToken.for_user(outsider_admin)
    expired.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=1))

    clients = {
        "other tenant admin": api_for(outsider_admin),
        "agent, other agent's conversation": api_for(agent),
        "expired token": api_for(None),
        "deactivated user": api_for(deactivated),
        "anonymous": api_for(None),
    }
    clients["expired token"].credentials(HTTP_AUTHORIZATION=f"Bearer {expired}")
    deactivated.is_active = False
    deactivated.save()

    before = _snapshot(victim)
    rows, failures = [], []
    for method, template in sorted(_operations()):
        if (method, template) in PUBLIC | OWN_ACCOUNT:
            continue
        path = _fill(template, victim)
        for who, client in clients.items():
            if path is None and who in {"agent, other agent's conversation"}:
                continue  # list endpoints: the agent may list; checked below for leaks
            url = path or template
            response = client.generic(method, url, data="{}", content_type="application/json")
            body = response.content.decode(errors="replace")
            leaked = "VICTIM-SECRET" in body or (path is None and f'"id":{victim.pk},' in body.replace(" ", ""))
            ok = (response.status_code in REFUSED_WITHOUT_LEAK or path is None) and not leaked
            if path is not None and who == "other tenant admin" and response.status_code != 404:
                ok = False  # another tenant's object must look missing, never forbidden
            rows.append((f"{method} {template}", who, response.status_code, "ok" if ok else "LEAK"))
            if not ok:
                failures.append(rows[-1])
    print("\nREST isolation matrix")
    for row in rows:
        print(f"  {row[0]:<55} {row[1]:<36} {row[2]:>3} {row[3]}")
    assert not failures, failures
    assert _snapshot(victim) == before
    assert len({r[0] for r in rows}) >= 8  # the schema really was walked


@pytest.mark.django_db(transaction=True)
async def test_websocket_matrix(tenant, other_tenant, agent, agent2):
    reset_registry()
    await flush_layer()

    @db
    def setup():
        victim = factories.ConversationFactory(tenant=tenant, assignee=agent2, channel=Channel.WEBCHAT)
        elsewhere = factories.ConversationFactory(tenant=tenant, channel=Channel.WEBCHAT)
        outsider = factories.UserFactory(tenant=other_tenant, role=Role.ADMIN)
        return victim, str(WebchatToken.for_conversation(elsewhere)), access_token_for(outsider)

    victim, customer_token, outsider_token = await setup()
    peers = {
        "other tenant admin": await connect(outsider_token),
        "agent, other agent's conversation": await connect(agent),
        "web-chat customer of another conversation": await connect(customer_token),
    }
    actions = [
        {"action": "join", "conversation_id": victim.pk},
        {"action": "typing", "conversation_id": victim.pk, "state": "start"},
        {"action": "read", "conversation_id": victim.pk},
    ]
    rows, failures = [], []
    for who, comm in peers.items():
        for frame in actions:
            reply = await command(comm, **frame)
            refused = reply["type"] == "error" and reply["code"] in {"not_found", "not_joined", "unknown_action"}
            rows.append((frame["action"], who, reply.get("code", reply["type"]), "ok" if refused else "LEAK"))
            if not refused:
                failures.append(rows[-1])

    # Every event type about the victim: none reaches an outsider.
    @db
    def produce_events():
        from flow import assignment
        from realtime.events import Recipients, event_record
        from realtime.models import Audience

        message = factories.MessageFactory(conversation=victim, content={"text": "VICTIM-SECRET"})  # message.new
        message.status = "read"
        message.save()  # message.status
        victim.unread_count = 5
        victim.save()  # conversation.updated
        supervisor = factories.UserFactory(tenant=tenant, role=Role.SUPERVISOR)
        assignment.conversation_assign(conversation=victim, assignee=supervisor, actor=supervisor)  # assigned + revoked
        event_record(
            tenant_id=tenant.pk,
            type="broadcast",
            data={"text": "VICTIM-SECRET tenant news", "from": None},
            recipients=Recipients(Audience.STAFF),
        )

    await produce_events()
    for who, comm in peers.items():
        frames = []
        while not await comm.receive_nothing(timeout=0.3):
            frames.append(await comm.receive_json_from(timeout=1))
        leaked = [f for f in frames if f.get("conversation_id") == victim.pk or "VICTIM-SECRET" in str(f)]
        if who == "agent, other agent's conversation":
            # The agent is staff of the tenant: a tenant broadcast is theirs to see.
            leaked = [f for f in leaked if f["type"] != "broadcast"]
        rows.append(("events about the conversation", who, f"{len(frames)} frames", "ok" if not leaked else "LEAK"))
        if leaked:
            failures.append((who, leaked))
        await comm.disconnect()

    expired = AccessToken.for_user(agent)
    expired.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=1))

    from pytake.asgi import application

    comm = Communicator(application, "/ws/", subprotocols=["bearer", str(expired)])
    await comm.connect(timeout=5)
    closed = await comm.receive_output(timeout=5)
    rows.append(("connect", "expired token", closed.get("code"), "ok" if closed.get("code") == 4001 else "LEAK"))
    print("\nWebSocket isolation matrix")
    for row in rows:
        print(f"  {row[0]:<32} {row[1]:<44} {row[2]!s:<12} {row[3]}")
    await close_layer()
    assert not failures, failures
    assert closed.get("code") == 4001
