"""The Django admin is for operators, and operators are superusers.

The admin is not scoped by tenant: whoever can use it sees and changes every tenant's data. So it
admits superusers only, at login and on every page (``pytake.apps.SuperuserAdminConfig`` makes
this the admin's site); ``is_staff`` alone (an account a tenant's
admin might be given) lets nobody in. Tenant admins manage their tenant through the product.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest


class SuperuserAuthenticationForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not user.is_superuser:
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class SuperuserAdminSite(AdminSite):
    login_form = SuperuserAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_superuser)
