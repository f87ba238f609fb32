"""Reads, always scoped to what the asking user may see (``conversations.access``)."""

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from conversations.access import contacts_visible_to, conversations_visible_to
from conversations.models import Contact, Conversation, ConversationLabel, ConversationStatus, Message, User
from pytake.errors import NotFound


def conversation_list(
    *,
    user: User,
    status: str | None = None,
    assignee: str | None = None,
    unassigned: bool = False,
    channel: str | None = None,
    search: str | None = None,
    labels: list[int] | None = None,
) -> QuerySet[Conversation]:
    qs = conversations_visible_to(user=user).select_related("contact", "assignee")
    if status:
        qs = qs.filter(status=status)
    if unassigned:
        qs = qs.filter(assignee__isnull=True)
    if assignee:
        qs = qs.filter(assignee_id=user.pk if assignee == "me" else int(assignee))
    if channel:
        qs = qs.filter(channel=channel)
    if search and search.strip():
        qs = qs.filter(contact__in=contact_list(user=user, search=search))
    if labels:
        qs = qs.filter(Exists(ConversationLabel.objects.filter(conversation_id=OuterRef("pk"), label_id__in=labels)))
    return qs.order_by("-last_message_at", "-id")


def messages_of(*, conversation: Conversation) -> QuerySet[Message]:
    return Message.objects.filter(conversation=conversation).select_related("sender", "attachment", "reply_to")


def contact_list(*, user: User, search: str | None = None) -> QuerySet[Contact]:
    qs = contacts_visible_to(user=user)
    term = (search or "").strip()
    if term:
        qs = qs.filter(
            Q(name__icontains=term)
            | Q(profile_name__icontains=term)
            | Q(phone__icontains=term)
            | Q(wa_id__icontains=term)
        )
    return qs


def staff_of_tenant(*, user: User) -> QuerySet[User]:
    """Active staff of the user's tenant, with ``open_conversations`` (their load: assigned
    conversations that are open or pending)."""
    if not user.is_authenticated or user.tenant_id is None:
        return User.objects.none()
    return (
        User.objects.filter(tenant_id=user.tenant_id, is_active=True)
        .annotate(
            open_conversations=Count(
                "assigned_conversations",
                filter=Q(assigned_conversations__status__in=[ConversationStatus.OPEN, ConversationStatus.PENDING]),
            )
        )
        .order_by("name", "email")
    )


def message_page_around(
    *, conversation: Conversation, around: int, limit: int = 50
) -> tuple[list[Message], bool, bool]:
    """The page that opens a conversation at one message (a search hit): that message with up to
    ``limit // 2`` older ones and the rest newer, oldest first; and whether more exist before and
    after it (continue with ``before=`` the first id, ``after=`` the last)."""
    if not Message.objects.filter(conversation=conversation, pk=around).exists():
        raise NotFound("Message not found in this conversation.")
    qs = messages_of(conversation=conversation)
    older_wanted = limit // 2
    older = list(qs.filter(pk__lt=around).order_by("-id")[: older_wanted + 1])
    newer_wanted = limit - min(len(older), older_wanted)
    newer = list(qs.filter(pk__gte=around).order_by("id")[: newer_wanted + 1])
    more_before, more_after = len(older) > older_wanted, len(newer) > newer_wanted
    return [*reversed(older[:older_wanted]), *newer[:newer_wanted]], more_before, more_after


def message_page(
    *, conversation: Conversation, before: int | None = None, after: int | None = None, limit: int = 50
) -> tuple[list[Message], bool]:
    """A page of history and whether more exists in the same direction.

    Without an anchor: the newest ``limit`` messages, newest first. ``before``: the ones older than
    that message, newest first (scrolling up). ``after``: the ones newer, oldest first (catching up).
    Order is the message id, the order PyTake stored them in: never a channel's timestamp (a
    WhatsApp message's whole-second time can fall before the bot reply it caused).
    """
    qs = messages_of(conversation=conversation)
    anchor_id = before or after
    if anchor_id:
        if not Message.objects.filter(conversation=conversation, pk=anchor_id).exists():
            raise NotFound("Message not found in this conversation.")
        qs = qs.filter(pk__lt=anchor_id) if before else qs.filter(pk__gt=anchor_id)
    ordered = qs.order_by("id") if after else qs.order_by("-id")
    rows = list(ordered[: limit + 1])
    return rows[:limit], len(rows) > limit
