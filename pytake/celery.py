"""The Celery application. Tasks run eagerly in the embedded default (no REDIS_URL)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pytake.settings")

app = Celery("pytake")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
