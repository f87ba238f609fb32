from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"

    def ready(self) -> None:
        # Imported here: models load only once the app registry is ready.
        from conversations import files
        from pytake.csp import register_media_origin

        register_media_origin(files.link_origin)  # pages may show message files from an S3 store
