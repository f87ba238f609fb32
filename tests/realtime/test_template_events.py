"""``template.updated`` (Meta changed a WhatsApp template) reaches the tenant's admins, live, and
no one else: not its supervisors or agents, not another tenant's admin."""

import pytest
from channels.db import database_sync_to_async as db

from tests import factories
from tests.realtime.test_toolbox_events import others_than_presence
from tests.ws import connect, next_of
from whatsapp import account_webhooks, templates
from whatsapp.models import MessageTemplate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_realtime")]


def _pause(tenant_id: int) -> None:
    templates.template_status_changed(
        account_webhooks.AccountChange(
            tenant_id=tenant_id,
            business_account_id="waba-1",
            field="message_template_status_update",
            value={
                "event": "PAUSED",
                "message_template_name": "order_update",
                "message_template_language": "en_US",
                "reason": "NONE",
            },
        )
    )


async def test_a_template_change_reaches_the_tenants_admins_only(tenant, admin_user, supervisor, agent, foreign_admin):
    await db(MessageTemplate.objects.create)(
        tenant=tenant, business_account_id="waba-1", name="order_update", language="en_US", status="approved"
    )
    second_admin = await db(factories.UserFactory)(tenant=tenant, role="admin")
    sockets = {
        "admin": await connect(admin_user),
        "second admin": await connect(second_admin),
        "supervisor": await connect(supervisor),
        "agent": await connect(agent),
        "other tenant's admin": await connect(foreign_admin),
    }
    await db(_pause)(tenant.pk)
    for who in ("admin", "second admin"):
        frame = await next_of(sockets[who], "template.updated")
        assert frame["data"]["status"] == "paused" and frame["data"]["name"] == "order_update", who
    for who in ("supervisor", "agent", "other tenant's admin"):
        assert await others_than_presence(sockets[who]) == [], who
    for comm in sockets.values():
        await comm.disconnect()
