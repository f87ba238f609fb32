"""Turning changes into events: record them in the log and publish them after commit.

This is the single publish path. ``event_record`` is called inside the transaction that made the
change (the ``post_save`` handlers in ``realtime.signals`` call it for Messages and
Conversations; services call it for events with no row behind them, such as ``queue.updated``).

Lock order: a conversation, then its messages (``conversations.services.message_lock``), then the
tenant's event counter, which a transaction takes when it records its first event and holds until
commit. Services that change several rows lock all of them first (in pk order), then save, so that
the counter is always the last lock taken; recording an event in a conversation locks the
conversation before the counter, for the writers (a status webhook) that had not locked it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
import time
from collections.abc import Coroutine
from dataclasses import asdict
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from conversations.access import Recipients
from conversations.models import Conversation
from conversations.serializers import customer_view
from pytake import metrics
from pytake.transactions import on_commit_robust
from realtime import groups
from realtime.models import Audience, Event, TenantEventCounter

log = logging.getLogger(__name__)

CHANNEL_MESSAGE_TYPE = "realtime.event"

# Required keys of each event's ``data``: an event without them fails where it is made.
EVENT_SCHEMAS: dict[str, frozenset[str]] = {
    "message.new": frozenset({"id", "conversation_id", "direction", "sender_type", "type", "content", "status"}),
    "message.status": frozenset({"id", "conversation_id", "status", "error"}),
    # A message changed other than its delivery status: its media finished or failed downloading,
    # its reactions changed, the customer edited or deleted it.
    "message.updated": frozenset({"id", "conversation_id", "type", "content", "media"}),
    "conversation.new": frozenset({"id", "status", "assignee", "contact"}),
    "conversation.updated": frozenset({"id", "status", "assignee", "contact"}),
    "conversation.assigned": frozenset({"id", "status", "assignee", "contact"}),
    "conversation.revoked": frozenset({"id"}),
    "queue.updated": frozenset({"size", "conversation_id", "reason"}),
    "broadcast": frozenset({"text", "from"}),
    # The agent's toolbox (realtime/toolbox_signals.py)
    "label.saved": frozenset({"id", "name", "colour"}),
    "label.deleted": frozenset({"id"}),
    "saved_reply.saved": frozenset({"id", "scope", "short_code", "content"}),
    "saved_reply.deleted": frozenset({"id"}),
    "contact_attribute.saved": frozenset({"id", "key", "label", "type", "options"}),
    "contact_attribute.deleted": frozenset({"id", "key"}),
    "notification": frozenset({"id", "kind", "conversation_id", "message_id", "author", "text", "read_at"}),
    "notification.read": frozenset({"id", "read_at"}),
    # Meta changed a WhatsApp template's status, quality or category: to each admin of the tenant.
    "template.updated": frozenset({"id", "change", "name", "language", "status", "quality", "category"}),
    # A WhatsApp number stopped sending for an account-wide reason, or sends again; or Meta changed
    # its quality, limit, display name or account standing (``blocked``: whether it sends now).
    # To the tenant's admins.
    "account.alert": frozenset({"account_id", "display_phone_number", "blocked", "code", "title"}),
}
EPHEMERAL_TYPES = frozenset({"typing", "presence", "queue.position", "queue.left"})


def _next_tenant_seq(tenant_id: int) -> int:
    """The next event id of the tenant. The UPDATE locks the tenant's counter row until commit,
    which is what keeps ids in commit order; one statement, no read-modify-write."""
    table = TenantEventCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_seq = last_seq + 1 WHERE tenant_id = %s RETURNING last_seq", [tenant_id]
        )
        row = cursor.fetchone()
    if row is not None:
        return int(row[0])
    # The tenant's first event: create its counter (a concurrent first event may win; either way
    # the row exists now), then take the next id as above.
    TenantEventCounter.objects.bulk_create([TenantEventCounter(tenant_id=tenant_id)], ignore_conflicts=True)
    return _next_tenant_seq(tenant_id)


def _next_conversation_seq(conversation: Conversation) -> int:
    # A raw UPDATE on purpose: this must not fire post_save (which would publish again).
    table = Conversation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET event_seq = event_seq + 1 WHERE id = %s RETURNING event_seq", [conversation.pk]
        )
        row = cursor.fetchone()
    conversation.event_seq = int(row[0])
    return conversation.event_seq


def _stamp_copy(event: Event) -> None:
    """A copy of the conversation in the event's data reflects the event: it carries its seq
    (the client keeps, of two copies, the one with the higher seq)."""
    if event.conversation_seq is not None and "seq" in event.data:
        event.data["seq"] = event.conversation_seq


def _insert_sql(*, counted: bool, stamped: bool) -> str:
    counter, events = TenantEventCounter._meta.db_table, Event._meta.db_table
    conversations = Conversation._meta.db_table
    # The lock order above: the conversation's row is locked before the tenant's counter (``l``:
    # the counter's UPDATE waits for it), as the services lock it before recording. Taking the
    # counter first would wait on a service that holds the conversation and waits on the counter.
    # The conversation's seq is counted once the tenant's id is taken, and not at all when the
    # tenant has no counter row yet (then nothing is written, and the caller retries).
    tenant = "tenant_id = %(tenant)s"
    if counted:
        lock = f"l AS (SELECT id FROM {conversations} WHERE id = %(conversation)s FOR NO KEY UPDATE), "
        tenant += " AND EXISTS (SELECT 1 FROM l)"
    ctes = f"{lock if counted else ''}t AS (UPDATE {counter} SET last_seq = last_seq + 1 WHERE {tenant} RETURNING last_seq)"
    if counted:
        ctes += (
            f", c AS (UPDATE {conversations} SET event_seq = event_seq + 1"
            " WHERE id = %(conversation)s AND EXISTS (SELECT 1 FROM t) RETURNING event_seq)"
        )
    data = "jsonb_set(%(data)s::jsonb, '{seq}', to_jsonb(c.event_seq))" if stamped else "%(data)s::jsonb"
    return (
        f"WITH {ctes} INSERT INTO {events} (tenant_id, seq, type, conversation_id, conversation_seq,"
        " audience, assignee_id, user_id, customer, data, created_at)"
        f" SELECT %(tenant)s, t.last_seq, %(type)s, %(conversation)s, {'c.event_seq' if counted else 'NULL'},"
        f" %(audience)s, %(assignee)s, %(user)s, %(customer)s, {data}, %(created)s"
        f" FROM t{', c' if counted else ''} RETURNING id, seq, conversation_seq"
    )


_INSERT_SQL = {
    (counted, stamped): _insert_sql(counted=counted, stamped=stamped)
    for counted in (False, True)
    for stamped in (False, True)
    if counted or not stamped
}


def _insert_in_one_statement(event: Event, conversation: Conversation | None, data: str) -> None:
    """PostgreSQL: the tenant's next id, the conversation's next seq (``conversation``: the
    event counts in it) and the event's row in one statement, one round trip instead of three."""
    stamped = conversation is not None and "seq" in event.data
    params: dict[str, Any] = {
        "tenant": event.tenant_id,
        "type": event.type,
        "conversation": event.conversation_id,
        "audience": event.audience,
        "assignee": event.assignee_id,
        "user": event.user_id,
        "customer": event.customer,
        "data": data,
        "created": event.created_at,
    }
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL[(conversation is not None, stamped)], params)
        row = cursor.fetchone()
    if row is None:
        # The tenant's first event: create its counter (a concurrent first event may win; either
        # way the row exists now), then again.
        TenantEventCounter.objects.bulk_create([TenantEventCounter(tenant_id=event.tenant_id)], ignore_conflicts=True)
        _insert_in_one_statement(event, conversation, data)
        return
    event.pk, event.seq, event.conversation_seq = row
    event._state.adding, event._state.db = False, connection.alias
    if conversation is not None:
        conversation.event_seq = event.conversation_seq
    _stamp_copy(event)


