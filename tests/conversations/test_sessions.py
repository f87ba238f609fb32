"""Sessions over REST: password change, sign-out of one session, sign-out everywhere."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import SignOut
from tests import factories

pytestmark = pytest.mark.django_db


def bearer(access):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def refresh(token):
    return APIClient().post("/api/auth/token/refresh/", {"refresh": str(token)}, format="json")


def test_logout_blacklists_the_refresh_token_without_needing_an_access_token(agent):
    token = RefreshToken.for_user(agent)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer expired-or-garbage")  # ignored here
    assert client.post("/api/auth/logout/", {"refresh": str(token)}, format="json").status_code == 204
    answer = refresh(token)
    assert answer.status_code == 401 and answer.json()["code"] == "token_not_valid"


@pytest.mark.parametrize("body", [{}, {"refresh": "not-a-token"}, {"refresh": ["x"]}])
def test_logout_with_a_bad_token_is_a_400_that_changes_nothing(agent, body):
    token = RefreshToken.for_user(agent)
    answer = APIClient().post("/api/auth/logout/", body, format="json")
    assert answer.status_code == 400
    assert {"code", "message"} <= answer.json().keys()
    assert refresh(token).status_code == 200


def test_sign_out_everywhere_refuses_every_earlier_token(agent, agent2):
    first, second = RefreshToken.for_user(agent), RefreshToken.for_user(agent)
    other = RefreshToken.for_user(agent2)
    # Access tokens taken before the sign-out (one made from a refresh token later carries a later
    # ``iat``: in the next second it would be a token issued after it).
    accesses = [str(first.access_token), str(second.access_token)]
    assert bearer(accesses[0]).post("/api/auth/logout-all/").status_code == 204
    for token, access in zip((first, second), accesses, strict=True):
        assert bearer(access).get("/api/me/").status_code == 401
        assert refresh(token).status_code == 401
    assert bearer(other.access_token).get("/api/me/").status_code == 200  # another user: untouched
    # A login after it (a second later: tokens count whole seconds) works.
    SignOut.objects.filter(user=agent).update(at=timezone.now() - timedelta(seconds=2))
    login = APIClient().post("/api/auth/token/", {"email": agent.email, "password": factories.PASSWORD}, format="json")
    assert login.status_code == 200
    assert bearer(login.json()["access"]).get("/api/me/").status_code == 200


def test_sign_out_everywhere_needs_a_valid_token():
    assert APIClient().post("/api/auth/logout-all/").status_code == 401


def test_password_change_checks_the_old_one_and_revokes_earlier_tokens(agent):
    token = RefreshToken.for_user(agent)
    client = bearer(token.access_token)
    wrong = client.post(
        "/api/auth/password/", {"old_password": "nope", "new_password": "another-long-pass-42"}, format="json"
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid"
    weak = client.post(
        "/api/auth/password/", {"old_password": factories.PASSWORD, "new_password": "123"}, format="json"
    )
    assert weak.status_code == 400
    agent.refresh_from_db()
    assert agent.check_password(factories.PASSWORD)

    done = client.post(
        "/api/auth/password/",
        {"old_password": factories.PASSWORD, "new_password": "another-long-pass-42"},
        format="json",
    )
    assert done.status_code == 200
    assert client.get("/api/me/").status_code == 401  # the token it was made with
    assert refresh(token).status_code == 401
    assert bearer(done.json()["access"]).get("/api/me/").status_code == 200
