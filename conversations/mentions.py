"""Mentions in internal notes, and the notifications they are.

``@name`` in a note (or the ids the composer's picker sends along) names teammates of the
tenant; each gets a ``ConversationMention`` row in the note's transaction, which
``realtime.toolbox_signals`` turns into a durable ``notification`` event for that user alone.
A mention lets its user read the conversation even when it is not theirs
(``access.conversations_readable_by``), never change it.

A token after ``@`` matches a staff member whose name without spaces, first name (when no one
else of the tenant shares it) or e-mail's local part it equals, ignoring case: ``@ana``,
``@AnaSouza``, ``@ana.souza``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from conversations.models import ConversationMention, Message, User

TOKEN = re.compile(r"(?<![\w@])@([\w.+-]+)")


def _keys(user: User) -> set[str]:
    keys = {user.email.split("@", 1)[0].lower()}
    if user.name.strip():
        keys.add("".join(user.name.split()).lower())
    return keys


def users_mentioned(*, tenant_id: int, text: str, user_ids: Iterable[int] = ()) -> list[User]:
    """Active staff of the tenant named in ``text`` or by id (unknown names and ids are ignored:
    a note is not refused for a word that looks like a mention)."""
    tokens = {token.rstrip(".").lower() for token in TOKEN.findall(text)}
    wanted_ids = set(user_ids)
    if not tokens and not wanted_ids:
        return []
    staff = list(User.objects.filter(tenant_id=tenant_id, is_active=True).order_by("pk"))
    first_names: dict[str, list[User]] = {}
    for member in staff:
        if member.name.strip():
            first_names.setdefault(member.name.split()[0].lower(), []).append(member)
    found: dict[int, User] = {}
    for member in staff:
        if member.pk in wanted_ids or _keys(member) & tokens:
            found[member.pk] = member
    for token in tokens:
        sharing = first_names.get(token, [])
        if len(sharing) == 1:
            found[sharing[0].pk] = sharing[0]
    return list(found.values())


def mentions_record(*, note: Message, author: User, user_ids: Iterable[int] = ()) -> list[ConversationMention]:
    """Record the mentions of a just-created internal note (call in its transaction). The author
    is never notified of their own note."""
    assert note.internal, "only internal notes mention"
    users = users_mentioned(tenant_id=note.tenant_id, text=note.text, user_ids=user_ids)
    return [
        ConversationMention.objects.create(
            tenant_id=note.tenant_id, conversation_id=note.conversation_id, message=note, user=user, author=author
        )
        for user in users
        if user.pk != author.pk
    ]


def notifications_of(*, user: User, unread: bool = False) -> QuerySet[ConversationMention]:
    if user.tenant_id is None:
        return ConversationMention.objects.none()
    qs = ConversationMention.objects.filter(user_id=user.pk, tenant_id=user.tenant_id).select_related(
        "message", "author"
    )
    if unread:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at", "-id")


def notifications_unread_count(*, user: User) -> int:
    return notifications_of(user=user, unread=True).count()


def notifications_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    """Mark the user's notifications read (``ids``: these; None: all). Each through ``save()``,
    so the user's other devices hear it (``notification.read``). Returns how many changed."""
    now = timezone.now()
    with transaction.atomic():
        qs = notifications_of(user=user, unread=True).select_for_update(of=("self",), no_key=True).order_by("pk")
        if ids is not None:
            qs = qs.filter(pk__in=list(ids))
        rows = list(qs)
        for row in rows:
            row.read_at = now
            row.save(update_fields=["read_at"])
    return len(rows)
