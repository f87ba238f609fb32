"""Default bot content in Portuguese and English, seeded by ``seed_demo`` (and by the admin action
"Load default intents"). The fixed texts also serve as the fallback when a tenant deleted them."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from conversations.models import Tenant
from flow.bot.models import BotIntent, BotSettings, IntentKind

HANDOFF_BUTTON = {"pt": "Falar com atendente", "en": "Talk to a human"}


@dataclass(frozen=True)
class DefaultIntent:
    kind: str
    name: str
    language: str
    examples: tuple[str, ...]
    answer: str
    quick_replies: tuple[str, ...] = ()


DEFAULT_INTENTS: tuple[DefaultIntent, ...] = (
    # --- Portuguese
    DefaultIntent(
        IntentKind.GREETING,
        "greeting",
        "pt",
        ("oi", "olá", "bom dia", "boa tarde", "boa noite", "e aí", "alô"),
        "Olá! Sou o assistente virtual. Posso ajudar com horários, pedidos, entrega e pagamentos.",
        ("Horários", "Rastrear pedido", HANDOFF_BUTTON["pt"]),
    ),
    DefaultIntent(
        IntentKind.HANDOFF,
        "handoff",
        "pt",
        (
            "falar com atendente",
            "falar com um humano",
            "quero um atendente",
            "atendimento humano",
            "falar com uma pessoa",
            "atendente por favor",
            "falar com alguém",
            "me passa para um atendente",
            "chamar um atendente",
            "pessoa de verdade",
        ),
        "Certo, vou chamar um atendente para você.",
    ),
    DefaultIntent(
        IntentKind.INTENT,
        "business_hours",
        "pt",
        ("horário de funcionamento", "que horas abre", "que horas fecha", "vocês abrem sábado", "horário"),
        "Funcionamos de segunda a sexta, das 9h às 18h, e aos sábados das 9h às 13h.",
        ("Rastrear pedido", HANDOFF_BUTTON["pt"]),
    ),
    DefaultIntent(
        IntentKind.INTENT,
        "order_status",
        "pt",
        ("onde está meu pedido", "meu pedido não chegou", "status do pedido", "rastrear pedido", "rastreio"),
        "Você pode acompanhar seu pedido pelo link de rastreio enviado por e-mail. "
        "Se precisar, um atendente verifica para você.",
        (HANDOFF_BUTTON["pt"],),
    ),
    DefaultIntent(
        IntentKind.INTENT,
        "delivery",
        "pt",
        ("prazo de entrega", "quanto tempo demora a entrega", "em quantos dias chega", "valor do frete", "frete"),
        "O prazo de entrega é de 3 a 5 dias úteis depois da confirmação do pagamento; o frete aparece no carrinho.",
        ("Rastrear pedido", HANDOFF_BUTTON["pt"]),
    ),
    DefaultIntent(
        IntentKind.INTENT,
        "payment",
        "pt",
        ("formas de pagamento", "aceita pix", "aceita cartão", "posso pagar com boleto", "parcelar"),
        "Aceitamos Pix, cartão de crédito (até 6x sem juros) e boleto.",
    ),
    DefaultIntent(
        IntentKind.INTENT,
        "thanks",
        "pt",
        ("obrigado", "obrigada", "valeu", "muito obrigado"),
        "Por nada! Posso ajudar em mais alguma coisa?",
    ),
    DefaultIntent(
        IntentKind.FALLBACK,
        "fallback",
        "pt",
        (),
        "Desculpe, não entendi. Pode reformular? Se preferir, falo com um atendente.",
        ("Horários", HANDOFF_BUTTON["pt"]),
    ),
    DefaultIntent(
        IntentKind.OUT_OF_HOURS,
        "out_of_hours",
        "pt",
        (),
        "Estamos fora do horário de atendimento agora; sua conversa fica na fila e respondemos assim que abrirmos.",
    ),
    DefaultIntent(
        IntentKind.QUEUED,
        "queued",
        "pt",
        (),
        "Você é o número {position} na fila. Tempo estimado: cerca de {minutes} min.",
    ),
    # --- English
    DefaultIntent(
        IntentKind.GREETING,
        "greeting",
        "en",
        ("hi", "hello", "hey", "good morning", "good afternoon", "good evening"),
        "Hello! I'm the virtual assistant. I can help with opening hours, orders, delivery and payments.",
        ("Opening hours", "Where is my order?", HANDOFF_BUTTON["en"]),
    ),
    DefaultIntent(
        IntentKind.HANDOFF,
        "handoff",
        "en",
        (
            "talk to a human",
            "speak to an agent",
            "talk to a person",
            "real person",
            "human agent",
            "customer service representative",
            "talk to someone",
            "live agent",
            "connect me to an agent",
        ),
        "Sure, I'm getting a human agent for you.",
    ),
    DefaultIntent(
        IntentKind.INTENT,
        "business_hours",
        "en",
        ("opening hours", "when do you open", "when do you close", "are you open on saturday", "business hours"),
        "We're open Monday to Friday, 9am to 6pm, and Saturdays 9am to 1pm.",
        ("Where is my order?", HANDOFF_BUTTON["en"]),
    ),
    DefaultIntent(
        IntentKind.INTENT,
        "order_status",
        "en",
        ("where is my order", "my order has not arrived", "order status", "track my order", "tracking"),
        "You can follow your order with the tracking link we emailed you. An agent can check it for you too.",
        (HANDOFF_BUTTON["en"],),
    ),
    DefaultIntent(
        IntentKind.INTENT,
        "delivery",
        "en",
        ("delivery time", "how long does delivery take", "how many days to arrive", "shipping cost", "shipping"),
        "Delivery takes 3 to 5 business days after payment is confirmed; shipping is shown in the cart.",
        ("Where is my order?", HANDOFF_BUTTON["en"]),
    ),
    DefaultIntent(
        IntentKind.INTENT,
        "payment",
        "en",
        ("payment methods", "can i pay by card", "do you accept credit card", "installments", "how can i pay"),
        "We accept Pix, credit cards (up to 6 interest-free installments) and boleto.",
    ),
    DefaultIntent(
        IntentKind.INTENT,
        "thanks",
        "en",
        ("thanks", "thank you", "thank you very much", "cheers"),
        "You're welcome! Anything else I can help with?",
    ),
    DefaultIntent(
        IntentKind.FALLBACK,
        "fallback",
        "en",
        (),
        "Sorry, I didn't get that. Could you rephrase? I can also get you a human agent.",
        ("Opening hours", HANDOFF_BUTTON["en"]),
    ),
    DefaultIntent(
        IntentKind.OUT_OF_HOURS,
        "out_of_hours",
        "en",
        (),
        "We're outside business hours right now; your conversation stays in line and we'll answer when we open.",
    ),
    DefaultIntent(
        IntentKind.QUEUED,
        "queued",
        "en",
        (),
        "You are number {position} in line. Estimated wait: about {minutes} min.",
    ),
)


def default_text(kind: str, language: str) -> DefaultIntent:
    """The built-in text of a special kind (used when the tenant has none of its own)."""
    for intent in DEFAULT_INTENTS:
        if intent.kind == kind and intent.language == language:
            return intent
    return next(i for i in DEFAULT_INTENTS if i.kind == kind)


def bot_seed_defaults(*, tenant: Tenant) -> int:
    """Create the tenant's bot settings and any default intent it lacks. Idempotent; returns how
    many intents were created. Never overwrites what an operator edited."""
    created = 0
    with transaction.atomic():
        BotSettings.objects.get_or_create(tenant=tenant)
        for order, intent in enumerate(DEFAULT_INTENTS):
            _, made = BotIntent.objects.get_or_create(
                tenant=tenant,
                kind=intent.kind,
                name=intent.name,
                language=intent.language,
                defaults={
                    "examples": "\n".join(intent.examples),
                    "answer": intent.answer,
                    "quick_replies": "\n".join(intent.quick_replies),
                    "order": order,
                },
            )
            created += made
    return created
