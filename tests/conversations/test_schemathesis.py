"""Every operation of the OpenAPI schema, with generated valid and invalid input, as a real
client would send it: no 500, and errors in the API's JSON shape."""

import json

import pytest
import schemathesis
from django.core.serializers.json import DjangoJSONEncoder
from hypothesis import HealthCheck, settings

from tests import factories
from tests.conftest import access_token_for

# About 4,100 requests over the schema's 67 operations (counted 2026-12-06): schemathesis's coverage
# phase (every parameter's boundaries, wrong types, missing fields, undeclared methods:
# deterministic, most of them) and 6 generated examples per operation and mode for the rest
# (max_examples). Run once, in the PostgreSQL pass of `make test`.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def api_schema() -> schemathesis.BaseSchema:
    from drf_spectacular.generators import SchemaGenerator

    raw = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(json.loads(json.dumps(raw, cls=DjangoJSONEncoder)))


# One test per operation, so that parallel runs spread them over their processes. The schema is
# built when the module is collected, but each operation's Hypothesis test (its coverage cases
# above all) only when it runs: schemathesis's own ``schema.parametrize()`` computes every
# operation's ~50 coverage cases at collection, about a minute of CPU that each process collecting
# the suite paid again (every xdist worker, and the SQLite pass that then deselects them). What
# ``_hypothesis_test`` calls is what that plugin calls per operation (schemathesis 4.1, pinned).
schema = api_schema()
OPERATIONS = {result.ok().label: result.ok() for result in schema.get_all_operations()}


def _hypothesis_test(operation, test_func):
    from schemathesis.checks import load_all_checks
    from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test

    load_all_checks()
    phases = schema.config.phases_for(operation=operation)
    modes = [
        mode
        for mode, phase in (
            (HypothesisTestMode.EXAMPLES, phases.examples),
            (HypothesisTestMode.FUZZING, phases.fuzzing),
            (HypothesisTestMode.COVERAGE, phases.coverage),
        )
        if phase.enabled
    ]
    config = HypothesisTestConfig(
        modes=modes, settings=schema.config.get_hypothesis_settings(operation=operation), project=schema.config
    )
    return create_test(operation=operation, test_func=test_func, config=config)


@pytest.fixture
def supervisor_token(supervisor, tenant):
    # Some data so that ids in generated paths sometimes exist.
    for _ in range(3):
        conversation = factories.ConversationFactory(tenant=tenant)
        factories.MessageFactory(conversation=conversation)
    return access_token_for(supervisor)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def _no_server_error(case, base_url, token):
    response = case.call(base_url=base_url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    content_type = str(response.headers.get("content-type", ""))
    if response.status_code >= 400 and "application/json" in content_type:
        body = response.json()
        assert {"code", "message"} <= set(body), body


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_no_server_errors(operation, live_server, supervisor_token):
    run = _hypothesis_test(OPERATIONS[operation], _no_server_error)
    run(base_url=live_server.url, token=supervisor_token)
