"""In Chromium: the inbox runs under its Content-Security-Policy without a single violation, and
its Log out button signs the session out on the server (the refresh token is worthless after)."""

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.test_browser_inbox import login

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis]


def test_log_out_blacklists_the_refresh_token_and_the_page_breaks_no_policy(new_page, demo, asgi_server):
    page = new_page(bypass_csp=False)  # the policy as a browser applies it
    violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
    response = page.goto("/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    login(page, demo.agent)
    refresh = page.evaluate("sessionStorage.getItem('pytake.refresh')")
    assert refresh
    with page.expect_response("**/api/auth/logout/") as answer:
        page.locator("#logout").click()
    assert answer.value.status == 204
    expect(page.get_by_label("Email")).to_be_visible()
    again = httpx.post(f"{asgi_server.url}/api/auth/token/refresh/", json={"refresh": refresh}, timeout=10)
    assert again.status_code == 401, again.text
    assert violations == []
