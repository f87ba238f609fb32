"""Process-local fan-out: each event crosses the channel layer once per process, not once per socket.

With Channels' own groups every socket's consumer is a member of the layer group: the layer puts a
copy of each event in every consumer's queue, and every consumer's task wakes up (a new task and an
``asyncio.wait`` per message in ``await_many_dispatch``) to forward it. That per-socket machinery
was most of the server's CPU in the fan-out bench (docs/benchmarks.md).

Here the sockets of a process register with its ``Hub`` for their event groups (tenant, user,
supervisors, conversation, web chat). The hub's one channel joins each such group once, and for
each event calls ``offer`` of every local member in one loop, in the order the layer
delivered them; the consumer still filters (``Recipients``), dedupes and sends the text that was
serialised once at publish time. Messages published to a group carry its name (``"group"``, see
``realtime.events.group_message``): the layer does not say which group a message came through.

Sending to a healthy socket completes without suspending (the ASGI server only appends to its
buffer), so the loop runs it inline: no task per socket per event. A send that does suspend (the
server waits for a socket whose buffers are full) is finished by a task of that socket's own, and
the socket's next events queue behind it, so one slow reader never holds up the others. A socket
that stays that slow (a frame not taken within ``PYTAKE_WS_SEND_TIMEOUT_SECONDS``, more than
``PYTAKE_WS_SEND_BACKLOG`` events or ``PYTAKE_WS_MAX_SEND_BUFFER`` bytes of them waiting) is closed
with 1013; the client reconnects and resumes.

A socket has no channel of its own in the layer (Channels gives every consumer one: a
subscription, a queue and a task waiting on it, per socket). It is ``attach``ed to its process's
hub, which gives it an address, ``<hub channel>#<n>``; the two messages meant for one socket or
for all of them come through the hub's channel too: ``realtime.close`` with ``"to"``, an address
(the registry's per-user cap evicts a socket of another process that way, ``send_close``), and
``server.shutdown``, which daphne's graceful stop sends to the process group
(``realtime.lifecycle``) that the hub's channel joins.

When the channel layer goes away (Redis restarted), events published meanwhile are lost on the
fast path, and so are events published before this process has subscribed again. The hub sends
itself a numbered probe through the layer every ``PROBE_SECONDS``; when a probe cannot be sent
(within ``PROBE_SEND_SECONDS``: a layer that hangs is away too) or is lost (a later one comes back
first), it knows, and once probes come back it has every member catch up from the log
(``catch_up``: a resume the server starts), so clients get what they missed without waiting for a
later event or a reconnect. A probe that is only late, however late, means a busy process, not a
loss: taking silence for loss had every socket of a busy server replay the log, which made it
busier still (the idle ramp stalled near 8,300 sockets on it, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings

from pytake import metrics
from realtime import groups, lifecycle

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 1013  # "try again later" (RFC 6455): reconnect and resume
# The core backend's groups expire (``group_expiry``, a day by default): the hub refreshes its own.
REFRESH_SECONDS = 3600.0
PROBE_SECONDS = 0.25
# A probe send that takes longer than this counts as failed: the layer hangs.
PROBE_SEND_SECONDS = 5.0
PROBE_TYPE = "realtime.hub_probe"
CLOSE_TYPE = "realtime.close"  # {"to": address, "code": close code}: close that socket
ACCESS_TYPE = "realtime.access"  # {"user_id", "tenant_id"}: sockets of these check their token again


class Member(Protocol):
    channel_name: str
    held: list[dict[str, Any]] | None  # not None: deliveries wait (hello not sent, replay running)

    def offer(self, message: dict[str, Any]) -> bool | None: ...

    def send_event(self, message: dict[str, Any]) -> Coroutine[Any, Any, bool]: ...

    def realtime_event(self, message: dict[str, Any]) -> Coroutine[Any, Any, bool]: ...

    def close(self, code: int | bool | None = None) -> Awaitable[None]: ...

    def catch_up(self) -> Coroutine[Any, Any, None]: ...

    def access_changed(self, *, user_id: int | None, tenant_id: int | None) -> None: ...


class _Suspended:
    """A coroutine that stopped at its first suspension point, awaited from where it stopped: the
    awaiting task waits on what the coroutine was waiting on, then drives it on (values and
    exceptions, cancellation included, pass through)."""

    __slots__ = ("coro", "waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, bool], waiting_on: Any) -> None:
        self.coro, self.waiting_on = coro, waiting_on

    def __await__(self) -> Generator[Any, Any, bool]:
        signal = self.waiting_on
        while True:
            try:
                sent = yield signal
            except BaseException as exc:
                try:
                    signal = self.coro.throw(exc)
                except StopIteration as done:
                    return bool(done.value)
            else:
                try:
                    signal = self.coro.send(sent)
                except StopIteration as done:
                    return bool(done.value)


class _Backlog:
    """The events waiting behind a socket's send in flight, in order, and their size."""

    __slots__ = ("events", "size")

    def __init__(self) -> None:
        self.events: deque[dict[str, Any]] = deque()
        self.size = 0  # characters of their frames

    def __bool__(self) -> bool:
        return bool(self.events)

    def push(self, message: dict[str, Any]) -> bool:
        """Queue ``message``; False, queueing nothing, when the socket is over either bound."""
        size = len(message.get("text", ""))
        if len(self.events) >= int(settings.PYTAKE_WS_SEND_BACKLOG) or (
            self.size + size > int(settings.PYTAKE_WS_MAX_SEND_BUFFER)
        ):
            return False
        self.events.append(message)
        self.size += size
        return True

    def pop(self) -> dict[str, Any]:
        message = self.events.popleft()
        self.size -= len(message.get("text", ""))
        return message


