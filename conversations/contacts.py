"""The contact beside the chat: custom attributes (tenant-defined fields), notes about the
contact, their previous conversations, the contacts list's CSV import and export, and merging two
contacts.

Custom attributes follow Chatwoot's split: admins define fields (``ContactAttributeDefinition``:
text, number, date or one of a list), values live on the contact (``Contact.custom_attributes``,
keyed by the definition's key) and are checked against the definition's type when written.
Merging follows Chatwoot's ``ContactMergeAction``: the contact kept gets the other's
conversations and notes, keeps its own values and takes the other's where it has none; the
other is deleted; the merge is audited with a copy of the contact that went.

A contact appears inside each of its conversations (``ConversationSerializer.contact``), so a
change to a contact re-announces its conversations that are not resolved (``conversation.updated``
to whoever may see each).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from conversations import audit
from conversations.access import contacts_visible_to, conversations_readable_by
from conversations.models import (
    AttributeType,
    AuditAction,
    Contact,
    ContactAttributeDefinition,
    ContactNote,
    Conversation,
    ConversationStatus,
    User,
)
from pytake.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound

MAX_TEXT_ATTRIBUTE = 1000
MAX_IMPORT_ROWS = 5000
CSV_FIELDS = ["id", "name", "phone", "wa_id", "profile_name", "created_at"]


def contact_for_user(*, user: User, contact_id: object, lock: bool = False) -> Contact:
    try:
        pk = int(str(contact_id))
    except (TypeError, ValueError):
        raise NotFound("Contact not found.") from None
    qs = contacts_visible_to(user=user)
    if lock:
        qs = qs.select_for_update()
    contact = qs.filter(pk=pk).first()
    if contact is None:
        raise NotFound("Contact not found.")
    return contact


def _require_supervisor(user: User, what: str) -> None:
    if not user.is_supervisor:
        raise Forbidden(f"Only supervisors and admins {what}.")


def _require_admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("Only admins define contact fields.")


# --- custom attributes ----------------------------------------------------------------------------


def attribute_definitions(*, user: User) -> QuerySet[ContactAttributeDefinition]:
    if user.tenant_id is None:
        return ContactAttributeDefinition.objects.none()
    return ContactAttributeDefinition.objects.filter(tenant_id=user.tenant_id)


def attribute_definition_for_user(*, user: User, definition_id: object) -> ContactAttributeDefinition:
    try:
        pk = int(str(definition_id))
    except (TypeError, ValueError):
        raise NotFound("Contact field not found.") from None
    definition = attribute_definitions(user=user).filter(pk=pk).first()
    if definition is None:
        raise NotFound("Contact field not found.")
    return definition


def _check_options(type_: str, options: list[Any]) -> list[str]:
    if type_ != AttributeType.LIST:
        return []
    cleaned = [str(o).strip() for o in options if str(o).strip()]
    if not cleaned or len(set(cleaned)) != len(cleaned) or any(not isinstance(o, str) for o in options):
        raise InvalidInput(
            "A list field needs distinct text options.", extra={"fields": {"options": ["Distinct, non-empty text."]}}
        )
    return cleaned


def attribute_definition_save(
    *,
    user: User,
    definition: ContactAttributeDefinition | None = None,
    key: str,
    label: str,
    type: str,
    options: list[Any] | None = None,
) -> ContactAttributeDefinition:
    """Create or change a field. Its key and type are fixed once created (values are stored under
    the key and were checked against the type)."""
    _require_admin(user)
    assert user.tenant_id is not None
    if definition is not None and (key != definition.key or type != definition.type):
        raise InvalidInput("A field's key and type cannot change.", extra={"fields": {"key": ["Fixed."]}})
    checked = _check_options(type, options or [])
    with transaction.atomic():
        clash = ContactAttributeDefinition.objects.filter(tenant_id=user.tenant_id, key=key)
        if definition is not None:
            clash = clash.exclude(pk=definition.pk)
        if clash.exists():
            raise Conflict("A field with that key exists.", extra={"fields": {"key": ["Already used."]}})
        if definition is None:
            definition = ContactAttributeDefinition(tenant_id=user.tenant_id, key=key, type=type)
        definition.label, definition.options = label, checked
        definition.save()
    return definition


def attribute_definition_delete(*, user: User, definition: ContactAttributeDefinition) -> None:
    """Delete a field; the values stored under its key stay on the contacts but are no longer
    shown or accepted (re-creating the field brings them back)."""
    _require_admin(user)
    definition.delete()


def _attribute_value(definition: ContactAttributeDefinition, value: Any) -> Any:
    if definition.type == AttributeType.TEXT and isinstance(value, str) and len(value) <= MAX_TEXT_ATTRIBUTE:
        return value
    if definition.type == AttributeType.NUMBER:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int | float):
            return value
        if isinstance(value, str) and value.strip():
            number = float(value)
            return int(number) if number.is_integer() and "." not in value else number
    if definition.type == AttributeType.DATE and isinstance(value, str):
        return date.fromisoformat(value).isoformat()
    if definition.type == AttributeType.LIST and isinstance(value, str) and value in definition.options:
        return value
    raise ValueError


def attributes_validate(*, tenant_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` checked against the tenant's fields: each key a field's, each value of its type
    (a number; a date ``YYYY-MM-DD``; one of a list's options; text up to 1,000 characters), or
    null to clear it. ``InvalidInput`` ``invalid_attribute`` naming every bad key otherwise."""
    definitions = {d.key: d for d in ContactAttributeDefinition.objects.filter(tenant_id=tenant_id)}
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors[key] = ["No such contact field."]
            continue
        if value is None or value == "":
            cleaned[key] = None
            continue
        try:
            cleaned[key] = _attribute_value(definition, value)
        except (TypeError, ValueError):
            errors[key] = [f"Not a valid {definition.type} value."]
    if errors:
        raise InvalidInput("Some contact fields are wrong.", code=ErrorCode.INVALID_ATTRIBUTE, extra={"fields": errors})
    return cleaned


