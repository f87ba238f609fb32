"""Demo data for development: two tenants, their staff, a WhatsApp number and some history.

Idempotent: running it again changes nothing that is already there. Refused when DEBUG is off,
because every demo login shares one public password.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from conversations.contacts import attribute_definition_save
from conversations.labels import label_save
from conversations.models import (
    Channel,
    Contact,
    ContactAttributeDefinition,
    Conversation,
    ConversationStatus,
    Direction,
    Label,
    Message,
    MessageStatus,
    Role,
    SavedReply,
    SavedReplyScope,
    SenderType,
    Tenant,
    User,
    WhatsAppAccount,
)
from conversations.saved_replies import saved_reply_create
from flow.bot.defaults import bot_seed_defaults

DEMO_PASSWORD = "demo1234"
DEMO_USERS = [
    ("demo", "admin@demo.test", "Ana Admin", Role.ADMIN),
    ("demo", "supervisor@demo.test", "Sofia Supervisor", Role.SUPERVISOR),
    ("demo", "agent@demo.test", "Alex Agent", Role.AGENT),
    ("demo", "agent2@demo.test", "Bruno Agent", Role.AGENT),
    ("other", "admin@other.test", "Otto Admin", Role.ADMIN),
]
DEMO_PHONE_NUMBER_ID = "100000000000001"
DEMO_CONTACTS = [
    (
        "5511987650001",
        "Maria Silva",
        [("in", "Olá! Meu pedido ainda não chegou."), ("out", "Oi Maria, vou verificar para você.")],
    ),
    ("5511987650002", "John Carter", [("in", "Hi, can I change my delivery address?")]),
    (
        "5511987650003",
        "Lucia Souza",
        [("in", "Vocês abrem no sábado?"), ("out", "Sim, das 9h às 13h."), ("in", "Obrigada!")],
    ),
]
# The team's toolbox, so that "/", the labels and the contact panel have something to show.
DEMO_SAVED_REPLIES = [
    ("ola", "Olá {{contact.first_name}}! Aqui é {{agent.name}}, da Demo Store. Como posso ajudar?"),
    ("prazo", "O prazo de entrega é de 3 a 5 dias úteis depois da confirmação do pagamento."),
    ("horario", "Atendemos de segunda a sexta, das 9h às 18h, e aos sábados das 9h às 13h."),
    ("obrigado", "Obrigado pelo contato, {{contact.first_name}}! Se precisar de algo mais, é só chamar."),
    ("hello", "Hi {{contact.first_name}}, this is {{agent.name}} from Demo Store. How can I help?"),
]
DEMO_LABELS = [
    ("VIP", "#d97706", "Clientes com atendimento prioritário"),
    ("Entrega", "#2563eb", "Dúvidas e problemas de entrega"),
    ("Financeiro", "#059669", "Pagamentos, boletos e reembolsos"),
]
DEMO_CONTACT_FIELDS = [
    ("order_number", "Número do pedido", "text", []),
    ("customer_since", "Cliente desde", "date", []),
    ("plan", "Plano", "list", ["Básico", "Pro"]),
]


class Command(BaseCommand):
    help = "Create the demo tenants, logins and conversations (development only; idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo creates logins with a public password: it only runs with DJANGO_DEBUG=1.")
        with transaction.atomic():
            tenants = {
                "demo": Tenant.objects.get_or_create(slug="demo", defaults={"name": "Demo Store"})[0],
                "other": Tenant.objects.get_or_create(slug="other", defaults={"name": "Other Company"})[0],
            }
            users = {}
            for slug, email, name, role in DEMO_USERS:
                user = User.objects.filter(email=email).first()
                if user is None:
                    user = User.objects.create_user(email, DEMO_PASSWORD, name=name, tenant=tenants[slug], role=role)
                users[email] = user
            account, _ = WhatsAppAccount.objects.get_or_create(
                phone_number_id=DEMO_PHONE_NUMBER_ID,
                defaults={
                    "tenant": tenants["demo"],
                    "name": "Demo Store WhatsApp",
                    "display_phone_number": "+55 11 4000-0001",
                    "business_account_id": "200000000000001",
                    "access_token": "demo-access-token",
                    "app_secret": "demo-app-secret",
                    "verify_token": "demo-verify-token",
                },
            )
            for tenant in tenants.values():
                bot_seed_defaults(tenant=tenant)  # the bot's Portuguese and English intents
            self._toolbox(users["admin@demo.test"])
            start = timezone.now() - timedelta(hours=2)
            for index, (wa_id, name, lines) in enumerate(DEMO_CONTACTS):
                contact, created = Contact.objects.get_or_create(
                    tenant=tenants["demo"],
                    wa_id=wa_id,
                    defaults={"name": name, "profile_name": name, "phone": f"+{wa_id}"},
                )
                if not created:
                    continue
                self._conversation(
                    contact,
                    account,
                    lines,
                    start + timedelta(minutes=20 * index),
                    assignee=users["agent@demo.test"] if index == 0 else None,
                )
        self.stdout.write(self.style.SUCCESS("Demo data ready. Logins (password demo1234):"))
        for _slug, email, _name, role in DEMO_USERS:
            self.stdout.write(f"  {email:<24} {role}")

    def _toolbox(self, admin: User) -> None:
        """Saved replies, labels and contact fields, made as an admin would (the same checks)."""
        tenant_id = admin.tenant_id
        assert tenant_id is not None
        for code, content in DEMO_SAVED_REPLIES:
            if not SavedReply.objects.filter(tenant_id=tenant_id, owner=None, short_code=code).exists():
                saved_reply_create(user=admin, scope=SavedReplyScope.TENANT, short_code=code, content=content)
        for name, colour, description in DEMO_LABELS:
            if not Label.objects.filter(tenant_id=tenant_id, name__iexact=name).exists():
                label_save(user=admin, name=name, colour=colour, description=description)
        for key, label, kind, options in DEMO_CONTACT_FIELDS:
            if not ContactAttributeDefinition.objects.filter(tenant_id=tenant_id, key=key).exists():
                attribute_definition_save(user=admin, key=key, label=label, type=kind, options=options)

    def _conversation(
        self, contact: Contact, account: WhatsAppAccount, lines: list[tuple[str, str]], at: Any, assignee: User | None
    ) -> None:
        conversation = Conversation.objects.create(
            tenant=contact.tenant,
            contact=contact,
            channel=Channel.WHATSAPP,
            whatsapp_account=account,
            status=ConversationStatus.OPEN,
            assignee=assignee,
            queued_at=None if assignee else at,
            created_at=at,
            last_message_at=at,
        )
        unread = 0
        for offset, (way, text) in enumerate(lines):
            when = at + timedelta(minutes=offset)
            inbound = way == "in"
            Message.objects.create(
                tenant=contact.tenant,
                conversation=conversation,
                direction=Direction.INBOUND if inbound else Direction.OUTBOUND,
                sender_type=SenderType.CONTACT if inbound else SenderType.AGENT,
                sender=None if inbound else assignee,
                content={"text": text},
                status=MessageStatus.DELIVERED if inbound else MessageStatus.READ,
                whatsapp_account=account,
                whatsapp_message_id=f"wamid.demo.{contact.wa_id}.{offset}",
                created_at=when,
                sent_at=None if inbound else when,
                delivered_at=when,
                read_at=None if inbound else when,
            )
            unread = unread + 1 if inbound else 0
            conversation.last_message_at = when
            conversation.last_message_preview = text
            if inbound:
                conversation.last_customer_message_at = when
        conversation.unread_count = unread
        conversation.save()
