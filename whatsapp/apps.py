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
        import whatsapp.templates  # noqa: F401  (registers its account webhook handlers)

        account_health.connect()
