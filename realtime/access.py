"""Changes to who may use the product reach the sockets already open, on every server process.

A socket's principal is read from its token when it connects; REST reads the user on every
request. So that a socket never outlives the access it was opened with, every change that can take
access away is detected here, at the model layer, whichever path made it (Django admin, the REST
API, a management shell): a user's ``is_active``, ``password``, ``role`` or ``tenant``, their
sign-out everywhere (``accounts.SignOut``), a tenant's ``is_active``, or the deletion of a user
or a tenant. After commit, one ``realtime.access`` message goes to
the ``access`` group, which every process's hub joins; the hub has each of its sockets of that
user or tenant resolve its token again (``RealtimeConsumer.access_changed``): refused, it closes
with 4001; still accepted with another role, it takes the new role's groups and audience.

``QuerySet.update()`` sends no signal: code that changes these fields in bulk must call
``access_changed`` itself.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from accounts.models import SignOut
from conversations.models import Tenant, User
from pytake.transactions import on_commit_robust
from realtime import groups
from realtime.events import send_to_groups
from realtime.hub import ACCESS_TYPE

USER_FIELDS = ("is_active", "password", "role", "tenant_id")
_USER_FIELD_NAMES = frozenset({"is_active", "password", "role", "tenant", "tenant_id"})
_BEFORE = "_access_before"


def access_changed(*, user_id: int | None = None, tenant_id: int | None = None) -> None:
    """Have every server process check again, after the current transaction commits (at once
    outside one), the sockets of this user or of this tenant (its staff and its web-chat customers)."""
    message = {"type": ACCESS_TYPE, "user_id": user_id, "tenant_id": tenant_id}
    on_commit_robust(send_to_groups, [groups.access()], message)


def _access_of_user(user: User) -> tuple[Any, ...]:
    return tuple(getattr(user, name) for name in USER_FIELDS)


@receiver(pre_save, sender=User, dispatch_uid="realtime.access.user_before")
def _user_before(
    sender: type[User], instance: User, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    # The stored values, not those loaded with the instance: another save may have come between.
    instance.__dict__.pop(_BEFORE, None)
    if raw or instance.pk is None:
        return
    if update_fields is not None and not _USER_FIELD_NAMES.intersection(update_fields):
        return  # last_login on every login, availability: one query saved
    stored = User.objects.filter(pk=instance.pk).values_list(*USER_FIELDS).first()
    if stored is not None:
        instance.__dict__[_BEFORE] = stored


@receiver(post_save, sender=User, dispatch_uid="realtime.access.user_after")
def _user_after(sender: type[User], instance: User, created: bool, raw: bool = False, **kwargs: Any) -> None:
    before = instance.__dict__.pop(_BEFORE, None)
    if not raw and before is not None and before != _access_of_user(instance):
        access_changed(user_id=instance.pk)


@receiver(post_delete, sender=User, dispatch_uid="realtime.access.user_deleted")
def _user_deleted(sender: type[User], instance: User, **kwargs: Any) -> None:
    access_changed(user_id=instance.pk)


@receiver(pre_save, sender=Tenant, dispatch_uid="realtime.access.tenant_before")
def _tenant_before(
    sender: type[Tenant], instance: Tenant, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    instance.__dict__.pop(_BEFORE, None)
    if raw or instance.pk is None or (update_fields is not None and "is_active" not in update_fields):
        return
    stored = Tenant.objects.filter(pk=instance.pk).values_list("is_active", flat=True).first()
    if stored is not None:
        instance.__dict__[_BEFORE] = stored


@receiver(post_save, sender=Tenant, dispatch_uid="realtime.access.tenant_after")
def _tenant_after(sender: type[Tenant], instance: Tenant, created: bool, raw: bool = False, **kwargs: Any) -> None:
    before = instance.__dict__.pop(_BEFORE, None)
    if not raw and before is not None and before != instance.is_active:
        access_changed(tenant_id=instance.pk)


@receiver(post_delete, sender=Tenant, dispatch_uid="realtime.access.tenant_deleted")
def _tenant_deleted(sender: type[Tenant], instance: Tenant, **kwargs: Any) -> None:
    access_changed(tenant_id=instance.pk)


@receiver(post_save, sender=SignOut, dispatch_uid="realtime.access.signed_out")
def _signed_out(sender: type[SignOut], instance: SignOut, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        access_changed(user_id=instance.user_id)
