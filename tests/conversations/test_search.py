"""Search inside the inbox: messages, captions, notes, contact names and numbers, limited by the
audience rule, ranked, highlighted (HTML-safe), with a constant number of queries; a hit opens
the history around its message."""

import pytest
from django.db import connection

from conversations.models import Attachment, ContactNote, SenderType
from tests import factories

pytestmark = pytest.mark.django_db

on_postgres = pytest.mark.postgres  # full-text search is PostgreSQL's: the SQLite pass leaves these out


def msg(conversation, text, **fields):
    return factories.MessageFactory(conversation=conversation, content={"text": text}, **fields)


def found(client, q, **params):
    response = client.get("/api/search/", {"q": q, **params})
    assert response.status_code == 200, response.content
    return response.json()


def test_an_agent_finds_only_what_they_may_see(api_for, tenant, other_tenant, agent, agent2, supervisor):
    mine = factories.ConversationFactory(tenant=tenant, assignee=agent)
    queued = factories.ConversationFactory(tenant=tenant)
    theirs = factories.ConversationFactory(tenant=tenant, assignee=agent2)
    foreign = factories.ConversationFactory(tenant=other_tenant)
    hits = {c.pk: msg(c, "the parcel never arrived").pk for c in (mine, queued, theirs, foreign)}
    agent_hits = {h["message"]["id"] for h in found(api_for(agent), "parcel")["messages"]}
    assert agent_hits == {hits[mine.pk], hits[queued.pk]}
    supervisor_hits = {h["message"]["id"] for h in found(api_for(supervisor), "parcel")["messages"]}
    assert supervisor_hits == {hits[mine.pk], hits[queued.pk], hits[theirs.pk]}
    foreign_admin = factories.UserFactory(tenant=other_tenant, role="admin")
    assert {h["message"]["id"] for h in found(api_for(foreign_admin), "parcel")["messages"]} == {hits[foreign.pk]}


def test_captions_and_notes_are_found_and_system_lines_are_not(api_for, tenant, supervisor):
    conversation = factories.ConversationFactory(tenant=tenant)
    caption = factories.MessageFactory(conversation=conversation, type="image", content={"caption": "invoice photo"})
    note = msg(conversation, "invoice checked with finance", internal=True, sender_type=SenderType.AGENT)
    msg(conversation, "invoice assigned", internal=True, sender_type=SenderType.SYSTEM)
    hits = found(api_for(supervisor), "invoice")["messages"]
    assert {h["message"]["id"] for h in hits} == {caption.pk, note.pk}
    assert all("<mark>" in h["highlight"].lower() for h in hits)
    assert hits[0]["conversation"]["id"] == conversation.pk


def test_highlights_are_html_safe(api_for, tenant, supervisor):
    conversation = factories.ConversationFactory(tenant=tenant)
    msg(conversation, "<script>alert(1)</script> refund please, 5 < 10 & <b>x</b>")
    [hit] = found(api_for(supervisor), "refund")["messages"]
    assert "<mark>refund</mark>" in hit["highlight"]
    # PostgreSQL's headline drops tags, the plain one escapes them: either way no markup but <mark>.
    assert "<" not in hit["highlight"].replace("<mark>", "").replace("</mark>", "")


def test_contacts_by_name_number_and_note(api_for, tenant, agent, agent2):
    named = factories.ContactFactory(tenant=tenant, name="Joana Prado", wa_id="5511988887777", phone="+5511988887777")
    noted = factories.ContactFactory(tenant=tenant, name="Someone")
    hidden = factories.ContactFactory(tenant=tenant, name="Joana Hidden")
    mine = factories.ConversationFactory(tenant=tenant, contact=named, assignee=agent)
    factories.ConversationFactory(tenant=tenant, contact=noted, assignee=agent)
    factories.ConversationFactory(tenant=tenant, contact=hidden, assignee=agent2)
    ContactNote.objects.create(tenant=tenant, contact=noted, text="prefers Joana's team")
    client = api_for(agent)
    contacts = found(client, "joana")["contacts"]
    assert {c["id"] for c in contacts} == {named.pk, noted.pk}  # not another agent's customer
    assert {c["latest_conversation_id"] for c in contacts if c["id"] == named.pk} == {mine.pk}
    assert [c["id"] for c in found(client, "98888")["contacts"]] == [named.pk]


def test_search_runs_a_constant_number_of_queries(api_for, tenant, supervisor, django_assert_max_num_queries):
    client = api_for(supervisor)
    conversations = 0
    for count in (2, 12):
        conversations += count
        for _ in range(count):
            conversation = factories.ConversationFactory(tenant=tenant)
            msg(conversation, "delivery delayed again", sender=supervisor, sender_type=SenderType.AGENT)
            photo = factories.MessageFactory(conversation=conversation, type="image", content={"caption": "delivery"})
            Attachment.objects.create(tenant_id=tenant.pk, message=photo, mime_type="image/jpeg")
        # The user; the newest matches (this word, rare among the newest messages: its matches
        # in the whole history, without parallel workers); the page with its highlights and the
        # files of its media messages (PostgreSQL); contacts by their fields, by their notes,
        # then the contacts (none here).
        with django_assert_max_num_queries(7):
            body = found(client, "delivery", limit=50)
        assert len(body["messages"]) == 2 * conversations
        assert sum(h["message"]["media"] is not None for h in body["messages"]) == conversations


