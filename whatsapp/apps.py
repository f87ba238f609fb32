from django.apps import AppConfig


class WhatsappConfig(AppConfig):
    name = "whatsapp"
    verbose_name = "WhatsApp"

    def ready(self) -> None:
        # Imported here: models load only once the app registry is ready.
        from conversations import channels
        from conversations.models import Channel
        from whatsapp import account_health
        from whatsapp.channel import WhatsAppChannel

        channels.register(Channel.WHATSAPP, WhatsAppChannel())
        # Imported for what they register: their account webhook handlers.
        import whatsapp.account_events
        import whatsapp.templates  # noqa: F401

        account_health.connect()
