"""Queue bookkeeping: one ticket per stay in the queue, and agents' absences.

``Conversation.queued_at`` says whether a conversation waits now; a ``QueueTicket`` remembers the
stay (for handling-time statistics and to tell the customer their position only when it changes).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from conversations.models import Conversation, Tenant, User


class QueueOutcome(models.TextChoices):
    WAITING = "waiting", "Waiting"
    ASSIGNED = "assigned", "Assigned"
    RESOLVED = "resolved", "Resolved while waiting"


class QueueTicket(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="queue_tickets")
    reason = models.CharField(max_length=32, help_text="Why it needs a human: requested, fallback, sentiment…")
    entered_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=QueueOutcome.choices, default=QueueOutcome.WAITING)
    assignee = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    assigned_at = models.DateTimeField(null=True, blank=True)
    handled_until = models.DateTimeField(
        null=True, blank=True, help_text="When the agent's handling ended (resolved or handed back)."
    )
    last_notified_position = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        db_table = "conversations_queueticket"  # created when the service flow lived in conversations
        ordering = ["entered_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(left_at__isnull=True),
                name="queue_one_open_ticket_per_conversation",
            )
        ]
        indexes = [models.Index(fields=["tenant", "handled_until"], name="queue_ticket_handled_idx")]

    def __str__(self) -> str:
        return f"ticket #{self.pk} of conversation {self.conversation_id} ({self.outcome})"


class AgentAbsence(models.Model):
    """An agent went offline or away at ``since``: after the grace period their conversations
    return to the queue (``PYTAKE_AWAY_REQUEUE_SECONDS``), unless they came back first."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="+")
    since = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "conversations_agentabsence"

    def __str__(self) -> str:
        return f"{self.user_id} absent since {self.since:%Y-%m-%d %H:%M}"
