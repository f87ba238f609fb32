"""Who may see what: the one audience rule of PyTake (the tenant-isolation invariant).

A staff member sees a conversation, its messages and its events when it belongs to their tenant
and they are a supervisor or admin, or it is assigned to them, or it is assigned to nobody (the
queue). A web-chat customer sees their own conversation's messages that are not internal notes.
Nobody sees anything of another tenant.

Everything that decides visibility derives from this module: the REST selectors
(``conversations_visible_to``, ``conversation_for_user``), event routing and the socket's
delivery filter (``Recipients``), replay (``events_visible_q``, the same rule as a query over the
event log), and web chat (``customer_may_see``). ``tests/conversations/test_audience.py`` checks,
for every event type and every kind of viewer, that REST and the socket agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet

from conversations.models import (
    Attachment,
    Channel,
    Contact,
    Conversation,
    ConversationMention,
    Message,
    Role,
    User,
)
from pytake.errors import NotFound

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser


class Audience(models.TextChoices):
    STAFF = "staff", "Staff who may see the conversation"
    USER = "user", "One user"
    AGENTS_EXCEPT = "agents_except", "Every agent but one"
    CUSTOMER = "customer", "Only the web-chat customer"


def staff_may_see(*, assignee_id: int | None, user_id: int, is_supervisor: bool) -> bool:
    """The rule itself, for one conversation of the viewer's own tenant."""
    return is_supervisor or assignee_id is None or assignee_id == user_id


def _staff_q(*, user_id: int, is_supervisor: bool, assignee: str = "assignee_id") -> Q:
    """``staff_may_see`` as a query condition on a field holding the assignee's id."""
    if is_supervisor:
        return Q()
    return Q(**{f"{assignee}__isnull": True}) | Q(**{assignee: user_id})


# --- conversations and contacts (REST, the socket's join, search, files) --------------------------


def conversations_visible_to(*, user: User | AnonymousUser) -> QuerySet[Conversation]:
    """The conversations ``user`` may read."""
    if not user.is_authenticated or user.tenant_id is None:
        return Conversation.objects.none()
    return Conversation.objects.filter(
        _staff_q(user_id=user.pk, is_supervisor=user.is_supervisor), tenant_id=user.tenant_id
    )


def conversations_readable_by(*, user: User | AnonymousUser) -> QuerySet[Conversation]:
    """``conversations_visible_to``, and besides, for an agent, the conversations a teammate
    mentioned them in (``ConversationMention``): those they may open and read, never change —
    every write goes through ``conversation_for_user`` without ``read_only``, which ignores
    mentions. Live events stay with the audience rule: a mention grants a look, not a seat."""
    if not user.is_authenticated or user.tenant_id is None:
        return Conversation.objects.none()
    if user.is_supervisor:
        return conversations_visible_to(user=user)
    mentioned = Exists(ConversationMention.objects.filter(user_id=user.pk, conversation_id=OuterRef("pk")))
    return Conversation.objects.filter(
        _staff_q(user_id=user.pk, is_supervisor=False) | Q(mentioned), tenant_id=user.tenant_id
    )


def conversation_for_user(
    *, user: User, conversation_id: object, lock: bool = False, read_only: bool = False
) -> Conversation:
    """The conversation, if ``user`` may read it; otherwise ``NotFound``, the same for another
    tenant's id as for a missing one. With ``lock``, call inside a transaction: the row is locked
    until it ends. ``read_only``: also a conversation the user was mentioned in (for reads only:
    never with ``lock``)."""
    assert not (lock and read_only), "a read-only grant never locks for a write"
    try:
        pk = int(str(conversation_id))
    except (TypeError, ValueError):
        raise NotFound("Conversation not found.") from None
    visible = conversations_readable_by(user=user) if read_only else conversations_visible_to(user=user)
    qs = visible.select_related("contact", "assignee", "whatsapp_account")
    if lock:
        qs = qs.select_for_update(of=("self",), no_key=True)
    conversation = qs.filter(pk=pk).first()
    if conversation is None:
        raise NotFound("Conversation not found.")
    return conversation


def contacts_visible_to(*, user: User | AnonymousUser) -> QuerySet[Contact]:
    """Supervisors and admins see every contact of the tenant; an agent sees the contacts of the
    conversations they may see (their own and the queue), never another agent's customers."""
    if not user.is_authenticated or user.tenant_id is None:
        return Contact.objects.none()
    qs = Contact.objects.filter(tenant_id=user.tenant_id)
    if not user.is_supervisor:
        qs = qs.filter(pk__in=conversations_visible_to(user=user).values("contact_id"))
    return qs


