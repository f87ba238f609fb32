"""REST API of WhatsApp's message templates: the list (any staff member; the inbox's picker) and
an immediate sync from Meta (supervisors and admins)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from conversations.models import WhatsAppAccount
from conversations.permissions import IsSupervisor, staff_user
from pytake.errors import ApplicationError, ErrorCode, InvalidInput
from pytake.pagination import StrictCursorPagination
from whatsapp import templates
from whatsapp.client import GraphError
from whatsapp.models import MessageTemplate
from whatsapp.serializers import TemplateFilterSerializer, TemplateSerializer, TemplateSyncResultSerializer


class MetaUnavailable(ApplicationError):
    code = ErrorCode.ERROR
    status = 502
    message = "WhatsApp's API did not answer the template list."


class TemplatePagination(StrictCursorPagination):
    ordering = ("name", "language", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


def _tenant_id(request: Request) -> int:
    tenant_id = staff_user(request).tenant_id
    assert tenant_id is not None  # IsTenantStaff let only a tenant's staff in
    return tenant_id


class TemplateViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[MessageTemplate]):
    """``GET /api/whatsapp/templates/``: the templates of the tenant's business accounts
    (``?number=`` a number's id, ``status``, ``language``, ``search`` in the name)."""

    serializer_class = TemplateSerializer
    pagination_class = TemplatePagination
    queryset = MessageTemplate.objects.none()  # for the schema; get_queryset scopes every request

    def _numbers(self) -> QuerySet[WhatsAppAccount]:
        return WhatsAppAccount.objects.filter(tenant_id=_tenant_id(self.request)).exclude(business_account_id="")

    def get_queryset(self) -> QuerySet[MessageTemplate]:
        filters = TemplateFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        rows = MessageTemplate.objects.filter(tenant_id=_tenant_id(self.request))
        if "number" in data:
            waba = self._numbers().filter(pk=data["number"]).values_list("business_account_id", flat=True).first()
            if waba is None:
                raise InvalidInput(
                    "No such WhatsApp number.", extra={"fields": {"number": ["Not a number of yours with templates."]}}
                )
            rows = rows.filter(business_account_id=waba)
        if "status" in data:
            rows = rows.filter(status=data["status"])
        if "language" in data:
            rows = rows.filter(language=data["language"])
        if data.get("search"):
            rows = rows.filter(name__icontains=data["search"])
        return rows

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        by_waba: dict[str, list[int]] = {}
        for pk, waba in self._numbers().filter(is_active=True).order_by("pk").values_list("pk", "business_account_id"):
            by_waba.setdefault(waba, []).append(pk)
        context["numbers_by_waba"] = by_waba
        return context

    @extend_schema(parameters=[TemplateFilterSerializer])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses=TemplateSyncResultSerializer)
    @action(detail=False, methods=["post"], permission_classes=[IsSupervisor])
    def sync(self, request: Request) -> Response:
        """Fetch the tenant's templates from Meta now (supervisors and admins)."""
        try:
            result = templates.templates_sync_tenant(tenant_id=_tenant_id(request))
        except GraphError as exc:
            raise MetaUnavailable(f"WhatsApp's API refused the template list: {exc.title}"[:300]) from None
        return Response(asdict(result))


class NumberSerializer(serializers.ModelSerializer[WhatsAppAccount]):
    sending = serializers.SerializerMethodField(
        help_text="Whether the number sends now: false while WhatsApp refuses its messages for an "
        "account-wide reason (sending_blocked_code and _reason say which); its messages wait."
    )

    class Meta:
        model = WhatsAppAccount
        fields = ["id", "name", "display_phone_number", "sending", "sending_blocked_code", "sending_blocked_reason"]
        read_only_fields = fields

    def get_sending(self, obj: WhatsAppAccount) -> bool:
        return obj.sending_blocked_at is None


class NumberViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[WhatsAppAccount]):
    """``GET /api/whatsapp/numbers/``: the tenant's active WhatsApp numbers (to start a
    conversation from one), and whether each sends now (the inbox shows its admins a number
    that stopped, also when they sign in after it stopped)."""

    serializer_class = NumberSerializer
    pagination_class = None
    queryset = WhatsAppAccount.objects.none()  # for the schema; get_queryset scopes every request

    def get_queryset(self) -> QuerySet[WhatsAppAccount]:
        return WhatsAppAccount.objects.filter(tenant_id=_tenant_id(self.request), is_active=True).order_by("pk")
