"""A supervisor's announcement to every staff member of their tenant."""

from __future__ import annotations

from django.db import transaction

from conversations import audit
from conversations.access import Audience, Recipients
from conversations.models import AuditAction, User
from pytake.errors import ErrorCode, InvalidInput
from realtime.events import event_record
from realtime.models import Event


def broadcast_send(*, user: User, text: str) -> Event:
    """A durable ``broadcast`` event to the tenant's staff, audited in the same transaction."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput("The announcement is empty.", code=ErrorCode.EMPTY_MESSAGE)
    assert user.tenant_id is not None
    with transaction.atomic():
        audit.audit_record(tenant_id=user.tenant_id, actor=user, action=AuditAction.BROADCAST, data={"text": text})
        return event_record(
            tenant_id=user.tenant_id,
            type="broadcast",
            data={"text": text, "from": {"id": user.pk, "name": user.get_full_name()}},
            recipients=Recipients(Audience.STAFF),
        )
