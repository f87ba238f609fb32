from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real time"

    def ready(self) -> None:
        from realtime import access, signals  # noqa: F401  (connect the publish path and access changes)
