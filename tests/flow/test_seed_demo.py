"""The demo `make run` seeds: its logins and conversations, and a toolbox to try ("/" in the
composer, the labels, the contact panel's fields), made through the same checks as an admin's."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conversations.contacts import attribute_definitions
from conversations.labels import labels_of_tenant
from conversations.models import Conversation, SavedReply, User
from conversations.saved_replies import saved_replies_visible_to, unknown_variables
from flow.management.commands.seed_demo import DEMO_CONTACT_FIELDS, DEMO_LABELS, DEMO_SAVED_REPLIES

pytestmark = pytest.mark.django_db


def _seed(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())


def test_the_demo_team_has_saved_replies_labels_and_contact_fields(settings):
    _seed(settings)
    agent = User.objects.get(email="agent@demo.test")
    replies = saved_replies_visible_to(user=agent)
    assert sorted(replies.values_list("short_code", flat=True)) == sorted(code for code, _ in DEMO_SAVED_REPLIES)
    assert all(not unknown_variables(reply.content) for reply in replies)
    assert sorted(label.name for label in labels_of_tenant(user=agent)) == sorted(name for name, _, _ in DEMO_LABELS)
    admin = User.objects.get(email="admin@demo.test")
    assert sorted(attribute_definitions(user=admin).values_list("key", flat=True)) == sorted(
        key for key, *_ in DEMO_CONTACT_FIELDS
    )
    # The other tenant's people see none of it.
    other = User.objects.get(email="admin@other.test")
    assert not saved_replies_visible_to(user=other).exists()
    assert not labels_of_tenant(user=other).exists()
    assert not attribute_definitions(user=other).exists()


def test_seeding_again_changes_nothing(settings):
    _seed(settings)
    counts = (SavedReply.objects.count(), Conversation.objects.count(), User.objects.count())
    agent = User.objects.get(email="agent@demo.test")
    labels = list(labels_of_tenant(user=agent).values_list("pk", "name"))
    _seed(settings)
    assert (SavedReply.objects.count(), Conversation.objects.count(), User.objects.count()) == counts
    assert list(labels_of_tenant(user=agent).values_list("pk", "name")) == labels


def test_the_demo_is_refused_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG=1"):
        call_command("seed_demo")
    assert not SavedReply.objects.exists()
