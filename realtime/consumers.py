"""The one WebSocket consumer at ``/ws/``. The protocol is docs/realtime-protocol.md.

The consumer stays thin: it checks frames, calls selectors and services (through
``database_sync_to_async``) and forwards events. Every event reaches it as ``realtime.event``,
already serialised, through its process's hub (``realtime.hub``: one subscription per group per
process); it only decides whether this socket may receive it (``Recipients``) and forwards the
text.

Until ``hello`` is sent, and while ``resume`` replays the log, live events are held
(``self.held``) and sent afterwards; ``_seen`` drops those already replayed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from rest_framework.exceptions import AuthenticationFailed

from conversations import access, channels, services
from conversations.models import Channel, Conversation
from pytake import jsonsafe, metrics
from pytake.errors import ApplicationError, ErrorCode, InvalidInput, NotFound
from pytake.jsonsafe import JSONTooDeep
from pytake.logging import bind as bind_log_context
from pytake.logging import new_request_id
from realtime import groups, lifecycle
from realtime.auth import Principal, client_gone, resolve_principal, token_from_scope
from realtime.events import Recipients, apublish_ephemeral, customer_event_text, customer_text, envelope_text
from realtime.hub import Hub, hub, send_close
from realtime.presence import Connection, presence_batcher, registry
from realtime.protocol import (
    CLOSE_AUTH,
    CLOSE_FORBIDDEN,
    CLOSE_HEARTBEAT,
    CLOSE_RATE_LIMITED,
    CLOSE_RESTART,
    CLOSE_TOO_LARGE,
    CLOSE_TOO_MANY_CONNECTIONS,
    TokenBucket,
    origin_allowed,
)
from realtime.replay import customer_position, customer_resume_point, replay_after, tenant_last_event_id
from realtime.sweep import watch
from realtime.wire import Wire, customer_event_frame, event_frame, frame

log = logging.getLogger(__name__)

STAFF_ACTIONS = frozenset({"join", "leave", "typing", "read", "ping", "resume"})
CUSTOMER_ACTIONS = frozenset({"join", "typing", "read", "ping", "resume", "message"})
# Dedupe remembers which of the tenant's last SEEN_WINDOW event ids (one dense sequence per
# tenant) the socket got, as the bits of one integer: 512 bytes a socket. A set of the last 2,048
# ids it replaced held 130-260 KB per socket once full (its table grows with the churn).
SEEN_WINDOW = 4096
_SEEN_MASK = (1 << SEEN_WINDOW) - 1
# Bytes of frames written to the server's transport at once (``_send_all``): a write stays
# near half the transport's 64 KB high-water mark, so back-pressure still applies between them.
WRITE_BYTES = 32 * 1024
_RUNNING: set[asyncio.Task[None]] = set()  # teardowns and closes (the loop keeps weak references)


def _conversation_id(frame: dict[str, Any]) -> int:
    value = frame.get("conversation_id")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput("conversation_id must be a positive integer.", code=ErrorCode.INVALID)
    return value


class RealtimeConsumer(AsyncWebsocketConsumer):
    principal: Principal
    connection: Connection
    held: list[dict[str, Any]] | None = None  # live events waiting for hello or for a replay
    ready = False  # hello is out: events may be sent
    last_id = 0  # the newest event id this socket got (or the tenant's newest at hello)
    seen_bits = 0  # bit k: event ``last_id - k`` was sent to this socket (``_seen``)
    closed = False  # the server sent close, or the client left: nothing more goes out
    wire: Wire | None = None  # frames written to the server's transport (realtime.wire)
    sending: asyncio.Future[None] | None = None  # the last frame still waiting in ASGI's send
    access_pending = False  # the user's or tenant's access changed: nothing goes out until checked
    access_again = False  # it changed again while being checked
    access_dropped = False  # events were held back meanwhile: a socket that keeps access resyncs
    access_task: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        self.ready = False
        self.joined: set[int] = set()
        self.typing_tasks: dict[int, asyncio.Task[None]] = {}
        self.bucket = TokenBucket(settings.PYTAKE_WS_RATE, settings.PYTAKE_WS_BURST)
        self.violations = 0
        self.last_heard = time.monotonic()
        self.held = []  # the hub holds live events until hello is out
        subprotocols = self.scope.get("subprotocols") or []
        await self.accept("bearer" if "bearer" in subprotocols else None)
        self.wire = Wire.of(self.base_send)
        refusal = (
            CLOSE_RESTART
            if lifecycle.is_draining()
            else CLOSE_FORBIDDEN
            if not origin_allowed(self.scope)
            else CLOSE_AUTH
            if self.scope.get("principal") is None
            else None
        )
        if refusal is not None:
            metrics.WS_CONNECTS.labels(str(refusal)).inc()
            await self.close(refusal)
            return
        if client_gone(self.scope):  # its handshake timed out while the token was checked
            return
        principal = self.scope["principal"]
        self.principal = principal
        bind_log_context(request_id=new_request_id(), tenant_id=principal.tenant_id, user_id=principal.user_id)
        p = principal
        user_key = f"u{p.user_id}" if not p.is_customer else f"c{p.conversation_id}"
        self.hub: Hub = hub()
        self.subscribed = True  # from here on, the socket is undone by _teardown
        self.channel_name = await self.hub.attach(self)
        self.connection = Connection(self.channel_name, user_key, p.tenant_id, p.role)
        for group in self._event_groups():
            await self.hub.add(group, self)
        if p.is_customer:
            assert p.conversation_id is not None
            self.joined.add(p.conversation_id)
        if client_gone(self.scope):  # the disconnect that follows undoes the subscriptions
            return
        # The token was read before this socket could hear of access changes: if one may have
        # come in between, read it again (rare: only then is there a second query).
        if not self.hub.access_unchanged_since(self.scope.get("access_mark")) and not await self._check_access():
            return
        p = self.principal
        first = await registry().add(self.connection)
        self.ready = True
        metrics.WS_CONNECTS.labels("accepted").inc()
        metrics.WS_CONNECTIONS.labels(p.role).inc()
        self.counted = True
        if first and p.user_id is not None:  # staff: the batcher also tells the database (absence, queue)
            await presence_batcher().changed(p.tenant_id, p.user_id)
        # Nothing was sent yet (live events are held until the hello is out): no seen bits to move.
        self.last_id = await database_sync_to_async(tenant_last_event_id, thread_sensitive=False)(p.tenant_id)
        await self._send_json(
            {
                "type": "hello",
                "data": {
                    "user": {"id": p.user_id, "role": p.role, "tenant_id": p.tenant_id},
                    "conversation_id": p.conversation_id,
                    "last_event_id": await self._position(self.last_id),
                    "heartbeat_seconds": settings.PYTAKE_WS_HEARTBEAT_SECONDS,
                    "resume_window_seconds": settings.PYTAKE_EVENT_RETENTION_HOURS * 3600,
                    "limits": {
                        "max_frame_bytes": settings.PYTAKE_WS_MAX_FRAME_BYTES,
                        "max_joined": settings.PYTAKE_WS_MAX_JOINED,
                        "rate_per_second": settings.PYTAKE_WS_RATE,
                    },
                },
            }
        )
        # Counted against the user's socket cap only once its hello is out. Counted on connect, a
        # socket whose client gave up waiting for its hello (a connect storm) made the cap evict a
        # live socket of the same user (4009) until the server had undone it, seconds later.
        if not client_gone(self.scope):
            for address in await registry().admit(self.connection, settings.PYTAKE_WS_MAX_PER_USER):
                await send_close(self.channel_layer, address, CLOSE_TOO_MANY_CONNECTIONS)
        await self._release_held()
        watch().add(self)

    def _event_groups(self, principal: Principal | None = None) -> list[str]:
        """The event groups of this socket's audience (joined conversations come and go)."""
        p = principal or self.principal
        if p.is_customer:
            assert p.conversation_id is not None
            return [groups.webchat(p.conversation_id)]
        assert p.user_id is not None
        names = [groups.tenant(p.tenant_id), groups.user(p.user_id)]
        if p.is_supervisor:
            names.append(groups.supervisors(p.tenant_id))
        return names

    async def _release_held(self) -> None:
        """Send the live events held meanwhile, in order; those already sent (replayed) are
        skipped by ``realtime_event``'s dedupe."""
        while self.held:
            batch, self.held = self.held, []
            for message in batch:
                await self.realtime_event(message)
        self.held = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' own ``__call__`` gives every consumer a channel of the layer (a Redis
        subscription and a queue on the pub/sub layer) and waits on it and on the client in two
        tasks, a new one per message. This socket's events and its two control messages
        (``realtime.close``, ``server.shutdown``) come through its process's hub instead, so its
        one input is its client, read here in the application's own task (docs/benchmarks.md,
        scenario 3: memory per socket)."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            # The server cancels an instance that is slow to finish after its client left
            # (daphne: application_close_timeout), in connect() or in disconnect(). Undone here,
            # its registry entry would count against the user's socket cap, and keep them
            # online, for 3 heartbeats: under a reconnect storm these piled up by the thousand
            # and evicted live sockets (4009), which reconnected, which fed the storm.
            if getattr(self, "subscribed", False):
                self._start_teardown()

    def _start_teardown(self) -> asyncio.Task[None]:
        """Undo the socket's subscriptions and registry entry, once, in a task of its own that
        a cancel of this consumer does not stop."""
        task: asyncio.Task[None] | None = getattr(self, "_teardown_task", None)
        if task is None:
            task = self._teardown_task = asyncio.get_running_loop().create_task(self._teardown())
            _keep(task, "a closed socket was not fully undone")
        return task

    async def disconnect(self, code: int) -> None:
        self.closed = True
        # Tasks start only once the socket is ready; the teardown cancels them.
        if not getattr(self, "ready", False):
            return
        self.ready = False
        metrics.WS_CLOSES.labels(str(code)).inc()
        await asyncio.shield(self._start_teardown())

    async def _teardown(self) -> None:
        watch().discard(self)
        for task in getattr(self, "typing_tasks", {}).values():
            task.cancel()
        self.ready = False
        if getattr(self, "counted", False):
            metrics.WS_CONNECTIONS.labels(self.principal.role).dec()
        self.hub.forget(self)
        for group in self._event_groups() + [
            groups.conversation(c) for c in self.joined if not self.principal.is_customer
        ]:
            await self.hub.discard(group, self)
        await self.hub.detach(self)
        for conversation_id in list(self.typing_tasks):
            await self._typing_broadcast(conversation_id, "stop")
        last = await registry().remove(self.connection)
        if last and self.principal.user_id is not None:
            await presence_batcher().changed(self.principal.tenant_id, self.principal.user_id)

    def heartbeat(self, silent_since: float) -> bool:
        """The heartbeat sweep's check (``Watch``): close if nothing was heard since
        ``silent_since``, two heartbeats ago (4008). Returns whether the socket is still live
        (its presence entry is refreshed)."""
        if self.closed:
            return False
        if self.last_heard < silent_since:
            self._close_soon(CLOSE_HEARTBEAT)
            return False
        return True

    def expired(self) -> None:
        """The token's expiry (a timer of the sweep's): close with 4001."""
        self._close_soon(CLOSE_AUTH)

    # --- access changes (realtime.access) ------------------------------------------------------

    def access_changed(self, *, user_id: int | None, tenant_id: int | None) -> None:
        """The hub's call when a user's or a tenant's access changed (``realtime.access``): if it
        is this socket's, hold back every event until the token is checked again."""
        p: Principal | None = getattr(self, "principal", None)
        if p is None or self.closed:
            return
        if not ((user_id is not None and user_id == p.user_id) or (tenant_id is not None and tenant_id == p.tenant_id)):
            return
        self.access_pending = True
        if self.access_task is not None:
            self.access_again = True
            return
        self.access_task = asyncio.get_running_loop().create_task(self._recheck_access())
        _keep(self.access_task, "checking a socket's access again failed")

    async def _recheck_access(self) -> None:
        try:
            while True:
                self.access_again = False
                if not await self._check_access() or not self.access_again:
                    return
        finally:
            self.access_pending = False
            self.access_task = None

    async def _check_access(self) -> bool:
        """Resolve the socket's token again, as a new connection's would be. Refused (user
        deactivated or deleted, password changed, signed out everywhere, tenant deactivated), or
        another user or tenant behind it: close with 4001 and return False. A new role: take its
        groups, leave the joined conversations it may not see (``conversation.revoked``), and
        send ``resync`` (the client refetches what it shows)."""
        old = self.principal
        try:
            fresh: Principal | None = await database_sync_to_async(resolve_principal, thread_sensitive=False)(
                token_from_scope(self.scope)
            )
        except AuthenticationFailed:
            fresh = None
        except Exception:  # the database away: closed, the client reconnects and is checked then
            log.warning("checking a socket's access again failed; closing it", exc_info=True)
            fresh = None
        if fresh is None or (fresh.user_id, fresh.tenant_id, fresh.conversation_id) != (
            old.user_id,
            old.tenant_id,
            old.conversation_id,
        ):
            await self.close(CLOSE_AUTH)
            return False
        self.principal = fresh
        if fresh.role == old.role:
            if self.access_dropped and self.ready:
                await self._resync_after_access_change(fresh)
            return True
        log.info("socket's role changed from %s to %s", old.role, fresh.role)
        old_groups, new_groups = set(self._event_groups(old)), set(self._event_groups(fresh))
        for group in new_groups - old_groups:
            await self.hub.add(group, self)
        for group in old_groups - new_groups:
            await self.hub.discard(group, self)
        self.connection = Connection(self.connection.channel, self.connection.user_key, fresh.tenant_id, fresh.role)
        if getattr(self, "counted", False):
            metrics.WS_CONNECTIONS.labels(old.role).dec()
            metrics.WS_CONNECTIONS.labels(fresh.role).inc()
        if not self.ready:  # connecting: the hello, with the new role, is still to come
            return True
        joined = set(self.joined)
        visible = await database_sync_to_async(_visible, thread_sensitive=False)(fresh, joined)
        for conversation_id in sorted(joined - visible):
            await self._leave(conversation_id)
            await self._send_json(
                {"type": "conversation.revoked", "conversation_id": conversation_id, "data": {"id": conversation_id}}
            )
        await self._resync_after_access_change(fresh)
        return True

    async def _resync_after_access_change(self, principal: Principal) -> None:
        """Tell the client to refetch what it shows: its audience changed, or events were held
        back while its access was checked."""
        self.access_dropped = False
        last = await database_sync_to_async(tenant_last_event_id, thread_sensitive=False)(principal.tenant_id)
        data = {"reason": "access_changed", "last_event_id": await self._position(last)}
        await self._send_json({"type": "resync", "data": data})

    def _close_soon(self, code: int) -> None:
        if not self.closed:
            _keep(asyncio.create_task(self.close(code)), "closing a socket failed")

    # --- frames from the client ---------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not getattr(self, "ready", False):
            return
        self.last_heard = time.monotonic()
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > settings.PYTAKE_WS_MAX_FRAME_BYTES:
            await self.close(CLOSE_TOO_LARGE)
            return
        ref = None
        try:
            if text_data is None:
                raise InvalidInput("Frames must be JSON text.", code=ErrorCode.BAD_REQUEST)
            try:
                frame = jsonsafe.loads(text_data)
            except JSONTooDeep as exc:
                raise InvalidInput(str(exc), code=ErrorCode.BAD_REQUEST) from None
            except ValueError:
                raise InvalidInput("The frame is not valid JSON.", code=ErrorCode.BAD_REQUEST) from None
            if not isinstance(frame, dict):
                raise InvalidInput("A frame must be a JSON object.", code=ErrorCode.BAD_REQUEST)
            ref = frame.get("ref")
            if ref is not None and (not isinstance(ref, str | int) or isinstance(ref, bool) or len(str(ref)) > 64):
                ref = None
                raise InvalidInput("ref must be a string or a number of at most 64 characters.", code=ErrorCode.INVALID)
            if not self.bucket.take():
                self.violations += 1
                if self.violations > settings.PYTAKE_WS_ABUSE_LIMIT:
                    await self.close(CLOSE_RATE_LIMITED)
                    return
                raise ApplicationError("Too many commands: slow down.", code=ErrorCode.RATE_LIMITED)
            action = frame.get("action")
            allowed = CUSTOMER_ACTIONS if self.principal.is_customer else STAFF_ACTIONS
            handler = self._handlers().get(action) if isinstance(action, str) and action in allowed else None
            if handler is None:
                raise InvalidInput(f"Unknown action {action!r}.", code=ErrorCode.UNKNOWN_ACTION)
            result = await handler(frame)
        except ApplicationError as exc:
            await self._send_json({"type": "error", "ref": ref, "code": exc.code, "message": exc.message})
            return
        if result is not None:
            await self._send_json(result if "type" in result else {"type": "ack", "ref": ref, "data": result})

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]]:
        return {
            "join": self.do_join,
            "leave": self.do_leave,
            "typing": self.do_typing,
            "read": self.do_read,
            "ping": self.do_ping,
            "resume": self.do_resume,
            "message": self.do_message,
        }

    async def do_ping(self, frame: dict[str, Any]) -> dict[str, Any]:
        return {"type": "pong", "ref": frame.get("ref")}

    async def do_join(self, frame: dict[str, Any]) -> dict[str, Any]:
        try:
            result = await self._join(frame)
        except ApplicationError as exc:
            metrics.WS_JOINS.labels(exc.code).inc()
            raise
        metrics.WS_JOINS.labels("ok").inc()
        return result

    async def _join(self, frame: dict[str, Any]) -> dict[str, Any]:
        conversation_id = _conversation_id(frame)
        if self.principal.is_customer:
            if conversation_id != self.principal.conversation_id:
                raise NotFound("Conversation not found.")
            seq = await database_sync_to_async(_conversation_seq)(conversation_id)
            return {"conversation_id": conversation_id, "seq": seq}
        if conversation_id not in self.joined and len(self.joined) >= settings.PYTAKE_WS_MAX_JOINED:
            raise ApplicationError(
                f"At most {settings.PYTAKE_WS_MAX_JOINED} joined conversations per socket.",
                code=ErrorCode.TOO_MANY_JOINED,
            )
        while True:  # again if the socket's role changed meanwhile (``_check_access``)
            principal = self.principal
            conversation = await database_sync_to_async(access.conversation_for_user)(
                user=principal.user, conversation_id=conversation_id
            )
            if self.principal is principal:
                break
        await self.hub.add(groups.conversation(conversation.pk), self)
        self.joined.add(conversation.pk)
        return {"conversation_id": conversation.pk, "seq": conversation.event_seq}

    async def do_leave(self, frame: dict[str, Any]) -> dict[str, Any]:
        conversation_id = _conversation_id(frame)
        await self._leave(conversation_id)
        return {"conversation_id": conversation_id}

    async def _leave(self, conversation_id: int) -> None:
        if conversation_id in self.joined:
            self.joined.discard(conversation_id)
            await self.hub.discard(groups.conversation(conversation_id), self)
        task = self.typing_tasks.pop(conversation_id, None)
        if task is not None:
            task.cancel()

    async def do_typing(self, frame: dict[str, Any]) -> dict[str, Any]:
        conversation_id = _conversation_id(frame)
        state = frame.get("state", "start")
        if state not in ("start", "stop"):
            raise InvalidInput('state must be "start" or "stop".', code=ErrorCode.INVALID)
        if conversation_id not in self.joined:
            raise NotFound("Join the conversation first.", code=ErrorCode.NOT_JOINED)
        previous = self.typing_tasks.pop(conversation_id, None)
        if previous is not None:
            previous.cancel()
        if state == "start":
            self.typing_tasks[conversation_id] = asyncio.create_task(self._typing_timeout(conversation_id))
            if previous is None:
                await self._typing_broadcast(conversation_id, "start")
            if not self.principal.is_customer:
                await database_sync_to_async(_channel_typing)(conversation_id)
        elif previous is not None:
            await self._typing_broadcast(conversation_id, "stop")
        return {"conversation_id": conversation_id, "state": state}

    async def _typing_timeout(self, conversation_id: int) -> None:
        await asyncio.sleep(settings.PYTAKE_TYPING_TIMEOUT_SECONDS)
        self.typing_tasks.pop(conversation_id, None)
        await self._typing_broadcast(conversation_id, "stop")

    async def _typing_broadcast(self, conversation_id: int, state: str) -> None:
        p = self.principal
        who = None if p.user is None else {"id": p.user.pk, "name": p.user.get_full_name()}
        routes = [groups.conversation(conversation_id)]
        if p.is_customer or await database_sync_to_async(_channel_of)(conversation_id) == Channel.WEBCHAT:
            routes.append(groups.webchat(conversation_id))
        await apublish_ephemeral(
            routes=routes,
            type="typing",
            data={"conversation_id": conversation_id, "user": who, "state": state},
            conversation_id=conversation_id,
            exclude_channel=self.channel_name,
        )

    async def do_read(self, frame: dict[str, Any]) -> dict[str, Any]:
        conversation_id = _conversation_id(frame)
        if self.principal.is_customer:
            if conversation_id != self.principal.conversation_id:
                raise NotFound("Conversation not found.")
            await database_sync_to_async(services.conversation_mark_read_by_customer)(conversation_id=conversation_id)
            return {"conversation_id": conversation_id}
        user = self.principal.user
        assert user is not None

        def mark() -> None:
            conversation = access.conversation_for_user(user=user, conversation_id=conversation_id)
            services.conversation_mark_read(conversation=conversation, actor=user)

        await database_sync_to_async(mark)()
        return {"conversation_id": conversation_id}

    async def do_message(self, frame: dict[str, Any]) -> dict[str, Any]:
        text, client_id, reply_to = frame.get("text"), frame.get("client_id"), frame.get("reply_to")
        if not isinstance(text, str) or not text.strip() or len(text) > 4096:
            raise InvalidInput("text must be a non-empty string of at most 4096 characters.", code=ErrorCode.INVALID)
        if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= 64):
            raise InvalidInput("client_id must be a string of at most 64 characters.", code=ErrorCode.INVALID)
        if reply_to is not None and (isinstance(reply_to, bool) or not isinstance(reply_to, int) or reply_to <= 0):
            raise InvalidInput("reply_to must be a message id (a positive integer).", code=ErrorCode.INVALID)
        assert self.principal.conversation_id is not None
        message, _created = await database_sync_to_async(services.message_create_webchat)(
            conversation_id=self.principal.conversation_id, text=text, client_id=client_id, reply_to=reply_to
        )
        return {"message_id": message.pk}

    async def do_resume(self, frame: dict[str, Any]) -> None:
        last = frame.get("last_event_id")
        if isinstance(last, bool) or not isinstance(last, int) or last < 0:
            raise InvalidInput("last_event_id must be a non-negative integer.", code=ErrorCode.INVALID)
        if self.principal.is_customer:  # a seq of the customer's conversation: its event id here
            assert self.principal.conversation_id is not None
            point = await database_sync_to_async(customer_resume_point, thread_sensitive=False)(
                tenant_id=self.principal.tenant_id, conversation_id=self.principal.conversation_id, position=last
            )
            if isinstance(point, str):
                data = {"reason": point, "last_event_id": await self._position(0)}
                await self._send_json({"type": "resync", "ref": frame.get("ref"), "data": data})
                return
            last = point
        await self._replay(last, ref=frame.get("ref"), answer=True)

    async def _position(self, last_event_id: int) -> int:
        """The position a client is told: the tenant's event id for staff; for a web-chat
        customer, the seq of their conversation's newest event they may see."""
        if not self.principal.is_customer:
            return last_event_id
        assert self.principal.conversation_id is not None
        return await database_sync_to_async(customer_position, thread_sensitive=False)(self.principal.conversation_id)

    async def catch_up(self) -> None:
        """Called by the hub when the channel layer was away (events may have been lost on the
        way): send what the log holds after the last event this socket got, as a resume would."""
        if getattr(self, "ready", False) and self.held is None:
            await self._replay(self.last_id, ref=None, answer=False)

    async def _replay(self, last: int, *, ref: Any, answer: bool) -> None:
        # Live events wait while the log is read, so that the client gets them after the replay.
        if self.held is None:
            self.held = []
        try:
            # Reads only: parallel threads, so a reconnect storm is not served one socket at a time.
            replay = await database_sync_to_async(replay_after, thread_sensitive=False)(
                principal=self.principal, last_event_id=last, joined=set(self.joined)
            )
            metrics.WS_RESUMES.labels("resync" if replay.resync else "replayed").inc()
            if replay.resync:
                await self._send_json(
                    {
                        "type": "resync",
                        "ref": ref,
                        "data": {"reason": replay.resync, "last_event_id": await self._position(replay.last_event_id)},
                    }
                )
                return
            texts = [text for event_id, text in zip(replay.ids, replay.frames, strict=True) if not self._seen(event_id)]
            if self.principal.is_customer:
                texts = [customer_text(text) for text in texts]
            if answer:
                data = {"replayed": len(texts), "last_event_id": await self._position(replay.last_event_id)}
                texts.append(_json({"type": "ack", "ref": ref, "data": data}))
            await self._send_all(texts)
        finally:
            await self._release_held()  # the live events that came meanwhile, after the answer

    # --- the server's messages, and events from the hub -----------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        """The ASGI server's messages (connect, receive, disconnect). Channels' dispatch runs
        ``aclose_old_connections()`` before every handler: a ``sync_to_async`` hop through the
        one shared thread for every message of every socket, a third of an idle server's CPU at
        9,000 sockets for their heartbeats (docs/benchmarks.md). No handler here needs it: every
        one that touches the database goes through ``database_sync_to_async``, which closes
        stale connections itself (and a sync ORM call from here would raise)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    def _seen(self, event_id: int) -> bool:
        """Remember a delivered id; True if it was delivered before (dedupe across groups and
        across the resume seam, both seconds apart). An id more than ``SEEN_WINDOW`` below the
        newest counts as new: only a replay from far back brings one, and the socket has not
        sent it (the client dedupes too)."""
        ahead = event_id - self.last_id
        if ahead > 0:
            self.seen_bits = ((self.seen_bits << ahead) | 1) & _SEEN_MASK if ahead < SEEN_WINDOW else 1
            self.last_id = event_id
            return False
        if -ahead >= SEEN_WINDOW:
            return False
        bit = 1 << -ahead
        if self.seen_bits & bit:
            return True
        self.seen_bits |= bit
        return False

    def _may_receive(self, message: dict[str, Any]) -> bool:
        p = self.principal
        conversation_id = message.get("conversation_id")
        recipients = _recipients(message)
        if p.is_customer:
            assert p.conversation_id is not None
            if recipients is None:  # ephemeral (typing, queue position): routed to its conversation
                return conversation_id == p.conversation_id
            return recipients.allows_customer(event_conversation_id=conversation_id, conversation_id=p.conversation_id)
        assert p.user_id is not None
        if recipients is not None and not recipients.allows_staff(user_id=p.user_id, is_supervisor=p.is_supervisor):
            return False
        event_type = message.get("event_type", "")
        if event_type.startswith("message.") or event_type == "typing":
            return conversation_id in self.joined
        return True

    def offer(self, message: dict[str, Any]) -> bool | None:
        """The hub's inline delivery of a live event, without a coroutine: True once it is written
        to this socket's transport, False when it is not for this socket; None, having changed
        nothing, when it needs ``send_event`` (no wire, a frame waiting in ASGI's ``send`` or
        a paused transport, an event that makes the socket leave a conversation, a presence batch
        that names the socket's own user). A coroutine per socket per event, its ``send`` and its
        ``StopIteration``, was a fifth of the hub's own time (``python -m bench.fanout_inprocess``)."""
        if not self._admits(message):
            return False
        wire = self.wire
        if wire is None or self.sending is not None or not wire.ready():
            return None
        if message.get("event_type") == "conversation.revoked":
            return None
        user_id = self.principal.user_id
        if user_id is not None and user_id in message.get("presence_users", ()):
            return None
        event_id = message.get("id")
        if event_id is not None and self._seen(event_id):
            return False
        wire.put(customer_event_frame(message) if self.principal.is_customer else event_frame(message))
        return True

    def _admits(self, message: dict[str, Any]) -> bool:
        if not (
            self.ready
            and not self.closed
            and message.get("exclude_channel") != self.channel_name
            and self._may_receive(message)
        ):
            return False
        if self.access_pending:  # its access is being checked: the client gets a resync instead
            self.access_dropped = True
            return False
        return True

    async def realtime_event(self, message: dict[str, Any]) -> bool:
        """Send a live event to this socket if its principal may see it, counting the delivery.
        Returns whether it was sent. The hub's own loop over every local socket uses ``offer``,
        then ``send_event`` when the send may have to wait, and counts its deliveries once per
        event (a per-delivery metric was a sixth of the fan-out's CPU, docs/benchmarks.md)."""
        sent = self.offer(message)
        if sent is None:
            sent = await self.send_event(message)
        if sent:
            metrics.record_deliveries(message, 1)
        return sent

    async def send_event(self, message: dict[str, Any]) -> bool:
        """Send an event ``offer`` has just admitted but could not write at once (it returned
        None; nothing ran in between): the filter is not evaluated again."""
        if message.get("event_type") == "conversation.revoked" and not self.principal.is_customer:
            await self._leave(int(message["conversation_id"]))
        event_id = message.get("id")
        if event_id is not None and self._seen(event_id):
            return False
        if self.principal.is_customer:
            await self._send_text(customer_event_text(message), customer_event_frame(message))
            return True
        text = message["text"]
        user_id = self.principal.user_id
        if user_id is not None and user_id in message.get("presence_users", ()):
            text = _without_own_presence(text, user_id)
            if text is None:
                return False
        await self._send_text(text, event_frame(message) if text is message["text"] else None)
        return True

    # --- helpers ------------------------------------------------------------------------------

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        """Once. After it, or once the client has left, frames are dropped here: uvicorn raises on
        a send after ``websocket.close``, and a reply to a frame still being handled, a heartbeat
        close racing an eviction, would otherwise end the consumer with an error."""
        if self.closed:
            return
        self.closed = True
        await super().close(code, reason)

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        if text_data is not None and not close:
            await self._send_text(text_data)
        elif not self.closed:
            await super().send(text_data, bytes_data, close)

    async def _send_json(self, payload: dict[str, Any]) -> None:
        await self._send_text(_json(payload))

    async def _send_text(self, text: str, data: bytes | None = None) -> None:
        """Send one text frame (``data``: its bytes, when already serialised), in order with
        every other frame of this socket: written to the server's transport when the wire takes
        it (``realtime.wire``) and no earlier frame still waits in ASGI's ``send``; otherwise
        through ASGI, after the frames waiting there. A frame written directly while an earlier
        one waited for the transport to drain would overtake it as soon as writing resumed."""
        if self.closed:
            return
        wire = self.wire
        if wire is not None and self.sending is None and wire.write(frame(text) if data is None else data):
            return
        earlier, mine = self.sending, asyncio.get_running_loop().create_future()
        self.sending = mine
        try:
            if earlier is not None:
                await earlier
            if not self.closed:
                await self.base_send({"type": "websocket.send", "text": text})
        finally:
            if not mine.done():  # a cancelled successor cancels it: nothing more waits on it then
                mine.set_result(None)
            if self.sending is mine:
                self.sending = None

    async def _send_all(self, texts: list[str]) -> None:
        """Send frames in order: up to ``WRITE_BYTES`` of them in one write to the server's
        transport when the wire takes them (a resume's replay: one system call, not one per
        event, which were most of a reconnect storm's writes), else one by one through ASGI."""
        start = 0
        while start < len(texts):
            if self.wire is None or self.closed or self.sending is not None:
                end = len(texts)  # one by one, in order, behind the frames waiting in ASGI
            else:
                end, frames, size = start, [], 0
                while end < len(texts) and size < WRITE_BYTES:
                    frames.append(frame(texts[end]))
                    size, end = size + len(frames[-1]), end + 1
                if self.wire.write(b"".join(frames)):
                    start = end
                    continue
            for text in texts[start:end]:
                await self._send_text(text)
            start = end


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), default=str)


