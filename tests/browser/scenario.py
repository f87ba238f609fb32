"""Data and server-side actions for browser tests: a small tenant like the demo one, a customer
writing, Meta's status callbacks. Rows are written in this (test) process; their ``post_save``
events reach the server's sockets through the shared Redis channel layer.

Every public function here runs in a worker thread: Playwright's sync API keeps an event loop
running in the test's thread, and the publish-on-commit path (``async_to_sync(group_send)``)
refuses to run in a thread with a running loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connections, transaction
from django.utils import timezone

from conversations.models import (
    Channel,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    Role,
    SenderType,
    Tenant,
    User,
)
from conversations.services import message_preview
from conversations.transitions import message_status_can_advance
from tests import factories

PASSWORD = "browser-pass-1234"
T = TypeVar("T")
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scenario")


def off_loop(fn: Callable[..., T]) -> Callable[..., T]:
    """Run ``fn`` in the worker thread and wait for it (its database connection is closed after
    each call, so nothing holds the test database open)."""

    def run(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return _worker.submit(run, *args, **kwargs).result(timeout=60)

    return wrapper


@dataclass
class Demo:
    tenant: Tenant
    agent: User
    agent2: User
    supervisor: User
    maria: Conversation  # assigned to agent
    john: Conversation  # in the queue, 1 unread
    lucia: Conversation  # in the queue


@functools.cache
def password_hash() -> str:
    """PASSWORD hashed with Django's default hasher, which the server process verifies with (the
    test process uses a fast one, see conftest); once per run, because it is slow on purpose."""
    hasher = PBKDF2PasswordHasher()
    return hasher.encode(PASSWORD, hasher.salt())


@off_loop
def seed_demo() -> Demo:
    tenant = factories.TenantFactory(name="Demo Store")
    staff = {
        key: factories.UserFactory(tenant=tenant, role=role, name=name, email=email, password=PASSWORD)
        for key, role, name, email in [
            ("agent", Role.AGENT, "Alex Agent", "alex@browser.test"),
            ("agent2", Role.AGENT, "Bruno Agent", "bruno@browser.test"),
            ("supervisor", Role.SUPERVISOR, "Sofia Supervisor", "sofia@browser.test"),
        ]
    }
    for user in staff.values():
        user.password = password_hash()
        user.save(update_fields=["password"])
    account = factories.WhatsAppAccountFactory(tenant=tenant)
    start = timezone.now() - timedelta(hours=2)
    convs = []
    for index, (name, lines, assignee) in enumerate(
        [
            (
                "Maria Silva",
                [("in", "Olá! Meu pedido ainda não chegou."), ("out", "Oi Maria, vou verificar.")],
                "agent",
            ),
            ("John Carter", [("in", "Hi, can I change my delivery address?")], None),
            ("Lucia Souza", [("in", "Vocês abrem no sábado?"), ("out", "Sim, das 9h às 13h.")], None),
        ]
    ):
        contact = factories.ContactFactory(tenant=tenant, name=name, profile_name=name)
        conv = factories.ConversationFactory(
            tenant=tenant,
            contact=contact,
            whatsapp_account=account,
            assignee=staff[assignee] if assignee else None,
            queued_at=None if assignee else start,
        )
        at = start + timedelta(minutes=20 * index)
        for offset, (way, text) in enumerate(lines):
            _message(conv, text, inbound=way == "in", at=at + timedelta(minutes=offset), sender=conv.assignee)
        convs.append(conv)
    return Demo(tenant, staff["agent"], staff["agent2"], staff["supervisor"], *convs)


def _message(conv: Conversation, text: str, *, inbound: bool, at: Any, sender: User | None = None) -> Message:
    with transaction.atomic():
        conv = Conversation.objects.select_for_update().get(pk=conv.pk)
        message = Message.objects.create(
            tenant=conv.tenant,
            conversation=conv,
            direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
            sender_type=SenderType.CONTACT if inbound else SenderType.AGENT,
            sender=None if inbound else sender,
            content={"text": text},
            status=MessageStatus.DELIVERED if inbound else MessageStatus.READ,
            whatsapp_account=conv.whatsapp_account,
            created_at=at,
        )
        conv.last_message_at = at
        conv.last_message_preview = message_preview(message)
        if inbound:
            conv.last_customer_message_at = at
            conv.unread_count += 1
        else:
            conv.unread_count = 0
        conv.save()
    return message


@off_loop
def bot_conversation(demo: Demo, name: str, text: str) -> Conversation:
    """An open conversation only the bot has answered: no agent, and not waiting for one."""
    contact = factories.ContactFactory(tenant=demo.tenant, name=name, profile_name=name)
    conv = factories.ConversationFactory(
        tenant=demo.tenant, contact=contact, whatsapp_account=demo.maria.whatsapp_account, assignee=None, queued_at=None
    )
    _message(conv, text, inbound=True, at=timezone.now() - timedelta(minutes=30))
    return conv


@off_loop
def message_at(conv: Conversation, text: str, *, inbound: bool, at: Any, sender: User | None = None) -> Message:
    """A message stored with the time ``at`` (an inbound WhatsApp message carries Meta's time,
    in whole seconds)."""
    return _message(conv, text, inbound=inbound, at=at, sender=sender)


@off_loop
def customer_writes(conv: Conversation, text: str) -> Message:
    """An inbound WhatsApp text, stored as the inbound path stores it (message + conversation in
    one transaction, through ``save()`` so the events are recorded)."""
    assert conv.channel == Channel.WHATSAPP
    return _message(conv, text, inbound=True, at=timezone.now())


@off_loop
def history(conv: Conversation, count: int) -> list[Message]:
    """``count`` messages a minute apart a day ago, stored after the conversation's own (a
    conversation reads in the order of storing, whatever the times say), for scrolling up."""
    start = timezone.now() - timedelta(days=1)
    return [
        _message(conv, f"history line {n:03d}", inbound=n % 2 == 0, at=start + timedelta(minutes=n))
        for n in range(count)
    ]


@off_loop
def meta_reports(message_id: int, status: str) -> Message:
    """Meta's status callback for an outbound message, as the webhook's service applies it."""
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if message_status_can_advance(message.status, status):
            now = timezone.now()
            message.status = status
            for reached, field in [("sent", "sent_at"), ("delivered", "delivered_at"), ("read", "read_at")]:
                if getattr(message, field) is None and _rank(status) >= _rank(reached):
                    setattr(message, field, now)
            message.save()
    return message


def _rank(status: str) -> int:
    return ["pending", "sent", "delivered", "read"].index(status) if status != "failed" else -1


@off_loop
def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Any other write (a service call) from a browser test."""
    return fn(*args, **kwargs)


@off_loop
def webchat_bot(tenant: Tenant) -> None:
    """The built-in bot intents for ``tenant``, open around the clock (no out-of-hours notice)."""
    from flow.bot.defaults import bot_seed_defaults
    from flow.bot.models import BotSettings

    bot_seed_defaults(tenant=tenant)
    BotSettings.objects.filter(tenant=tenant).update(business_hours={})


@off_loop
def agent_writes(conversation_id: int, text: str, agent: User) -> Message:
    """An agent's reply stored directly (e.g. while the browser has no connection to the server)."""
    conv = Conversation.objects.get(pk=conversation_id)
    return _message(conv, text, inbound=False, at=timezone.now(), sender=agent)
