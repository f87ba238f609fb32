"""Run the Cloud API simulator as its own process (Graph API endpoints and the phone page only).

Point PyTake at it with ``WHATSAPP_GRAPH_BASE_URL=http://HOST:PORT/simulator/graph``; the
simulator posts its webhooks to ``PYTAKE_PUBLIC_URL`` (or ``WHATSAPP_SIMULATOR_WEBHOOK_URL``).
It shares PyTake's database for the accounts' tokens and secrets and its own tables, so it runs
with ``PYTAKE_SIMULATOR=1`` (the command exists only then) after a ``migrate`` made with it on.
"""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve the WhatsApp Cloud API simulator on its own port."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)

    def handle(self, *args: Any, **options: Any) -> None:
        from channels.routing import ProtocolTypeRouter, URLRouter
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server
        from django.core.asgi import get_asgi_application

        from simulator.routing import websocket_urlpatterns

        settings.ROOT_URLCONF = "simulator.urls"
        application = ProtocolTypeRouter(
            {
                "http": get_asgi_application(),
                "websocket": URLRouter(websocket_urlpatterns),
            }
        )
        host, port = options["host"], options["port"]
        self.stdout.write(
            f"WhatsApp Cloud API simulator on http://{host}:{port}/simulator/phone/ "
            f"(Graph base URL http://{host}:{port}/simulator/graph; webhooks to "
            f"{settings.WHATSAPP_SIMULATOR_WEBHOOK_URL or settings.PYTAKE_PUBLIC_URL})"
        )
        Server(application=application, endpoints=build_endpoint_description_strings(host=host, port=port)).run()
