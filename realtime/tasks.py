from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Max
from django.db.models.functions import Greatest
from django.utils import timezone

from realtime.models import Event, TenantEventCounter


@shared_task(acks_late=True)
def prune_events() -> int:
    """Drop events older than the retention window. ``pruned_through`` moves first, so a resume
    racing the delete gets ``resync`` rather than a silent gap. Returns how many rows went."""
    cutoff = timezone.now() - timedelta(hours=settings.PYTAKE_EVENT_RETENTION_HOURS)
    removed = 0
    stale = Event.objects.filter(created_at__lt=cutoff).values("tenant_id").annotate(through=Max("seq"))
    for row in stale:
        TenantEventCounter.objects.filter(tenant_id=row["tenant_id"]).update(
            pruned_through=Greatest("pruned_through", row["through"])
        )
        removed += Event.objects.filter(tenant_id=row["tenant_id"], seq__lte=row["through"]).delete()[0]
    return removed
