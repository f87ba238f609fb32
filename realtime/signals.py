"""post_save → event log. The one place that turns a saved Message or Conversation into events."""

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from conversations.access import Audience, Recipients, recipients_of_conversation, recipients_of_message
from conversations.models import Attachment, Conversation, Message, Role, User
from conversations.serializers import ConversationSerializer, MessageSerializer, representation
from realtime.events import event_record


def message_status_data(message: Message) -> dict[str, Any]:
    data = representation(MessageSerializer, message)
    return {k: data[k] for k in ("id", "conversation_id", "status", "error", "sent_at", "delivered_at", "read_at")}


# A save naming one of these fields changes what the message shows: ``message.updated``.
UPDATED_FIELDS = frozenset({"reactions", "content", "edited_at", "deleted_at"})


@receiver(post_save, sender=Message, dispatch_uid="realtime.message_saved")
def message_saved(
    sender: type[Message],
    instance: Message,
    created: bool,
    raw: bool = False,
    update_fields: frozenset[str] | None = None,
    **kwargs: Any,
) -> None:
    if raw:
        return
    conversation = instance.conversation
    recipients = recipients_of_message(instance, conversation)
    if created:
        event_record(
            tenant_id=instance.tenant_id,
            type="message.new",
            data=representation(MessageSerializer, instance),
            recipients=recipients,
            conversation=conversation,
        )
    elif instance.changed("status"):
        event_record(
            tenant_id=instance.tenant_id,
            type="message.status",
            data=message_status_data(instance),
            recipients=recipients,
            conversation=conversation,
        )
    if not created and update_fields and not UPDATED_FIELDS.isdisjoint(update_fields):
        # Reactions, an edit or a deletion: the whole message again.
        event_record(
            tenant_id=instance.tenant_id,
            type="message.updated",
            data=representation(MessageSerializer, instance),
            recipients=recipients,
            conversation=conversation,
        )
    instance.mark_saved()


@receiver(post_save, sender=Attachment, dispatch_uid="realtime.attachment_saved")
def attachment_saved(
    sender: type[Attachment], instance: Attachment, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    """A message's file changed (downloaded, failed, retried): ``message.updated`` with the whole
    message, to whoever may see the message. A new attachment is saved with its message, whose
    ``message.new`` already carries it."""
    if raw or created:
        return
    message = Message.objects.select_related("conversation", "sender").get(pk=instance.message_id)
    message.attachment = instance
    event_record(
        tenant_id=message.tenant_id,
        type="message.updated",
        data=representation(MessageSerializer, message),
        recipients=recipients_of_message(message, message.conversation),
        conversation=message.conversation,
    )


@receiver(post_save, sender=Conversation, dispatch_uid="realtime.conversation_saved")
def conversation_saved(
    sender: type[Conversation], instance: Conversation, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw:
        return
    data = representation(ConversationSerializer, instance)
    tenant_id = instance.tenant_id
    # The per-user notices below carry the copy just recorded (stamped with its seq).
    data = event_record(
        tenant_id=tenant_id,
        type="conversation.new" if created else "conversation.updated",
        data=data,
        recipients=recipients_of_conversation(instance),
        conversation=instance,
    ).data
    if not created and instance.changed("assignee_id"):
        old, new = instance.previous("assignee_id"), instance.assignee_id
        if new is not None:
            event_record(
                tenant_id=tenant_id,
                type="conversation.assigned",
                data=data,
                recipients=Recipients(Audience.USER, user_id=new),
                conversation=instance,
                counts_in_seq=False,
            )
        # Whoever could see it before and cannot now is told to drop it (its id only).
        if old is None and new is not None:
            revoked = Recipients(Audience.AGENTS_EXCEPT, user_id=new)
        elif old is not None and new is not None and _is_agent(old):
            revoked = Recipients(Audience.USER, user_id=old)
        else:
            revoked = None
        if revoked is not None:
            event_record(
                tenant_id=tenant_id,
                type="conversation.revoked",
                data={"id": instance.pk},
                recipients=revoked,
                conversation=instance,
                counts_in_seq=False,
            )
    elif created and instance.assignee_id is not None:
        event_record(
            tenant_id=tenant_id,
            type="conversation.assigned",
            data=data,
            recipients=Recipients(Audience.USER, user_id=instance.assignee_id),
            conversation=instance,
            counts_in_seq=False,
        )
    instance.mark_saved()


def _is_agent(user_id: int) -> bool:
    return User.objects.filter(pk=user_id, role=Role.AGENT).exists()
