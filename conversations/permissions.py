from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from conversations.models import Role, User


def staff_user(request: Request) -> User:
    """The staff user of a request that passed ``IsTenantStaff`` (or a stricter permission)."""
    user = request.user
    assert isinstance(user, User)
    return user


class IsTenantStaff(BasePermission):
    """An authenticated, active user who belongs to an active tenant."""

    message = "You must belong to an active tenant."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return isinstance(user, User) and user.is_active and user.tenant is not None and user.tenant.is_active


class IsSupervisor(IsTenantStaff):
    message = "Only supervisors and admins can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return super().has_permission(request, view) and isinstance(request.user, User) and request.user.is_supervisor


class IsTenantAdmin(IsTenantStaff):
    message = "Only admins can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return (
            super().has_permission(request, view) and isinstance(request.user, User) and request.user.role == Role.ADMIN
        )
