"""The shipped nginx in front of two servers (deploy/stack.py): per-address limits hold (a client
cannot pick its own address with a forged ``X-Forwarded-For`` or ``X-Real-IP``; the stack runs
with PYTAKE_TRUSTED_PROXIES=1), and secrets in query strings stay out of the access log.

Clients here connect from distinct loopback addresses (127.0.0.2, 127.0.0.3, ...) to the stack's
nginx, so that "another client" really is another address as nginx sees it.
"""

import itertools
import uuid

import httpx
import pytest

from tests.e2e.test_stack import stack  # noqa: F401  (the module's stack: nginx and two servers)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
LOGIN_RATE = 10  # PYTAKE_LOGIN_THROTTLE's default, per minute
WEBCHAT_RATE = 10  # PYTAKE_WEBCHAT_SESSION_THROTTLE's default
ADMIN_FAILURES = 5  # PYTAKE_ADMIN_LOGIN_FAILURES' default
_addresses = (f"127.0.0.{n}" for n in itertools.count(2))


def client_from(address: str, base: str) -> httpx.Client:
    return httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address=address), timeout=10)


def forged(i: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"203.0.113.{i % 250}", "X-Real-IP": f"198.51.100.{i % 250}"}


@pytest.fixture(scope="module", autouse=True)
def _no_lockouts_left(stack):  # noqa: F811
    """The stack's database (one per xdist worker) outlives a run, and each run's client addresses
    start again at 127.0.0.2: the address a run's login-throttle test failed from (API login
    failures count towards an address's admin lockout too) was still locked out when the next run,
    within AXES_COOLOFF_TIME, tried its first admin login from it."""
    stack.manage("from axes.utils import reset; reset()")


@pytest.fixture
def reset_lockouts(stack):  # noqa: F811
    yield
    stack.manage("from axes.utils import reset; reset()")


def test_the_login_throttle_counts_the_address_nginx_saw_not_a_forged_header(stack):  # noqa: F811
    attacker, other = client_from(next(_addresses), stack.base), client_from(next(_addresses), stack.base)
    body = {"email": "nobody@example.test", "password": "wrong"}
    codes = [attacker.post("/api/auth/token/", json=body, headers=forged(i)).status_code for i in range(LOGIN_RATE + 2)]
    assert codes[:LOGIN_RATE] == [401] * LOGIN_RATE
    assert codes[LOGIN_RATE:] == [429, 429]
    # Another client (another address as nginx sees it) still has its own allowance.
    assert other.post("/api/auth/token/", json=body).status_code == 401


def test_public_web_chat_sessions_are_throttled_by_the_address_nginx_saw(stack):  # noqa: F811
    attacker, other = client_from(next(_addresses), stack.base), client_from(next(_addresses), stack.base)
    body = {"tenant": f"no-such-tenant-{uuid.uuid4().hex[:6]}", "name": "Customer"}
    codes = [
        attacker.post("/api/webchat/sessions/", json=body, headers=forged(i)).status_code
        for i in range(WEBCHAT_RATE + 1)
    ]
    assert 429 not in codes[:WEBCHAT_RATE] and codes[WEBCHAT_RATE] == 429
    assert other.post("/api/webchat/sessions/", json=body).status_code != 429


def admin_login(client: httpx.Client, username: str, password: str, headers: dict[str, str] | None = None) -> int:
    page = client.get("/admin/login/")
    assert page.status_code == 200, page.text[:500]
    token = client.cookies["csrftoken"]
    response = client.post(
        "/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"},
        headers={"Referer": f"{client.base_url}admin/login/", **(headers or {})},
    )
    return response.status_code


def test_admin_login_locks_out_an_account_whatever_address_the_attempts_claim(stack, reset_lockouts):  # noqa: F811
    email = f"operator-{uuid.uuid4().hex[:6]}@example.test"
    stack.manage(
        "from conversations.models import User; "
        f"User.objects.create_superuser({email!r}, 'the-right-password-42', tenant=None)"
    )
    # Each failure from another real address: the account itself is what gets locked, at the
    # last allowed failure, and then even the right password is refused.
    codes = []
    for i in range(ADMIN_FAILURES):
        with client_from(next(_addresses), stack.base) as client:
            codes.append(admin_login(client, email, "wrong", forged(i)))
    assert codes == [200] * (ADMIN_FAILURES - 1) + [429]  # 200: the form again, with an error
    with client_from(next(_addresses), stack.base) as client:
        assert admin_login(client, email, "the-right-password-42") == 429
    log = stack.manage(
        "from axes.models import AccessAttempt, AccessFailureLog; "
        f"print(AccessAttempt.objects.filter(username={email!r}).exists(), "
        f"AccessFailureLog.objects.filter(username={email!r}, locked_out=True).exists())"
    )
    assert log.strip().splitlines()[-1].split() == ["True", "True"]  # as the admin's Axes pages show it


def test_admin_login_locks_out_an_address_whatever_it_claims(stack, reset_lockouts):  # noqa: F811
    address = next(_addresses)
    with client_from(address, stack.base) as client:
        codes = [admin_login(client, f"guess{i}@example.test", "wrong", forged(i)) for i in range(ADMIN_FAILURES)]
        assert codes == [200] * (ADMIN_FAILURES - 1) + [429]
        assert admin_login(client, "guess-next@example.test", "wrong", forged(99)) == 429
    with client_from(next(_addresses), stack.base) as client:  # another address is not locked
        assert admin_login(client, "guess-next@example.test", "wrong") == 200


def test_query_string_secrets_stay_out_of_the_access_log(stack):  # noqa: F811
    secret = f"verify-{uuid.uuid4().hex}"
    with client_from(next(_addresses), stack.base) as client:
        response = client.get(
            "/webhooks/whatsapp/", params={"hub.mode": "subscribe", "hub.verify_token": secret, "hub.challenge": "1"}
        )
        assert response.status_code == 403
    log = (stack.dir / "nginx" / "access.log").read_text()
    assert "GET /webhooks/whatsapp/ " in log  # the request is logged, its query string is not
    assert secret not in log
