"""Helpers shared by the WhatsApp tests (no tests here)."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from pytake.celery import app as celery_app
from whatsapp.services import signature_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "whatsapp"
FIXTURE_PHONE_NUMBER_ID = "106540352242922"


def fixture(name: str, *, phone_number_id: str | None = None) -> dict[str, Any]:
    """A payload from tests/fixtures/whatsapp/, addressed to ``phone_number_id``."""
    payload = json.loads((FIXTURES / f"{name}.json").read_text())
    if phone_number_id:
        for entry in payload["entry"]:
            for change in entry["changes"]:
                metadata = change["value"].get("metadata")
                if metadata:
                    metadata["phone_number_id"] = phone_number_id
    return payload


def text_payload(
    phone_number_id: str, *, wa_id: str, wamid: str, text: str, ts: int = 1712595443, name: str = "Customer"
):
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
                            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": wamid,
                                    "timestamp": str(ts),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def status_payload(
    phone_number_id: str,
    *,
    wamid: str,
    status: str,
    ts: int,
    wa_id: str = "16505551234",
    errors=None,
    callback_data: str = "",
):
    value: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(ts), "recipient_id": wa_id}
    if errors:
        value["errors"] = errors
    if callback_data:
        value["biz_opaque_callback_data"] = callback_data
    payload = text_payload(phone_number_id, wa_id=wa_id, wamid="x", text="x")
    change = payload["entry"][0]["changes"][0]["value"]
    del change["contacts"], change["messages"]
    change["statuses"] = [value]
    return payload


def body_of(payload: Any) -> bytes:
    return json.dumps(payload).encode() if not isinstance(payload, bytes) else payload


def post_webhook(client: Client, payload: Any, secret: str | None, *, signature: str | None = None):
    body = body_of(payload)
    headers = {}
    if signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    elif secret is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature_for(body, secret)
    return client.post("/webhooks/whatsapp/", data=body, content_type="application/json", **headers)


@pytest.fixture
def eager_celery():
    """Run WhatsApp tasks inline as the embedded default does (errors not propagated, so that
    retries re-run inline), whatever REDIS_URL says."""
    # With the CELERY_ settings namespace, the prefixed key is the one Celery reads.
    keys = ("CELERY_TASK_ALWAYS_EAGER", "CELERY_TASK_EAGER_PROPAGATES")
    saved = {key: celery_app.conf[key] for key in keys}
    celery_app.conf.update({"CELERY_TASK_ALWAYS_EAGER": True, "CELERY_TASK_EAGER_PROPAGATES": False})
    yield
    celery_app.conf.update(saved)


@pytest.fixture
def deliver(client: Client, account: Any, django_capture_on_commit_callbacks: Any, eager_celery: None) -> Any:
    """Post a signed payload to the webhook as Meta would, for the module's ``account`` (or with
    another ``secret``), and run what it enqueued inline; returns the response."""

    def send(payload: dict[str, Any], secret: str | None = None) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return post_webhook(client, payload, secret or account.app_secret)

    return send


def deep(payload: Any) -> Any:
    return copy.deepcopy(payload)