def test_bad_queries_are_refused(api_for, supervisor):
    client = api_for(supervisor)
    for params in ({}, {"q": ""}, {"q": "x", "limit": 0}, {"q": "x" * 201}):
        response = client.get("/api/search/", params)
        assert response.status_code == 400 and response.json()["code"] == "invalid", params


@on_postgres
def test_postgres_stems_portuguese_and_english_and_ranks(api_for, tenant, supervisor):
    conversation = factories.ConversationFactory(tenant=tenant)
    pt = msg(conversation, "Meus pedidos não chegaram")
    en = msg(conversation, "My orders were cancelled")
    msg(conversation, "nothing to see here")
    client = api_for(supervisor)
    assert [h["message"]["id"] for h in found(client, "pedido")["messages"]] == [pt.pk]
    assert [h["message"]["id"] for h in found(client, "order")["messages"]] == [en.pk]
    twice = msg(conversation, "refund refund refund, the refund please")
    once = msg(conversation, "a long message about many things and one refund among them all")
    hits = found(client, "refund")["messages"]
    assert [h["message"]["id"] for h in hits] == [twice.pk, once.pk]
    assert hits[0]["rank"] > hits[1]["rank"]
    assert "<mark>" in hits[0]["highlight"]


@on_postgres
def test_postgres_search_can_use_the_full_text_index():
    from conversations.search import MATCH_SQL

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f'EXPLAIN SELECT id FROM "conversations_message" WHERE {MATCH_SQL}', ["x", "x"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "msg_search_idx" in plan, plan


def test_history_opens_around_a_message(api_for, tenant, agent, agent2):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    ids = [msg(conversation, f"m{i}").pk for i in range(10)]
    client = api_for(agent)
    url = f"/api/conversations/{conversation.pk}/messages/"
    page = client.get(url, {"around": ids[5], "limit": 4}).json()
    assert [m["id"] for m in page["results"]] == ids[3:7]
    assert page["has_more_before"] and page["has_more_after"]
    edge = client.get(url, {"around": ids[0], "limit": 4}).json()
    assert [m["id"] for m in edge["results"]] == ids[0:4] and not edge["has_more_before"]
    assert client.get(url, {"around": ids[5], "before": ids[5]}).status_code == 400
    other = factories.MessageFactory()
    assert client.get(url, {"around": other.pk}).status_code == 404
    assert api_for(agent2).get(url, {"around": ids[5]}).status_code == 404


@on_postgres
def test_a_common_word_is_taken_from_the_newest_messages_and_a_rare_one_from_all(
    api_for, tenant, supervisor, monkeypatch
):
    from conversations import search

    monkeypatch.setattr(search, "RECENT_WINDOW", 4)
    monkeypatch.setattr(search, "CANDIDATES", 3)
    conversation = factories.ConversationFactory(tenant=tenant)
    rare = msg(conversation, "the rare word xylophone")
    common = [msg(conversation, f"order {i}").pk for i in range(6)]
    client = api_for(supervisor)
    # Enough matches among the newest four: those three, the older ones not even looked at.
    assert sorted(h["message"]["id"] for h in found(client, "order")["messages"]) == common[-3:]
    # None among the newest: found in the rest of the history.
    assert [h["message"]["id"] for h in found(client, "xylophone")["messages"]] == [rare.pk]


@on_postgres
def test_an_agent_gets_their_newest_matches_under_a_word_common_in_the_tenant(
    api_for, tenant, agent, agent2, monkeypatch
):
    from conversations import search

    monkeypatch.setattr(search, "RECENT_WINDOW", 4)
    monkeypatch.setattr(search, "CANDIDATES", 3)
    mine = factories.ConversationFactory(tenant=tenant, assignee=agent)
    theirs = factories.ConversationFactory(tenant=tenant, assignee=agent2)
    own = [msg(mine, f"order {i}").pk for i in range(5)]
    rare = msg(mine, "the rare word xylophone")
    for i in range(6):  # the tenant's newest messages, all another agent's
        msg(theirs, f"order {i}")
    client = api_for(agent)
    # Common among the tenant's newest four, none of them the agent's: their own newest three.
    assert sorted(h["message"]["id"] for h in found(client, "order")["messages"]) == own[-3:]
    assert [h["message"]["id"] for h in found(client, "xylophone")["messages"]] == [rare.pk]
    assert found(api_for(agent2), "xylophone")["messages"] == []


def test_a_user_of_no_tenant_finds_nothing(api_for, tenant):
    from conversations.search import contact_search, message_search

    msg(factories.ConversationFactory(tenant=tenant), "the parcel never arrived")
    operator = factories.UserFactory(tenant=None, is_staff=True, is_superuser=True)
    assert api_for(operator).get("/api/search/", {"q": "parcel"}).status_code == 403
    assert message_search(user=operator, q="parcel") == [] and contact_search(user=operator, q="parcel") == []
