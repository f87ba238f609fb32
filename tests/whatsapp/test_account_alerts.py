# ruff: noqa: F811  (the eager_celery fixture is imported, then named as an argument)
"""Meta's account webhooks about the numbers themselves: the business account's standing
(violations, restrictions, disabling), a number's quality and messaging limit, its display-name
review. Each is stored on the tenant's numbers it concerns and told to the tenant's admins, and
nobody else, as an ``account.alert``."""

import pytest

from conversations.models import WhatsAppAccount
from realtime.models import Event
from tests import factories
from tests.whatsapp.graph_fake import WABA_ID
from tests.whatsapp.support import deliver, eager_celery, fixture  # noqa: F401 (fixtures)
from whatsapp.models import WebhookEvent

pytestmark = pytest.mark.django_db

FIXTURE_NUMBER = "+1 555-078-3881"  # the display_phone_number the fixtures name, as stored


@pytest.fixture
def account(tenant):
    return factories.WhatsAppAccountFactory(
        tenant=tenant, business_account_id=WABA_ID, display_phone_number=FIXTURE_NUMBER
    )


@pytest.fixture
def second_number(tenant):
    """Another number of the same business account."""
    return factories.WhatsAppAccountFactory(tenant=tenant, business_account_id=WABA_ID)


@pytest.fixture
def bystanders(tenant, other_tenant, agent, supervisor, foreign_admin):
    """The tenant's agents and supervisors, and another tenant's admin and number: none of
    them hears of the tenant's numbers."""
    return factories.WhatsAppAccountFactory(tenant=other_tenant, business_account_id="555")


def _alerts():
    return list(Event.objects.filter(type="account.alert").order_by("id"))


def test_a_quality_flag_stores_the_limit_and_alerts_only_the_tenants_admins(
    deliver, account, second_number, admin_user, bystanders
):
    response = deliver(fixture("account_phone_number_quality_update"))
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.get().status == "processed"
    account.refresh_from_db()
    assert (account.quality_event, account.messaging_limit) == ("FLAGGED", "TIER_10K")
    assert account.last_account_event_at is not None
    second_number.refresh_from_db()
    assert (second_number.quality_event, second_number.messaging_limit) == ("", "")  # not the number named

    [alert] = _alerts()
    assert (alert.audience, alert.user_id) == ("user", admin_user.pk)
    assert alert.data["account_id"] == account.pk and alert.data["blocked"] is False
    assert alert.data["display_phone_number"] == FIXTURE_NUMBER
    assert "low quality" in alert.data["title"] and "TIER_10K" in alert.data["title"]


def test_every_admin_of_the_tenant_hears_of_it(deliver, account, admin_user, tenant, bystanders):
    another_admin = factories.UserFactory(tenant=tenant, role="admin")
    assert deliver(fixture("account_phone_number_quality_update")).status_code == 200
    assert sorted(a.user_id for a in _alerts()) == sorted([admin_user.pk, another_admin.pk])


def test_a_limit_upgrade_replaces_the_stored_limit(deliver, account, admin_user):
    payload = fixture("account_phone_number_quality_update")
    payload["entry"][0]["changes"][0]["value"].update(event="UPGRADE", current_limit="TIER_100K")
    assert deliver(payload).status_code == 200
    account.refresh_from_db()
    assert (account.quality_event, account.messaging_limit) == ("UPGRADE", "TIER_100K")
    [alert] = _alerts()
    assert "raised" in alert.data["title"] and alert.data["blocked"] is False


def test_a_display_name_decision_is_stored_and_told(deliver, account, admin_user, bystanders):
    assert deliver(fixture("account_phone_number_name_update")).status_code == 200
    account.refresh_from_db()
    assert (account.name_status, account.requested_name, account.name_rejection_reason) == (
        "APPROVED",
        "PyTake Demo",
        "",
    )
    [alert] = _alerts()
    assert alert.user_id == admin_user.pk and alert.data["blocked"] is False
    assert "approved" in alert.data["title"] and "PyTake Demo" in alert.data["title"]


def test_a_rejected_display_name_says_why(deliver, account, admin_user):
    payload = fixture("account_phone_number_name_update")
    payload["entry"][0]["changes"][0]["value"].update(decision="REJECTED", rejection_reason="NAME_FORMAT_UNACCEPTABLE")
    assert deliver(payload).status_code == 200
    account.refresh_from_db()
    assert (account.name_status, account.name_rejection_reason) == ("REJECTED", "NAME_FORMAT_UNACCEPTABLE")
    [alert] = _alerts()
    assert "rejected" in alert.data["title"] and "NAME_FORMAT_UNACCEPTABLE" in alert.data["title"]


def test_a_policy_violation_is_stored_on_every_number_of_the_account_and_does_not_stop_sending(
    deliver, account, second_number, admin_user, bystanders
):
    assert deliver(fixture("account_update")).status_code == 200
    for number in (account, second_number):
        number.refresh_from_db()
        assert (number.account_status, number.account_status_detail) == ("ACCOUNT_VIOLATION", "SCAM")
        assert number.sending_blocked_at is None
    alerts = _alerts()
    assert sorted(a.data["account_id"] for a in alerts) == sorted([account.pk, second_number.pk])
    assert {(a.audience, a.user_id) for a in alerts} == {("user", admin_user.pk)}
    assert all(a.data["blocked"] is False and "violation" in a.data["title"] for a in alerts)


