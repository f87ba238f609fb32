"""The audit trail of human actions (assignments, transfers, status changes, broadcasts)."""

from typing import Any

from conversations.models import AuditAction, AuditEntry, Conversation, User


def audit_record(
    *,
    tenant_id: int,
    actor: User,
    action: str,
    conversation: Conversation | None = None,
    data: dict[str, Any] | None = None,
    via: str = "api",
) -> AuditEntry:
    """Record an action; call inside the transaction that made the change."""
    return AuditEntry.objects.create(
        tenant_id=tenant_id,
        actor=actor,
        actor_email=actor.email,
        via=via,
        action=action,
        conversation=conversation,
        data=data or {},
    )


def assignment_action(*, previous_id: int | None, assignee_id: int | None, actor_id: int) -> str:
    if assignee_id is None:
        return AuditAction.UNASSIGN
    if assignee_id == actor_id and previous_id is None:
        return AuditAction.TAKE
    return AuditAction.TRANSFER if previous_id is not None else AuditAction.ASSIGN


def status_action(status: str) -> str:
    return {"resolved": AuditAction.RESOLVE, "open": AuditAction.REOPEN}.get(status, AuditAction.STATUS)