def _announce(contact: Contact, *, also: list[int] | None = None) -> None:
    """Re-announce the contact's conversations that are not resolved, and those of ``also``
    (they carry the contact). Call in the transaction that changed it."""
    for conversation in (
        Conversation.objects.select_for_update(of=("self",), no_key=True)
        .select_related("contact", "assignee")
        .filter(Q(pk__in=also or []) | ~Q(status=ConversationStatus.RESOLVED), contact=contact)
        .order_by("pk")
    ):
        conversation.save(update_fields=["updated_at"])


def contact_update(
    *, user: User, contact_id: object, name: str | None = None, custom_attributes: dict[str, Any] | None = None
) -> Contact:
    """Change a contact the user may see: its name and custom attribute values (merged into the
    stored ones; null clears one)."""
    with transaction.atomic():
        contact = contact_for_user(user=user, contact_id=contact_id, lock=True)
        if name is not None:
            contact.name = name.strip()
        if custom_attributes is not None:
            cleaned = attributes_validate(tenant_id=contact.tenant_id, values=custom_attributes)
            merged = {**contact.custom_attributes, **cleaned}
            contact.custom_attributes = {k: v for k, v in merged.items() if v is not None}
        contact.save()
        _announce(contact)
    return contact


# --- notes and history ----------------------------------------------------------------------------


def contact_notes(*, user: User, contact_id: object) -> QuerySet[ContactNote]:
    contact = contact_for_user(user=user, contact_id=contact_id)
    return ContactNote.objects.filter(contact=contact).select_related("author").order_by("-created_at", "-id")


def contact_note_create(*, user: User, contact_id: object, text: str) -> ContactNote:
    text = text.strip()
    if not text:
        raise InvalidInput("The note is empty.", code=ErrorCode.EMPTY_MESSAGE)
    contact = contact_for_user(user=user, contact_id=contact_id)
    return ContactNote.objects.create(tenant_id=contact.tenant_id, contact=contact, author=user, text=text)


def contact_note_delete(*, user: User, contact_id: object, note_id: object) -> None:
    """Its author, or a supervisor or admin, deletes a note."""
    try:
        pk = int(str(note_id))
    except (TypeError, ValueError):
        raise NotFound("Note not found.") from None
    note = contact_notes(user=user, contact_id=contact_id).filter(pk=pk).first()
    if note is None:
        raise NotFound("Note not found.")
    if note.author_id != user.pk and not user.is_supervisor:
        raise Forbidden("Only its author or a supervisor deletes a note.")
    note.delete()


