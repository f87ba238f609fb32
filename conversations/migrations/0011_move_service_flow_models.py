"""The queue and the bot move to their own apps (flow, bot); their tables stay."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0010_conversation_assignee_recent_index'),
    ]

    operations = [
        # The tables stay as they are (db_table keeps their names): only Django's idea of which
        # app owns the models changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.RemoveField(
                model_name='botintent',
                name='tenant',
            ),
            migrations.RemoveField(
                model_name='botsettings',
                name='tenant',
            ),
            migrations.RemoveField(
                model_name='queueticket',
                name='assignee',
            ),
            migrations.RemoveField(
                model_name='queueticket',
                name='conversation',
            ),
            migrations.RemoveField(
                model_name='queueticket',
                name='tenant',
            ),
            migrations.DeleteModel(
                name='AgentAbsence',
            ),
            migrations.DeleteModel(
                name='BotIntent',
            ),
            migrations.DeleteModel(
                name='BotSettings',
            ),
            migrations.DeleteModel(
                name='QueueTicket',
            ),
            ],
            database_operations=[],
        ),
    ]
