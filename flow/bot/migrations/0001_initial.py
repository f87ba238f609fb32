"""The bot's models, formerly of the conversations app, on their existing tables."""

import django.db.models.deletion
import flow.bot.models
from django.db import migrations, models



def _content_types_follow(apps, schema_editor):
    """Existing permissions and admin history keep pointing at the models under their new app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="conversations", model__in=['botsettings', 'botintent']).update(app_label="bot")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('conversations', '0011_move_service_flow_models'),
    ]

    operations = [
        # The tables stay as they are (db_table keeps their names): only Django's idea of which
        # app owns the models changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='BotSettings',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('enabled', models.BooleanField(default=True, help_text='Off: every inbound message goes straight to the queue.')),
                    ('engine', models.CharField(choices=[('rules', 'Rules'), ('llm', 'LLM (OpenAI-compatible endpoint), falling back to rules')], default='rules', max_length=16)),
                    ('default_language', models.CharField(choices=[('pt', 'Português'), ('en', 'English')], default='pt', max_length=8)),
                    ('timezone', models.CharField(default='America/Sao_Paulo', max_length=64)),
                    ('business_hours', models.JSONField(blank=True, default=flow.bot.models.default_business_hours, help_text='Per weekday (mon…sun) a list of ["HH:MM", "HH:MM"] intervals; empty object: always open.')),
                    ('confidence_threshold', models.FloatField(default=0.6, help_text='Below this, an intent does not match.')),
                    ('fallback_limit', models.PositiveSmallIntegerField(default=2, help_text='Consecutive fallback answers after which the bot hands over to a human.')),
                    ('negative_sentiment_threshold', models.FloatField(default=-0.5, help_text='Sentiment (-1…1) at or below which the bot hands over to a human.')),
                    ('tenant', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='bot_settings', to='conversations.tenant')),
                ],
                options={
                    'verbose_name': 'bot settings',
                    'verbose_name_plural': 'bot settings',
                    'db_table': 'conversations_botsettings',
                },
            ),
            migrations.CreateModel(
                name='BotIntent',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('kind', models.CharField(choices=[('intent', 'Intent (examples → answer)'), ('greeting', 'Greeting'), ('handoff', 'Hand-off request (talk to a human)'), ('fallback', 'Fallback (nothing matched)'), ('out_of_hours', 'Out of business hours notice'), ('queued', 'Queue notice ({position}, {minutes})')], default='intent', max_length=16)),
                    ('name', models.SlugField(help_text='Stable id of the intent, stored on every bot answer.', max_length=64)),
                    ('language', models.CharField(choices=[('pt', 'Português'), ('en', 'English')], default='pt', max_length=8)),
                    ('examples', models.TextField(blank=True, help_text='Example phrases, one per line.')),
                    ('answer', models.TextField(help_text='What the bot says.')),
                    ('quick_replies', models.TextField(blank=True, help_text='Buttons offered with the answer, one per line (max 3).')),
                    ('is_active', models.BooleanField(default=True)),
                    ('order', models.PositiveIntegerField(default=0, help_text='Lower first when two intents score the same.')),
                    ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='bot_intents', to='conversations.tenant')),
                ],
                options={
                    'db_table': 'conversations_botintent',
                    'ordering': ['tenant', 'order', 'name', 'language'],
                    'constraints': [models.UniqueConstraint(fields=('tenant', 'kind', 'name', 'language'), name='bot_intent_unique_per_tenant')],
                },
            ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(_content_types_follow, migrations.RunPython.noop),
    ]
