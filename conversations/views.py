"""REST API of the domain: conversations, their messages and notes, contacts. Views validate input,
call one selector or service, and serialise the result."""

from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations import access, contacts, labels, selectors, services
from conversations.models import Contact, Conversation, User
from conversations.serializers import (
    ContactSerializer,
    ConversationFilterSerializer,
    ConversationSerializer,
    MessageCreateSerializer,
    MessagePageSerializer,
    MessageSerializer,
    TextSerializer,
)
from conversations.toolbox_serializers import (
    ContactImportResultSerializer,
    ContactImportSerializer,
    ContactMergeSerializer,
    ContactNoteSerializer,
    ContactUpdateSerializer,
    ConversationPatchSerializer,
    NoteCreateSerializer,
)
from pytake.errors import InvalidInput


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


class InboxPagination(CursorPagination):
    ordering = ("-last_message_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class NamePagination(CursorPagination):
    ordering = ("name", "id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ContactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The tenant's contacts. ``?search=`` matches name, profile name, phone and WhatsApp id.

    The contact panel beside a chat: ``PATCH`` the name and custom attributes, ``notes/``,
    ``conversations/`` (their conversations the caller may read); supervisors and admins
    ``merge/`` two contacts, ``export/`` and ``import/`` CSV."""

    serializer_class = ContactSerializer
    pagination_class = NamePagination
    queryset = Contact.objects.none()  # for the schema; get_queryset scopes every request
    http_method_names = ["get", "patch", "post", "head", "options"]
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[Contact]:
        return selectors.contact_list(user=_user(self.request), search=self.request.query_params.get("search"))

    def get_object(self) -> Contact:
        return contacts.contact_for_user(user=_user(self.request), contact_id=self.kwargs["pk"])

    @extend_schema(request=ContactUpdateSerializer, responses=ContactSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Name and custom attribute values (checked against each field's type:
        ``invalid_attribute`` names the wrong ones, and nothing changes)."""
        self.get_object()  # visibility first
        body = ContactUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contact = contacts.contact_update(user=_user(request), contact_id=pk, **body.validated_data)
        return Response(ContactSerializer(contact).data)

    @extend_schema(methods=["GET"], responses=ContactNoteSerializer(many=True))
    @extend_schema(methods=["POST"], request=TextSerializer, responses={201: ContactNoteSerializer})
    @action(detail=True, methods=["get", "post"])
    def notes(self, request: Request, pk: str) -> Response:
        """Notes about the contact, newest first; any staff member who sees the contact adds one."""
        if request.method == "GET":
            rows = contacts.contact_notes(user=_user(request), contact_id=pk)[:200]
            return Response(ContactNoteSerializer(rows, many=True).data)
        self.get_object()  # visibility first
        body = TextSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = contacts.contact_note_create(user=_user(request), contact_id=pk, text=body.validated_data["text"])
        return Response(ContactNoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=ConversationSerializer(many=True))
    @action(detail=True, methods=["get"])
    def conversations(self, request: Request, pk: str) -> Response:
        """The contact's conversations the caller may read, newest first (at most 100)."""
        rows = contacts.contact_conversations(user=_user(request), contact_id=pk)[:100]
        return Response(ConversationSerializer(rows, many=True).data)

    @extend_schema(request=ContactMergeSerializer, responses=ContactSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str) -> Response:
        """Merge ``merge_id`` into this contact (supervisors and admins; audited)."""
        self.get_object()  # visibility first
        body = ContactMergeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contact = contacts.contacts_merge(user=_user(request), keep_id=pk, merge_id=body.validated_data["merge_id"])
        return Response(ContactSerializer(contact).data)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"])
    def export(self, request: Request) -> HttpResponse:
        """Every contact of the tenant as CSV (supervisors and admins)."""
        text = contacts.contacts_csv(user=_user(request))
        response = HttpResponse(text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="contacts.csv"'
        return response

    @extend_schema(request={"multipart/form-data": ContactImportSerializer}, responses=ContactImportResultSerializer)
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser, FormParser])
    def import_csv(self, request: Request) -> Response:
        """Create or update contacts from CSV (supervisors and admins): all rows or none."""
        body = ContactImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            text = body.validated_data["file"].read().decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("The file is not UTF-8 text.", extra={"fields": {"file": ["Not UTF-8."]}}) from None
        return Response(contacts.contacts_import(user=_user(request), text=text))


class ContactNoteDeleteView(APIView):
    """``DELETE /api/contacts/{id}/notes/{note_id}/``: its author, or a supervisor or admin."""

    @extend_schema(responses={204: None})
    def delete(self, request: Request, contact_id: int, note_id: int) -> Response:
        contacts.contact_note_delete(user=_user(request), contact_id=contact_id, note_id=note_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConversationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Conversations the caller may see: the whole tenant for supervisors and admins; for agents,
    their own plus the unassigned ones."""

    serializer_class = ConversationSerializer
    pagination_class = InboxPagination
    queryset = Conversation.objects.none()  # for the schema; get_queryset scopes every request
    lookup_value_regex = r"[0-9]+"  # /api/conversations/bulk/ (flow) is not a conversation

    def get_queryset(self) -> QuerySet[Conversation]:
        if self.action != "list":
            return access.conversations_visible_to(user=_user(self.request)).select_related("contact", "assignee")
        filters = ConversationFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.conversation_list(user=_user(self.request), **filters.validated_data)

    def get_object(self) -> Conversation:
        # Reading one conversation also admits one the caller was mentioned in; changing it does not.
        return access.conversation_for_user(
            user=_user(self.request), conversation_id=self.kwargs["pk"], read_only=self.action == "retrieve"
        )

    @extend_schema(parameters=[ConversationFilterSerializer])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def _answer(self, conversation: Conversation) -> Response:
        return Response(ConversationSerializer(conversation, context={"request": self.request}).data)

    @extend_schema(request=ConversationPatchSerializer, responses=ConversationSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Change a conversation's labels: ``{"labels": [ids]}``, all of them. Any staff member
        who may see the conversation may; the change is announced as ``conversation.updated``."""
        self.get_object()  # visibility first: a foreign conversation is a 404 whatever the body says
        body = ConversationPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        conversation = labels.conversation_labels_set(
            user=_user(request), conversation_id=pk, label_ids=body.validated_data["labels"]
        )
        return self._answer(conversation)

    @extend_schema(request=None, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str) -> Response:
        conversation = services.conversation_mark_read(conversation=self.get_object(), actor=_user(request))
        return self._answer(conversation)


class ConversationMessagesView(APIView):
    """History of a conversation (GET) and sending a text message (POST)."""

    @extend_schema(
        parameters=[MessagePageSerializer],
        responses=inline_serializer(
            "MessagePage",
            {
                "results": MessageSerializer(many=True),
                "has_more": serializers.BooleanField(),
                "next": serializers.CharField(allow_null=True),
                "has_more_before": serializers.BooleanField(
                    required=False, help_text="With around: older messages exist (before= the first id)."
                ),
                "has_more_after": serializers.BooleanField(
                    required=False, help_text="With around: newer messages exist (after= the last id)."
                ),
            },
        ),
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = access.conversation_for_user(
            user=_user(request), conversation_id=conversation_id, read_only=True
        )
        params = MessagePageSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        before, after, limit = (params.validated_data.get(k) for k in ("before", "after", "limit"))
        around = params.validated_data.get("around")
        if around:
            rows, more_before, more_after = selectors.message_page_around(
                conversation=conversation, around=around, limit=limit
            )
            return Response(
                {
                    "results": MessageSerializer(rows, many=True).data,
                    "has_more": more_before or more_after,
                    "next": None,
                    "has_more_before": more_before,
                    "has_more_after": more_after,
                }
            )
        rows, has_more = selectors.message_page(conversation=conversation, before=before, after=after, limit=limit)
        next_url = None
        if has_more and rows:
            key = "after" if after else "before"
            next_url = request.build_absolute_uri(f"{request.path}?{urlencode({key: rows[-1].pk, 'limit': limit})}")
        return Response({"results": MessageSerializer(rows, many=True).data, "has_more": has_more, "next": next_url})

    @extend_schema(
        request=MessageCreateSerializer,
        responses={201: MessageSerializer, 200: MessageSerializer},
        parameters=[OpenApiParameter("conversation_id", int, OpenApiParameter.PATH)],
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        # Visibility first: a foreign conversation is a 404 whatever the body says.
        access.conversation_for_user(user=_user(request), conversation_id=conversation_id)
        body = MessageCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        message, created = services.message_create_outbound_text(
            user=_user(request), conversation_id=conversation_id, **body.validated_data
        )
        return Response(
            MessageSerializer(message).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class NoteCreateView(APIView):
    """``POST /api/conversations/{id}/notes/``: an internal note, seen by staff only; teammates
    it names with ``@name`` (or by id in ``mentions``) are notified."""

    @extend_schema(request=NoteCreateSerializer, responses={201: MessageSerializer})
    def post(self, request: Request, conversation_id: int) -> Response:
        # Visibility first: a conversation the caller may not see is a 404 whatever the body says.
        access.conversation_for_user(user=_user(request), conversation_id=conversation_id)
        body = NoteCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = services.note_create(
            user=_user(request),
            conversation_id=conversation_id,
            text=body.validated_data["text"],
            mentions=body.validated_data["mentions"],
        )
        return Response(MessageSerializer(note).data, status=status.HTTP_201_CREATED)
