from django.apps import AppConfig


class WebchatConfig(AppConfig):
    name = "webchat"
    verbose_name = "Web chat"

    def ready(self) -> None:
        # Imported here: models load only once the app registry is ready.
        from conversations import channels
        from conversations.models import Channel
        from webchat.channel import WebchatChannel

        channels.register(Channel.WEBCHAT, WebchatChannel())
