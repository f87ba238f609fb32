"""factory_boy factories: one tenant per test, everything else hangs from it."""

from typing import Any

import factory
from django.utils import timezone

from conversations.models import (
    Channel,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    Role,
    SenderType,
    Tenant,
    User,
    WhatsAppAccount,
)

PASSWORD = "s3cret-pass!"


class TenantFactory(factory.django.DjangoModelFactory[Tenant]):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    name = factory.Sequence(lambda n: f"User {n}")
    tenant = factory.SubFactory(TenantFactory)
    role = Role.AGENT

    @factory.post_generation
    def password(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])


class WhatsAppAccountFactory(factory.django.DjangoModelFactory[WhatsAppAccount]):
    class Meta:
        model = WhatsAppAccount

    tenant = factory.SubFactory(TenantFactory)
    phone_number_id = factory.Sequence(lambda n: f"{100000000000100 + n}")
    display_phone_number = factory.Sequence(lambda n: f"+55 11 4000-{n:04d}")
    access_token = "test-access-token"
    app_secret = factory.Sequence(lambda n: f"app-secret-{n}")
    verify_token = factory.Sequence(lambda n: f"verify-token-{n}")


class ContactFactory(factory.django.DjangoModelFactory[Contact]):
    class Meta:
        model = Contact

    tenant = factory.SubFactory(TenantFactory)
    wa_id = factory.Sequence(lambda n: f"55119{n:08d}")
    phone = factory.LazyAttribute(lambda o: f"+{o.wa_id}")
    name = factory.Sequence(lambda n: f"Customer {n}")


class ConversationFactory(factory.django.DjangoModelFactory[Conversation]):
    class Meta:
        model = Conversation

    tenant = factory.SubFactory(TenantFactory)
    contact = factory.SubFactory(ContactFactory, tenant=factory.SelfAttribute("..tenant"))
    channel = Channel.WHATSAPP
    last_customer_message_at = factory.LazyFunction(timezone.now)


class MessageFactory(factory.django.DjangoModelFactory[Message]):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    tenant = factory.SelfAttribute("conversation.tenant")
    # As the services store it: a WhatsApp message names its conversation's account.
    whatsapp_account = factory.LazyAttribute(
        lambda m: m.conversation.whatsapp_account
        if m.conversation.channel == Channel.WHATSAPP and not m.internal
        else None
    )
    internal = False
    direction = Direction.INBOUND
    sender_type = SenderType.CONTACT
    content = factory.Sequence(lambda n: {"text": f"message {n}"})
    status = MessageStatus.DELIVERED
