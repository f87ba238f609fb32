from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class SuperuserAdminConfig(AdminConfig):
    """django.contrib.admin, whose site admits superusers only (pytake/admin.py)."""

    default_site = "pytake.admin.SuperuserAdminSite"


class OpsConfig(AppConfig):
    """Operations wiring that must exist in every process (web servers, Celery worker, beat)."""

    name = "pytake"
    label = "pytake_ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from pytake import logging as pytake_logging
        from pytake import metrics, security

        # Task outcomes, retries and run times, and a log context per task run.
        metrics.connect_celery_signals()
        pytake_logging.connect_celery_signals()
        security.connect_signals()  # admin login lockouts in the log
