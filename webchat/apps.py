from django.apps import AppConfig


class WebchatConfig(AppConfig):
    name = "webchat"
    verbose_name = "Web chat"

    def ready(self) -> None:
        # Imported here: models load only once the app registry is ready.
        from conversations import channels, files
        from conversations.models import Channel
        from webchat.auth import WebchatTokenAuthentication
        from webchat.channel import WebchatChannel

        channels.register(Channel.WEBCHAT, WebchatChannel())
        # The customer fetches the files of their conversation with their own token.
        files.customer_authentication_register(WebchatTokenAuthentication)
