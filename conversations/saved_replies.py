"""Saved replies (canned responses): the tenant's, managed by supervisors and admins, and each
staff member's personal ones. A staff member sees the tenant's and their own, never another's
personal ones (the same ``NotFound`` for those as for another tenant's).

Their text may hold variables, filled for a conversation when rendered (``saved_reply_render``):
``VARIABLES`` lists them; a reply naming any other is refused when saved (``unknown_variable``),
so the composer never inserts a ``{{…}}`` nobody fills.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from conversations.access import conversation_for_user
from conversations.models import Conversation, SavedReply, SavedReplyScope, User
from pytake.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound

VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def _first_name(conversation: Conversation, agent: User) -> str:
    name = conversation.contact.name or conversation.contact.profile_name
    return name.split()[0] if name.strip() else ""


VARIABLES: dict[str, Callable[[Conversation, User], str]] = {
    "contact.name": lambda conversation, agent: conversation.contact.name or conversation.contact.profile_name,
    "contact.first_name": _first_name,
    "agent.name": lambda conversation, agent: agent.get_full_name(),
    "conversation.id": lambda conversation, agent: str(conversation.pk),
}


def unknown_variables(content: str) -> list[str]:
    return sorted({name for name in VARIABLE.findall(content) if name not in VARIABLES})


def saved_replies_visible_to(*, user: User) -> QuerySet[SavedReply]:
    """The tenant's saved replies and the user's own."""
    if not user.is_authenticated or user.tenant_id is None:
        return SavedReply.objects.none()
    return SavedReply.objects.filter(Q(owner__isnull=True) | Q(owner=user), tenant_id=user.tenant_id).select_related(
        "owner"
    )


def saved_reply_list(*, user: User, scope: str | None = None, search: str | None = None) -> QuerySet[SavedReply]:
    qs = saved_replies_visible_to(user=user)
    if scope == SavedReplyScope.TENANT:
        qs = qs.filter(owner__isnull=True)
    elif scope == SavedReplyScope.PERSONAL:
        qs = qs.filter(owner=user)
    term = (search or "").strip()
    if term:
        qs = qs.filter(Q(short_code__icontains=term) | Q(content__icontains=term))
    return qs.order_by("short_code", "id")


def saved_reply_for_user(*, user: User, saved_reply_id: object) -> SavedReply:
    try:
        pk = int(str(saved_reply_id))
    except (TypeError, ValueError):
        raise NotFound("Saved reply not found.") from None
    reply = saved_replies_visible_to(user=user).filter(pk=pk).first()
    if reply is None:
        raise NotFound("Saved reply not found.")
    return reply


def _may_manage(user: User, *, scope: str) -> None:
    if scope == SavedReplyScope.TENANT and not user.is_supervisor:
        raise Forbidden("Only supervisors and admins manage the tenant's saved replies.")


def _validate(short_code: str, content: str) -> tuple[str, str]:
    content = content.strip()
    if not content:
        raise InvalidInput(
            "A saved reply needs a text.", extra={"fields": {"content": ["This field may not be blank."]}}
        )
    unknown = unknown_variables(content)
    if unknown:
        raise InvalidInput(
            f"Unknown variables: {', '.join(unknown)}.",
            code=ErrorCode.UNKNOWN_VARIABLE,
            extra={"unknown": unknown, "known": sorted(VARIABLES), "fields": {"content": ["Unknown variables."]}},
        )
    return short_code.strip(), content


def _clashes(reply: SavedReply) -> bool:
    qs = SavedReply.objects.filter(tenant_id=reply.tenant_id, short_code__iexact=reply.short_code)
    qs = qs.filter(owner__isnull=True) if reply.owner_id is None else qs.filter(owner_id=reply.owner_id)
    if reply.pk is not None:
        qs = qs.exclude(pk=reply.pk)
    return qs.exists()


def _save(reply: SavedReply) -> SavedReply:
    conflict = Conflict("That short code is taken in this scope.", extra={"fields": {"short_code": ["Already used."]}})
    with transaction.atomic():
        if _clashes(reply):
            raise conflict
        try:
            with transaction.atomic():
                reply.save()
        except IntegrityError:  # a concurrent request took the code
            raise conflict from None
    return reply


def saved_reply_create(*, user: User, scope: str, short_code: str, content: str) -> SavedReply:
    _may_manage(user, scope=scope)
    assert user.tenant_id is not None
    short_code, content = _validate(short_code, content)
    owner = user if scope == SavedReplyScope.PERSONAL else None
    reply = SavedReply(tenant_id=user.tenant_id, owner=owner, short_code=short_code, content=content, created_by=user)
    return _save(reply)


def saved_reply_update(
    *, user: User, reply: SavedReply, short_code: str | None = None, content: str | None = None
) -> SavedReply:
    """Change a saved reply the user may manage (their own, or the tenant's for supervisors)."""
    _may_manage(user, scope=reply.scope)
    short_code, content = _validate(
        reply.short_code if short_code is None else short_code, reply.content if content is None else content
    )
    reply.short_code, reply.content = short_code, content
    return _save(reply)


def saved_reply_delete(*, user: User, reply: SavedReply) -> None:
    _may_manage(user, scope=reply.scope)
    reply.delete()


def saved_reply_render(*, user: User, reply: SavedReply, conversation_id: object) -> str:
    """The reply's text for a conversation the user may see, its variables filled (a value that
    is missing, such as a contact without a name, becomes empty)."""
    conversation = conversation_for_user(user=user, conversation_id=conversation_id)

    def fill(match: re.Match[str]) -> str:
        fill_in = VARIABLES.get(match.group(1))
        return fill_in(conversation, user) if fill_in else match.group(0)

    return VARIABLE.sub(fill, reply.content)
