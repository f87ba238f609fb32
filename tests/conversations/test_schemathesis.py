"""Every operation of the OpenAPI schema, with generated valid and invalid input, as a real
client would send it: no 500, and errors in the API's JSON shape."""

import json

import pytest
import schemathesis
from django.core.serializers.json import DjangoJSONEncoder
from hypothesis import HealthCheck, settings

from tests import factories
from tests.conftest import access_token_for

# About 3,600 requests over the schema's 63 operations: schemathesis's coverage phase (every
# parameter's boundaries, wrong types, missing fields, undeclared methods: deterministic, about
# 3,250 of them) and 6 generated examples per operation and mode for the rest (max_examples). Run
# once, in the PostgreSQL pass of `make test`.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def api_schema() -> schemathesis.BaseSchema:
    from drf_spectacular.generators import SchemaGenerator

    raw = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(json.loads(json.dumps(raw, cls=DjangoJSONEncoder)))


# Built when the module is collected, so that each operation is a test of its own, which parallel
# runs spread over their processes.
schema = api_schema()


@pytest.fixture
def supervisor_token(supervisor, tenant):
    # Some data so that ids in generated paths sometimes exist.
    for _ in range(3):
        conversation = factories.ConversationFactory(tenant=tenant)
        factories.MessageFactory(conversation=conversation)
    return access_token_for(supervisor)


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors(case, live_server, supervisor_token):
    response = case.call(base_url=live_server.url, headers={"Authorization": f"Bearer {supervisor_token}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    content_type = str(response.headers.get("content-type", ""))
    if response.status_code >= 400 and "application/json" in content_type:
        body = response.json()
        assert {"code", "message"} <= set(body), body