def contact_conversations(*, user: User, contact_id: object) -> QuerySet[Conversation]:
    """The contact's conversations the user may read, newest first (the current one included)."""
    contact = contact_for_user(user=user, contact_id=contact_id)
    return (
        conversations_readable_by(user=user)
        .filter(contact=contact)
        .select_related("contact", "assignee")
        .order_by("-last_message_at", "-id")
    )


# --- CSV ------------------------------------------------------------------------------------------


def contacts_csv(*, user: User) -> str:
    """Every contact of the tenant as CSV: the fixed columns, then one per contact field."""
    _require_supervisor(user, "export contacts")
    keys = list(attribute_definitions(user=user).order_by("key").values_list("key", flat=True))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS + keys)
    for contact in contacts_visible_to(user=user).order_by("id").iterator(chunk_size=2000):
        row = [getattr(contact, f) for f in CSV_FIELDS]
        row[CSV_FIELDS.index("created_at")] = contact.created_at.isoformat()
        writer.writerow([_csv_cell(v) for v in row] + [_csv_cell(contact.custom_attributes.get(k, "")) for k in keys])
    return out.getvalue()


def _csv_cell(value: Any) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def contacts_import(*, user: User, text: str) -> dict[str, int]:
    """Create or update contacts from CSV (a header row; ``name``, ``phone``, ``wa_id``, and any
    contact field's key). A row with a ``wa_id`` the tenant knows updates that contact; other rows
    create one. Every row is checked first: one bad row refuses the whole file, naming the rows,
    and nothing changes."""
    _require_supervisor(user, "import contacts")
    assert user.tenant_id is not None
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    known = {"name", "phone", "wa_id"} | set(attribute_definitions(user=user).values_list("key", flat=True))
    unknown = [h for h in header if h not in known and h not in CSV_FIELDS]
    if not header or unknown:
        raise InvalidInput(
            "The header names unknown columns." if unknown else "The file has no header.",
            extra={"fields": {"file": [f"Unknown column {h!r}." for h in unknown] or ["No header."]}},
        )
    rows: list[tuple[dict[str, str], dict[str, Any]]] = []
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    for number, raw in enumerate(reader, start=2):
        if number - 1 > MAX_IMPORT_ROWS:
            raise InvalidInput(f"At most {MAX_IMPORT_ROWS} rows per file.")
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        fixed = {k: row.get(k, "") for k in ("name", "phone", "wa_id")}
        if fixed["wa_id"] and not fixed["wa_id"].isdigit():
            errors[f"row {number}"] = ["wa_id is digits only."]
            continue
        if fixed["wa_id"] in seen:
            errors[f"row {number}"] = ["The same wa_id twice."]
            continue
        if fixed["wa_id"]:
            seen.add(fixed["wa_id"])
        if not (fixed["name"] or fixed["phone"] or fixed["wa_id"]):
            errors[f"row {number}"] = ["A name, phone or wa_id is needed."]
            continue
        values = {k: v for k, v in row.items() if k not in CSV_FIELDS and k not in fixed and v != ""}
        try:
            attributes = attributes_validate(tenant_id=user.tenant_id, values=values)
        except InvalidInput as exc:
            errors[f"row {number}"] = [f"{k}: {', '.join(v)}" for k, v in exc.extra["fields"].items()]
            continue
        rows.append((fixed, attributes))
    if errors:
        raise InvalidInput("Some rows are wrong: nothing was imported.", extra={"fields": errors})
    created = updated = 0
    with transaction.atomic():
        existing = {
            c.wa_id: c
            for c in Contact.objects.select_for_update().filter(
                tenant_id=user.tenant_id, wa_id__in=[f["wa_id"] for f, _ in rows if f["wa_id"]]
            )
        }
        for fixed, attributes in rows:
            contact = existing.get(fixed["wa_id"]) if fixed["wa_id"] else None
            if contact is None:
                contact = Contact(tenant_id=user.tenant_id, wa_id=fixed["wa_id"])
                created += 1
            else:
                updated += 1
            contact.name = fixed["name"] or contact.name
            contact.phone = fixed["phone"] or contact.phone or (f"+{fixed['wa_id']}" if fixed["wa_id"] else "")
            contact.custom_attributes = {**contact.custom_attributes, **attributes}
            contact.save()
    return {"created": created, "updated": updated}


