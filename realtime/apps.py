from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real time"

    def ready(self) -> None:
        # Imported here: models load only once the app registry is ready.
        from pytake.health import register_draining_check
        from realtime import (  # noqa: F401  (connect the publish path and access changes)
            access,
            signals,
            toolbox_signals,
        )
        from realtime.lifecycle import is_draining

        register_draining_check(is_draining)
