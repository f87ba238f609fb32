"""A conversation's history is read in id order (the order PyTake stored its messages), not by
the channels' timestamps: the index follows. The new index is built before the old one goes."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0011_move_service_flow_models'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='message',
            options={'ordering': ['id']},
        ),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(fields=['conversation', 'id'], name='msg_history_id_idx'),
        ),
        migrations.RemoveIndex(
            model_name='message',
            name='msg_history_idx',
        ),
    ]
