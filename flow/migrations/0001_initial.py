"""The queue's models, formerly of the conversations app, on their existing tables."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models



def _content_types_follow(apps, schema_editor):
    """Existing permissions and admin history keep pointing at the models under their new app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="conversations", model__in=['queueticket', 'agentabsence']).update(app_label="flow")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('conversations', '0011_move_service_flow_models'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables stay as they are (db_table keeps their names): only Django's idea of which
        # app owns the models changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='AgentAbsence',
                fields=[
                    ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to=settings.AUTH_USER_MODEL)),
                    ('since', models.DateTimeField(default=django.utils.timezone.now)),
                ],
                options={
                    'db_table': 'conversations_agentabsence',
                },
            ),
            migrations.CreateModel(
                name='QueueTicket',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('reason', models.CharField(help_text='Why it needs a human: requested, fallback, sentiment…', max_length=32)),
                    ('entered_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ('left_at', models.DateTimeField(blank=True, null=True)),
                    ('outcome', models.CharField(choices=[('waiting', 'Waiting'), ('assigned', 'Assigned'), ('resolved', 'Resolved while waiting')], default='waiting', max_length=16)),
                    ('assigned_at', models.DateTimeField(blank=True, null=True)),
                    ('handled_until', models.DateTimeField(blank=True, help_text="When the agent's handling ended (resolved or handed back).", null=True)),
                    ('last_notified_position', models.PositiveIntegerField(blank=True, null=True)),
                    ('assignee', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='queue_tickets', to='conversations.conversation')),
                    ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='conversations.tenant')),
                ],
                options={
                    'db_table': 'conversations_queueticket',
                    'ordering': ['entered_at', 'id'],
                    'indexes': [models.Index(fields=['tenant', 'handled_until'], name='queue_ticket_handled_idx')],
                    'constraints': [models.UniqueConstraint(condition=models.Q(('left_at__isnull', True)), fields=('conversation',), name='queue_one_open_ticket_per_conversation')],
                },
            ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(_content_types_follow, migrations.RunPython.noop),
    ]
