"""The simulator's message templates and Meta's rules around them.

- ``GET /{waba-id}/message_templates`` with Meta's cursor paging (``paging.cursors.after``,
  ``paging.next`` left out on the last page).
- A template send is checked as Meta checks it: unknown name or language (132001), not approved
  (132001; paused 132015, disabled 132016), a wrong number of parameters (132000), a parameter
  of the wrong kind or name (132012). Refused at once with Meta's HTTP error.
- Free-form messages outside the 24-hour customer-service window are accepted, then failed by a
  ``failed`` status with 131047, as Meta does (asynchronously, not as an HTTP error).
- An operator changes a template's status on the phone page: the account gets
  ``message_template_status_update``, signed like every webhook.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from conversations.models import Conversation, WhatsAppAccount
from simulator.models import SimDirection, SimulatedMessage, SimulatedTemplate

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
STATUSES = ("APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED")

FAILURES: dict[int, tuple[str, str]] = {
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
    131049: (
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    131026: ("Message Undeliverable.", "Message Undeliverable."),
}


def _text(text: str) -> dict[str, Any]:
    return {"type": "BODY", "text": text}


# Seeded for every business account the first time its templates are asked for: approved ones in
# pt_BR and en_US (positional, named, with header, footer and buttons), one pending, one paused.
SEED: list[dict[str, Any]] = [
    {
        "name": "order_update",
        "language": "pt_BR",
        "category": "UTILITY",
        "status": "APPROVED",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Pedido {{1}}", "example": {"header_text": ["#1234"]}},
            {
                "type": "BODY",
                "text": "Olá {{1}}, seu pedido {{2}} foi atualizado. Responda esta mensagem para falar com a gente.",
                "example": {"body_text": [["Maria", "#1234"]]},
            },
            {"type": "FOOTER", "text": "PyTake Demo"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Acompanhar",
                        "url": "https://example.com/pedidos/{{1}}",
                        "example": ["https://example.com/pedidos/1234"],
                    },
                    {"type": "QUICK_REPLY", "text": "Falar com atendente"},
                ],
            },
        ],
    },
    {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "status": "APPROVED",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["#1234"]}},
            {
                "type": "BODY",
                "text": "Hi {{1}}, your order {{2}} was updated. Reply to this message to talk to us.",
                "example": {"body_text": [["Mary", "#1234"]]},
            },
            {"type": "FOOTER", "text": "PyTake Demo"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Track",
                        "url": "https://example.com/orders/{{1}}",
                        "example": ["https://example.com/orders/1234"],
                    },
                    {"type": "QUICK_REPLY", "text": "Talk to an agent"},
                ],
            },
        ],
    },
    {
        "name": "follow_up",
        "language": "pt_BR",
        "category": "UTILITY",
        "status": "APPROVED",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "BODY",
                "text": "Oi {{first_name}}! Podemos continuar o seu atendimento? Responda esta mensagem.",
                "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Maria"}]},
            }
        ],
    },
    {
        "name": "follow_up",
        "language": "en_US",
        "category": "UTILITY",
        "status": "APPROVED",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "BODY",
                "text": "Hi {{first_name}}! Shall we carry on where we left off? Just reply to this message.",
                "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Mary"}]},
            }
        ],
    },
    {
        "name": "welcome_back",
        "language": "pt_BR",
        "category": "UTILITY",
        "status": "APPROVED",
        "components": [_text("Olá! Temos novidades sobre o seu atendimento. Responda esta mensagem para continuar.")],
    },
    {
        "name": "summer_sale",
        "language": "pt_BR",
        "category": "MARKETING",
        "status": "PENDING",
        "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["https://example.com/sale.jpg"]}},
            _text("Promoção de verão: {{1}} de desconto até domingo!"),
        ],
    },
    {
        "name": "appointment_reminder",
        "language": "en_US",
        "category": "UTILITY",
        "status": "PAUSED",
        "components": [_text("Reminder: your appointment is on {{1}} at {{2}}.")],
    },
]


def _waba_of(account: WhatsAppAccount) -> str:
    return account.business_account_id or f"waba-{account.phone_number_id}"


def templates_seed(business_account_id: str) -> None:
    """Give a business account the seeded templates, once (concurrent first calls are fine)."""
    if SimulatedTemplate.objects.filter(business_account_id=business_account_id).exists():
        return
    for item in SEED:
        try:
            with transaction.atomic():
                SimulatedTemplate.objects.create(
                    business_account_id=business_account_id,
                    meta_id=str(10**15 + secrets.randbelow(9 * 10**15)),
                    name=item["name"],
                    language=item["language"],
                    category=item["category"],
                    status=item["status"],
                    parameter_format=item.get("parameter_format", "POSITIONAL"),
                    components=item["components"],
                )
        except IntegrityError:
            continue


def template_meta(template: SimulatedTemplate) -> dict[str, Any]:
    """A template as the Graph API describes it."""
    return {
        "id": template.meta_id,
        "name": template.name,
        "language": template.language,
        "status": template.status,
        "category": template.category,
        "parameter_format": template.parameter_format,
        "components": template.components,
        "quality_score": {"score": "GREEN" if template.status == "APPROVED" else "UNKNOWN"},
    }


def templates_page(*, business_account_id: str, after: str, limit: int, base_url: str) -> dict[str, Any]:
    """One page of the account's templates, with Meta's cursors."""
    templates_seed(business_account_id)
    rows = SimulatedTemplate.objects.filter(business_account_id=business_account_id).order_by("pk")
    if after.isdigit():
        rows = rows.filter(pk__gt=int(after))
    page = list(rows[: limit + 1])
    more, page = len(page) > limit, page[:limit]
    body: dict[str, Any] = {"data": [template_meta(t) for t in page]}
    if page:
        paging: dict[str, Any] = {"cursors": {"before": str(page[0].pk), "after": str(page[-1].pk)}}
        if more:
            paging["next"] = f"{base_url}?{urlencode({'limit': limit, 'after': page[-1].pk})}"
        body["paging"] = paging
    return body


# --- Checking a send ---------------------------------------------------------------------------


def _placeholders(text: str) -> list[str]:
    seen: list[str] = []
    for name in PLACEHOLDER.findall(text):
        if name not in seen:
            seen.append(name)
    return seen


def _sent_parameters(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    for component in template.get("components") or []:
        if isinstance(component, dict) and str(component.get("type", "")).lower() == kind:
            parameters = component.get("parameters")
            return [p for p in parameters if isinstance(p, dict)] if isinstance(parameters, list) else []
    return []


def template_send_error(account: WhatsAppAccount, template: dict[str, Any]) -> tuple[int, str, str] | None:
    """``(code, message, details)`` of Meta's refusal of a template send, or None if it is fine."""
    waba = _waba_of(account)
    templates_seed(waba)
    name = str(template.get("name", ""))
    language = template.get("language")
    code = str(language.get("code", "")) if isinstance(language, dict) else ""
    row = SimulatedTemplate.objects.filter(business_account_id=waba, name=name, language=code).first()
    if row is None or row.status in ("PENDING", "REJECTED"):
        return (
            132001,
            "Template name does not exist in the translation",
            f"template name ({name}) does not exist in {code}",
        )
    if row.status == "PAUSED":
        return 132015, "Template is Paused", f"The template {name} is paused for low quality."
    if row.status == "DISABLED":
        return 132016, "Template is disabled", f"The template {name} is disabled for low quality."
    named = row.parameter_format == "NAMED"
    for component in row.components:
        kind = str(component.get("type", "")).lower()
        if kind == "header" and component.get("format", "TEXT") != "TEXT":
            sent = _sent_parameters(template, "header")
            wanted = str(component["format"]).lower()
            if len(sent) != 1 or sent[0].get("type") != wanted or not isinstance(sent[0].get(wanted), dict):
                return 132012, "Parameter format does not match format in the created template", f"header: {wanted}"
            continue
        if kind not in ("header", "body"):
            continue
        names = _placeholders(str(component.get("text", "")))
        sent = _sent_parameters(template, kind)
        if len(sent) != len(names):
            return (
                132000,
                "Number of parameters does not match the expected number of params",
                f"{kind}: number of localizable_params ({len(sent)}) does not match the expected number of params "
                f"({len(names)})",
            )
        for parameter in sent:
            if parameter.get("type") != "text" or not str(parameter.get("text", "")).strip():
                return 132012, "Parameter format does not match format in the created template", f"{kind}: text"
            if named and parameter.get("parameter_name") not in names:
                return 132012, "Parameter format does not match format in the created template", f"{kind}: name"
    return None


