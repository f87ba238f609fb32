"""The admin is not scoped by tenant: only superusers get in, at login and on every page."""

import pytest
from django.test import Client

from tests import factories

pytestmark = pytest.mark.django_db


def login(client: Client, user) -> int:
    client.get("/admin/login/")
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": user.email, "password": factories.PASSWORD, "next": "/admin/"},
    )
    return response.status_code


def test_a_staff_user_who_is_not_a_superuser_cannot_log_in(tenant):
    staff = factories.UserFactory(tenant=tenant, is_staff=True)
    client = Client()
    assert login(client, staff) == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_a_staff_session_sees_nothing(tenant):
    staff = factories.UserFactory(tenant=tenant, is_staff=True)
    client = Client()
    client.force_login(staff)  # however the session came to be
    for path in ["/admin/", "/admin/conversations/user/", "/admin/conversations/conversation/"]:
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], path


def test_a_superuser_logs_in_and_sees_the_admin():
    operator = factories.UserFactory(tenant=None, is_staff=True, is_superuser=True)
    client = Client()
    assert login(client, operator) == 302
    assert client.get("/admin/conversations/user/").status_code == 200
