"""Message templates: kept in step with Meta, checked, and rendered for sending.

WhatsApp accepts free text only within 24 hours of the customer's last message; after that, and
to start a conversation, only an approved template. A template belongs to the business account
(WABA) and is synced from ``GET /{waba-id}/message_templates`` (every page), on demand, on a
beat schedule and live from Meta's template webhooks.

Parameters, as the API takes them (``{"name", "language", "parameters"}``)::

    {"header": {"1": "…"} | {"link": "https://…", "filename": "…"} | {"latitude", "longitude", "name", "address"},
     "body": {"1": "Ana", "2": "#123"}            # or by name: {"first_name": "Ana"}
     "buttons": {"0": "url-suffix-or-coupon"}}    # by the button's index in the template

Everything is checked before anything goes to Meta: a wrong template is a 400 naming each field.
The stored message keeps what the customer sees (``text``), the template reference and the
components sent (``name``, ``language``, ``components``: ``whatsapp.services`` sends those).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.access import Audience, Recipients
from conversations.models import Contact, Role, User, WhatsAppAccount, contact_opted_out_of_marketing
from pytake.errors import ErrorCode, InvalidInput
from pytake.transactions import on_commit_robust
from realtime.events import event_record
from whatsapp import account_webhooks
from whatsapp.client import GraphClient
from whatsapp.models import MessageTemplate, ParameterFormat, TemplateStatus

logger = logging.getLogger(__name__)

MAX_PAGES = 200  # 20 000 templates: far beyond Meta's per-account limit; a loop guard
MAX_PARAMETER_LENGTH = 1024
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MEDIA_FORMATS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}


# --- The shape of a template: which parameters it takes --------------------------------------


def placeholders(text: str) -> list[str]:
    """The parameter names of ``text`` in order of first appearance ("1", "2" or "first_name")."""
    seen: list[str] = []
    for name in PLACEHOLDER.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def _component(template: MessageTemplate, kind: str) -> dict[str, Any] | None:
    for component in template.components if isinstance(template.components, list) else []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == kind:
            return component
    return None


def _buttons(template: MessageTemplate) -> list[dict[str, Any]]:
    component = _component(template, "BUTTONS")
    buttons = component.get("buttons") if component else None
    return [b for b in buttons if isinstance(b, dict)] if isinstance(buttons, list) else []


def template_slots(template: MessageTemplate) -> dict[str, Any]:
    """What a send must fill: ``{"header": {"format", "parameters"}, "body": [...], "buttons": [{"index", "type"}]}``
    (the picker builds its form from this)."""
    header = _component(template, "HEADER")
    header_slot = None
    if header is not None:
        fmt = str(header.get("format", "TEXT")).upper()
        header_slot = {"format": fmt, "parameters": placeholders(str(header.get("text", ""))) if fmt == "TEXT" else []}
    body = _component(template, "BODY")
    buttons = []
    for index, button in enumerate(_buttons(template)):
        kind = str(button.get("type", "")).upper()
        if (kind == "URL" and placeholders(str(button.get("url", "")))) or kind == "COPY_CODE":
            buttons.append({"index": index, "type": kind, "text": str(button.get("text", ""))})
    return {
        "header": header_slot,
        "body": placeholders(str(body.get("text", ""))) if body else [],
        "buttons": buttons,
    }


def template_usable(template: MessageTemplate) -> bool:
    return template.status == TemplateStatus.APPROVED


# --- Checking and rendering a send -------------------------------------------------------------


@dataclass
class _Errors:
    fields: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(f"template.parameters.{name}", []).append(message)


def _text_value(value: Any, where: str, errors: _Errors) -> str | None:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        errors.add(where, "Must be text.")
        return None
    text = str(value).strip()
    if not text:
        errors.add(where, "May not be empty.")
    elif len(text) > MAX_PARAMETER_LENGTH:
        errors.add(where, f"At most {MAX_PARAMETER_LENGTH} characters.")
    elif "\n" in text or "\t" in text or "     " in text:
        # Meta refuses parameters with new lines, tabs or more than four spaces in a row.
        errors.add(where, "No line breaks, tabs or more than four spaces in a row.")
    else:
        return text
    return None


def _text_parameters(
    names: list[str], given: Any, where: str, errors: _Errors, *, named: bool
) -> list[tuple[str, str]] | None:
    """``[(name, value)]`` in the template's order, or None after recording the errors."""
    if given is None:
        given = {}
    if isinstance(given, list) and not named:  # positional values may come as a list
        given = {str(i + 1): v for i, v in enumerate(given)}
    if not isinstance(given, dict):
        errors.add(where, "Must be an object of parameter values.")
        return None
    values: list[tuple[str, str]] = []
    ok = True
    for name in names:
        if name not in given:
            errors.add(f"{where}.{name}", "Missing.")
            ok = False
            continue
        text = _text_value(given[name], f"{where}.{name}", errors)
        ok = ok and text is not None
        values.append((name, text or ""))
    for extra in sorted(set(map(str, given)) - set(names)):
        errors.add(f"{where}.{extra}", "The template has no such parameter.")
        ok = False
    return values if ok else None