def test_a_restriction_is_informational(deliver, account, admin_user):
    payload = fixture("account_update")
    payload["entry"][0]["changes"][0]["value"] = {
        "event": "ACCOUNT_RESTRICTION",
        "restriction_info": [{"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 1712600000}],
    }
    assert deliver(payload).status_code == 200
    account.refresh_from_db()
    assert account.account_status == "ACCOUNT_RESTRICTION"
    assert "RESTRICTED_BIZ_INITIATED_MESSAGING" in account.account_status_detail
    assert account.sending_blocked_at is None
    [alert] = _alerts()
    assert alert.data["blocked"] is False and "restricted" in alert.data["title"]


def _disabled(state):
    payload = fixture("account_update")
    payload["entry"][0]["changes"][0]["value"] = {
        "event": "DISABLED_UPDATE",
        "ban_info": {"waba_ban_state": state, "waba_ban_date": "April 17, 2026"},
    }
    return payload


def test_a_disabled_account_stops_sending_and_the_alert_says_blocked(deliver, account, admin_user, bystanders):
    assert deliver(_disabled("DISABLE")).status_code == 200
    account.refresh_from_db()
    assert account.account_status == "DISABLED_UPDATE DISABLE"
    assert account.sending_blocked_at is not None and "disabled" in account.sending_blocked_reason
    [alert] = _alerts()
    assert alert.user_id == admin_user.pk
    assert alert.data["blocked"] is True and "disabled" in alert.data["title"]

    # Reinstated: told, and the block stays until an admin resumes sending (admin's action).
    assert deliver(_disabled("REINSTATE")).status_code == 200
    account.refresh_from_db()
    assert account.account_status == "DISABLED_UPDATE REINSTATE"
    last = _alerts()[-1]
    assert "reinstated" in last.data["title"] and last.data["blocked"] is True


def test_a_scheduled_disabling_does_not_stop_sending_yet(deliver, account, admin_user):
    assert deliver(_disabled("SCHEDULE_FOR_DISABLE")).status_code == 200
    account.refresh_from_db()
    assert account.sending_blocked_at is None
    [alert] = _alerts()
    assert alert.data["blocked"] is False and "will disable" in alert.data["title"]


def test_account_events_no_admin_acts_on_change_nothing(deliver, account, admin_user):
    payload = fixture("account_update")
    payload["entry"][0]["changes"][0]["value"] = {"event": "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE", "country": "BR"}
    assert deliver(payload).status_code == 200
    account.refresh_from_db()
    assert account.account_status == "" and account.last_account_event_at is None
    assert _alerts() == []


@pytest.mark.parametrize(
    "name", ["account_update", "account_phone_number_quality_update", "account_phone_number_name_update"]
)
def test_a_payload_for_an_unknown_business_account_changes_nothing(deliver, account, admin_user, bystanders, name):
    payload = fixture(name)
    payload["entry"][0]["id"] = "999000999"
    assert deliver(payload).status_code == 403
    theirs = fixture(name)
    theirs["entry"][0]["id"] = "555"  # another tenant's business account, signed with our secret
    assert deliver(theirs).status_code == 403
    stored = WhatsAppAccount.objects.get(pk=account.pk)
    assert (stored.quality_event, stored.name_status, stored.account_status) == ("", "", "")
    assert stored.last_account_event_at is None
    assert _alerts() == [] and not WebhookEvent.objects.exists()


def test_a_number_the_tenant_does_not_have_is_left_alone(deliver, account, admin_user):
    payload = fixture("account_phone_number_name_update")
    payload["entry"][0]["changes"][0]["value"]["display_phone_number"] = "15550000000"
    assert deliver(payload).status_code == 200
    account.refresh_from_db()
    assert account.name_status == "" and _alerts() == []


def test_admin_shows_what_meta_said_read_only(deliver, client, account, admin_user):
    assert deliver(fixture("account_phone_number_quality_update")).status_code == 200
    assert deliver(fixture("account_phone_number_name_update")).status_code == 200
    operator = factories.UserFactory(tenant=None, is_staff=True, is_superuser=True)
    client.force_login(operator)
    listing = client.get("/admin/conversations/whatsappaccount/")
    assert listing.status_code == 200
    assert b"TIER_10K" in listing.content and b"FLAGGED" in listing.content
    page = client.get(f"/admin/conversations/whatsappaccount/{account.pk}/change/")
    assert page.status_code == 200
    assert b"PyTake Demo" in page.content
    assert b'name="messaging_limit"' not in page.content and b'name="name_status"' not in page.content


# --- The numbers list: whether each sends now -----------------------------------------------------


def test_the_numbers_list_says_which_number_stopped_sending_and_never_anothers(
    api_for, account, second_number, admin_user, agent, foreign_admin
):
    from whatsapp import account_health

    foreign = factories.WhatsAppAccountFactory(tenant=foreign_admin.tenant)
    account_health.account_sending_block(account_id=account.pk, code=190, title="Session expired")
    account_health.account_sending_block(account_id=foreign.pk, code=368, title="Blocked")

    for user in (admin_user, agent):  # an agent starting a conversation sees it too
        listed = {n["id"]: n for n in api_for(user).get("/api/whatsapp/numbers/").json()}
        assert set(listed) == {account.pk, second_number.pk}
        stopped = listed[account.pk]
        assert (stopped["sending"], stopped["sending_blocked_code"], stopped["sending_blocked_reason"]) == (
            False,
            190,
            "Session expired",
        )
        assert listed[second_number.pk]["sending"] is True
        assert "access_token" not in stopped and "app_secret" not in stopped
    foreign_listed = api_for(foreign_admin).get("/api/whatsapp/numbers/").json()
    assert [(n["id"], n["sending"]) for n in foreign_listed] == [(foreign.pk, False)]