# --- The 24-hour window ------------------------------------------------------------------------


def customer_last_wrote(account: WhatsAppAccount, wa_id: str) -> datetime | None:
    """When the customer last wrote to the number, as Meta would know it: from the simulator's
    own thread, else (a history that predates it: seeded demos, rows built by tests) from the
    conversation PyTake keeps."""
    found = SimulatedMessage.objects.filter(
        phone_number_id=account.phone_number_id, wa_id=wa_id, direction=SimDirection.TO_BUSINESS
    ).aggregate(last=Max("created_at"))["last"]
    if found is not None:
        return found  # type: ignore[no-any-return]
    return Conversation.objects.filter(whatsapp_account=account, contact__wa_id=wa_id).aggregate(
        last=Max("last_customer_message_at")
    )["last"]


def window_closed(account: WhatsAppAccount, wa_id: str, now: datetime) -> bool:
    if not settings.WHATSAPP_SIMULATOR_ENFORCE_WINDOW:
        return False
    last = customer_last_wrote(account, wa_id)
    return last is None or now - last >= WINDOW


def failed_status(wamid: str, wa_id: str, code: int, callback_data: str = "") -> dict[str, Any]:
    """A ``failed`` status with Meta's error, as the webhook delivers it."""
    title, details = FAILURES[code]
    value: dict[str, Any] = {
        "id": wamid,
        "status": "failed",
        "timestamp": str(int(time.time())),
        "recipient_id": wa_id,
        "errors": [
            {
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }
        ],
    }
    if callback_data:
        value["biz_opaque_callback_data"] = callback_data
    return {"statuses": [value]}