class Hub:
    """The fan-out of one event loop of one process, for one channel layer."""

    def __init__(self, layer: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.layer, self.loop = layer, loop
        self.key = (id(loop), id(layer))
        self.members: dict[str, dict[str, Member]] = {}  # group -> channel name -> member
        self._groups_of: dict[str, set[str]] = {}  # channel name -> its groups here
        self.channel: str | None = None
        self.attached: dict[str, Member] = {}  # address -> socket of this process
        self._numbers = itertools.count(1)
        self._lock = asyncio.Lock()  # layer subscriptions change one at a time
        self._tasks: set[asyncio.Task[None]] = set()
        self._runners: list[asyncio.Task[None]] = []
        self._backlogs: dict[str, _Backlog] = {}  # members with a send in flight
        self._probes_sent = self._probes_back = 0
        self._missed = False  # a probe was lost: events may have been
        # ``realtime.access`` messages received on ``channel``: a socket whose token was checked
        # before one came checks again (``access_unchanged_since``).
        self.access_changes = 0

    # --- membership -------------------------------------------------------------------------

    async def attach(self, member: Member) -> str:
        """Give ``member`` its address (its ``channel_name``): what closes it from any process
        (``send_close``). The hub also closes it on ``server.shutdown``, until ``detach``."""
        async with self._lock:
            channel = await self._start()
            address = f"{channel}#{next(self._numbers)}"
            self.attached[address] = member
            return address

    async def detach(self, member: Member) -> None:
        async with self._lock:
            if self.attached.get(member.channel_name) is member:
                del self.attached[member.channel_name]
            await self._stop_if_idle()

    async def add(self, group: str, member: Member) -> None:
        """Make ``member`` receive the events of ``group``; once this returns, it does."""
        async with self._lock:
            members = self.members.get(group)
            if members is None:
                await self.layer.group_add(group, await self._start())
                members = self.members[group] = {}
            members[member.channel_name] = member
            self._groups_of.setdefault(member.channel_name, set()).add(group)

    async def discard(self, group: str, member: Member) -> None:
        async with self._lock:
            mine = self._groups_of.get(member.channel_name)
            if mine is not None:
                mine.discard(group)
                if not mine:
                    del self._groups_of[member.channel_name]
            members = self.members.get(group)
            if members is None:
                return
            members.pop(member.channel_name, None)
            if members:
                return
            del self.members[group]
            if self.channel is not None:
                await self.layer.group_discard(group, self.channel)
            await self._stop_if_idle()

    async def _start(self) -> str:
        """The hub's channel, subscribed on first use (under the lock)."""
        if self.channel is None:
            self.channel = await self.layer.new_channel(prefix=_channel_prefix(self.layer))
            await self.layer.group_add(lifecycle.process_group_name(), self.channel)
            await self.layer.group_add(groups.access(), self.channel)
            self._runners = [_task(self._run(self.channel)), _task(self._refresh()), _task(self._probe())]
        return self.channel

    async def _stop_if_idle(self) -> None:
        """Nobody left: stop receiving (cancelling the receive unsubscribes the channel); the next
        ``attach`` or ``add`` starts on a new channel (under the lock)."""
        if self.members or self.attached or self.channel is None:
            return
        await self.layer.group_discard(lifecycle.process_group_name(), self.channel)
        await self.layer.group_discard(groups.access(), self.channel)
        for task in self._runners:
            task.cancel()
        self._runners, self.channel = [], None
        if _hubs.get(self.key) is self:
            del _hubs[self.key]

    def access_mark(self) -> tuple[str | None, int]:
        """Where the access changes stand, taken before a connecting socket's token is checked."""
        return self.channel, self.access_changes

    def access_unchanged_since(self, mark: tuple[str | None, int] | None) -> bool:
        """Whether no access change can have come between ``mark`` and now (call once the socket
        is attached, so that later ones reach it): the hub was already subscribed then, on the
        same channel, and has received none since."""
        return mark is not None and mark[0] is not None and mark == (self.channel, self.access_changes)

    def member_count(self, group: str) -> int:
        """Sockets of this process in ``group``."""
        return len(self.members.get(group, ()))

    def forget(self, member: Member) -> None:
        """Stop delivering to ``member`` at once (its ``disconnect`` tidies the subscriptions).
        Only its own groups are looked at: walking every group of the process for each socket
        that left made a reconnect storm quadratic (2 % of a 2,000-socket storm's samples)."""
        for group in self._groups_of.get(member.channel_name, ()):
            members = self.members.get(group)
            if members is not None and members.get(member.channel_name) is member:
                del members[member.channel_name]
        self._backlogs.pop(member.channel_name, None)

    # --- delivery ---------------------------------------------------------------------------

    async def _run(self, channel: str) -> None:
        while True:
            message = await self.layer.receive(channel)
            try:
                self.deliver(message)
            except Exception:  # one bad message must not stop the fan-out of the process
                log.exception("hub: delivery of a %s message failed", message.get("type"))
            # Let the server write to the sockets before the next event: with events waiting,
            # ``receive`` returns without yielding, and the loop would only fill buffers.
            await asyncio.sleep(0)

    def deliver(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == PROBE_TYPE:
            n = int(message.get("n", 0))
            if n > self._probes_back + 1:  # the layer lost the ones in between (ordered otherwise)
                self._lost(f"probes {self._probes_back + 1}..{n - 1} never came back")
            self._probes_back = max(self._probes_back, n)
            return
        if kind == CLOSE_TYPE:
            target = self.attached.get(str(message.get("to")))
            if target is not None:
                self._spawn(_close_quietly(target, int(message.get("code", lifecycle.SHUTDOWN_CLOSE_CODE))))
            return
        if kind == ACCESS_TYPE:
            self.access_changes += 1
            user_id, tenant_id = message.get("user_id"), message.get("tenant_id")
            for member in list(self.attached.values()):
                member.access_changed(user_id=user_id, tenant_id=tenant_id)
            return
        if kind == lifecycle.SHUTDOWN_MESSAGE["type"]:
            for member in list(self.attached.values()):
                self._spawn(_close_quietly(member, lifecycle.SHUTDOWN_CLOSE_CODE))
            return
        members = self.members.get(message.get("group", ""))
        if not members:
            return
        sent = 0
        for member in tuple(members.values()):  # a member may leave while we deliver
            if member.held is not None:
                member.held.append(message)
                continue
            backlog = self._backlogs.get(member.channel_name)
            if backlog is not None:
                if not backlog.push(message):
                    self._drop_slow(member)
                continue
            written = member.offer(message)
            if written is not None:  # the common case: written (or not for it) at once
                sent += written
                continue
            coro = member.send_event(message)  # admitted by offer: not filtered again
            try:
                waiting_on = coro.send(None)
            except StopIteration as done:
                sent += done.value is True
                continue  # sent without suspending: the common case
            except Exception:
                log.warning("hub: sending to %s failed; dropping it", member.channel_name, exc_info=True)
                self.forget(member)
                continue
            self._backlogs[member.channel_name] = _Backlog()
            self._spawn(self._finish_sends(member, _Suspended(coro, waiting_on), message))
        if sent:
            metrics.record_deliveries(message, sent)

    async def _finish_sends(self, member: Member, in_flight: _Suspended, message: dict[str, Any]) -> None:
        """Finish a send that had to wait, then the events that queued behind it, in order."""
        timeout = float(settings.PYTAKE_WS_SEND_TIMEOUT_SECONDS)
        try:
            async with asyncio.timeout(timeout):
                if await in_flight:
                    metrics.record_deliveries(message, 1)
            backlog = self._backlogs.get(member.channel_name)
            while backlog:
                message = backlog.pop()
                async with asyncio.timeout(timeout):
                    await member.realtime_event(message)  # counts its own delivery
                backlog = self._backlogs.get(member.channel_name)
        except TimeoutError:
            self._drop_slow(member)
        except Exception:
            log.warning("hub: sending to %s failed; dropping it", member.channel_name, exc_info=True)
            self.forget(member)
        finally:
            self._backlogs.pop(member.channel_name, None)  # sends go inline again

    def _drop_slow(self, member: Member) -> None:
        log.warning("hub: %s is not reading its events; closing it (1013)", member.channel_name)
        metrics.WS_SLOW_CLIENTS_DROPPED.inc()
        self.forget(member)
        self._spawn(_close_quietly(member, CLOSE_TOO_SLOW))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = _task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _probe(self) -> None:
        """Notice a gap in the layer (see the module docstring) and repair it once it is over."""
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            behind = self._probes_sent - self._probes_back
            if self._missed and behind == 0:  # the newest probe is back: the layer is whole again
                self._missed = False
                log.warning("hub: the channel layer is back; catching every socket up from the event log")
                for member in {m.channel_name: m for ms in self.members.values() for m in ms.values()}.values():
                    self._spawn(_catch_up_quietly(member))
            if self.channel is None:  # nobody here: nothing to probe for
                continue
            self._probes_sent += 1
            try:
                async with asyncio.timeout(PROBE_SEND_SECONDS):  # a layer that hangs is away too
                    await self.layer.send(self.channel, {"type": PROBE_TYPE, "n": self._probes_sent})
            except Exception as exc:
                self._lost(f"a probe could not be sent ({exc!r})")

    def _lost(self, why: str) -> None:
        if not self._missed:  # once per gap: a layer that is away fails every probe
            log.warning("hub: %s; events may have been lost, catching up once probes are back", why)
        self._missed = True

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            async with self._lock:
                if self.channel is not None:
                    for group in [*self.members, lifecycle.process_group_name(), groups.access()]:
                        await self.layer.group_add(group, self.channel)


def _channel_prefix(layer: Any) -> str:
    """The hub's channel is named ``realtime.hub…``, which the capacity settings look for, except
    on channels-redis' core layer: there a process reads every channel of its own from one Redis
    key, named by what comes before the ``!``, in one receive loop at a time, so a channel with
    another prefix is only read while its own receive holds that loop. The consumers' channels
    held it, and the hub's events never arrived. There it takes the layer's default prefix (the
    settings give that channel the hub's capacity)."""
    from channels_redis.core import RedisChannelLayer

    return "specific" if isinstance(layer, RedisChannelLayer) else "realtime.hub"


def _task(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A hub task runs for every socket of the process: not in the context (log fields: request
    id, tenant, user) of the socket whose connect happened to start it."""
    return asyncio.create_task(coro, context=contextvars.Context())


async def _catch_up_quietly(member: Member) -> None:
    try:
        await member.catch_up()
    except Exception:
        log.warning("hub: catching %s up failed; it resumes when it reconnects", member.channel_name, exc_info=True)


async def _close_quietly(member: Member, code: int) -> None:
    try:
        await member.close(code)
    except Exception:
        log.debug("hub: closing %s with %s failed", member.channel_name, code, exc_info=True)


async def send_close(layer: Any, address: str, code: int) -> None:
    """Close the socket at ``address`` (its ``channel_name``), in whichever process it is."""
    channel = address.rpartition("#")[0] or address  # a plain channel: a consumer of its own
    await layer.send(channel, {"type": CLOSE_TYPE, "to": address, "code": code})


_hubs: dict[tuple[int, int], Hub] = {}


def hub() -> Hub:
    """This event loop's hub for the default channel layer (tests run many loops and layers)."""
    layer = get_channel_layer()
    loop = asyncio.get_running_loop()
    found = _hubs.get((id(loop), id(layer)))
    if found is None or found.layer is not layer or found.loop is not loop:
        found = Hub(layer, loop)
        _hubs[found.key] = found
    return found
