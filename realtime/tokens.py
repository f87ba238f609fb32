"""The web-chat customer's token: a signed JWT scoped to one conversation, with no user behind it."""

from datetime import timedelta

from django.conf import settings
from rest_framework_simplejwt.tokens import Token

from conversations.models import Conversation


class WebchatToken(Token):
    token_type = "webchat"
    lifetime = timedelta(minutes=getattr(settings, "PYTAKE_WEBCHAT_TOKEN_MINUTES", 120))

    @classmethod
    def for_conversation(cls, conversation: Conversation) -> "WebchatToken":
        token = cls()
        token["conversation_id"] = conversation.pk
        token["tenant_id"] = conversation.tenant_id
        token["contact_id"] = conversation.contact_id
        return token
