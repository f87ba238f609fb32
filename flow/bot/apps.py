from django.apps import AppConfig


class BotConfig(AppConfig):
    name = "flow.bot"
    label = "bot"
    verbose_name = "Bot"