def customer_may_see(*, conversation_id: int, message: Message) -> bool:
    """A web-chat customer of ``conversation_id`` may see ``message``."""
    return message.conversation_id == conversation_id and not message.internal


def customer_conversation(*, conversation_id: int) -> QuerySet[Conversation]:
    """The web-chat conversation a customer's token names (empty if it is not web chat)."""
    return Conversation.objects.filter(pk=conversation_id, channel=Channel.WEBCHAT)


def messages_visible_to_customer(*, conversation: Conversation) -> QuerySet[Message]:
    """``customer_may_see`` for a conversation's history."""
    return Message.objects.filter(conversation=conversation, internal=False)


# --- events (routing, the socket's delivery filter, replay) ---------------------------------------


@dataclass(frozen=True)
class Recipients:
    """Who may receive an event: stored with it in the log, and the same rule filters live
    delivery and replay."""

    audience: str
    assignee_id: int | None = None
    user_id: int | None = None
    customer: bool = False

    def allows_staff(self, *, user_id: int, is_supervisor: bool) -> bool:
        if self.audience == Audience.STAFF:
            return staff_may_see(assignee_id=self.assignee_id, user_id=user_id, is_supervisor=is_supervisor)
        if self.audience == Audience.USER:
            return self.user_id == user_id
        if self.audience == Audience.AGENTS_EXCEPT:
            return not is_supervisor and self.user_id != user_id
        return False

    def allows_customer(self, *, event_conversation_id: int | None, conversation_id: int) -> bool:
        return self.customer and event_conversation_id == conversation_id


def recipients_of_conversation(conversation: Conversation, *, customer: bool = False) -> Recipients:
    """Staff who may read ``conversation`` as it is now (and its customer, if ``customer``)."""
    return Recipients(Audience.STAFF, assignee_id=conversation.assignee_id, customer=customer)


def recipients_of_message(message: Message, conversation: Conversation) -> Recipients:
    """Staff who may read the message's conversation, and its web-chat customer unless the
    message is an internal note or a system line."""
    return recipients_of_conversation(
        conversation, customer=conversation.channel == Channel.WEBCHAT and not message.internal
    )


def events_visible_q(*, user_id: int, is_supervisor: bool) -> Q:
    """``Recipients.allows_staff`` as a query over the event log (``realtime.models.Event``)."""
    staff = Q(audience=Audience.STAFF) & _staff_q(user_id=user_id, is_supervisor=is_supervisor)
    mine = Q(audience=Audience.USER, user_id=user_id)
    if is_supervisor:
        return staff | mine
    return staff | mine | (Q(audience=Audience.AGENTS_EXCEPT) & ~Q(user_id=user_id))


def customer_events_q(*, conversation_id: int) -> Q:
    """``Recipients.allows_customer`` as a query over the event log."""
    return Q(conversation_id=conversation_id, customer=True)


# --- files (media of messages) --------------------------------------------------------------------


def attachment_for_user(*, user: User, message_id: object) -> Attachment:
    """The attachment of a message ``user`` may read (its conversation is visible to them);
    otherwise ``NotFound``, the same for another tenant's message as for a missing one."""
    try:
        pk = int(str(message_id))
    except (TypeError, ValueError):
        raise NotFound("File not found.") from None
    attachment = (
        Attachment.objects.select_related("message")
        .filter(message_id=pk, message__conversation__in=conversations_visible_to(user=user))
        .first()
    )
    if attachment is None:
        raise NotFound("File not found.")
    return attachment


def attachment_for_customer(*, conversation_id: int, message_id: object) -> Attachment:
    """``customer_may_see`` for a message's file: the web-chat customer's own conversation, not
    an internal note; otherwise ``NotFound``."""
    try:
        pk = int(str(message_id))
    except (TypeError, ValueError):
        raise NotFound("File not found.") from None
    attachment = (
        Attachment.objects.select_related("message")
        .filter(
            message_id=pk,
            message__conversation__in=customer_conversation(conversation_id=conversation_id),
            message__internal=False,
        )
        .first()
    )
    if attachment is None:
        raise NotFound("File not found.")
    return attachment


def recipients_of_account_alerts(*, tenant_id: int) -> list[Recipients]:
    """Who hears of trouble with one of the tenant's WhatsApp numbers (sending stopped, fixed):
    its active admins, each as one user. Agents and supervisors do not manage numbers."""
    admins = User.objects.filter(tenant_id=tenant_id, role=Role.ADMIN, is_active=True).order_by("pk")
    return [Recipients(Audience.USER, user_id=pk) for pk in admins.values_list("pk", flat=True)]