# --- An operator changes a template's status ---------------------------------------------------


def account_envelope(business_account_id: str, field: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": business_account_id, "time": int(time.time()), "changes": [{"value": value, "field": field}]}],
    }


class TemplateError(ValueError):
    """A status change the phone page cannot make."""


def template_status_set(
    *, phone_number_id: str, template_id: int, status: str, reason: str = ""
) -> tuple[SimulatedTemplate, str, dict[str, Any]]:
    """Change a template's status as Meta's review would. Returns it with the business account
    to tell and the ``message_template_status_update`` value (``simulator.services`` delivers it)."""
    status = status.upper()
    if status not in STATUSES:
        raise TemplateError(f"status must be one of {', '.join(STATUSES)}.")
    account = WhatsAppAccount.objects.filter(phone_number_id=phone_number_id).first()
    if account is None:
        raise TemplateError("Unknown phone_number_id.")
    template = SimulatedTemplate.objects.filter(pk=template_id, business_account_id=_waba_of(account)).first()
    if template is None:
        raise TemplateError("Unknown template for this number.")
    template.status = status
    template.save(update_fields=["status"])
    value: dict[str, Any] = {
        "event": status,
        "message_template_id": int(template.meta_id),
        "message_template_name": template.name,
        "message_template_language": template.language,
        "reason": reason or ("NONE" if status != "REJECTED" else "INVALID_FORMAT"),
    }
    if status in ("PAUSED", "DISABLED"):
        value["other_info"] = {
            "title": "FIRST_PAUSE" if status == "PAUSED" else "DISABLED",
            "description": reason or "Your template was paused because of low quality ratings from customers.",
        }
    return template, account.business_account_id, value


def templates_for_phone(phone_number_id: str) -> list[dict[str, Any]]:
    account = WhatsAppAccount.objects.filter(phone_number_id=phone_number_id).first()
    if account is None:
        return []
    waba = _waba_of(account)
    templates_seed(waba)
    return [
        {"id": t.pk, "name": t.name, "language": t.language, "category": t.category, "status": t.status}
        for t in SimulatedTemplate.objects.filter(business_account_id=waba)
    ]


def account_for_waba(business_account_id: str, authorization: str | None) -> WhatsAppAccount | None:
    """The account whose token is the bearer of a request on its WABA (None: refused)."""
    token = (authorization or "").removeprefix("Bearer ").strip()
    if not token:
        return None
    for account in WhatsAppAccount.objects.filter(business_account_id=business_account_id):
        if secrets.compare_digest(token.encode(), (account.access_token or "").encode()):
            return account
    return None


def rendered_text(phone_number_id: str, template: dict[str, Any]) -> str:
    """What the customer's phone shows for a template send: its header, body and footer with
    the parameters filled in ("" for a template the number's account does not have)."""
    account = WhatsAppAccount.objects.filter(phone_number_id=phone_number_id).first()
    language = template.get("language")
    code = str(language.get("code", "")) if isinstance(language, dict) else ""
    row = (
        SimulatedTemplate.objects.filter(
            business_account_id=_waba_of(account), name=str(template.get("name", "")), language=code
        ).first()
        if account is not None
        else None
    )
    if row is None:
        return ""
    parts: list[str] = []
    for component in row.components:
        kind = str(component.get("type", "")).lower()
        text = str(component.get("text", ""))
        if kind not in ("header", "body", "footer") or not text:
            continue
        sent = _sent_parameters(template, kind)
        names = _placeholders(text)
        values = {
            str(p.get("parameter_name") or (names[i] if i < len(names) else "")): str(p.get("text", ""))
            for i, p in enumerate(sent)
        }
        parts.append(PLACEHOLDER.sub(lambda m, v=values: v.get(m.group(1), m.group(0)), text))  # type: ignore[misc]
    return "\n\n".join(parts)
