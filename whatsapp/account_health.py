"""Errors of a whole WhatsApp number, not of one message: an expired or revoked access token
(190), an account blocked for policy (368). Sending every message into them fails each one
alike, so the number is marked as blocked instead, its admins are told live, and its messages
wait (``pending``, nothing lost) until an admin clears the block; they are sent then."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from conversations import channels
from conversations.access import recipients_of_account_alerts
from conversations.models import Channel, Direction, Message, MessageStatus, WhatsAppAccount
from realtime.events import event_record

logger = logging.getLogger(__name__)

# 190: the access token expired or was revoked; 368: temporarily blocked for policy violations.
ACCOUNT_BLOCKING_CODES = frozenset({190, 368})


def account_sending_block(*, account_id: int, code: int | None, title: str) -> bool:
    """Stop sending from the number (its messages wait) and alert its admins; returns whether it
    was sending until now (a second error while blocked changes nothing)."""
    with transaction.atomic():
        account = WhatsAppAccount.objects.select_for_update().get(pk=account_id)
        if account.sending_blocked_at is not None:
            return False
        account.sending_blocked_at = timezone.now()
        account.sending_blocked_code = code
        account.sending_blocked_reason = title[:255]
        account.save(update_fields=["sending_blocked_at", "sending_blocked_code", "sending_blocked_reason"])
        account_alert(account)
    logger.error("WhatsApp number %s stopped sending: error %s %s", account.display_phone_number, code, title)
    return True


def account_alert(account: WhatsAppAccount, *, title: str | None = None) -> None:
    """Tell the number's admins live (``account.alert``): by default of its sending block (set
    or lifted); with ``title``, of something else Meta said of it (quality, limit, display name,
    the business account's standing). ``blocked`` is always whether the number sends now, so an
    informational alert never hides a block."""
    blocked = account.sending_blocked_at is not None
    if title is not None and blocked:
        title = f"{title} (sending stopped: {account.sending_blocked_reason or account.sending_blocked_code})"
    data = {
        "account_id": account.pk,
        "display_phone_number": account.display_phone_number,
        "blocked": blocked,
        "code": account.sending_blocked_code if blocked else None,
        "title": account.sending_blocked_reason if title is None else title[:255],
    }
    for recipients in recipients_of_account_alerts(tenant_id=account.tenant_id):
        event_record(tenant_id=account.tenant_id, type="account.alert", data=data, recipients=recipients)


def messages_waiting(account_id: int) -> list[int]:
    """The number's messages that never left (no wamid), oldest first."""
    return list(
        Message.objects.filter(
            whatsapp_account_id=account_id,
            direction=Direction.OUTBOUND,
            internal=False,
            status=MessageStatus.PENDING,
            whatsapp_message_id__isnull=True,
        )
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )


def _remember_block(sender: type[WhatsAppAccount], instance: WhatsAppAccount, **kwargs: Any) -> None:
    """Before a save: what the row says now, so that the save can tell a block was lifted. A new
    access token lifts a block caused by the old one (190)."""
    if kwargs.get("raw") or instance.pk is None:
        return
    stored = WhatsAppAccount.objects.filter(pk=instance.pk).only("sending_blocked_at", "access_token").first()
    instance._was_blocked = stored is not None and stored.sending_blocked_at is not None  # type: ignore[attr-defined]
    if (
        stored is not None
        and instance.sending_blocked_at is not None
        and instance.sending_blocked_code == 190
        and instance.access_token != stored.access_token
    ):
        instance.sending_blocked_at = None


def _resume_if_cleared(sender: type[WhatsAppAccount], instance: WhatsAppAccount, **kwargs: Any) -> None:
    """After a save that lifted the block: clear its code, tell the admins, send what waited."""
    if kwargs.get("raw") or not getattr(instance, "_was_blocked", False) or instance.sending_blocked_at is not None:
        return
    instance._was_blocked = False  # type: ignore[attr-defined]
    WhatsAppAccount.objects.filter(pk=instance.pk).update(sending_blocked_code=None, sending_blocked_reason="")
    instance.sending_blocked_code, instance.sending_blocked_reason = None, ""
    account_alert(instance)
    waiting = messages_waiting(instance.pk)
    backend = channels.backend_for(Channel.WHATSAPP)
    if backend is not None:
        for message_id in waiting:
            transaction.on_commit(partial(backend.send, message_id=message_id), robust=True)
    logger.info("WhatsApp number %s sends again: %s waiting message(s)", instance.display_phone_number, len(waiting))


def connect() -> None:
    """Called by ``WhatsappConfig.ready()``."""
    pre_save.connect(_remember_block, sender=WhatsAppAccount, dispatch_uid="whatsapp.account_remember_block")
    post_save.connect(_resume_if_cleared, sender=WhatsAppAccount, dispatch_uid="whatsapp.account_resume")
