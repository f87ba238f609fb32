"""Helpers for the service-flow tests: eager Celery, recorded publishes, quick queue set-ups."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from conversations.models import Channel
from tests import factories


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Run Celery tasks in-process, also when REDIS_URL points Celery at a broker."""
    from pytake.celery import app

    # With the CELERY_ namespace, only the prefixed key overrides the Django setting.
    before = app.conf.task_always_eager
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=True)
    yield
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=before)


@contextmanager
def recorded_publishes(monkeypatch: Any) -> Iterator[list[tuple[list[str], dict[str, Any]]]]:
    """Record everything handed to the channel layer (routes, message) and still send it."""
    import json

    from realtime import events

    sent: list[tuple[list[str], dict[str, Any]]] = []
    original = events._publish

    def spy(routes: list[str], message: dict[str, Any]) -> None:
        sent.append((list(routes), {**message, "frame": json.loads(message["text"])}))
        original(routes, message)

    monkeypatch.setattr(events, "_publish", spy)
    yield sent


def positions(sent: list[tuple[list[str], dict[str, Any]]]) -> list[tuple[int, int]]:
    """(conversation_id, position) of every queue.position published, in order."""
    return [
        (m["conversation_id"], m["frame"]["data"]["position"]) for _, m in sent if m["event_type"] == "queue.position"
    ]


def webchat_conversation(tenant: Any, **kwargs: Any) -> Any:
    contact = factories.ContactFactory(tenant=tenant, wa_id="", phone="")
    return factories.ConversationFactory(
        tenant=tenant, contact=contact, channel=Channel.WEBCHAT, last_customer_message_at=None, **kwargs
    )
