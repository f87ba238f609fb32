"""REST API of the domain: conversations, their messages and notes, contacts. Views validate input,
call one selector or service, and serialise the result."""

from typing import Any, cast
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.authentication import BaseAuthentication
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from conversations import access, contacts, files, labels, selectors, services
from conversations.models import Attachment, Contact, Conversation, MediaStatus, Message, User
from conversations.permissions import IsTenantStaff, staff_user
from conversations.serializers import (
    ContactFilterSerializer,
    ContactSerializer,
    ConversationFilterSerializer,
    ConversationSerializer,
    ConversationStartSerializer,
    MediaMessageCreateSerializer,
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
from pytake.errors import ErrorCode, InvalidInput, NotFound, error_body
from pytake.pagination import StrictCursorPagination


class InboxPagination(StrictCursorPagination):
    ordering = ("-last_message_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class NamePagination(StrictCursorPagination):
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
        filters = ContactFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.contact_list(user=staff_user(self.request), search=filters.validated_data.get("search"))

    def get_object(self) -> Contact:
        return contacts.contact_for_user(user=staff_user(self.request), contact_id=self.kwargs["pk"])

    @extend_schema(request=ContactUpdateSerializer, responses=ContactSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Name and custom attribute values (checked against each field's type:
        ``invalid_attribute`` names the wrong ones, and nothing changes)."""
        self.get_object()  # visibility first
        body = ContactUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contact = contacts.contact_update(user=staff_user(request), contact_id=pk, **body.validated_data)
        return Response(ContactSerializer(contact).data)

    @extend_schema(methods=["GET"], responses=ContactNoteSerializer(many=True))
    @extend_schema(methods=["POST"], request=TextSerializer, responses={201: ContactNoteSerializer})
    @action(detail=True, methods=["get", "post"])
    def notes(self, request: Request, pk: str) -> Response:
        """Notes about the contact, newest first; any staff member who sees the contact adds one."""
        if request.method == "GET":
            rows = contacts.contact_notes(user=staff_user(request), contact_id=pk)[:200]
            return Response(ContactNoteSerializer(rows, many=True).data)
        self.get_object()  # visibility first
        body = TextSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = contacts.contact_note_create(user=staff_user(request), contact_id=pk, text=body.validated_data["text"])
        return Response(ContactNoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=ConversationSerializer(many=True))
    @action(detail=True, methods=["get"])
    def conversations(self, request: Request, pk: str) -> Response:
        """The contact's conversations the caller may read, newest first (at most 100)."""
        rows = contacts.contact_conversations(user=staff_user(request), contact_id=pk)[:100]
        return Response(ConversationSerializer(rows, many=True).data)

    @extend_schema(request=ContactMergeSerializer, responses=ContactSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str) -> Response:
        """Merge ``merge_id`` into this contact (supervisors and admins; audited)."""
        self.get_object()  # visibility first
        body = ContactMergeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contact = contacts.contacts_merge(
            user=staff_user(request), keep_id=pk, merge_id=body.validated_data["merge_id"]
        )
        return Response(ContactSerializer(contact).data)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"])
    def export(self, request: Request) -> HttpResponse:
        """Every contact of the tenant as CSV (supervisors and admins)."""
        text = contacts.contacts_csv(user=staff_user(request))
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
        return Response(contacts.contacts_import(user=staff_user(request), text=text))


class ContactNoteDeleteView(APIView):
    """``DELETE /api/contacts/{id}/notes/{note_id}/``: its author, or a supervisor or admin."""

    @extend_schema(responses={204: None})
    def delete(self, request: Request, contact_id: int, note_id: int) -> Response:
        contacts.contact_note_delete(user=staff_user(request), contact_id=contact_id, note_id=note_id)
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
            return access.conversations_visible_to(user=staff_user(self.request)).select_related("contact", "assignee")
        filters = ConversationFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.conversation_list(user=staff_user(self.request), **filters.validated_data)

    def get_object(self) -> Conversation:
        # Reading one conversation also admits one the caller was mentioned in; changing it does not.
        return access.conversation_for_user(
            user=staff_user(self.request), conversation_id=self.kwargs["pk"], read_only=self.action == "retrieve"
        )

    @extend_schema(parameters=[ConversationFilterSerializer])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def _answer(self, conversation: Conversation) -> Response:
        return Response(ConversationSerializer(conversation, context={"request": self.request}).data)

    @extend_schema(
        request=ConversationStartSerializer,
        responses={
            201: inline_serializer(
                "ConversationStarted", {"conversation": ConversationSerializer(), "message": MessageSerializer()}
            ),
            200: inline_serializer(
                "ConversationStartedBefore", {"conversation": ConversationSerializer(), "message": MessageSerializer()}
            ),
        },
    )
    def create(self, request: Request) -> Response:
        """Write first to a customer with an approved template: ``phone`` (E.164), ``name``,
        ``number_id`` when the tenant has several numbers. The contact is created or reused; a
        contact already in a conversation on that number gets that conversation. It lands with
        the caller when nobody has it. The same ``client_id`` again answers 200 with the first."""
        body = ConversationStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        message, created = services.conversation_start(
            user=staff_user(request),
            channel=data["channel"],
            phone=data["phone"],
            name=data["name"],
            number_id=data.get("number_id"),
            template=data["template"],
            client_id=data.get("client_id"),
        )
        conversation = access.conversation_for_user(user=staff_user(request), conversation_id=message.conversation_id)
        return Response(
            {
                "conversation": ConversationSerializer(conversation, context={"request": request}).data,
                "message": MessageSerializer(message).data,
            },
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(request=ConversationPatchSerializer, responses=ConversationSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Change a conversation's labels: ``{"labels": [ids]}``, all of them. Any staff member
        who may see the conversation may; the change is announced as ``conversation.updated``."""
        self.get_object()  # visibility first: a foreign conversation is a 404 whatever the body says
        body = ConversationPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        conversation = labels.conversation_labels_set(
            user=staff_user(request), conversation_id=pk, label_ids=body.validated_data["labels"]
        )
        return self._answer(conversation)

    @extend_schema(request=None, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str) -> Response:
        conversation = services.conversation_mark_read(conversation=self.get_object(), actor=staff_user(request))
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
            user=staff_user(request), conversation_id=conversation_id, read_only=True
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
        request={"application/json": MessageCreateSerializer, "multipart/form-data": MediaMessageCreateSerializer},
        responses={201: MessageSerializer, 200: MessageSerializer},
        parameters=[OpenApiParameter("conversation_id", int, OpenApiParameter.PATH)],
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        # Visibility first: a foreign conversation is a 404 whatever the body says (and its file
        # is never read).
        access.conversation_for_user(user=staff_user(request), conversation_id=conversation_id)
        if request.content_type.startswith("multipart/"):
            return self._post_file(request, conversation_id)
        body = MessageCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if "template" in data:
            message, created = services.message_create_outbound_template(
                user=staff_user(request),
                conversation_id=conversation_id,
                template=data["template"],
                client_id=data.get("client_id"),
            )
        else:
            message, created = services.message_create_outbound_text(
                user=staff_user(request),
                conversation_id=conversation_id,
                text=data["text"],
                client_id=data.get("client_id"),
                reply_to=data.get("reply_to"),
            )
        return Response(
            MessageSerializer(message).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    def _post_file(self, request: Request, conversation_id: int) -> Response:
        refuse_oversized_body(request)
        body = MediaMessageCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        checked = services.media_upload_read(
            upload=upload, filename=upload.name or "", declared_type=upload.content_type or ""
        )
        message, created = services.message_create_outbound_media(
            user=staff_user(request),
            conversation_id=conversation_id,
            upload=checked,
            caption=body.validated_data.get("text", ""),
            client_id=body.validated_data.get("client_id"),
        )
        return Response(
            MessageSerializer(message).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


def refuse_oversized_body(request: Request) -> None:
    """Refuse an upload by its declared length before its body is read."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = int(settings.PYTAKE_MEDIA_UPLOAD_MAX_BYTES)
    if length > limit + 64 * 1024:  # the form's own fields and boundaries
        raise InvalidInput(
            f"The file is larger than {limit // (1024 * 1024)} MB, the most PyTake accepts.",
            code=ErrorCode.FILE_TOO_LARGE,
            extra={"max_bytes": limit},
        )


class MediaAuthentication(BaseAuthentication):
    """The project's staff authentication (``DEFAULT_AUTHENTICATION_CLASSES``), or a channel's own
    customer token (web chat registers its authentication in
    ``conversations.files.customer_authentication_register``): the file URL is the same for
    everyone who may read the message. A token one scheme refuses is tried with the others."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        failure: exceptions.AuthenticationFailed | None = None
        # The project's staff authentication (its revocation checks included), then the channels'.
        classes = cast(list[type[BaseAuthentication]], api_settings.DEFAULT_AUTHENTICATION_CLASSES)
        staff = [cls() for cls in classes]
        for authenticator in [*staff, *(cls() for cls in files.customer_authentications())]:
            try:
                found = authenticator.authenticate(request)
            except exceptions.AuthenticationFailed as exc:
                failure = failure or exc
                continue
            if found is not None:
                return found
        if failure is not None:
            raise failure
        return None

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class MediaAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Documents the file endpoints' authentication: a bearer token, staff JWT or web chat's."""

    target_class = "conversations.views.MediaAuthentication"
    name = "mediaBearer"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A staff access token, or a web-chat token for the files of its conversation.",
        }


class MayReadFiles(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if isinstance(user, User):
            return IsTenantStaff().has_permission(request, view)
        return isinstance(getattr(user, "conversation_id", None), int)


def _attachment(request: Request, message_id: int) -> Attachment:
    """The file of a message the caller may read (staff: the audience rule; a web-chat customer:
    their own conversation, not internal notes), or ``NotFound``."""
    user = request.user
    if isinstance(user, User):
        attachment = access.attachment_for_user(user=user, message_id=message_id)
    else:
        conversation_id = getattr(user, "conversation_id", None)  # MayReadFiles let only a customer in
        if not isinstance(conversation_id, int):
            raise NotFound("File not found.")
        attachment = access.attachment_for_customer(conversation_id=conversation_id, message_id=message_id)
    if attachment.status != MediaStatus.READY or not attachment.file:
        raise NotFound("The file is not available yet.", extra={"status": attachment.status})
    return attachment


class MessageMediaView(APIView):
    """``GET /api/messages/{id}/media/``: the message's file, for whoever may read the message
    (another tenant's, or one not visible to the caller, is a 404 like a missing one)."""

    authentication_classes = [MediaAuthentication]
    permission_classes = [MayReadFiles]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, message_id: int) -> HttpResponseBase:
        return files.media_response(_attachment(request, message_id))


class MessageMediaLinkView(APIView):
    """``GET /api/messages/{id}/media/link/``: a URL that serves the file without credentials
    for a few minutes (``PYTAKE_MEDIA_LINK_SECONDS``), for an ``<img src>``."""

    authentication_classes = [MediaAuthentication]
    permission_classes = [MayReadFiles]

    @extend_schema(
        responses=inline_serializer(
            "MediaLink", {"url": serializers.CharField(), "expires_at": serializers.DateTimeField()}
        )
    )
    def get(self, request: Request, message_id: int) -> Response:
        url, expires = files.media_link(_attachment(request, message_id))
        return Response({"url": url, "expires_at": expires})


class MessageMediaRetryView(APIView):
    """``POST /api/messages/{id}/media/retry/``: download a failed inbound file again (staff who
    may read the message); 409 ``media_not_failed`` when it did not fail."""

    @extend_schema(request=None, responses={202: MessageSerializer})
    def post(self, request: Request, message_id: int) -> Response:
        attachment = services.attachment_retry(user=staff_user(request), message_id=message_id)
        message = Message.objects.select_related("sender", "attachment").get(pk=attachment.message_id)
        return Response(MessageSerializer(message).data, status=status.HTTP_202_ACCEPTED)


def media_signed(request: HttpRequest, token: str) -> HttpResponseBase:
    """``/media/signed/<token>/``: a link from ``MessageMediaLinkView`` (signed, short-lived)."""
    attachment = files.attachment_from_link(token)
    if attachment is None or attachment.status != MediaStatus.READY:
        return JsonResponse(error_body(ErrorCode.NOT_FOUND, "The link is invalid or has expired."), status=404)
    return files.media_response(attachment)


class NoteCreateView(APIView):
    """``POST /api/conversations/{id}/notes/``: an internal note, seen by staff only; teammates
    it names with ``@name`` (or by id in ``mentions``) are notified."""

    @extend_schema(request=NoteCreateSerializer, responses={201: MessageSerializer})
    def post(self, request: Request, conversation_id: int) -> Response:
        # Visibility first: a conversation the caller may not see is a 404 whatever the body says.
        access.conversation_for_user(user=staff_user(request), conversation_id=conversation_id)
        body = NoteCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = services.note_create(
            user=staff_user(request),
            conversation_id=conversation_id,
            text=body.validated_data["text"],
            mentions=body.validated_data["mentions"],
        )
        return Response(MessageSerializer(note).data, status=status.HTTP_201_CREATED)
