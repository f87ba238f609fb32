"""A WhatsApp number that stopped sending, in Chromium against a real server: the tenant's admin
sees it on signing in (the block came before), sees it go live when it is lifted, and sees and
dismisses Meta's notices of the number; an agent of the same tenant sees none of it."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Role, WhatsAppAccount
from tests import factories
from tests.browser import scenario
from tests.e2e.test_browser_inbox import LIVE, login, shot
from whatsapp import account_health

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis]


@scenario.off_loop
def an_admin(demo):
    admin = factories.UserFactory(tenant=demo.tenant, role=Role.ADMIN, email="ana@browser.test", name="Ana Admin")
    admin.password = scenario.password_hash()
    admin.save(update_fields=["password"])
    return admin


@scenario.off_loop
def meta_blocks(account_id: int) -> None:
    account_health.account_sending_block(account_id=account_id, code=190, title="Session has expired")


@scenario.off_loop
def admin_resumes_sending(account_id: int) -> None:
    """What Admin → WhatsApp accounts → Resume sending does: the block cleared through save()."""
    account = WhatsAppAccount.objects.get(pk=account_id)
    account.sending_blocked_at = None
    account.save()


@scenario.off_loop
def meta_says(account_id: int, title: str) -> None:
    account = WhatsAppAccount.objects.get(pk=account_id)
    account.last_account_event_at = timezone.now()
    account.save(update_fields=["last_account_event_at"])
    account_health.account_alert(account, title=title)


def test_an_admin_sees_a_stopped_number_on_signing_in_and_live_until_it_sends_again(new_page, demo):
    number = demo.maria.whatsapp_account
    admin = an_admin(demo)
    meta_blocks(number.pk)  # before anyone signed in: no live event reached a page

    page = new_page()
    login(page, admin)
    banner = page.locator("#account-alert")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(f"WhatsApp number {number.display_phone_number} stopped sending")
    expect(banner).to_contain_text("Session has expired")
    expect(banner).to_have_class("banner banner-error")
    shot(page, "inbox-account-alert")
    agent = new_page()
    login(agent, demo.agent)

    admin_resumes_sending(number.pk)
    expect(banner).to_be_hidden(timeout=LIVE)

    # Meta's word on a number that sends: a notice, until the admin dismisses it.
    meta_says(number.pk, "Quality rating FLAGGED")
    expect(banner).to_contain_text("Quality rating FLAGGED", timeout=LIVE)
    expect(banner).to_have_class("banner banner-warn")
    banner.get_by_role("button", name="Dismiss").click()
    expect(banner).to_be_hidden()

    # Stopped again, live this time; in Portuguese, the banner follows the reader's language.
    meta_blocks(number.pk)
    expect(banner).to_contain_text("Session has expired", timeout=LIVE)
    page.locator("#app-lang").select_option("pt")
    expect(banner).to_contain_text(f"O número de WhatsApp {number.display_phone_number} parou de enviar")

    expect(agent.locator("#account-alert")).to_be_hidden()  # agents are never told
