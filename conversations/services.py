"""Writes of the domain: messages and their conversations. Each service owns its transaction and
locks the conversation it changes.

State changes go through ``Model.save()`` so that the real-time publish path (``post_save``)
sees every one of them; never ``QuerySet.update()`` for a change a browser must learn about.
Who takes a conversation and when it is resolved is the service flow's (``flow.assignment``);
where a message goes is its channel's (``conversations.channels``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import channels, files, media
from conversations.access import (
    attachment_for_user,
    conversation_for_user,
    customer_conversation,
    messages_visible_to_customer,
)
from conversations.mentions import mentions_record
from conversations.models import (
    Attachment,
    Conversation,
    ConversationStatus,
    Direction,
    MediaStatus,
    Message,
    MessageStatus,
    MessageType,
    SenderType,
    User,
)
from conversations.signals import customer_message_received
from conversations.transitions import conversation_can_move, message_status_can_advance
from pytake.errors import Conflict, ErrorCode, InvalidInput, NotFound
from pytake.transactions import on_commit_robust

PREVIEW_LENGTH = 255
MAX_TEXT_LENGTH = 4096
# Inbound messages that count as unread for the agent (not reactions, not the business's echoes).
_UNREAD_SENDERS = {SenderType.CONTACT, SenderType.SYSTEM}


def message_preview(message: Message) -> str:
    """One line for the inbox list: the text, or ``[<message type>]`` ("[image]"), a code that
    clients render in their viewer's language (``static/pytake/system.js``: "📷 Foto")."""
    text = message.text or message.caption
    if text:
        return " ".join(text.split())[:PREVIEW_LENGTH]
    return f"[{message.type}]"


def conversation_lock(conversation: Conversation) -> Conversation:
    """Reload ``conversation`` locked for the rest of the current transaction."""
    return (
        Conversation.objects.select_for_update(of=("self",), no_key=True)
        .select_related("contact", "assignee", "whatsapp_account")
        .get(pk=conversation.pk)
    )


def message_lock(message_id: int) -> Message:
    """Lock a message to change it, its conversation first. Every writer takes locks in one order:
    a conversation, then its messages, then the event counters (recording an event takes the
    tenant's and the conversation's). A status webhook that locked its message before the
    conversation would wait on an agent reading that conversation while the agent waits on it.
    ``Message.DoesNotExist`` if there is no such message."""
    list(
        Conversation.objects.select_for_update(of=("self",), no_key=True)
        .filter(messages__pk=message_id)
        .values_list("pk", flat=True)
    )
    locked = Message.objects.select_for_update(of=("self",), no_key=True).select_related("conversation", "sender")
    return locked.get(pk=message_id)


def conversation_move_locked(conversation: Conversation, new_status: str) -> None:
    """Change a locked conversation's status along ``transitions.CONVERSATION_TRANSITIONS``
    (the caller saves it); ``Conflict`` for a move the table does not allow."""
    if conversation.status == new_status:
        return
    if not conversation_can_move(conversation.status, new_status):
        raise Conflict(
            f"A {conversation.status} conversation cannot become {new_status}.",
            code=ErrorCode.INVALID_TRANSITION,
            extra={"status": conversation.status},
        )
    conversation.status = new_status
    conversation.resolved_at = timezone.now() if new_status == ConversationStatus.RESOLVED else None
    if new_status != ConversationStatus.SNOOZED:
        conversation.snoozed_until = None


def system_message_create_locked(*, conversation: Conversation, text: str, data: dict[str, Any]) -> Message:
    """Record an event in the conversation's history (assignment, resolution): an internal message
    with ``sender_type`` system, shown to staff, never to the customer. Caller holds the lock."""
    return Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.SYSTEM,
        type=MessageType.TEXT,
        content={"text": text, "system": data},
        status=MessageStatus.SENT,
        internal=True,
        created_at=timezone.now(),
    )


# --- reading ------------------------------------------------------------------------------------


def _mark_read_locked(*, conversation: Conversation, direction: str, now: datetime) -> list[Message]:
    """Mark the unread messages of one direction read (inbound: the agent read them; outbound:
    the customer did). Returns them, oldest first."""
    unread = Message.objects.select_for_update(no_key=True).filter(
        conversation=conversation, direction=direction, read_at__isnull=True
    )
    if direction == Direction.OUTBOUND:
        unread = unread.filter(internal=False)
    messages = list(unread.order_by("pk"))
    for message in messages:
        fields = ["read_at", "status"]
        message.read_at = now
        message.status = MessageStatus.READ
        if direction == Direction.OUTBOUND and message.delivered_at is None:
            message.delivered_at = now
            fields.append("delivered_at")
        message.save(update_fields=fields)
    return messages