def _fill(text: str, values: list[tuple[str, str]]) -> str:
    table = dict(values)
    return PLACEHOLDER.sub(lambda m: table.get(m.group(1), m.group(0)), text)


def _parameter(name: str, value: str, *, named: bool) -> dict[str, Any]:
    parameter: dict[str, Any] = {"type": "text", "text": value}
    if named:
        parameter["parameter_name"] = name
    return parameter


def _https(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("https://") and len(value) <= 2048 and " " not in value


def _header(
    header: dict[str, Any], given: Any, errors: _Errors, *, named: bool
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The header's send component (None: nothing to send) and what the customer sees."""
    fmt = str(header.get("format", "TEXT")).upper()
    if fmt == "TEXT":
        text = str(header.get("text", ""))
        values = _text_parameters(placeholders(text), given, "header", errors, named=named)
        if not values:
            return None, {"format": fmt, "text": text if values is not None else ""}
        component = {"type": "header", "parameters": [_parameter(n, v, named=named) for n, v in values]}
        return component, {"format": fmt, "text": _fill(text, values)}
    given = given if isinstance(given, dict) else {}
    if fmt in MEDIA_FORMATS:
        kind = MEDIA_FORMATS[fmt]
        link = given.get("link")
        if not _https(link):
            errors.add("header.link", f"The template's header is a {kind}: give its https link.")
            return None, {"format": fmt}
        media: dict[str, Any] = {"link": link}
        shown: dict[str, Any] = {"format": fmt, "link": link}
        if kind == "document" and isinstance(given.get("filename"), str) and given["filename"].strip():
            media["filename"] = shown["filename"] = given["filename"].strip()[:240]
        for extra in sorted(set(given) - {"link", "filename"}):
            errors.add(f"header.{extra}", "The template's header takes no such parameter.")
        return {"type": "header", "parameters": [{"type": kind, kind: media}]}, shown
    if fmt == "LOCATION":
        location: dict[str, Any] = {}
        for key in ("latitude", "longitude"):
            try:
                location[key] = float(given[key])
            except (KeyError, TypeError, ValueError):
                errors.add(f"header.{key}", "The template's header is a location: a number is required.")
        for key in ("name", "address"):
            if isinstance(given.get(key), str) and given[key].strip():
                location[key] = given[key].strip()[:1000]
        if errors.fields:
            return None, {"format": fmt}
        return {"type": "header", "parameters": [{"type": "location", "location": location}]}, {
            "format": fmt,
            **location,
        }
    return None, {"format": fmt}


def template_render(template: MessageTemplate, parameters: Any) -> dict[str, Any]:
    """Check ``parameters`` against ``template`` and build the message content: what the
    customer sees and the components Meta takes. Raises ``InvalidInput``
    (``invalid_template_parameters``, ``extra.fields``) naming every wrong parameter."""
    errors = _Errors()
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise InvalidInput(
            "The template's parameters must be an object (header, body, buttons).",
            code=ErrorCode.INVALID_TEMPLATE_PARAMETERS,
            extra={"fields": {"template.parameters": ["Must be an object."]}},
        )
    for extra in sorted(set(map(str, parameters)) - {"header", "body", "buttons"}):
        errors.add(extra, "Unknown part: parameters go under header, body or buttons.")
    named = template.parameter_format == ParameterFormat.NAMED
    components: list[dict[str, Any]] = []
    shown: dict[str, Any] = {"id": template.pk, "name": template.name, "language": template.language}
    shown["category"] = template.category

    header = _component(template, "HEADER")
    if header is not None:
        component, shown["header"] = _header(header, parameters.get("header"), errors, named=named)
        if component is not None:
            components.append(component)
    elif parameters.get("header"):
        errors.add("header", "The template has no header.")

    body = _component(template, "BODY")
    body_text = str(body.get("text", "")) if body else ""
    values = _text_parameters(placeholders(body_text), parameters.get("body"), "body", errors, named=named)
    if values:
        components.append({"type": "body", "parameters": [_parameter(n, v, named=named) for n, v in values]})
    shown["body"] = _fill(body_text, values or [])

    footer = _component(template, "FOOTER")
    shown["footer"] = str(footer.get("text", "")) if footer else ""

    given_buttons = parameters.get("buttons") or {}
    if not isinstance(given_buttons, dict):
        errors.add("buttons", "Must be an object of values by button index.")
        given_buttons = {}
    shown_buttons: list[dict[str, Any]] = []
    wanted: set[str] = set()
    for index, button in enumerate(_buttons(template)):
        kind = str(button.get("type", "")).upper()
        item: dict[str, Any] = {"type": kind.lower(), "text": str(button.get("text", ""))}
        key = str(index)
        if kind == "URL":
            url = str(button.get("url", ""))
            names = placeholders(url)
            if names:
                wanted.add(key)
                suffix = _text_value(given_buttons.get(key), f"buttons.{key}", errors) if key in given_buttons else None
                if key not in given_buttons:
                    errors.add(f"buttons.{key}", "Missing: the end of this button's link.")
                elif suffix is not None:
                    components.append(
                        {
                            "type": "button",
                            "sub_type": "url",
                            "index": key,
                            "parameters": [{"type": "text", "text": suffix}],
                        }
                    )
                    url = _fill(url, [(names[0], suffix)])
            item["url"] = url
        elif kind == "COPY_CODE":
            wanted.add(key)
            code = _text_value(given_buttons.get(key), f"buttons.{key}", errors) if key in given_buttons else None
            if key not in given_buttons:
                errors.add(f"buttons.{key}", "Missing: the code this button copies.")
            elif code is not None:
                if len(code) > 15:
                    errors.add(f"buttons.{key}", "A code is at most 15 characters.")
                components.append(
                    {
                        "type": "button",
                        "sub_type": "copy_code",
                        "index": key,
                        "parameters": [{"type": "coupon_code", "coupon_code": code}],
                    }
                )
                item["code"] = code
        elif kind == "PHONE_NUMBER":
            item["phone_number"] = str(button.get("phone_number", ""))
        shown_buttons.append(item)
    for extra in sorted(set(map(str, given_buttons)) - wanted):
        errors.add(f"buttons.{extra}", "This button takes no parameter.")
    shown["buttons"] = shown_buttons

    if errors.fields:
        raise InvalidInput(
            "The template's parameters do not match the template.",
            code=ErrorCode.INVALID_TEMPLATE_PARAMETERS,
            extra={"fields": errors.fields},
        )
    header_text = (shown.get("header") or {}).get("text", "")
    text = "\n\n".join(part for part in (header_text, shown["body"], shown["footer"]) if part)
    return {
        "name": template.name,
        "language": template.language,
        "components": components,
        "text": text,
        "template": shown,
    }


def template_for_send(*, account: WhatsAppAccount, name: Any, language: Any) -> MessageTemplate:
    """The approved template ``name`` in ``language`` of the number's business account, or
    ``InvalidInput`` (``template_not_found``, ``template_not_approved``)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(
            "Name the template to send.",
            code=ErrorCode.INVALID,
            extra={"fields": {"template.name": ["This field is required."]}},
        )
    if not isinstance(language, str) or not language.strip():
        raise InvalidInput(
            "Give the template's language (en_US, pt_BR…).",
            code=ErrorCode.INVALID,
            extra={"fields": {"template.language": ["This field is required."]}},
        )
    found = MessageTemplate.objects.filter(
        tenant_id=account.tenant_id, business_account_id=account.business_account_id, name=name.strip()
    )
    template = found.filter(language=language.strip()).first() if account.business_account_id else None
    if template is None:
        languages = sorted(found.values_list("language", flat=True)) if account.business_account_id else []
        field_name = "template.language" if languages else "template.name"
        message = (
            f"The template {name!r} has no {language!r} version (it has: {', '.join(languages)})."
            if languages
            else f"This number has no template called {name!r}."
        )
        raise InvalidInput(
            message,
            code=ErrorCode.TEMPLATE_NOT_FOUND,
            extra={"fields": {field_name: [message]}, "languages": languages},
        )
    if not template_usable(template):
        raise InvalidInput(
            f"The template {template.name!r} ({template.language}) is {template.get_status_display().lower()}: "
            "only approved templates can be sent.",
            code=ErrorCode.TEMPLATE_NOT_APPROVED,
            extra={"status": template.status, "fields": {"template.name": ["Not approved."]}},
        )
    return template


def template_prepare(*, account: WhatsAppAccount | None, spec: Any, contact: Contact | None = None) -> dict[str, Any]:
    """The content of a template message for ``spec`` (``{"name", "language", "parameters"}``) to
    ``contact``: a marketing template is refused to a customer who stopped marketing messages."""
    if account is None:
        raise InvalidInput("This conversation has no WhatsApp number to send from.", code=ErrorCode.NO_TEMPLATES)
    if not isinstance(spec, dict):
        raise InvalidInput(
            "The template must be an object: name, language, parameters.",
            code=ErrorCode.INVALID,
            extra={"fields": {"template": ["Must be an object."]}},
        )
    template = template_for_send(account=account, name=spec.get("name"), language=spec.get("language"))
    if contact is not None and template.category.upper() == "MARKETING" and contact_opted_out_of_marketing(contact):
        raise InvalidInput(
            "This customer asked WhatsApp to stop marketing messages: send a utility template, or wait for "
            "them to write.",
            code=ErrorCode.MARKETING_OPTED_OUT,
            extra={"fields": {"template.name": ["A marketing template, and the customer opted out."]}},
        )
    return template_render(template, spec.get("parameters"))


# --- Keeping templates in step with Meta --------------------------------------------------------


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    removed: int = 0

    def add(self, other: SyncResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.removed += other.removed


def _status(value: Any) -> str:
    return str(value or "").strip().lower()[:32] or TemplateStatus.PENDING


def _fields_from_meta(item: dict[str, Any]) -> dict[str, Any]:
    quality = item.get("quality_score")
    score = quality.get("score") if isinstance(quality, dict) else quality
    found = item.get("components")
    components: list[Any] = found if isinstance(found, list) else []
    fmt = str(item.get("parameter_format") or "").lower()
    if fmt not in ParameterFormat.values:
        # Meta omits it on older templates: named when a placeholder is not a number.
        texts = [str(c.get("text", "")) for c in components if isinstance(c, dict)]
        names = [n for t in texts for n in placeholders(t)]
        fmt = ParameterFormat.NAMED if any(not n.isdigit() for n in names) else ParameterFormat.POSITIONAL
    reason = str(item.get("rejected_reason") or "")
    return {
        "meta_id": str(item.get("id") or "")[:64],
        "category": str(item.get("category") or "").lower()[:32],
        "status": _status(item.get("status")),
        "quality": str(score or "")[:16],
        "reason": "" if reason.upper() == "NONE" else reason[:255],
        "components": components,
        "parameter_format": fmt,
    }


def templates_fetch(*, account: WhatsAppAccount) -> list[dict[str, Any]]:
    """Every template of the number's business account, page after page (raises ``GraphError``)."""
    client = GraphClient(phone_number_id=account.phone_number_id, access_token=account.access_token)
    found: list[dict[str, Any]] = []
    after = ""
    for _ in range(MAX_PAGES):
        page, after = client.message_templates_page(business_account_id=account.business_account_id, after=after)
        found.extend(page)
        if not after:
            return found
    logger.warning("WhatsApp templates of %s: stopped after %s pages", account.business_account_id, MAX_PAGES)
    return found


def templates_sync(*, account: WhatsAppAccount) -> SyncResult:
    """Fetch every template of the number's business account and make the rows say what Meta
    says: new ones created, changed ones updated, those Meta no longer lists marked ``deleted``.
    Nothing is written unless every page was read (a half list would delete the rest)."""
    result = SyncResult()
    if not account.business_account_id:
        return result
    items = templates_fetch(account=account)
    now = timezone.now()
    with transaction.atomic():
        existing = {
            (t.name, t.language): t
            for t in MessageTemplate.objects.select_for_update().filter(
                tenant_id=account.tenant_id, business_account_id=account.business_account_id
            )
        }
        seen: set[tuple[str, str]] = set()
        for item in items:
            name, language = str(item.get("name") or "")[:512], str(item.get("language") or "")[:16]
            if not name or not language or (name, language) in seen:
                continue
            seen.add((name, language))
            values = _fields_from_meta(item)
            row = existing.get((name, language))
            if row is None:
                MessageTemplate.objects.create(
                    tenant_id=account.tenant_id,
                    business_account_id=account.business_account_id,
                    name=name,
                    language=language,
                    synced_at=now,
                    **values,
                )
                result.created += 1
                continue
            changed = any(getattr(row, key) != value for key, value in values.items())
            for key, value in values.items():
                setattr(row, key, value)
            row.synced_at = now
            row.save()
            result.updated += int(changed)
        for name_language, row in existing.items():
            if name_language not in seen and row.status != TemplateStatus.DELETED:
                row.status = TemplateStatus.DELETED
                row.synced_at = now
                row.save(update_fields=["status", "synced_at", "updated_at"])
                result.removed += 1
    return result


def sync_accounts(*, tenant_id: int | None = None) -> list[WhatsAppAccount]:
    """One active number with a token per (tenant, business account): the ones to sync through."""
    accounts = WhatsAppAccount.objects.filter(is_active=True).exclude(business_account_id="").order_by("pk")
    if tenant_id is not None:
        accounts = accounts.filter(tenant_id=tenant_id)
    chosen: dict[tuple[int, str], WhatsAppAccount] = {}
    for account in accounts:
        if account.access_token:
            chosen.setdefault((account.tenant_id, account.business_account_id), account)
    return list(chosen.values())


def templates_sync_tenant(*, tenant_id: int) -> SyncResult:
    result = SyncResult()
    for account in sync_accounts(tenant_id=tenant_id):
        result.add(templates_sync(account=account))
    return result


# --- Meta's template webhooks -----------------------------------------------------------------


def _template_for_change(change: account_webhooks.AccountChange) -> MessageTemplate | None:
    """The row a template webhook names (by Meta's id, else name and language), locked; one
    Meta knows but the last sync did not is created (its components come with the next sync)."""
    value = change.value
    rows = MessageTemplate.objects.select_for_update().filter(
        tenant_id=change.tenant_id, business_account_id=change.business_account_id
    )
    meta_id = str(value.get("message_template_id") or "")
    name = str(value.get("message_template_name") or "")[:512]
    language = str(value.get("message_template_language") or "")[:16]
    row = rows.filter(meta_id=meta_id).first() if meta_id else None
    if row is None and name and language:
        row = rows.filter(name=name, language=language).first()
    if row is None and name and language:
        row = MessageTemplate.objects.create(
            tenant_id=change.tenant_id,
            business_account_id=change.business_account_id,
            meta_id=meta_id[:64],
            name=name,
            language=language,
        )
        on_commit_robust(_sync_later, change.tenant_id)
    return row


# Set by whatsapp.tasks (which imports this module): how a sync is queued.
_sync_enqueue: Callable[[int], None] | None = None


def sync_enqueuer_set(enqueue: Callable[[int], None]) -> None:
    global _sync_enqueue
    _sync_enqueue = enqueue


def _sync_later(tenant_id: int) -> None:
    if _sync_enqueue is not None:
        _sync_enqueue(tenant_id)


def template_status_changed(change: account_webhooks.AccountChange) -> None:
    """``message_template_status_update``: APPROVED, REJECTED, PAUSED, DISABLED, … with a reason."""
    with transaction.atomic():
        row = _template_for_change(change)
        if row is None:
            return
        row.status = _status(change.value.get("event"))
        reason = str(change.value.get("reason") or "")
        info = change.value.get("other_info")
        if isinstance(info, dict) and info.get("description"):
            reason = str(info["description"])
        row.reason = "" if reason.upper() == "NONE" else reason[:255]
        row.save()
        template_changed_notify(template=row, change=change.field)


def template_quality_changed(change: account_webhooks.AccountChange) -> None:
    """``message_template_quality_update``: GREEN, YELLOW, RED (UNKNOWN)."""
    with transaction.atomic():
        row = _template_for_change(change)
        if row is None:
            return
        row.quality = str(change.value.get("new_quality_score") or "")[:16]
        row.save()
        template_changed_notify(template=row, change=change.field)


def template_category_changed(change: account_webhooks.AccountChange) -> None:
    """``template_category_update``: Meta moved the template to another category."""
    with transaction.atomic():
        row = _template_for_change(change)
        if row is None:
            return
        category = change.value.get("new_category") or change.value.get("correct_category")
        if category:
            row.category = str(category).lower()[:32]
            row.save()
        template_changed_notify(template=row, change=change.field)


account_webhooks.register("message_template_status_update", template_status_changed)
account_webhooks.register("message_template_quality_update", template_quality_changed)
account_webhooks.register("template_category_update", template_category_changed)


def template_event_data(template: MessageTemplate, *, change: str) -> dict[str, Any]:
    return {
        "id": template.pk,
        "change": change,
        "name": template.name,
        "language": template.language,
        "status": template.status,
        "quality": template.quality,
        "category": template.category,
        "reason": template.reason,
        "business_account_id": template.business_account_id,
    }


def template_changed_notify(*, template: MessageTemplate, change: str) -> None:
    """Tell the tenant's admins, live and on resume, that Meta changed a template (one event per
    admin: no one else receives it). Call inside the transaction that saved it."""
    admins = User.objects.filter(tenant_id=template.tenant_id, role=Role.ADMIN, is_active=True).order_by("pk")
    data = template_event_data(template, change=change)
    for admin_id in admins.values_list("pk", flat=True):
        event_record(
            tenant_id=template.tenant_id,
            type="template.updated",
            data=data,
            recipients=Recipients(Audience.USER, user_id=admin_id),
        )
