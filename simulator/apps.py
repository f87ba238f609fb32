"""The WhatsApp Cloud API simulator: Meta's side of the conversation for development, demos and
tests. Installed only when ``PYTAKE_SIMULATOR`` is on (pytake/settings.py refuses it with DEBUG
off unless ``PYTAKE_SIMULATOR_IN_PRODUCTION`` says so too)."""

from __future__ import annotations

import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger(__name__)

PRODUCTION_WARNING = (
    "THE WHATSAPP CLOUD API SIMULATOR IS ON WITH DEBUG OFF (PYTAKE_SIMULATOR_IN_PRODUCTION=1). "
    "Anyone who can reach this server can list every tenant's customers, read what agents write, "
    "write to any number as any customer and make sends fail (/simulator/, /ws/simulator/phone/). "
    "Never expose it to the internet."
)


class SimulatorConfig(AppConfig):
    name = "simulator"
    verbose_name = "WhatsApp Cloud API simulator"

    def ready(self) -> None:
        from simulator import services
        from whatsapp import client

        # Unless WHATSAPP_GRAPH_BASE_URL names one, the Graph API is this simulator, on this server.
        client.graph_base_url_default(services.graph_base_url)
        if not settings.DEBUG:
            logger.warning(PRODUCTION_WARNING)
