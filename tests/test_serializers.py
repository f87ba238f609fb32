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
