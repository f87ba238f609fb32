"""Hostile webhook payloads: the parser never raises on any JSON, and a signed delivery of a
mangled Meta payload is answered without a 500 and stored (never dropped)."""

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests import factories
from tests.whatsapp.support import post_webhook
from whatsapp import parsing
from whatsapp.models import WebhookEvent

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
TYPES = [
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "system",
    "unsupported",
    "unknown",
    "ephemeral",
]


def meta_shaped(phone_number_id: str):
    """Payloads shaped like Meta's, with every leaf open to the wrong type or to absence."""
    message = st.fixed_dictionaries(
        {"type": st.sampled_from(TYPES) | json_values},
        optional={
            "from": st.text(max_size=20) | json_values,
            "id": st.text(max_size=40) | json_values,
            "timestamp": st.text(max_size=12) | st.integers() | json_values,
            **dict.fromkeys(TYPES, json_values),
        },
    )
    status = st.fixed_dictionaries(
        {},
        optional={
            "id": st.text(max_size=40) | json_values,
            "status": st.sampled_from(["sent", "delivered", "read", "failed", "played", "deleted"]) | json_values,
            "timestamp": st.text(max_size=12) | json_values,
            "errors": json_values,
            "recipient_id": json_values,
        },
    )
    value = st.fixed_dictionaries(
        {"messaging_product": st.just("whatsapp"), "metadata": st.just({"phone_number_id": phone_number_id})},
        optional={
            "messages": st.lists(message, max_size=3) | json_values,
            "statuses": st.lists(status, max_size=3) | json_values,
            "contacts": json_values,
        },
    )
    change = st.fixed_dictionaries({"field": st.sampled_from(["messages", "other"]) | json_values, "value": value})
    entry = st.fixed_dictionaries({"id": st.text(max_size=10), "changes": st.lists(change, min_size=1, max_size=2)})
    return st.fixed_dictionaries(
        {"object": st.just("whatsapp_business_account"), "entry": st.lists(entry, min_size=1, max_size=2)}
    )


@pytest.mark.once  # the parser alone: no database, no channel layer
@hsettings(max_examples=300, deadline=None)
@given(payload=json_values | meta_shaped("100000000000777"))
def test_the_parser_never_raises_anything_but_its_own_error(payload):
    """Only its own PayloadError (answered 400 by the view) may come out of the parser."""
    try:
        ids = parsing.phone_number_ids(payload)
    except parsing.PayloadError:
        return
    assert isinstance(ids, set)
    if isinstance(payload, dict):
        for update in parsing.iter_updates(payload):
            assert update.phone_number_id


@pytest.mark.django_db
@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_mangled_deliveries_get_no_500_and_are_kept(data, tenant, eager_celery_inline):
    account = factories.WhatsAppAccountFactory(tenant=tenant)
    payload = data.draw(meta_shaped(account.phone_number_id))
    before = WebhookEvent.objects.count()
    response = post_webhook(Client(), payload, account.app_secret)
    assert response.status_code in {200, 400}, (response.status_code, json.dumps(payload)[:500])
    if response.status_code == 200:
        assert WebhookEvent.objects.count() == before + 1  # stored raw before anything else


@pytest.fixture
def eager_celery_inline():
    from pytake.celery import app

    before = app.conf.task_always_eager
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=True)
    yield
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=before)
