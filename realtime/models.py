"""The event log: a transactional outbox of every durable real-time event.

Each row is written in the same transaction as the change it describes and published to the
channel layer after commit. ``seq`` is the id clients see; it comes from a per-tenant counter row
that stays locked until commit, so ids follow commit order inside a tenant.
"""

from django.db import models
from django.utils import timezone

from conversations.access import Audience


class TenantEventCounter(models.Model):
    tenant = models.OneToOneField("conversations.Tenant", on_delete=models.CASCADE, primary_key=True)
    last_seq = models.PositiveBigIntegerField(default=0)
    pruned_through = models.PositiveBigIntegerField(
        default=0, help_text="Events up to this seq were pruned: older resume positions get resync."
    )

    def __str__(self) -> str:
        return f"tenant {self.tenant_id}: event {self.last_seq}"


class Event(models.Model):
    tenant = models.ForeignKey("conversations.Tenant", on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=40)
    conversation_id = models.BigIntegerField(null=True, blank=True)
    conversation_seq = models.PositiveBigIntegerField(null=True, blank=True)
    audience = models.CharField(max_length=16, choices=Audience.choices)
    # For STAFF: the conversation's assignee when the event happened (agents see it when it is
    # them or nobody). For USER / AGENTS_EXCEPT: the user meant / left out.
    assignee_id = models.BigIntegerField(null=True, blank=True)
    user_id = models.BigIntegerField(null=True, blank=True)
    customer = models.BooleanField(default=False, help_text="Also visible to the web-chat customer.")
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="event_unique_seq_per_tenant")]
        indexes = [
            models.Index(fields=["created_at"], name="event_created_idx"),
            # A web-chat customer's position (their conversation's seq) found at a resume; only
            # the events customers may see are indexed.
            models.Index(
                fields=["conversation_id", "conversation_seq"],
                condition=models.Q(customer=True),
                name="event_customer_position_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} (tenant {self.tenant_id})"
