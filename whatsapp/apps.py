from django.apps import AppConfig


class WhatsappConfig(AppConfig):
    name = "whatsapp"
    verbose_name = "WhatsApp"

    def ready(self) -> None:
        from conversations import outbound
        from whatsapp.tasks import message_send_enqueue

        # Agent and bot replies on WhatsApp conversations leave through the send task.
        outbound.whatsapp_sender = lambda message_id: message_send_enqueue(message_id=message_id)