def _routes(event_type: str, tenant_id: int, conversation_id: int | None, recipients: Recipients) -> list[str]:
    """The channel-layer groups that reach every socket allowed to receive the event (and, for
    conversation-level events, no more than needed: consumers still filter with ``Recipients``)."""
    routes: list[str] = []
    if recipients.audience == Audience.STAFF:
        if event_type.startswith("message.") and conversation_id is not None:
            routes.append(groups.conversation(conversation_id))
        elif recipients.assignee_id is None:
            routes.append(groups.tenant(tenant_id))
        else:
            routes += [groups.supervisors(tenant_id), groups.user(recipients.assignee_id)]
    elif recipients.audience == Audience.USER and recipients.user_id is not None:
        routes.append(groups.user(recipients.user_id))
    elif recipients.audience == Audience.AGENTS_EXCEPT:
        routes.append(groups.tenant(tenant_id))
    if recipients.customer and conversation_id is not None:
        routes.append(groups.webchat(conversation_id))
    return routes


def envelope_text(envelope: dict[str, Any]) -> str:
    return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":"))


def event_record(
    *,
    tenant_id: int,
    type: str,
    data: dict[str, Any],
    recipients: Recipients,
    conversation: Conversation | None = None,
    counts_in_seq: bool = True,
) -> Event:
    """Log a durable event in the current transaction; it is published once the transaction
    commits. ``counts_in_seq``: the event advances the conversation's ``seq`` (every event that
    all staff of the conversation receive does; per-user notices do not), and a copy of the
    conversation in ``data`` (its ``seq`` key) is stamped with the new value."""
    schema = EVENT_SCHEMAS.get(type)
    if schema is None:
        raise ValueError(f"Unknown durable event type {type!r}")
    missing = schema - data.keys()
    if missing:
        raise ValueError(f"{type} event lacks {sorted(missing)}")
    # A web-chat customer's events count too: the customer's resume position is their seq.
    counted = (
        conversation is not None and counts_in_seq and (recipients.audience == Audience.STAFF or recipients.customer)
    )
    text = envelope_text(data)
    event = Event(
        tenant_id=tenant_id,
        type=type,
        conversation_id=conversation.pk if conversation is not None else None,
        audience=recipients.audience,
        assignee_id=recipients.assignee_id,
        user_id=recipients.user_id,
        customer=recipients.customer,
        data=json.loads(text),
    )
    # No savepoint inside a caller's transaction: an event that cannot be recorded fails the
    # change it records (two round trips fewer per event).
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            _insert_in_one_statement(event, conversation if counted else None, text)
        else:
            event.seq = _next_tenant_seq(tenant_id)
            if conversation is not None and counted:
                event.conversation_seq = _next_conversation_seq(conversation)
            _stamp_copy(event)
            event.save(force_insert=True)
        message = channel_message(event)
        routes = _routes(type, tenant_id, event.conversation_id, recipients)
        on_commit_robust(_publish, routes, message)
    return event