def conversation_mark_read(*, conversation: Conversation, actor: User) -> Conversation:
    """The agent has read everything: unread goes to zero, inbound messages become read, and the
    channel tells the customer (blue ticks on WhatsApp) after commit."""
    with transaction.atomic():
        conversation = conversation_lock(conversation)
        read = _mark_read_locked(conversation=conversation, direction=Direction.INBOUND, now=timezone.now())
        if conversation.unread_count:
            conversation.unread_count = 0
            conversation.save()
        if read:
            backend = channels.backend_for(conversation.channel)
            if backend is not None:
                on_commit_robust(lambda: backend.mark_read(conversation=conversation, messages=read))
    return conversation


def conversation_mark_read_by_customer(*, conversation_id: int) -> Conversation:
    """The web-chat customer has seen the conversation: our outbound messages become read."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update(of=("self",), no_key=True).get(pk=conversation_id)
        _mark_read_locked(conversation=conversation, direction=Direction.OUTBOUND, now=timezone.now())
    return conversation


# --- writing ------------------------------------------------------------------------------------


def _message_by_client_id(conversation_id: object, client_id: str) -> Message | None:
    try:
        pk = int(str(conversation_id))
    except (TypeError, ValueError):
        return None
    return Message.objects.filter(conversation_id=pk, client_id=client_id).first()


def _create_once(
    *, conversation_id: object, client_id: str | None, create: Callable[[], Message], seen: Callable[[], None]
) -> tuple[Message, bool]:
    """Idempotency on ``client_id``: the first message with that id in the conversation, or
    ``create()`` (its own transaction). A concurrent request with the same id that wins the race
    makes ``create`` fail on the unique constraint: its message is returned. ``seen()`` runs
    before an existing message is returned (the caller's visibility check)."""
    if client_id:
        existing = _message_by_client_id(conversation_id, client_id)
        if existing is not None:
            seen()
            return existing, False
    try:
        return create(), True
    except IntegrityError:
        if client_id:
            existing = _message_by_client_id(conversation_id, client_id)
            if existing is not None:
                return existing, False
        raise


def message_create_outbound_text(
    *, user: User, conversation_id: object, text: str, client_id: str | None = None, reply_to: int | None = None
) -> tuple[Message, bool]:
    """Queue an agent's text message for sending. Returns ``(message, created)``.

    A repeated ``client_id`` in the same conversation returns the first message, never a second.
    The message starts ``pending``; the channel's sender moves it on. With ``reply_to``, it
    quotes that message, which must be one the customer saw in the same conversation.
    """
    text = text.strip()
    if not text:
        raise InvalidInput("The message is empty.", code=ErrorCode.EMPTY_MESSAGE)
    return _outbound_create(
        user=user,
        conversation_id=conversation_id,
        message_type=MessageType.TEXT,
        content={"text": text},
        client_id=client_id,
        reply_to=reply_to,
    )


def message_create_outbound_template(
    *, user: User, conversation_id: object, template: Any, client_id: str | None = None
) -> tuple[Message, bool]:
    """Queue a message template (``{"name", "language", "parameters"}``) for sending, inside or
    outside the reply window, like ``message_create_outbound_text``. The channel checks it
    against its templates first (a 400 naming each wrong field; nothing stored); the message
    keeps the text the customer sees and the template it came from."""
    return _outbound_create(
        user=user,
        conversation_id=conversation_id,
        message_type=MessageType.TEMPLATE,
        content={},
        client_id=client_id,
        prepare=lambda conversation: channels.template_prepare(conversation=conversation, template=template),
    )


def conversation_start(
    *,
    user: User,
    channel: str,
    phone: str,
    name: str = "",
    number_id: int | None = None,
    template: Any,
    client_id: str | None = None,
) -> tuple[Message, bool]:
    """Write first to a customer: the channel finds or creates the contact and its conversation
    (given to ``user`` when nobody has it) and the template is queued in it, all in one
    transaction: a template that does not check out leaves no contact or conversation behind.
    Returns ``(message, created)``; the same ``client_id`` again returns the first message."""
    with transaction.atomic():
        conversation = channels.conversation_start(
            channel=channel, user=user, phone=phone, name=name, number_id=number_id
        )
        return message_create_outbound_template(
            user=user, conversation_id=conversation.pk, template=template, client_id=client_id
        )


def _quotable_locked(conversation: Conversation, message_id: int, *, by_customer: bool = False) -> Message:
    """The message a reply quotes: of the same conversation and seen by the customer
    (``messages_visible_to_customer``: not an internal note; not a system line either). A web-chat
    customer (``by_customer``) quotes only what their widget shows as it was: not a deleted
    message. Raises ``InvalidInput``: nothing is stored."""
    quotable = messages_visible_to_customer(conversation=conversation).exclude(sender_type=SenderType.SYSTEM)
    if by_customer:
        quotable = quotable.filter(deleted_at__isnull=True)
    quoted = quotable.filter(pk=message_id).first()
    if quoted is None:
        raise InvalidInput(
            "reply_to must name a message of this conversation that the customer saw.",
            code=ErrorCode.INVALID,
            extra={"fields": {"reply_to": ["Not a message of this conversation."]}},
        )
    return quoted


def _outbound_create(
    *,
    user: User,
    conversation_id: object,
    message_type: str,
    content: dict[str, Any],
    client_id: str | None,
    upload: MediaUpload | None = None,
    prepare: Callable[[Conversation], dict[str, Any]] | None = None,
    reply_to: int | None = None,
) -> tuple[Message, bool]:
    """The one way an agent's message is created: visibility, idempotency on ``client_id``, what
    the channel accepts now (WhatsApp's 24-hour window), the inbox preview, dispatch after commit.
    With ``upload`` (already checked), its file is written to storage in the same step and
    removed again if the message is not stored. ``prepare`` builds the content from the locked
    conversation (a template, checked by its channel)."""

    def create() -> Message:
        stored = ""
        try:
            with transaction.atomic():
                conversation = conversation_for_user(user=user, conversation_id=conversation_id, lock=True)
                channels.check_outbound(conversation=conversation, message_type=message_type)
                message_content = prepare(conversation) if prepare is not None else content
                quoted = _quotable_locked(conversation, reply_to) if reply_to is not None else None
                now = timezone.now()
                message = Message(
                    tenant_id=conversation.tenant_id,
                    conversation=conversation,
                    direction=Direction.OUTBOUND,
                    sender_type=SenderType.AGENT,
                    sender=user,
                    type=message_type,
                    content=message_content,
                    status=MessageStatus.PENDING,
                    whatsapp_account=conversation.whatsapp_account,
                    client_id=client_id or None,
                    created_at=now,
                    reply_to=quoted,
                )
                attachment = None
                if upload is not None:
                    attachment = upload.attachment_for(message)
                    files.attachment_save_file(attachment, upload.spooled)
                    stored = attachment.file.name
                message.save()
                if attachment is not None:
                    attachment.save()
                conversation.last_message_at = now
                conversation.last_message_preview = message_preview(message)
                if conversation.status == ConversationStatus.RESOLVED:
                    conversation_move_locked(conversation, ConversationStatus.OPEN)
                conversation.save()
                channels.dispatch_on_commit(message)
        except BaseException:
            files.file_delete(stored)
            raise
        return message

    def seen() -> None:
        conversation_for_user(user=user, conversation_id=conversation_id)  # same visibility rule

    return _create_once(conversation_id=conversation_id, client_id=client_id, create=create, seen=seen)


# --- media --------------------------------------------------------------------------------------

MAX_CAPTION_LENGTH = 1024  # WhatsApp's limit for a media caption


@dataclass
class MediaUpload:
    """A file read and checked (``conversations.media.check_file``), not yet stored."""

    spooled: files.Spooled
    checked: media.CheckedFile
    filename: str

    def attachment_for(self, message: Message) -> Attachment:
        """Its attachment row, tied to the unsaved ``message`` so that the message's first event
        already carries the ``media`` object."""
        return Attachment(
            tenant_id=message.tenant_id,
            message=message,
            mime_type=self.checked.mime_type,
            filename=self.filename[:255],
            size=self.spooled.size,
            sha256=self.spooled.sha256,
            status=MediaStatus.READY,
            voice=self.checked.voice,
            animated=self.checked.animated,
        )


def media_upload_read(
    *, upload: IO[bytes], filename: str, declared_type: str = "", kinds: frozenset[str] = media.MEDIA_TYPES
) -> MediaUpload:
    """Read an uploaded file once (into a temporary file, hashing it) and check it: not empty,
    a type ``kinds`` allows, not lying about itself, within its kind's limit. Raises
    ``InvalidInput``; nothing is stored."""
    try:
        spooled = files.spool(files.file_chunks(upload), max_bytes=int(settings.PYTAKE_MEDIA_UPLOAD_MAX_BYTES))
    except files.TooLarge as exc:
        raise InvalidInput(
            f"The file is larger than {exc.limit // media.MB} MB, the most PyTake accepts.",
            code=ErrorCode.FILE_TOO_LARGE,
            extra={"max_bytes": exc.limit},
        ) from None
    try:
        checked = media.check_file(
            head=spooled.head, size=spooled.size, filename=filename, declared_type=declared_type, kinds=kinds
        )
    except BaseException:
        spooled.close()
        raise
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip() or f"file{media.extension_for(checked.mime_type)}"
    return MediaUpload(spooled=spooled, checked=checked, filename=name)


def _caption(text: str | None) -> dict[str, Any]:
    caption = (text or "").strip() if isinstance(text, str) else ""
    if len(caption) > MAX_CAPTION_LENGTH:
        raise InvalidInput(f"A caption is limited to {MAX_CAPTION_LENGTH} characters.", code=ErrorCode.MESSAGE_TOO_LONG)
    return {"caption": caption} if caption else {}


def message_create_outbound_media(
    *, user: User, conversation_id: object, upload: MediaUpload, caption: str = "", client_id: str | None = None
) -> tuple[Message, bool]:
    """Queue an agent's file (with ``caption``) for sending, like ``message_create_outbound_text``:
    ``(message, created)``, ``pending`` until the channel has sent it. The file is in storage
    when this returns; the channel uploads it to the customer's side when it sends."""
    try:
        content = _caption(caption)
        if upload.checked.kind in (MessageType.AUDIO, MessageType.STICKER) and content:
            raise InvalidInput(
                f"WhatsApp shows no caption under {upload.checked.kind} messages.", code=ErrorCode.INVALID
            )
        return _outbound_create(
            user=user,
            conversation_id=conversation_id,
            message_type=upload.checked.kind,
            content=content,
            client_id=client_id,
            upload=upload,
        )
    finally:
        upload.spooled.close()


def message_create_webchat_media(
    *,
    conversation_id: int,
    upload: MediaUpload,
    caption: str = "",
    client_id: str | None = None,
    reply_to: int | None = None,
) -> tuple[Message, bool]:
    """A web-chat customer's file (an image or a document), with ``caption``, quoting the message
    ``reply_to`` names as ``message_create_webchat`` does. Precondition: the caller checked that
    the customer's token is for ``conversation_id``."""
    try:
        content = _caption(caption)
        if client_id is not None and len(client_id) > 64:
            raise InvalidInput("client_id must be a string of at most 64 characters.", code=ErrorCode.INVALID)
        return _create_once(
            conversation_id=conversation_id,
            client_id=client_id or None,
            create=lambda: _webchat_inbound_create(
                conversation_id=conversation_id,
                message_type=upload.checked.kind,
                content=content,
                client_id=client_id or None,
                upload=upload,
                reply_to=reply_to,
            ),
            seen=lambda: None,
        )
    finally:
        upload.spooled.close()


def _webchat_inbound_create(
    *,
    conversation_id: int,
    message_type: str,
    content: dict[str, Any],
    client_id: str | None,
    upload: MediaUpload | None,
    reply_to: int | None,
) -> Message:
    stored = ""
    try:
        with transaction.atomic():
            conversation = (
                customer_conversation(conversation_id=conversation_id)
                .select_for_update(of=("self",), no_key=True)
                .select_related("contact", "assignee")
                .first()
            )
            if conversation is None:
                raise NotFound("Conversation not found.")
            quoted = _quotable_locked(conversation, reply_to, by_customer=True) if reply_to is not None else None
            message = Message(
                tenant_id=conversation.tenant_id,
                conversation=conversation,
                direction=Direction.INBOUND,
                sender_type=SenderType.CONTACT,
                type=message_type,
                content=content,
                status=MessageStatus.DELIVERED,
                client_id=client_id,
                created_at=timezone.now(),
                reply_to=quoted,
            )
            attachment = None
            if upload is not None:
                attachment = upload.attachment_for(message)
                files.attachment_save_file(attachment, upload.spooled)
                stored = attachment.file.name
            message.save()
            if attachment is not None:
                attachment.save()
            conversation_record_inbound_locked(conversation=conversation, message=message)
    except BaseException:
        files.file_delete(stored)
        raise
    return message


def attachment_update(*, message_id: int, **fields: Any) -> Attachment | None:
    """Change a message's attachment (a download finished or failed, a retry began) through
    ``save()``, so that the message's audience hears ``message.updated``."""
    with transaction.atomic():
        attachment = Attachment.objects.select_for_update().filter(message_id=message_id).first()
        if attachment is None:
            return None
        for name, value in fields.items():
            setattr(attachment, name, value)
        attachment.save()
    return attachment


def attachment_retry(*, user: User, message_id: object) -> Attachment:
    """Try again a download that failed (staff who may read the message). ``Conflict`` unless it
    failed; the channel fetches it again after commit."""
    with transaction.atomic():
        attachment = attachment_for_user(user=user, message_id=message_id)
        attachment = (
            Attachment.objects.select_for_update().select_related("message__conversation").get(pk=attachment.pk)
        )
        if attachment.status != MediaStatus.FAILED or attachment.message.direction != Direction.INBOUND:
            raise Conflict("Only a failed download can be tried again.", code=ErrorCode.MEDIA_NOT_FAILED)
        attachment.status = MediaStatus.PENDING
        attachment.error = ""
        attachment.save()
        backend = channels.backend_for(attachment.message.conversation.channel)
        if backend is not None:
            on_commit_robust(lambda: backend.fetch_media(message_id=attachment.message_id))
    return attachment


def conversation_record_inbound_locked(*, conversation: Conversation, message: Message) -> None:
    """What an inbound message does to its (locked) conversation, on every channel: the newest
    one moves it to the top of the inbox with its preview (a channel's timestamps may arrive out
    of order), it counts as unread, a customer's message opens the reply window and goes to the
    service flow after commit, and a resolved or pending conversation reopens. Saves it."""
    if message.created_at >= conversation.last_message_at or not conversation.last_message_preview:
        conversation.last_message_at = max(message.created_at, conversation.last_message_at)
        conversation.last_message_preview = message_preview(message)
    if message.sender_type in _UNREAD_SENDERS and message.type != MessageType.REACTION:
        conversation.unread_count += 1
    customer = message.sender_type == SenderType.CONTACT
    if customer and (
        conversation.last_customer_message_at is None or message.created_at > conversation.last_customer_message_at
    ):
        conversation.last_customer_message_at = message.created_at
    if conversation.status in (ConversationStatus.RESOLVED, ConversationStatus.PENDING, ConversationStatus.SNOOZED):
        conversation_move_locked(conversation, ConversationStatus.OPEN)
    conversation.save()
    if customer:
        on_commit_robust(_announce_customer_message, message.pk)


def _announce_customer_message(message_id: int) -> None:
    customer_message_received.send(sender=Message, message_id=message_id)


def message_create_webchat(
    *, conversation_id: int, text: str, client_id: str | None, reply_to: int | None = None
) -> tuple[Message, bool]:
    """A web-chat customer's text message (the socket's ``message`` action). Returns
    ``(message, created)``; the same ``client_id`` again returns the first message. With
    ``reply_to``, it quotes that message, which must be one the customer sees in their
    conversation (``_quotable_locked``); otherwise ``InvalidInput`` and nothing is stored.

    Precondition: the caller checked that the customer's token is for ``conversation_id``.
    """
    text = (text or "").strip() if isinstance(text, str) else ""
    if not text:
        raise InvalidInput("The message is empty.", code=ErrorCode.EMPTY_MESSAGE)
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"Messages are limited to {MAX_TEXT_LENGTH} characters.", code=ErrorCode.MESSAGE_TOO_LONG)
    client_id = client_id or None
    if client_id is not None and (not isinstance(client_id, str) or len(client_id) > 64):
        raise InvalidInput("client_id must be a string of at most 64 characters.", code=ErrorCode.INVALID)

    return _create_once(
        conversation_id=conversation_id,
        client_id=client_id,
        create=lambda: _webchat_inbound_create(
            conversation_id=conversation_id,
            message_type=MessageType.TEXT,
            content={"text": text},
            client_id=client_id,
            upload=None,
            reply_to=reply_to,
        ),
        seen=lambda: None,
    )


