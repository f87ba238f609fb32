"""Event-log write cost: ``event_record`` in its own transaction, N times, on the configured
database (no channel layer). Reproduces the figure in docs/benchmarks.md ("In process"):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pytake_bench DJANGO_SECRET_KEY=bench-only-0123456789abcdef \
        .venv/bin/python -m bench.event_log 3000
"""

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pytake.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from conversations.models import Contact, Conversation, Tenant  # noqa: E402
from realtime.events import Recipients, event_record  # noqa: E402
from realtime.models import Audience  # noqa: E402


def main(n: int) -> None:
    call_command("migrate", verbosity=0)
    tenant, _ = Tenant.objects.get_or_create(slug="bench-event-log", defaults={"name": "bench"})
    conversation = Conversation.objects.create(tenant=tenant, contact=Contact.objects.create(tenant=tenant, name="x"))
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        with transaction.atomic():
            event_record(
                tenant_id=tenant.pk,
                type="queue.updated",
                data={"size": i, "conversation_id": conversation.pk, "reason": "bench"},
                recipients=Recipients(Audience.STAFF),
                conversation=conversation,
            )
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"event_record: {n} events, {n / elapsed:.0f} events/s, {1000 * elapsed / n:.2f} ms each,"
        f" {1000 * cpu / n:.2f} ms of this process's CPU each (its transaction's commit included)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
