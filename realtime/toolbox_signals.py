"""post_save / post_delete of the agent's toolbox → the event log.

Each change reaches exactly who may see the object: a label or a custom field definition, every
staff member of its tenant; a tenant saved reply, the tenant's staff, a personal one only its
owner; a mention, the mentioned user (``notification``). A conversation's labels travel in
``conversation.updated`` (``realtime.signals``)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from conversations.access import Audience, Recipients
from conversations.models import ContactAttributeDefinition, ConversationMention, Label, SavedReply
from conversations.serializers import representation
from conversations.toolbox_serializers import (
    AttributeDefinitionSerializer,
    LabelSerializer,
    NotificationSerializer,
    SavedReplySerializer,
)
from realtime.events import event_record

TENANT_STAFF = Recipients(Audience.STAFF)  # no assignee: every staff member of the tenant


@receiver(post_save, sender=Label, dispatch_uid="realtime.label_saved")
def label_saved(sender: type[Label], instance: Label, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        event_record(
            tenant_id=instance.tenant_id,
            type="label.saved",
            data=representation(LabelSerializer, instance),
            recipients=TENANT_STAFF,
        )


@receiver(post_delete, sender=Label, dispatch_uid="realtime.label_deleted")
def label_deleted(sender: type[Label], instance: Label, **kwargs: Any) -> None:
    event_record(tenant_id=instance.tenant_id, type="label.deleted", data={"id": instance.pk}, recipients=TENANT_STAFF)


def _saved_reply_recipients(reply: SavedReply) -> Recipients:
    return TENANT_STAFF if reply.owner_id is None else Recipients(Audience.USER, user_id=reply.owner_id)


@receiver(post_save, sender=SavedReply, dispatch_uid="realtime.saved_reply_saved")
def saved_reply_saved(sender: type[SavedReply], instance: SavedReply, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        event_record(
            tenant_id=instance.tenant_id,
            type="saved_reply.saved",
            data=representation(SavedReplySerializer, instance),
            recipients=_saved_reply_recipients(instance),
        )


@receiver(post_delete, sender=SavedReply, dispatch_uid="realtime.saved_reply_deleted")
def saved_reply_deleted(sender: type[SavedReply], instance: SavedReply, **kwargs: Any) -> None:
    event_record(
        tenant_id=instance.tenant_id,
        type="saved_reply.deleted",
        data={"id": instance.pk},
        recipients=_saved_reply_recipients(instance),
    )


@receiver(post_save, sender=ContactAttributeDefinition, dispatch_uid="realtime.contact_attribute_saved")
def contact_attribute_saved(
    sender: type[ContactAttributeDefinition], instance: ContactAttributeDefinition, raw: bool = False, **kwargs: Any
) -> None:
    if not raw:
        event_record(
            tenant_id=instance.tenant_id,
            type="contact_attribute.saved",
            data=representation(AttributeDefinitionSerializer, instance),
            recipients=TENANT_STAFF,
        )


@receiver(post_delete, sender=ContactAttributeDefinition, dispatch_uid="realtime.contact_attribute_deleted")
def contact_attribute_deleted(
    sender: type[ContactAttributeDefinition], instance: ContactAttributeDefinition, **kwargs: Any
) -> None:
    event_record(
        tenant_id=instance.tenant_id,
        type="contact_attribute.deleted",
        data={"id": instance.pk, "key": instance.key},
        recipients=TENANT_STAFF,
    )


@receiver(post_save, sender=ConversationMention, dispatch_uid="realtime.mention_saved")
def mention_saved(
    sender: type[ConversationMention], instance: ConversationMention, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw:
        return
    recipients = Recipients(Audience.USER, user_id=instance.user_id)
    if created:
        event_record(
            tenant_id=instance.tenant_id,
            type="notification",
            data=representation(NotificationSerializer, instance),
            recipients=recipients,
        )
    elif instance.read_at is not None:  # read on one device: the others drop it from the unread
        event_record(
            tenant_id=instance.tenant_id,
            type="notification.read",
            data={"id": instance.pk, "read_at": instance.read_at},
            recipients=recipients,
        )