def note_create(*, user: User, conversation_id: object, text: str, mentions: Iterable[int] = ()) -> Message:
    """An internal note on a conversation the user may see: staff only, never sent to the customer
    (the publish path keeps ``internal`` messages from the web-chat customer; no sender runs).
    Teammates it names (``@name``, or by id in ``mentions``) are notified (``conversations.mentions``)."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput("The note is empty.", code=ErrorCode.EMPTY_MESSAGE)
    with transaction.atomic():
        conversation = conversation_for_user(user=user, conversation_id=conversation_id, lock=True)
        note = Message.objects.create(
            tenant_id=conversation.tenant_id,
            conversation=conversation,
            direction=Direction.OUTBOUND,
            sender_type=SenderType.AGENT,
            sender=user,
            type=MessageType.TEXT,
            content={"text": text},
            status=MessageStatus.SENT,
            internal=True,
            created_at=timezone.now(),
        )
        mentions_record(note=note, author=user, user_ids=mentions)
    return note


# --- delivery -----------------------------------------------------------------------------------


def message_status_apply(
    *,
    message_id: int,
    status: str,
    at: datetime,
    error_code: int | None = None,
    error_title: str = "",
) -> Message:
    """Move a message's delivery status forward (see ``transitions.message_status_can_advance``).

    A status that would move it backwards (a late ``delivered`` after ``read``) changes nothing
    but the missing timestamp. ``read`` implies ``delivered``: Meta skips ``delivered`` when both
    happen at once. ``failed`` keeps Meta's error code and title.
    """
    with transaction.atomic():
        message = message_lock(message_id)
        changed: set[str] = set()
        stamps = {
            MessageStatus.SENT: ["sent_at"],
            MessageStatus.DELIVERED: ["sent_at", "delivered_at"],
            MessageStatus.READ: ["sent_at", "delivered_at", "read_at"],
        }
        for stamp in stamps.get(status, []):  # type: ignore[call-overload]
            if getattr(message, stamp) is None:
                setattr(message, stamp, at)
                changed.add(stamp)
        if message_status_can_advance(message.status, status):
            message.status = status
            changed.add("status")
            if status == MessageStatus.FAILED:
                message.error_code = error_code
                message.error_title = error_title[:255]
                changed |= {"error_code", "error_title"}
        if changed:
            message.save(update_fields=sorted(changed))
    return message


def message_set_accepted(*, message_id: int, wamid: str) -> Message:
    """The Graph API accepted the message (``message_status: accepted``): keep its wamid. It is
    not ``sent`` yet: that is for Meta's status webhook to say (``message_status_apply``), and a
    message Meta accepts may still never leave (held for a quality check, or failed later)."""
    with transaction.atomic():
        message = message_lock(message_id)
        if message.whatsapp_message_id != wamid:
            message.whatsapp_message_id = wamid
            message.save(update_fields=["whatsapp_message_id"])
    return message


def message_create_outbound(
    *, user: User, conversation_id: object, message_type: str, content: dict[str, Any], client_id: str | None = None
) -> tuple[Message, bool]:
    """Queue an agent's non-text WhatsApp message: media by link (``{"link", "caption"}``), a
    template (``{"name", "language", "components"}``) or a reaction (``{"message_id", "emoji"}``).
    Same rules as ``message_create_outbound_text``; templates are the one kind allowed outside
    the 24-hour window."""
    allowed = {
        MessageType.IMAGE,
        MessageType.AUDIO,
        MessageType.VIDEO,
        MessageType.DOCUMENT,
        MessageType.STICKER,
        MessageType.TEMPLATE,
        MessageType.REACTION,
    }
    if message_type not in allowed:
        raise InvalidInput(f"Cannot send a {message_type} message this way.", code=ErrorCode.INVALID_TYPE)
    return _outbound_create(
        user=user, conversation_id=conversation_id, message_type=message_type, content=content, client_id=client_id
    )