def envelope_of(event: Event) -> dict[str, Any]:
    envelope: dict[str, Any] = {"type": event.type, "id": event.seq, "ts": event.created_at.isoformat()}
    if event.conversation_id is not None:
        envelope["conversation_id"] = event.conversation_id
        if event.conversation_seq is not None:
            envelope["seq"] = event.conversation_seq
    envelope["data"] = event.data
    return envelope


def customer_text(text: str) -> str:
    """An event's frame as a web-chat customer receives it: its ``id`` is its conversation's
    ``seq`` (the tenant's event ids would tell a customer how busy the business is; the widget's
    position is per conversation), and a message in it is the customer's view of it."""
    envelope = json.loads(text)
    if "id" in envelope:
        envelope["id"] = envelope.pop("seq", None)
    data = envelope.get("data")
    if str(envelope.get("type", "")).startswith("message.") and isinstance(data, dict):
        envelope["data"] = customer_view(data)
    elif isinstance(data, dict) and isinstance(data.get("user"), dict):  # typing: who, by name
        envelope["data"] = {**data, "user": {"name": data["user"].get("name", "")}}
    return envelope_text(envelope)


def customer_event_text(message: dict[str, Any]) -> str:
    """``customer_text`` of a channel-layer message, once per message: the hub hands the same
    message to every socket of the process."""
    try:
        return message["_customer_text"]  # type: ignore[no-any-return]
    except KeyError:
        text = message["_customer_text"] = customer_text(message["text"])
        return text


def recipients_of(event: Event) -> Recipients:
    return Recipients(event.audience, event.assignee_id, event.user_id, event.customer)


def channel_message(event: Event) -> dict[str, Any]:
    """What travels through the channel layer: the frame already serialised (once, for every
    receiver), its id, and who may receive it."""
    return {
        "type": CHANNEL_MESSAGE_TYPE,
        "id": event.seq,
        "conversation_id": event.conversation_id,
        "event_type": event.type,
        "recipients": asdict(recipients_of(event)),
        "ts": event.created_at.timestamp(),
        "text": envelope_text(envelope_of(event)),
    }


def group_message(group: str, message: dict[str, Any]) -> dict[str, Any]:
    """``message`` as sent to ``group``: it names the group, which the receiving process's hub
    needs (a channel layer does not tell which group a message came through; ``realtime.hub``)."""
    return {**message, "group": group}


