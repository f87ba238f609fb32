"""Labels: the tenant defines them (supervisors and admins), agents put them on conversations.

A conversation's labels are ``ConversationLabel`` rows (what the inbox filters on) and a sorted
copy of their ids on the conversation (``Conversation.label_ids``, what the inbox list and every
conversation event carry without a query). Only this module writes either, always both in one
transaction, and always through ``Conversation.save()``: the change reaches everyone who may see
the conversation as ``conversation.updated`` (``realtime.signals``). Label definitions themselves
are announced to the tenant's staff as ``label.saved`` / ``label.deleted``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from conversations.access import conversation_for_user
from conversations.models import Conversation, ConversationLabel, Label, User
from pytake.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound


def labels_of_tenant(*, user: User) -> QuerySet[Label]:
    """Every label of the user's tenant (every staff member sees them all: they are the vocabulary)."""
    if not user.is_authenticated or user.tenant_id is None:
        return Label.objects.none()
    return Label.objects.filter(tenant_id=user.tenant_id)


def label_for_user(*, user: User, label_id: object) -> Label:
    try:
        pk = int(str(label_id))
    except (TypeError, ValueError):
        raise NotFound("Label not found.") from None
    label = labels_of_tenant(user=user).filter(pk=pk).first()
    if label is None:
        raise NotFound("Label not found.")
    return label


def _require_manager(user: User) -> None:
    if not user.is_supervisor:
        raise Forbidden("Only supervisors and admins manage labels.")


def _name_taken(*, tenant_id: int, name: str, exclude: int | None = None) -> bool:
    qs = Label.objects.filter(tenant_id=tenant_id, name__iexact=name)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    return qs.exists()


def label_save(*, user: User, label: Label | None = None, name: str, colour: str, description: str = "") -> Label:
    """Create (``label=None``) or change a label of the user's tenant. Names are unique in a
    tenant, whatever their case: ``Conflict`` otherwise."""
    _require_manager(user)
    assert user.tenant_id is not None
    name = name.strip()
    if not name:
        raise InvalidInput("A label needs a name.", extra={"fields": {"name": ["This field may not be blank."]}})
    with transaction.atomic():
        if _name_taken(tenant_id=user.tenant_id, name=name, exclude=label.pk if label else None):
            raise Conflict("A label with that name exists.", extra={"fields": {"name": ["Already used."]}})
        if label is None:
            label = Label(tenant_id=user.tenant_id)
        label.name, label.colour, label.description = name, colour, description
        try:
            with transaction.atomic():
                label.save()
        except IntegrityError:  # a concurrent request took the name
            raise Conflict("A label with that name exists.", extra={"fields": {"name": ["Already used."]}}) from None
    return label


def label_delete(*, user: User, label: Label) -> None:
    """Delete a label: the conversations that carried it lose it (each announced as updated)."""
    _require_manager(user)
    label_remove(label=label)


def label_remove(*, label: Label) -> None:
    """``label_delete`` without the role check: for Django admin, whose operators have no tenant."""
    with transaction.atomic():
        conversation_ids = list(
            ConversationLabel.objects.filter(label=label)
            .order_by("conversation_id")
            .values_list("conversation_id", flat=True)
        )
        for conversation in (
            Conversation.objects.select_for_update(of=("self",), no_key=True)
            .filter(pk__in=conversation_ids)
            .order_by("pk")
        ):
            conversation.label_ids = [pk for pk in conversation.label_ids if pk != label.pk]
            conversation.save(update_fields=["label_ids", "updated_at"])
        label.delete()


def tenant_label_ids(*, tenant_id: int, label_ids: list[int]) -> list[int]:
    """``label_ids``, sorted and once each, if all are labels of the tenant; ``InvalidInput``
    naming the others otherwise."""
    wanted = sorted(set(label_ids))
    found = sorted(Label.objects.filter(tenant_id=tenant_id, pk__in=wanted).values_list("pk", flat=True))
    unknown = [pk for pk in wanted if pk not in found]
    if unknown:
        raise InvalidInput(
            "Unknown label ids.",
            code=ErrorCode.INVALID,
            extra={"fields": {"labels": [f"No label {pk} in this tenant." for pk in unknown]}},
        )
    return found


def conversation_labels_set_locked(
    *,
    conversation: Conversation,
    add: Sequence[int] = (),
    remove: Sequence[int] = (),
    replace: Sequence[int] | None = None,
    actor: User | None,
) -> bool:
    """Change a locked conversation's labels: ``replace`` with exactly these, or ``add`` and
    ``remove`` some. Ids must be labels of the conversation's tenant (``InvalidInput``
    otherwise, nothing changed). Saves the conversation when its labels changed; returns whether
    they did."""
    tenant_id = conversation.tenant_id
    current = set(ConversationLabel.objects.filter(conversation=conversation).values_list("label_id", flat=True))
    if replace is not None:
        wanted = set(tenant_label_ids(tenant_id=tenant_id, label_ids=list(replace)))
    else:
        wanted = (current | set(tenant_label_ids(tenant_id=tenant_id, label_ids=list(add)))) - set(remove)
    if wanted == current:
        return False
    ConversationLabel.objects.filter(conversation=conversation, label_id__in=current - wanted).delete()
    ConversationLabel.objects.bulk_create(
        [ConversationLabel(conversation=conversation, label_id=pk, added_by=actor) for pk in sorted(wanted - current)],
        ignore_conflicts=True,
    )
    conversation.label_ids = sorted(wanted)
    conversation.save(update_fields=["label_ids", "updated_at"])
    return True


def conversation_labels_set(*, user: User, conversation_id: object, label_ids: list[int]) -> Conversation:
    """``PATCH /api/conversations/{id}/`` with ``labels``: any staff member who may see the
    conversation may label it."""
    with transaction.atomic():
        conversation = conversation_for_user(user=user, conversation_id=conversation_id, lock=True)
        conversation_labels_set_locked(conversation=conversation, replace=label_ids, actor=user)
    return conversation
