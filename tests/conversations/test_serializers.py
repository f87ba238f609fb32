"""conversations.serializers.ModelSerializer: fields built from the model once per class, each
serializer with its own copies, the same output as building them every time."""

import pytest
from rest_framework import serializers as drf

from conversations.serializers import ConversationSerializer, MessageSerializer
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def cold(monkeypatch):
    """Forget the fields built so far, and count the fields built from the model from now on."""
    for cls in (ConversationSerializer, MessageSerializer):
        monkeypatch.setattr(cls, "_built_fields", None)
    built = []
    original = drf.ModelSerializer.build_field
    monkeypatch.setattr(drf.ModelSerializer, "build_field", lambda self, *a: built.append(a[0]) or original(self, *a))
    return built


def test_fields_are_built_once_per_class_and_give_the_same_output(cold, tenant, agent):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    message = factories.MessageFactory(conversation=conversation, tenant=tenant)
    first = ConversationSerializer(conversation).data
    built_once = len(cold)
    assert built_once > 0
    again = [ConversationSerializer(conversation).data for _ in range(3)]
    assert len(cold) == built_once
    assert again == [first] * 3
    assert first["contact"]["id"] == conversation.contact_id and first["assignee"]["id"] == agent.pk
    assert MessageSerializer(message).data["id"] == message.pk


def test_each_serializer_has_fields_of_its_own(cold, tenant):
    one, two = ConversationSerializer(), ConversationSerializer()
    assert one.fields["status"] is not two.fields["status"]
    assert one.fields["status"].parent is one and two.fields["status"].parent is two
    assert one.fields["contact"].fields["id"] is not two.fields["contact"].fields["id"]


def test_reading_attributes_directly_gives_what_drf_gives(tenant, agent, monkeypatch):
    """The direct reads of ``ModelSerializer.to_representation`` against DRF's own, for every
    serializer of the API and events, with the cases DRF handles itself: a method as source
    (``get_full_name``), a method field, a property, a null relation, timestamps and JSON."""
    from django.utils import timezone

    from conversations import serializers as ours
    from conversations.models import Channel, Direction, MessageStatus
    from flow import serializers as flow_serializers

    conversation = factories.ConversationFactory(
        tenant=tenant, assignee=agent, channel=Channel.WHATSAPP, last_customer_message_at=timezone.now()
    )
    unassigned = factories.ConversationFactory(tenant=tenant, assignee=None)
    failed = factories.MessageFactory(
        conversation=conversation,
        tenant=tenant,
        direction=Direction.OUTBOUND,
        status=MessageStatus.FAILED,
        error_code=131047,
        error_title="Re-engagement message",
    )
    plain = factories.MessageFactory(conversation=unassigned, tenant=tenant)
    cases = [
        (ours.ConversationSerializer, conversation),
        (ours.ConversationSerializer, unassigned),
        (ours.MessageSerializer, failed),
        (ours.MessageSerializer, plain),
        (ours.ContactSerializer, conversation.contact),
        (ours.UserBriefSerializer, agent),
        (flow_serializers.AgentSerializer, agent),
        (ours.MeSerializer, agent),
        (ours.TenantSerializer, tenant),
    ]
    fast = [cls(instance).data for cls, instance in cases]
    with timezone.override("America/Sao_Paulo"):  # timestamps follow the active time zone
        fast_brt = [cls(instance).data for cls, instance in cases]
    monkeypatch.setattr(ours.ModelSerializer, "to_representation", drf.Serializer.to_representation)
    slow = [cls(instance).data for cls, instance in cases]
    with timezone.override("America/Sao_Paulo"):
        slow_brt = [cls(instance).data for cls, instance in cases]
    assert fast == slow
    assert fast_brt == slow_brt and fast_brt != fast
    assert fast[0]["created_at"].endswith("Z") and fast_brt[0]["created_at"].endswith("-03:00")
    assert fast[0]["assignee"]["name"] == agent.get_full_name() and fast[1]["assignee"] is None
    assert fast[0]["window_expires_at"] is not None and fast[2]["error"]
    many = ours.ConversationSerializer([conversation, unassigned], many=True).data
    assert many == slow[:2]
    monkeypatch.undo()
    kept = [ours.representation(cls, instance) for cls, instance in cases[:4]]  # the events' way
    assert kept == slow[:4] and all(type(data) is dict for data in kept)
