"""The agent's toolbox (conversations/toolbox_models.py): labels, saved replies, mentions, contact
notes and custom attribute definitions; contacts' custom attribute values; the snoozed status with
its wake-up time; a conversation's label ids copied onto it for the inbox and its events."""


import django.core.validators
import django.db.models.deletion
import django.db.models.functions.text
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0013_attachment'),
    ]

    operations = [
        migrations.CreateModel(
            name='ContactAttributeDefinition',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=48, validators=[django.core.validators.RegexValidator('^[a-z][a-z0-9_]{0,47}$', 'Lower-case letters, digits and _, starting with a letter.')])),
                ('label', models.CharField(max_length=100)),
                ('type', models.CharField(choices=[('text', 'Text'), ('number', 'Number'), ('date', 'Date'), ('list', 'One of a list')], max_length=16)),
                ('options', models.JSONField(blank=True, default=list, help_text='The allowed values of a list.')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'ordering': ['label', 'id'],
            },
        ),
        migrations.CreateModel(
            name='ContactNote',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('text', models.TextField(max_length=4096)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='ConversationLabel',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.CreateModel(
            name='ConversationMention',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('read_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='Label',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=64)),
                ('colour', models.CharField(default='#6b7280', max_length=7, validators=[django.core.validators.RegexValidator('^#[0-9a-fA-F]{6}$', 'A colour is #RRGGBB.')])),
                ('description', models.CharField(blank=True, max_length=255)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'ordering': ['name', 'id'],
            },
        ),
        migrations.CreateModel(
            name='SavedReply',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('short_code', models.CharField(max_length=32, validators=[django.core.validators.RegexValidator('^[\\w-]{1,32}$', 'Letters, digits, _ and -, at most 32.')])),
                ('content', models.TextField(max_length=4096)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'verbose_name_plural': 'saved replies',
                'ordering': ['short_code', 'id'],
            },
        ),
        migrations.AddField(
            model_name='contact',
            name='custom_attributes',
            field=models.JSONField(blank=True, db_default={}, default=dict, help_text="Values of the tenant's custom fields, by key (ContactAttributeDefinition)."),
        ),
        migrations.AddField(
            model_name='conversation',
            name='label_ids',
            field=models.JSONField(blank=True, db_default=[], default=list, editable=False, help_text='Ids of its labels, sorted: a copy of its ConversationLabel rows kept by conversations.labels, so that the inbox and every conversation event carry them without a query.'),
        ),
        migrations.AddField(
            model_name='conversation',
            name='snoozed_until',
            field=models.DateTimeField(blank=True, help_text='A snoozed conversation returns to open at this time (Celery beat).', null=True),
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='action',
            field=models.CharField(choices=[('take', 'Took a conversation'), ('assign', 'Assigned'), ('transfer', 'Transferred'), ('unassign', 'Returned to the queue'), ('resolve', 'Resolved'), ('reopen', 'Reopened'), ('status', 'Changed status'), ('broadcast', 'Broadcast'), ('snooze', 'Snoozed'), ('merge', 'Merged contacts')], max_length=16),
        ),
        migrations.AlterField(
            model_name='conversation',
            name='status',
            field=models.CharField(choices=[('open', 'Open'), ('pending', 'Pending'), ('snoozed', 'Snoozed'), ('resolved', 'Resolved')], default='open', max_length=16),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(condition=models.Q(('status', 'snoozed')), fields=['snoozed_until'], name='conv_snoozed_idx'),
        ),
        migrations.AddField(
            model_name='contactattributedefinition',
            name='tenant',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='conversations.tenant'),
        ),
        migrations.AddField(
            model_name='contactnote',
            name='author',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='contactnote',
            name='contact',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='notes', to='conversations.contact'),
        ),
        migrations.AddField(
            model_name='contactnote',
            name='tenant',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='conversations.tenant'),
        ),
        migrations.AddField(
            model_name='conversationlabel',
            name='added_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='conversationlabel',
            name='conversation',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='conversations.conversation'),
        ),
        migrations.AddField(
            model_name='conversationmention',
            name='author',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='conversationmention',
            name='conversation',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='mentions', to='conversations.conversation'),
        ),
        migrations.AddField(
            model_name='conversationmention',
            name='message',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='mentions', to='conversations.message'),
        ),
        migrations.AddField(
            model_name='conversationmention',
            name='tenant',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='conversations.tenant'),
        ),
        migrations.AddField(
            model_name='conversationmention',
            name='user',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='mentions', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='label',
            name='conversations',
            field=models.ManyToManyField(related_name='labels', through='conversations.ConversationLabel', to='conversations.conversation'),
        ),
        migrations.AddField(
            model_name='label',
            name='tenant',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='labels', to='conversations.tenant'),
        ),
        migrations.AddField(
            model_name='conversationlabel',
            name='label',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='conversations.label'),
        ),
        migrations.AddField(
            model_name='savedreply',
            name='created_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='savedreply',
            name='owner',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='saved_replies', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='savedreply',
            name='tenant',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='conversations.tenant'),
        ),
        migrations.AddConstraint(
            model_name='contactattributedefinition',
            constraint=models.UniqueConstraint(fields=('tenant', 'key'), name='contact_attribute_unique_key'),
        ),
        migrations.AddIndex(
            model_name='contactnote',
            index=models.Index(fields=['contact', '-created_at'], name='contact_note_recent_idx'),
        ),
        migrations.AddIndex(
            model_name='conversationmention',
            index=models.Index(fields=['user', '-created_at'], name='mention_user_recent_idx'),
        ),
        migrations.AddIndex(
            model_name='conversationmention',
            index=models.Index(fields=['user', 'conversation'], name='mention_user_conv_idx'),
        ),
        migrations.AddConstraint(
            model_name='conversationmention',
            constraint=models.UniqueConstraint(fields=('message', 'user'), name='mention_unique_per_note'),
        ),
        migrations.AddConstraint(
            model_name='label',
            constraint=models.UniqueConstraint(models.F('tenant'), django.db.models.functions.text.Lower('name'), name='label_unique_name_per_tenant'),
        ),
        migrations.AddIndex(
            model_name='conversationlabel',
            index=models.Index(fields=['label', 'conversation'], name='conv_label_by_label_idx'),
        ),
        migrations.AddConstraint(
            model_name='conversationlabel',
            constraint=models.UniqueConstraint(fields=('conversation', 'label'), name='conversation_label_unique'),
        ),
        migrations.AddConstraint(
            model_name='savedreply',
            constraint=models.UniqueConstraint(models.F('tenant'), django.db.models.functions.text.Lower('short_code'), condition=models.Q(('owner__isnull', True)), name='saved_reply_unique_tenant_code'),
        ),
        migrations.AddConstraint(
            model_name='savedreply',
            constraint=models.UniqueConstraint(models.F('owner'), django.db.models.functions.text.Lower('short_code'), condition=models.Q(('owner__isnull', False)), name='saved_reply_unique_personal_code'),
        ),
    ]
