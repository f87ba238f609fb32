"""Mentions in internal notes: the teammate named is notified (durable, with an unread count and
list), may then read the conversation though it is not theirs, and may not change it."""

import pytest

from conversations.models import ConversationMention, Message, Role
from realtime.models import Event
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana(tenant):
    return factories.UserFactory(tenant=tenant, role=Role.AGENT, name="Ana Souza", email="ana.souza@example.test")


def note(client, conversation, text, **extra):
    response = client.post(f"/api/conversations/{conversation.pk}/notes/", {"text": text, **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_mention_notifies_the_teammate_alone(api_for, tenant, agent, agent2, ana):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    written = note(api_for(agent), conversation, "@ana can you check the refund? cc @nobody")
    mention = ConversationMention.objects.get()
    assert (mention.user_id, mention.message_id, mention.author_id) == (ana.pk, written["id"], agent.pk)
    event = Event.objects.get(type="notification")
    assert (event.audience, event.user_id) == ("user", ana.pk)
    assert event.data["conversation_id"] == conversation.pk and event.data["author"]["id"] == agent.pk
    client = api_for(ana)
    assert client.get("/api/notifications/unread-count/").json() == {"unread": 1}
    [listed] = client.get("/api/notifications/").json()["results"]
    assert listed["kind"] == "mention" and "refund" in listed["text"] and listed["read_at"] is None
    assert api_for(agent2).get("/api/notifications/").json()["results"] == []
    assert api_for(agent2).get("/api/notifications/unread-count/").json() == {"unread": 0}


def test_names_emails_and_ids_all_mention_and_the_author_is_never_notified(api_for, tenant, agent, agent2, ana):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    note(
        api_for(agent), conversation, "@AnaSouza @ana.souza and me @" + agent.email.split("@")[0], mentions=[agent2.pk]
    )
    assert sorted(ConversationMention.objects.values_list("user_id", flat=True)) == sorted([ana.pk, agent2.pk])


def test_a_mentioned_agent_reads_the_conversation_but_cannot_change_it(api_for, tenant, agent, ana):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    factories.MessageFactory(conversation=conversation, content={"text": "customer complaint"})
    client = api_for(ana)
    assert client.get(f"/api/conversations/{conversation.pk}/").status_code == 404  # not yet
    note(api_for(agent), conversation, "@ana have a look")
    assert client.get(f"/api/conversations/{conversation.pk}/").status_code == 200
    history = client.get(f"/api/conversations/{conversation.pk}/messages/")
    assert history.status_code == 200 and len(history.json()["results"]) == 2
    hits = client.get("/api/search/", {"q": "complaint"}).json()["messages"]
    assert [h["conversation"]["id"] for h in hits] == [conversation.pk]
    count = Message.objects.count()
    for path, body in (
        ("messages/", {"text": "hi"}),
        ("notes/", {"text": "hi"}),
        ("read/", {}),
        ("resolve/", {}),
        ("pending/", {}),
        ("assign/", {"assignee_id": ana.pk}),
    ):
        response = client.post(f"/api/conversations/{conversation.pk}/{path}", body, format="json")
        assert response.status_code == 404, (path, response.status_code)
    assert client.patch(f"/api/conversations/{conversation.pk}/", {"labels": []}, format="json").status_code == 404
    assert Message.objects.count() == count
    # Not in their inbox list: a look, not a seat.
    assert client.get("/api/conversations/").json()["results"] == []


def test_reading_notifications(api_for, tenant, agent, ana, foreign_admin):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    for text in ("@ana one", "@ana two", "@ana three"):
        note(api_for(agent), conversation, text)
    client = api_for(ana)
    first = ConversationMention.objects.order_by("id").first()
    assert api_for(agent).post(f"/api/notifications/{first.pk}/read/").status_code == 404
    assert api_for(foreign_admin).post(f"/api/notifications/{first.pk}/read/").status_code == 404
    assert client.post(f"/api/notifications/{first.pk}/read/").json() == {"marked": 1, "unread": 2}
    read = Event.objects.get(type="notification.read")
    assert (read.user_id, read.data["id"]) == (ana.pk, first.pk)
    assert len(client.get("/api/notifications/", {"unread": "true"}).json()["results"]) == 2
    assert client.post("/api/notifications/read-all/").json() == {"marked": 2, "unread": 0}
    assert client.get("/api/notifications/unread-count/").json() == {"unread": 0}


def test_notification_list_runs_a_constant_number_of_queries(api_for, tenant, agent, ana, django_assert_num_queries):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    client = api_for(ana)
    for count in (2, 10):
        while ConversationMention.objects.count() < count:
            note(api_for(agent), conversation, "@ana again")
        with django_assert_num_queries(2):  # the user, then the page with its notes and authors
            assert len(client.get("/api/notifications/").json()["results"]) == count
