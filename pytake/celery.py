"""The Celery application. Tasks run eagerly in the embedded default (no REDIS_URL)."""

import os
from functools import cached_property
from typing import Any

from celery import Celery, Task, signals

from pytake.scheduler import Scheduler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pytake.settings")


class App(Celery):
    """Celery, with one result backend per process rather than one per thread.

    Celery keeps ``app.backend`` per thread, and building one scans the entry points of every
    installed package (celery/celery#9527). Under ASGI a request's sync code runs on a thread of its
    own, so every webhook paid that scan when it enqueued its task: 27 % of the server's CPU in
    ``python -m bench.scenario_e2e --quick --profile 15``. PyTake keeps no task results, and the
    disabled backend holds no state, so one instance serves every thread. A configured result
    backend keeps Celery's per-thread instances (those hold connections).
    """

    @cached_property
    def _process_backend(self) -> Any:
        return self._get_backend()

    @property
    def backend(self) -> Any:
        if self.conf.result_backend:
            return super().backend
        return self._process_backend


app = App("pytake")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Tasks run eagerly (the embedded default) run a retry at once: Celery ignores the countdown, as
# there is no worker to hold the task meanwhile. Where the wait matters, ``retry_later`` keeps it,
# on a thread of this process.
eager_retries = Scheduler("eager-retries")


def retry_later(task: Task, args: tuple[Any, ...], *, countdown: float, retries: int) -> None:
    """Run ``task`` again in this process after ``countdown`` seconds, as its ``retries``-th retry."""
    eager_retries.schedule(countdown, lambda: task.apply(args, retries=retries))


@signals.worker_init.connect
def _publish_from_a_loop_of_its_own(**kwargs: Any) -> None:
    """What a worker process sets up before its first task (``PYTAKE_WORKER_INIT``, dotted paths):
    its tasks run outside any event loop, so event publishing gets a lasting one of its own
    (``realtime.events.use_publish_loop``). Prefork children inherit the choice."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    for path in settings.PYTAKE_WORKER_INIT:
        import_string(path)()