def _keep(task: asyncio.Task[None], failure: str) -> None:
    """Keep a task of the socket's that nothing awaits until it ends, and log its failure."""
    _RUNNING.add(task)

    def done(task: asyncio.Task[None]) -> None:
        _RUNNING.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning(failure, exc_info=exc)

    task.add_done_callback(done)


def _channel_typing(conversation_id: int) -> None:
    """Show "typing…" to the customer through the conversation's channel (rate-limited there)."""
    conversation = Conversation.objects.filter(pk=conversation_id).only("channel").first()
    if conversation is not None:
        channels.typing(conversation=conversation)


def _conversation_seq(conversation_id: int) -> int:
    return Conversation.objects.filter(pk=conversation_id).values_list("event_seq", flat=True).first() or 0


def _channel_of(conversation_id: int) -> str | None:
    return Conversation.objects.filter(pk=conversation_id).values_list("channel", flat=True).first()


def _visible(principal: Principal, conversation_ids: set[int]) -> set[int]:
    """Which of these conversations the principal's user may see (the REST rule)."""
    assert principal.user is not None
    visible = access.conversations_visible_to(user=principal.user).filter(pk__in=conversation_ids)
    return set(visible.values_list("pk", flat=True))


def _without_own_presence(text: str, user_id: int) -> str | None:
    """A presence batch without the receiving user's own entry (None when nothing else is left)."""
    envelope = json.loads(text)
    others = [change for change in envelope["data"]["users"] if change["user_id"] != user_id]
    if not others:
        return None
    envelope["data"]["users"] = others
    return envelope_text(envelope)


def _recipients(message: dict[str, Any]) -> Recipients | None:
    """The message's audience, parsed once per message (the hub hands the same dict to every
    socket of the process) rather than once per socket."""
    try:
        return message["_recipients"]  # type: ignore[no-any-return]
    except KeyError:
        raw = message.get("recipients")
        recipients = message["_recipients"] = Recipients(**raw) if raw else None
        return recipients
