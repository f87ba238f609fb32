"""Every query parameter of every list endpoint is validated: bad input is a 400 with
``{code, message}`` and changes nothing, never a 500 (on SQLite as on PostgreSQL)."""

import base64
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests import factories
from tests.conftest import access_token_for

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999999"


def cursor_of(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.fixture
def client(supervisor, tenant):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=supervisor)
    factories.MessageFactory(conversation=conversation)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(supervisor)}")
    api.conversation_id = conversation.pk
    return api


def assert_refused(response):
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    assert {"code", "message"} <= body.keys() and body["message"]


@pytest.mark.parametrize(
    "query",
    [
        {"assignee": HUGE},
        {"assignee": "-1"},
        {"assignee": "0"},
        {"cursor": "not base64!"},
        {"cursor": cursor_of("p=not-a-date&r=1")},
        {"cursor": cursor_of("o=-5")},
        {"search": "nul\x00byte"},
        {"search": "x" * 101},
        {"status": "sideways"},
        {"page_size": "abc"},
        {"page_size": HUGE},
        {"unassigned": "perhaps"},
    ],
)
def test_bad_conversation_list_parameters_are_400(client, query):
    assert_refused(client.get("/api/conversations/?" + urlencode(query)))


@pytest.mark.parametrize(
    "query",
    [
        {"search": "nul\x00byte"},
        {"search": "x" * 101},
        {"cursor": cursor_of("p=\x00&r=0")},
        {"page_size": "-3"},
    ],
)
def test_bad_contact_list_parameters_are_400(client, query):
    assert_refused(client.get("/api/contacts/?" + urlencode(query)))


@pytest.mark.parametrize(
    "query", [{"before": HUGE}, {"after": HUGE}, {"limit": HUGE}, {"before": "1", "after": "2"}, {"limit": "0"}]
)
def test_bad_message_page_parameters_are_400(client, query):
    assert_refused(client.get(f"/api/conversations/{client.conversation_id}/messages/?" + urlencode(query)))


@pytest.mark.parametrize("path", [f"/api/conversations/{HUGE}/", f"/api/conversations/{HUGE}/messages/"])
def test_an_id_out_of_range_is_not_found(client, path):
    response = client.get(path)
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_good_parameters_still_work(client, supervisor):
    assert client.get("/api/conversations/?" + urlencode({"assignee": "me", "page_size": "1"})).status_code == 200
    assert client.get(f"/api/conversations/?assignee={supervisor.pk}&unassigned=false").status_code == 200
    first = client.get("/api/contacts/?page_size=1&search=Customer")
    assert first.status_code == 200
    page = client.get("/api/conversations/?page_size=1").json()
    if page["next"]:  # a real cursor the server handed out is accepted
        assert client.get(page["next"]).status_code == 200


# --- properties: anything a client may put in a query string ---------------------------------

texts = st.text(max_size=40) | st.sampled_from([HUGE, "-" + HUGE, "0", "1", "me", "true", "1e309", "\x00"])
cursors = texts | st.builds(lambda p, o, r: cursor_of(urlencode({"p": p, "o": o, "r": r})), texts, texts, texts)
LIST_PARAMETERS = {
    "/api/conversations/": ["status", "channel", "assignee", "unassigned", "search", "cursor", "page_size"],
    "/api/contacts/": ["search", "cursor", "page_size"],
    "/api/conversations/{id}/messages/": ["before", "after", "limit"],
    "/api/queue/": [],
    "/api/agents/": [],
}


@pytest.mark.parametrize("path", list(LIST_PARAMETERS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_query_string_is_answered_without_a_server_error(client, path, data):
    names = LIST_PARAMETERS[path] + ["unknown"]
    query = data.draw(
        st.dictionaries(st.sampled_from(names), st.one_of(cursors) if "cursor" in names else texts, max_size=4)
    )
    response = client.get(path.format(id=client.conversation_id) + "?" + urlencode(query))
    # 404: a message id that is not in the conversation (``before``/``after``), as for REST ids.
    assert response.status_code in (200, 400, 404), (query, response.status_code, response.content[:300])
    if response.status_code != 200:
        assert {"code", "message"} <= response.json().keys()
