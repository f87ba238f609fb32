"""Prepares the end-to-end webhook bench (``bench.scenario_e2e``): its own database, one tenant with
one WhatsApp number, ``--agents`` agents, and for each agent one WhatsApp contact whose open
conversation is assigned to that agent.

Why assigned conversations: an inbound message on a conversation an agent holds goes straight to
that agent (the bot only answers conversations nobody holds, ``conversations.flow.inbound_received``),
which is the steady state of a busy inbox. Each webhook then produces, through the real path,
``message.new`` to the conversation's group (the sockets that joined it: its agent) and
``conversation.updated`` to the assignee and the supervisors.

Each run starts from the same state: the tenant's messages, events and stored webhooks of earlier
runs are deleted, and every conversation is assigned to its agent again (an agent whose socket
closed may have had work requeued by another run's beat). Prints one JSON line: what the load
generator needs (the account, Meta's webhook envelope for its number, and the path of a
file with one ``token conversation_id wa_id`` line per agent).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from bench.common import setup_django

TENANT_SLUG = "bench-e2e"
PHONE_NUMBER_ID = "109000000000001"
DISPLAY_NUMBER = "+55 11 4000-0001"
APP_SECRET = "bench-e2e-app-secret-not-for-production"
FIRST_WA_ID = 5511970000000  # contact i has wa_id FIRST_WA_ID + i
PROFILE_NAME = "Bench Customer"  # as in every webhook: no profile-name write per message


def wa_id(index: int) -> str:
    return str(FIRST_WA_ID + index)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--out", required=True, help="file for the agents' tokens and conversations")
    args = parser.parse_args()
    setup_django(os.environ["DATABASE_URL"])
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import RefreshToken

    from conversations.models import (
        Channel,
        Contact,
        Conversation,
        ConversationStatus,
        Message,
        Role,
        Tenant,
        User,
        WhatsAppAccount,
    )
    from flow.models import AgentAbsence, QueueTicket
    from realtime.models import Event
    from whatsapp.models import WebhookEvent

    tenant, _ = Tenant.objects.get_or_create(slug=TENANT_SLUG, defaults={"name": "Bench e2e"})
    account, _ = WhatsAppAccount.objects.update_or_create(
        phone_number_id=PHONE_NUMBER_ID,
        defaults={
            "tenant": tenant,
            "name": "Bench number",
            "display_phone_number": DISPLAY_NUMBER,
            "business_account_id": "209000000000001",
            "access_token": "bench-e2e-access-token",
            "app_secret": APP_SECRET,
            "verify_token": "bench-e2e-verify",
            "is_active": True,
        },
    )
    unusable = make_password(None)
    emails = [f"agent{i}@bench-e2e.invalid" for i in range(args.agents)]
    have = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
    User.objects.bulk_create(
        [
            User(
                email=email,
                name=f"Agent {i}",
                tenant=tenant,
                role=Role.AGENT,
                password=unusable,
                max_open_conversations=1000,
            )
            for i, email in enumerate(emails)
            if email not in have
        ]
    )
    User.objects.get_or_create(
        email="supervisor@bench-e2e.invalid",
        defaults={"tenant": tenant, "role": Role.SUPERVISOR, "name": "Bench e2e Supervisor", "password": unusable},
    )
    agents = {u.email: u for u in User.objects.filter(email__in=emails)}
    wa_ids = [wa_id(i) for i in range(args.agents)]
    have_contacts = set(Contact.objects.filter(tenant=tenant, wa_id__in=wa_ids).values_list("wa_id", flat=True))
    Contact.objects.bulk_create(
        [
            Contact(tenant=tenant, wa_id=w, phone=f"+{w}", profile_name=PROFILE_NAME)
            for w in wa_ids
            if w not in have_contacts
        ]
    )
    contacts = {c.wa_id: c for c in Contact.objects.filter(tenant=tenant, wa_id__in=wa_ids)}

    with transaction.atomic():
        # Earlier runs' traffic: deleted so that every run starts from the same table sizes.
        Message.objects.filter(tenant=tenant).delete()
        Event.objects.filter(tenant=tenant).delete()
        WebhookEvent.objects.filter(tenant=tenant).delete()
        QueueTicket.objects.filter(tenant=tenant).delete()
        AgentAbsence.objects.filter(user__tenant=tenant).delete()
        now = timezone.now()
        existing = {
            c.contact_id: c
            for c in Conversation.objects.filter(tenant=tenant, contact__in=contacts.values(), channel=Channel.WHATSAPP)
        }
        # bulk_create / update send no post_save: setup publishes nothing (no agent is connected).
        Conversation.objects.bulk_create(
            [
                Conversation(
                    tenant=tenant,
                    contact=contacts[w],
                    channel=Channel.WHATSAPP,
                    whatsapp_account=account,
                    status=ConversationStatus.OPEN,
                    assignee=agents[emails[i]],
                    last_message_at=now,
                    last_customer_message_at=now,
                )
                for i, w in enumerate(wa_ids)
                if contacts[w].pk not in existing
            ]
        )
        conversations: list[Conversation] = []
        for w in wa_ids:
            conversation = (
                Conversation.objects.filter(contact=contacts[w], channel=Channel.WHATSAPP)
                .order_by("-created_at", "-id")
                .first()
            )
            assert conversation is not None
            conversations.append(conversation)
        Conversation.objects.filter(pk__in=[c.pk for c in conversations]).update(
            status=ConversationStatus.OPEN, queued_at=None, unread_count=0, resolved_at=None
        )
        for i, conversation in enumerate(conversations):
            if conversation.assignee_id != agents[emails[i]].pk:
                Conversation.objects.filter(pk=conversation.pk).update(assignee=agents[emails[i]])

    lines = [
        f"{RefreshToken.for_user(agents[email]).access_token} {conversation.pk} {w}"
        for email, conversation, w in zip(emails, conversations, wa_ids, strict=True)
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(
        json.dumps(
            {
                "event": "setup",
                "tenant": tenant.pk,
                "agents": len(lines),
                "agents_file": args.out,
                "phone_number_id": account.phone_number_id,
                "app_secret": account.app_secret,
                "profile_name": PROFILE_NAME,
                # The load generator puts its contacts and messages into entry[0].changes[0].value.
                "envelope": envelope(account),
            }
        ),
        flush=True,
    )


def envelope(account: Any) -> dict[str, Any]:
    """Meta's webhook envelope around one empty ``messages`` change for ``account``'s number."""
    metadata = {
        "display_phone_number": "".join(c for c in account.display_phone_number if c.isdigit()),
        "phone_number_id": account.phone_number_id,
    }
    value = {"messaging_product": "whatsapp", "metadata": metadata}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": account.business_account_id or "0", "changes": [{"value": value, "field": "messages"}]}],
    }


if __name__ == "__main__":
    main()
