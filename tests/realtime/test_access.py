"""Access changes detected at the model layer, and what an open socket does with them (in one
process; tests/e2e/test_access_revocation.py runs the same across two server processes)."""

import pytest
from channels.db import database_sync_to_async as db

from conversations.models import Role
from pytake.asgi import application
from realtime import auth
from tests import factories
from tests.conftest import access_token_for
from tests.ws import Communicator, command, connect, expect_close


@pytest.fixture
def published(monkeypatch):
    sent = []
    monkeypatch.setattr("realtime.access.send_to_groups", lambda routes, message: sent.append((routes, message)))
    return sent


@pytest.mark.django_db
def test_only_changes_of_access_are_published_after_commit(
    published, django_capture_on_commit_callbacks, django_assert_num_queries, tenant, other_tenant
):
    user = factories.UserFactory(tenant=tenant, role=Role.SUPERVISOR)
    with django_capture_on_commit_callbacks(execute=True):
        user.name = "Renamed"
        user.availability = "away"
        user.save()
        with django_assert_num_queries(1):  # a login's last_login: no lookup of the stored row
            user.save(update_fields=["last_login"])
    assert published == []

    changes = [
        ("is_active", False),
        ("role", Role.AGENT),
        ("tenant", other_tenant),
    ]
    for field, value in changes:
        with django_capture_on_commit_callbacks(execute=True):
            setattr(user, field, value)
            user.save()
        assert published.pop() == (["access"], {"type": "realtime.access", "user_id": user.pk, "tenant_id": None})
    with django_capture_on_commit_callbacks(execute=True):
        user.set_password("another-long-pass-42")
        user.save(update_fields=["password"])
    assert published.pop()[1]["user_id"] == user.pk

    with django_capture_on_commit_callbacks(execute=True):
        tenant.name = "Renamed tenant"
        tenant.save()
    assert published == []
    with django_capture_on_commit_callbacks(execute=True):
        tenant.is_active = False
        tenant.save()
    assert published.pop()[1] == {"type": "realtime.access", "user_id": None, "tenant_id": tenant.pk}

    pk = user.pk
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert published.pop()[1]["user_id"] == pk


@pytest.mark.django_db
def test_a_rolled_back_change_publishes_nothing(published, django_capture_on_commit_callbacks, agent):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                agent.is_active = False
                agent.save()
                raise RuntimeError
        except RuntimeError:
            pass
    assert callbacks == [] and published == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_realtime")
async def test_an_open_socket_closes_4001_when_its_user_is_deactivated(agent, agent2):
    mine, theirs = await connect(agent), await connect(agent2)
    agent.is_active = False
    await db(agent.save)()
    await expect_close(mine, 4001)
    assert (await command(theirs, action="ping"))["type"] == "pong"
    await theirs.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_realtime")
async def test_a_change_between_the_token_check_and_the_subscription_still_closes(agent, monkeypatch):
    """The user is deactivated after the connecting socket's token was read and before the socket
    could hear of it (the process was not subscribed yet, so the news went nowhere): the consumer
    notices that it may have missed a change and checks the token again."""
    token = await db(access_token_for)(agent)
    check = auth.resolve_principal

    def check_then_deactivate(raw):
        principal = check(raw)
        agent.is_active = False
        agent.save()
        return principal

    monkeypatch.setattr(auth, "resolve_principal", check_then_deactivate)
    comm = Communicator(application, "/ws/", subprotocols=["bearer", token])
    connected, _ = await comm.connect(timeout=5)
    assert connected
    await expect_close(comm, 4001)