class PublishLoop:
    """An event loop of the process's own, on a daemon thread, for publishing from sync code that
    runs outside any event loop: a Celery worker's tasks.

    There, each ``async_to_sync(layer.group_send)`` would start a thread and an event loop of its
    own, and the Redis layers (which keep connections per loop) would connect to Redis and hang up
    again: 17 % of the worker's CPU per webhook in ``bench.scenario_e2e --profile``. Here the
    loop, and so the layer's connection, lives as long as the process (a forked child starts its
    own). Inside an ASGI server ``async_to_sync`` runs on the server's loop instead, which the
    in-memory layer needs: ``pytake.celery`` turns this on for workers only.
    """

    TIMEOUT_SECONDS = 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="pytake-publish", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())
        try:
            future.result(self.TIMEOUT_SECONDS)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise


publish_loop: PublishLoop | None = None


def use_publish_loop() -> None:
    """Publish through a loop of the process's own from now on (``PublishLoop``)."""
    global publish_loop
    if publish_loop is None:
        publish_loop = PublishLoop()


def _what(message: dict[str, Any]) -> str:
    return f"event {message['id']} (it stays in the log)" if message.get("id") else f"a {message['type']} message"


async def _send_to_groups(layer: Any, routes: list[str], message: dict[str, Any]) -> None:
    for group in routes:
        try:
            await layer.group_send(group, group_message(group, message))
        except Exception:
            log.warning("publish of %s to %s failed", _what(message), group, exc_info=True)


def send_to_groups(routes: list[str], message: dict[str, Any]) -> None:
    """Send a channel-layer message to each group from sync code (a request thread, a worker's
    task): on the worker's publish loop, else on the server's. Never raises: a failure is logged."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if publish_loop is not None:
            publish_loop.run(_send_to_groups(layer, routes, message))
        else:
            async_to_sync(_send_to_groups)(layer, routes, message)
    except Exception:
        log.warning("publish of %s failed", _what(message), exc_info=True)


def _publish(routes: list[str], message: dict[str, Any]) -> None:
    """The fast path of logged and ephemeral events. A failure here (Redis away) loses nothing:
    a logged event is in the log, and clients get it on resume."""
    send_to_groups(routes, message)


def _ephemeral_message(
    *,
    type: str,
    data: dict[str, Any],
    recipients: Recipients | None,
    conversation_id: int | None,
    exclude_channel: str | None,
    hide_own_presence: bool = False,
) -> dict[str, Any]:
    if type not in EPHEMERAL_TYPES:
        raise ValueError(f"{type!r} is not an ephemeral event type")
    envelope: dict[str, Any] = {"type": type, "ts": timezone.now().isoformat()}
    if conversation_id is not None:
        envelope["conversation_id"] = conversation_id
    envelope["data"] = data
    message: dict[str, Any] = {
        "type": CHANNEL_MESSAGE_TYPE,
        "id": None,
        "conversation_id": conversation_id,
        "event_type": type,
        "recipients": asdict(recipients) if recipients else None,
        "exclude_channel": exclude_channel,
        "ts": time.time(),
        "text": envelope_text(envelope),
    }
    if hide_own_presence:  # a socket knows it is online: its user's own entry is left out for it
        message["presence_users"] = [change["user_id"] for change in data["users"]]
    return message


def publish_ephemeral(
    *,
    routes: list[str],
    type: str,
    data: dict[str, Any],
    recipients: Recipients | None = None,
    conversation_id: int | None = None,
    exclude_channel: str | None = None,
) -> None:
    """Send an event that is not logged (typing, presence, queue position): best effort, after
    the current transaction commits (at once when none is open)."""
    message = _ephemeral_message(
        type=type, data=data, recipients=recipients, conversation_id=conversation_id, exclude_channel=exclude_channel
    )
    on_commit_robust(_publish, routes, message)


async def apublish_ephemeral(
    *,
    routes: list[str],
    type: str,
    data: dict[str, Any],
    recipients: Recipients | None = None,
    conversation_id: int | None = None,
    exclude_channel: str | None = None,
    hide_own_presence: bool = False,
) -> None:
    """``publish_ephemeral`` for async callers (consumers), outside any transaction."""
    message = _ephemeral_message(
        type=type,
        data=data,
        recipients=recipients,
        conversation_id=conversation_id,
        exclude_channel=exclude_channel,
        hide_own_presence=hide_own_presence,
    )
    layer = get_channel_layer()
    if layer is None:
        return
    metrics.EVENTS_PUBLISHED.labels(type).inc()
    for group in routes:
        await layer.group_send(group, group_message(group, message))
