"""REST endpoints of the service flow: the queue, taking, assigning, resolving and reopening
conversations, the staff list with load and presence, and one's own availability. Thin: validate,
call a service or selector, serialise."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView, RetrieveUpdateAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations import access, labels, selectors
from conversations.models import Conversation, User
from conversations.permissions import staff_user
from conversations.serializers import ConversationSerializer, MeSerializer
from flow import agents, assignment, moves, queue
from flow.serializers import (
    AgentSerializer,
    AssignSerializer,
    BulkAnswerSerializer,
    BulkSerializer,
    QueueEntrySerializer,
    SnoozeSerializer,
    TransferSerializer,
)
from pytake.errors import ErrorCode, InvalidInput
from realtime.presence import online_user_ids


class QueueView(APIView):
    """``GET /api/queue/``: the caller's tenant's waiting conversations, first in line first.
    Every staff member sees the queue (agents take from it)."""

    @extend_schema(
        responses=inline_serializer(
            "Queue", {"size": serializers.IntegerField(), "results": QueueEntrySerializer(many=True)}
        )
    )
    def get(self, request: Request) -> Response:
        tenant_id = staff_user(request).tenant_id
        assert tenant_id is not None
        entries = queue.queue_snapshot(tenant_id=tenant_id)
        rows = [
            {
                "position": e.position,
                "waiting_seconds": e.waiting_seconds,
                "estimated_wait_seconds": e.estimated_wait_seconds,
                "conversation": e.conversation,
            }
            for e in entries
        ]
        return Response({"size": len(rows), "results": QueueEntrySerializer(rows, many=True).data})


class MeView(RetrieveUpdateAPIView):
    """The logged-in user, with tenant and role. PATCH changes name and availability."""

    serializer_class = MeSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self) -> User:
        return staff_user(self.request)

    def perform_update(self, serializer: MeSerializer) -> None:  # type: ignore[override]
        availability = serializer.validated_data.pop("availability", None)
        user = serializer.save()
        if availability is not None:
            agents.user_set_availability(user=user, availability=availability)


class AgentListView(ListAPIView):
    """Staff of the caller's tenant (for assignment and presence)."""

    serializer_class = AgentSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[User]:
        return selectors.staff_of_tenant(user=staff_user(self.request))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        staff = list(self.get_queryset())
        online = online_user_ids([u.pk for u in staff])
        return Response(AgentSerializer(staff, many=True, context={"online": online}).data)


class ConversationMovesViewSet(viewsets.GenericViewSet):
    """Who has a conversation and whether it is done: ``/api/conversations/{id}/resolve/``,
    ``reopen/``, ``assign/``, ``transfer/``, ``pending/`` and ``snooze/``, on the conversations
    the caller may see; ``/api/conversations/bulk/`` for many at once."""

    serializer_class = ConversationSerializer
    queryset = Conversation.objects.none()  # for the schema; get_object scopes every request
    lookup_value_regex = r"[0-9]+"  # /api/conversations/bulk/ is not a conversation

    def get_object(self) -> Conversation:
        return access.conversation_for_user(user=staff_user(self.request), conversation_id=self.kwargs["pk"])

    def _answer(self, conversation: Conversation) -> Response:
        return Response(ConversationSerializer(conversation, context={"request": self.request}).data)

    @extend_schema(request=None, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        conversation = assignment.conversation_resolve(conversation=self.get_object(), actor=staff_user(request))
        return self._answer(conversation)

    @extend_schema(request=None, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str) -> Response:
        conversation = assignment.conversation_reopen(conversation=self.get_object(), actor=staff_user(request))
        return self._answer(conversation)

    @extend_schema(request=AssignSerializer, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str) -> Response:
        conversation = self.get_object()
        body = AssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assignee = _staff_member(request, body.validated_data["assignee_id"])
        conversation = assignment.conversation_assign(
            conversation=conversation, assignee=assignee, actor=staff_user(request)
        )
        return self._answer(conversation)

    @extend_schema(request=TransferSerializer, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def transfer(self, request: Request, pk: str) -> Response:
        """Hand it to another staff member or back to the queue (``assignee_id: null``) with a
        note kept as an internal note. Agents transfer their own; supervisors and admins any."""
        conversation = self.get_object()
        body = TransferSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assignee = _staff_member(request, body.validated_data["assignee_id"])
        conversation = moves.conversation_transfer(
            conversation=conversation, assignee=assignee, actor=staff_user(request), note=body.validated_data["note"]
        )
        return self._answer(conversation)

    @extend_schema(request=None, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def pending(self, request: Request, pk: str) -> Response:
        """Waiting on the customer: their next message reopens it."""
        conversation = moves.conversation_mark_pending(conversation=self.get_object(), actor=staff_user(request))
        return self._answer(conversation)

    @extend_schema(request=SnoozeSerializer, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def snooze(self, request: Request, pk: str) -> Response:
        """Set it aside until a time: it returns to open then (or when the customer writes)."""
        conversation = self.get_object()
        body = SnoozeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        conversation = moves.conversation_snooze(
            conversation=conversation, until=body.validated_data["until"], actor=staff_user(request)
        )
        return self._answer(conversation)

    @extend_schema(request=BulkSerializer, responses=BulkAnswerSerializer)
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        """One action over many conversations: ``assign`` (``assignee_id``), ``label``
        (``add_labels`` / ``remove_labels``) or ``resolve``. Each id is checked by the audience
        rule and done in its own transaction; ``results`` says, per id, whether it was done and
        why not (``not_found`` for one the caller may not see)."""
        body = BulkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data, user = body.validated_data, staff_user(request)
        if data["action"] == "assign":
            assignee = _staff_member(request, data["assignee_id"])
            results = moves.bulk_assign(user=user, ids=data["ids"], assignee=assignee)
        elif data["action"] == "label":
            assert user.tenant_id is not None
            labels.tenant_label_ids(tenant_id=user.tenant_id, label_ids=[*data["add_labels"], *data["remove_labels"]])
            results = moves.bulk_label(user=user, ids=data["ids"], add=data["add_labels"], remove=data["remove_labels"])
        else:
            results = moves.bulk_resolve(user=user, ids=data["ids"])
        failed = sum(1 for r in results if not r.ok)
        answer = {"succeeded": len(results) - failed, "failed": failed, "results": [asdict(r) for r in results]}
        return Response(BulkAnswerSerializer(answer).data)


def _staff_member(request: Request, user_id: int | None) -> User | None:
    """An active staff member of the caller's tenant (None for None); ``invalid_assignee`` else."""
    if user_id is None:
        return None
    member = selectors.staff_of_tenant(user=staff_user(request)).filter(pk=user_id).first()
    if member is None:
        raise InvalidInput(
            "No active staff member of this tenant has that id.",
            code=ErrorCode.INVALID_ASSIGNEE,
            extra={"fields": {"assignee_id": ["Unknown user."]}},
        )
    return member
