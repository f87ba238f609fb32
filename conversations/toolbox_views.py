"""REST API of the agent's toolbox: labels, saved replies, search, mentions and the contact panel.
Views validate input, call one selector or service, and serialise the result."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations import contacts, labels, mentions, saved_replies, search
from conversations.models import ContactAttributeDefinition, ConversationMention, Label, SavedReply
from conversations.permissions import staff_user
from conversations.toolbox_serializers import (
    AttributeDefinitionSerializer,
    LabelSerializer,
    NotificationFilterSerializer,
    NotificationSerializer,
    ReadCountSerializer,
    RenderedSerializer,
    RenderQuerySerializer,
    SavedReplyFilterSerializer,
    SavedReplySerializer,
    SavedReplyUpdateSerializer,
    SearchQuerySerializer,
    SearchResultSerializer,
    UnreadCountSerializer,
)
from pytake.errors import NotFound


class LabelViewSet(viewsets.ModelViewSet):
    """``/api/labels/``: the tenant's labels. Every staff member reads them; supervisors and
    admins create, change and delete them (others get 403 ``forbidden``)."""

    serializer_class = LabelSerializer
    pagination_class = None
    queryset = Label.objects.none()  # for the schema; get_queryset scopes every request
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Label]:
        return labels.labels_of_tenant(user=staff_user(self.request))

    def get_object(self) -> Label:
        return labels.label_for_user(user=staff_user(self.request), label_id=self.kwargs["pk"])

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = LabelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        label = labels.label_save(user=staff_user(request), **body.validated_data)
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        label = self.get_object()
        body = LabelSerializer(label, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        values = {"name": label.name, "colour": label.colour, "description": label.description}
        values.update(body.validated_data)
        label = labels.label_save(user=staff_user(request), label=label, **values)
        return Response(LabelSerializer(label).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        labels.label_delete(user=staff_user(request), label=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class SavedReplyViewSet(viewsets.ModelViewSet):
    """``/api/saved-replies/``: the tenant's saved replies and the caller's personal ones
    (``?scope=tenant|personal``, ``?search=``). Anyone creates personal ones; supervisors and
    admins manage the tenant's. ``GET …/{id}/render/?conversation_id=`` fills its variables."""

    serializer_class = SavedReplySerializer
    pagination_class = None
    queryset = SavedReply.objects.none()  # for the schema; get_queryset scopes every request
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[SavedReply]:
        filters = SavedReplyFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return saved_replies.saved_reply_list(user=staff_user(self.request), **filters.validated_data)

    def get_object(self) -> SavedReply:
        return saved_replies.saved_reply_for_user(user=staff_user(self.request), saved_reply_id=self.kwargs["pk"])

    @extend_schema(parameters=[SavedReplyFilterSerializer])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = SavedReplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reply = saved_replies.saved_reply_create(user=staff_user(request), **body.validated_data)
        return Response(SavedReplySerializer(reply).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SavedReplyUpdateSerializer, responses=SavedReplySerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        reply = self.get_object()
        body = SavedReplyUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reply = saved_replies.saved_reply_update(user=staff_user(request), reply=reply, **body.validated_data)
        return Response(SavedReplySerializer(reply).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        saved_replies.saved_reply_delete(user=staff_user(request), reply=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[RenderQuerySerializer], responses=RenderedSerializer)
    @action(detail=True, methods=["get"])
    def render(self, request: Request, pk: str) -> Response:
        reply = self.get_object()
        query = RenderQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        text = saved_replies.saved_reply_render(
            user=staff_user(request), reply=reply, conversation_id=query.validated_data["conversation_id"]
        )
        return Response({"text": text})


class SearchView(APIView):
    """``GET /api/search/?q=``: messages (text, captions, internal notes) and contacts (names,
    numbers, notes about them) the caller may see, best first, highlighted. Open a message hit
    with ``GET /api/conversations/{id}/messages/?around=<message id>``."""

    @extend_schema(parameters=[SearchQuerySerializer], responses=SearchResultSerializer)
    def get(self, request: Request) -> Response:
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q, limit = query.validated_data["q"], query.validated_data["limit"]
        user = staff_user(request)
        result = {
            "messages": search.message_search(user=user, q=q, limit=limit),
            "contacts": search.contact_search(user=user, q=q, limit=min(limit, 10)),
        }
        return Response(SearchResultSerializer(result).data)


class NotificationPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class NotificationViewSet(viewsets.GenericViewSet):
    """``/api/notifications/``: the caller's own notifications (a teammate mentioned them in a
    note), newest first; ``?unread=true`` for the unread ones. Live: ``notification`` and
    ``notification.read`` on the caller's socket."""

    serializer_class = NotificationSerializer
    pagination_class = NotificationPagination
    queryset = ConversationMention.objects.none()  # for the schema; get_queryset scopes every request

    def get_queryset(self) -> QuerySet[ConversationMention]:
        filters = NotificationFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return mentions.notifications_of(user=staff_user(self.request), unread=filters.validated_data["unread"])

    @extend_schema(parameters=[NotificationFilterSerializer], responses=NotificationSerializer(many=True))
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(NotificationSerializer(page, many=True).data)

    @extend_schema(responses=UnreadCountSerializer)
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request: Request) -> Response:
        return Response({"unread": mentions.notifications_unread_count(user=staff_user(request))})

    @extend_schema(request=None, responses=ReadCountSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str) -> Response:
        """Mark one read (another user's, or a missing id: 404)."""
        user = staff_user(request)
        if not mentions.notifications_of(user=user).filter(pk=int(pk) if pk.isdigit() else 0).exists():
            raise NotFound("Notification not found.")
        marked = mentions.notifications_mark_read(user=user, ids=[int(pk)])
        return Response({"marked": marked, "unread": mentions.notifications_unread_count(user=user)})

    @extend_schema(request=None, responses=ReadCountSerializer)
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request: Request) -> Response:
        user = staff_user(request)
        marked = mentions.notifications_mark_read(user=user)
        return Response({"marked": marked, "unread": mentions.notifications_unread_count(user=user)})


class ContactAttributeViewSet(viewsets.ModelViewSet):
    """``/api/contact-attributes/``: the tenant's contact fields (text, number, date, list).
    Every staff member reads them; admins define them. A field's key and type are fixed."""

    serializer_class = AttributeDefinitionSerializer
    pagination_class = None
    queryset = ContactAttributeDefinition.objects.none()  # for the schema; get_queryset scopes every request
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[ContactAttributeDefinition]:
        return contacts.attribute_definitions(user=staff_user(self.request))

    def get_object(self) -> ContactAttributeDefinition:
        return contacts.attribute_definition_for_user(user=staff_user(self.request), definition_id=self.kwargs["pk"])

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = AttributeDefinitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        definition = contacts.attribute_definition_save(user=staff_user(request), **body.validated_data)
        return Response(AttributeDefinitionSerializer(definition).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        definition = self.get_object()
        body = AttributeDefinitionSerializer(definition, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        values: dict[str, Any] = {
            "key": definition.key,
            "label": definition.label,
            "type": definition.type,
            "options": definition.options,
        }
        values.update(body.validated_data)
        definition = contacts.attribute_definition_save(user=staff_user(request), definition=definition, **values)
        return Response(AttributeDefinitionSerializer(definition).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        contacts.attribute_definition_delete(user=staff_user(request), definition=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
