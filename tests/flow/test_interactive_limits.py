"""WhatsApp's limits on interactive messages, checked where such messages are made: the validator,
the bot's built-in content, the intent admin form, the flow storing a bot answer, and the
WhatsApp client building the Cloud API payload."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from conversations import interactive
from conversations.models import Message, SenderType
from flow.bot.admin import BotIntentForm
from flow.bot.defaults import DEFAULT_INTENTS, bot_seed_defaults
from flow.bot.models import BotIntent, BotSettings, IntentKind
from pytake.errors import ErrorCode, InvalidInput
from tests.flow_helpers import eager_celery, webchat_conversation  # noqa: F401
from whatsapp.client import buttons_content


def codes(problems: list[interactive.Problem]) -> list[str]:
    return [str(p.code) for p in problems]


def test_reply_button_limits():
    ok = interactive.reply_buttons_problems(body="x" * 1024, buttons=["a" * 20, "b", "c"])
    assert ok == []
    assert codes(interactive.reply_buttons_problems(body="Oi", buttons=["Horário de funcionamento"])) == [
        ErrorCode.BUTTON_TITLE_TOO_LONG
    ]
    assert codes(interactive.reply_buttons_problems(body="Oi", buttons=["a", "b", "c", "d"])) == [
        ErrorCode.TOO_MANY_BUTTONS
    ]
    assert codes(interactive.reply_buttons_problems(body="x" * 1025, buttons=["a"])) == [
        ErrorCode.INTERACTIVE_BODY_TOO_LONG
    ]
    assert codes(interactive.reply_buttons_problems(body="Oi", buttons=["Sim", "sim"])) == [
        ErrorCode.BUTTON_TITLE_DUPLICATE
    ]
    assert codes(interactive.reply_buttons_problems(body="Oi", buttons=[" "])) == [ErrorCode.BUTTON_TITLE_EMPTY]
    assert interactive.reply_buttons_problems(body="x" * 4000, buttons=[]) == []  # plain text: 4096


def test_list_limits():
    assert interactive.list_problems(body="Escolha", button="Opções", sections=[("Loja", ["a" * 24])]) == []
    assert codes(interactive.list_problems(body="Escolha", button="Opções", sections=[("Loja", ["a" * 25])])) == [
        ErrorCode.LIST_ROW_TITLE_TOO_LONG
    ]
    eleven = [("s", [f"row {i}" for i in range(11)])]
    assert codes(interactive.list_problems(body="b", button="Ver", sections=eleven)) == [ErrorCode.TOO_MANY_LIST_ROWS]


def test_validate_raises_with_every_problem_in_extra():
    with pytest.raises(InvalidInput) as raised:
        interactive.validate_reply_buttons(body="Oi", buttons=["Horário de funcionamento", "a", "b", "c"])
    assert raised.value.code == ErrorCode.TOO_MANY_BUTTONS
    assert [p["code"] for p in raised.value.extra["problems"]] == ["too_many_buttons", "button_title_too_long"]


@pytest.mark.parametrize("intent", DEFAULT_INTENTS, ids=lambda i: f"{i.name}-{i.language}")
def test_built_in_content_fits_whatsapp(intent):
    assert interactive.reply_buttons_problems(body=intent.answer, buttons=list(intent.quick_replies)) == []


def test_usable_buttons_keeps_what_fits():
    assert interactive.usable_buttons(body="Oi", buttons=["Horário de funcionamento", "Horários", "Horários"]) == [
        "Horários"
    ]
    assert interactive.usable_buttons(body="Oi", buttons=["a", "b", "c", "d"]) == ["a", "b", "c"]
    assert interactive.usable_buttons(body="x" * 1025, buttons=["a"]) == []


@pytest.mark.django_db
def test_admin_form_refuses_titles_whatsapp_would_cut(tenant: Any):
    data = {
        "tenant": tenant.pk,
        "kind": IntentKind.INTENT,
        "name": "hours",
        "language": "pt",
        "examples": "horário",
        "answer": "Abrimos às 9h.",
        "quick_replies": "Horário de funcionamento\nFalar com atendente",
        "is_active": True,
        "order": 0,
    }
    form = BotIntentForm(data=data)
    assert not form.is_valid()
    assert [e.code for e in form.errors.as_data()["quick_replies"]] == ["button_title_too_long"]
    form = BotIntentForm(data={**data, "quick_replies": "a\nb\nc\nd"})
    assert not form.is_valid()
    assert [e.code for e in form.errors.as_data()["quick_replies"]] == ["too_many_buttons"]
    form = BotIntentForm(data={**data, "answer": "x" * 1025})
    assert [e.code for e in form.errors.as_data()["answer"]] == ["interactive_body_too_long"]
    assert BotIntentForm(data={**data, "quick_replies": "Horários\nFalar com atendente"}).is_valid()


def test_whatsapp_payload_refuses_a_cut_title():
    kind, content = buttons_content("Oi", ["Horários", "Falar com atendente"])
    assert kind == "interactive"
    assert [b["reply"]["title"] for b in content["action"]["buttons"]] == ["Horários", "Falar com atendente"]
    with pytest.raises(InvalidInput) as raised:
        buttons_content("Oi", ["Horário de funcionamento"])
    assert raised.value.code == ErrorCode.BUTTON_TITLE_TOO_LONG


@pytest.mark.django_db
@pytest.mark.usefixtures("eager_celery")
def test_flow_stores_only_buttons_that_fit(tenant: Any, django_capture_on_commit_callbacks: Any):
    """An intent saved before the limits were checked (or a model's answer) still answers, without
    the title the phone would cut."""
    from conversations import services

    bot_seed_defaults(tenant=tenant)
    BotSettings.objects.filter(tenant=tenant).update(business_hours={})
    BotIntent.objects.filter(tenant=tenant, name="business_hours", language="pt").update(
        quick_replies="Horário de funcionamento\nFalar com atendente"
    )
    conversation = webchat_conversation(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        services.message_create_webchat(
            conversation_id=conversation.pk, text="horário de funcionamento", client_id=None
        )
    reply = Message.objects.filter(conversation=conversation, sender_type=SenderType.BOT).latest("id")
    assert reply.content["bot"]["intent"] == "business_hours"
    assert reply.content["quick_replies"] == ["Falar com atendente"]
    assert reply.created_at <= timezone.now()