# --- merge ----------------------------------------------------------------------------------------


def contacts_merge(*, user: User, keep_id: object, merge_id: object) -> Contact:
    """Merge contact ``merge_id`` into ``keep_id`` (supervisors and admins): its conversations
    and notes follow, ``keep`` keeps its values and takes the other's where it has none (its
    WhatsApp id too), the other is deleted, and the merge is audited with a copy of it."""
    _require_supervisor(user, "merge contacts")
    assert user.tenant_id is not None
    with transaction.atomic():
        keep = contact_for_user(user=user, contact_id=keep_id)
        other = contact_for_user(user=user, contact_id=merge_id)
        if keep.pk == other.pk:
            raise InvalidInput("A contact cannot be merged into itself.", extra={"fields": {"merge_id": ["Same."]}})
        if keep.wa_id and other.wa_id and keep.wa_id != other.wa_id:
            raise Conflict(
                "Both contacts have a WhatsApp number: each is a different customer on WhatsApp.",
                extra={"fields": {"merge_id": ["Another WhatsApp id."]}},
            )
        if keep.wa_user_id and other.wa_user_id and keep.wa_user_id != other.wa_user_id:
            raise Conflict(
                "Both contacts have a WhatsApp user id: each is a different customer on WhatsApp.",
                extra={"fields": {"merge_id": ["Another WhatsApp user id."]}},
            )
        pair = list(Contact.objects.select_for_update().filter(pk__in=[keep.pk, other.pk]).order_by("pk"))
        keep, other = (pair[0], pair[1]) if pair[0].pk == keep.pk else (pair[1], pair[0])
        snapshot, moved = contacts_merge_locked(keep=keep, other=other)
        audit.audit_record(
            tenant_id=user.tenant_id,
            actor=user,
            action=AuditAction.MERGE,
            data={"kept": keep.pk, "merged": snapshot, "conversations": moved},
        )
    return keep


def contacts_merge_locked(*, keep: Contact, other: Contact) -> tuple[dict[str, Any], list[int]]:
    """Merge ``other`` into ``keep``, both locked by the caller (in pk order): conversations and
    notes follow, ``keep`` keeps its values and takes the other's where it has none (its WhatsApp
    number and user id too), ``other`` is deleted, the moved conversations are announced. Returns
    a copy of ``other`` (for the audit) and the ids of the conversations moved. Used by staff's
    merge and by WhatsApp when a number and a user id, first seen apart, turn out to be one person.
    """
    snapshot = {
        "id": other.pk,
        "name": other.name,
        "phone": other.phone,
        "wa_id": other.wa_id,
        "wa_user_id": other.wa_user_id,
        "wa_username": other.wa_username,
        "profile_name": other.profile_name,
        "custom_attributes": other.custom_attributes,
    }
    moved = list(
        Conversation.objects.select_for_update(of=("self",), no_key=True)
        .filter(contact=other)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    # Unique per tenant: taken over only once ``other`` is gone.
    taken = {f: getattr(other, f) for f in ("wa_id", "wa_user_id") if not getattr(keep, f)}
    for field in ("name", "phone", "profile_name", "wa_username"):
        if not getattr(keep, field):
            setattr(keep, field, getattr(other, field))
    if other.marketing_opt_out_at and (
        not keep.marketing_opt_out_at or other.marketing_opt_out_at > keep.marketing_opt_out_at
    ):
        keep.marketing_opt_out, keep.marketing_opt_out_at = other.marketing_opt_out, other.marketing_opt_out_at
    keep.custom_attributes = {**other.custom_attributes, **keep.custom_attributes}
    ContactNote.objects.filter(contact=other).update(contact=keep)
    # Moved without a signal here; each is announced below, with the contact it has now.
    Conversation.objects.filter(pk__in=moved).update(contact=keep)
    other.delete()
    for field, value in taken.items():
        setattr(keep, field, value)
    keep.save()
    _announce(keep, also=moved)
    return snapshot, moved
