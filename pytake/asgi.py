"""ASGI entry point: HTTP through Django, WebSocket through Channels.

The WebSocket routes are gathered from the installed apps, as ``admin.autodiscover`` gathers
admin modules: an app with a ``routing`` module contributes its ``websocket_urlpatterns``
(realtime's ``/ws/``; the simulator's phone socket where it is installed). pytake imports no app:
the authentication middleware around them is named by ``PYTAKE_WEBSOCKET_AUTH_MIDDLEWARE``.
"""

import os
from importlib import import_module
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pytake.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.apps import apps  # noqa: E402
from django.conf import settings  # noqa: E402
from django.utils.module_loading import import_string, module_has_submodule  # noqa: E402


def websocket_urlpatterns() -> list[Any]:
    """Every installed app's ``routing.websocket_urlpatterns``, in INSTALLED_APPS order."""
    patterns: list[Any] = []
    for config in apps.get_app_configs():
        if module_has_submodule(config.module, "routing"):
            patterns += getattr(import_module(f"{config.name}.routing"), "websocket_urlpatterns", [])
    return patterns


auth_middleware = import_string(settings.PYTAKE_WEBSOCKET_AUTH_MIDDLEWARE)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": auth_middleware(URLRouter(websocket_urlpatterns())),
    }
)
