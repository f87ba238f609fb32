"""Response headers (CSP, HSTS), secrets kept out of logs, and replayed webhooks stored once."""

import io
import logging
import re
from pathlib import Path

import pytest
from django.test import Client

from tests import factories
from tests.whatsapp.support import post_webhook, text_payload
from whatsapp.models import WebhookEvent

ROOT = Path(__file__).resolve().parents[2]


def test_templates_have_no_inline_script_or_style():
    """What the product pages' policy (script-src/style-src 'self') relies on."""
    for template in (ROOT / "templates").rglob("*.html"):
        html = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), template
        assert "<style" not in html and " style=" not in html, template
        assert not re.search(r"\son[a-z]+=", html), template  # inline event handlers


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/chat/some-tenant/", "/healthz"])
def test_product_pages_allow_scripts_and_styles_from_their_origin_only(path):
    policy = Client().get(path)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert "ws://testserver" in directives["connect-src"]


@pytest.mark.django_db
def test_the_admin_may_use_inline_styles_but_not_inline_scripts():
    policy = Client().get("/admin/login/")["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "style-src 'self' 'unsafe-inline'" in policy


@pytest.mark.django_db
def test_hsts_is_on_by_default_without_debug(settings):
    assert not settings.DEBUG and settings.SECURE_HSTS_SECONDS == 31_536_000
    response = Client().get("/healthz", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_the_webhook_verify_token_never_reaches_a_log_line():
    """The development server logs every request's URL, query string included (at WARNING for a
    refused handshake): the console handler redacts tokens whatever logger wrote the line."""
    handler = next(
        h for h in logging.getLogger().handlers if any(type(f).__name__ == "RedactQueryFilter" for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        logging.getLogger("django.channels.server").warning(
            "HTTP GET %s 403 [0.01, 127.0.0.1:5000]",
            "/webhooks/whatsapp/?hub.mode=subscribe&hub.verify_token=VERY-SECRET&hub.challenge=1",
        )
        logging.getLogger("django.channels.server").warning("WSCONNECT /ws/?token=eyJhbGciOi.SECRET.JWT")
    finally:
        handler.setStream(previous)
    written = stream.getvalue()
    assert "VERY-SECRET" not in written and "SECRET.JWT" not in written
    assert "hub.verify_token=[redacted]" in written and "hub.challenge=1" in written


@pytest.mark.django_db
def test_a_replayed_webhook_is_recorded_once(tenant, django_capture_on_commit_callbacks, without_flow):
    account = factories.WhatsAppAccountFactory(tenant=tenant)
    payload = text_payload(account.phone_number_id, wa_id="5511999990000", wamid="wamid.REPLAY", text="hi")
    client = Client()
    with django_capture_on_commit_callbacks() as enqueued:
        first = post_webhook(client, payload, account.app_secret)
        again = post_webhook(client, payload, account.app_secret)
    assert first.status_code == again.status_code == 200
    assert first.json()["event_id"] == again.json()["event_id"]
    assert WebhookEvent.objects.count() == 1
    assert len(enqueued) == 1  # processed once too
