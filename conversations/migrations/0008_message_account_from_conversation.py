"""Every outbound WhatsApp message names the account it is sent through.

Messages have been created with their conversation's account for a while; older rows left it empty,
and the sending code fell back to the conversation's account in three places while the status path
(``receipts_apply_pending``) looked only at the message's. After this step it is one rule: a
message's account is its own ``whatsapp_account``.
"""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def fill_message_accounts(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    account_of_conversation = Conversation.objects.filter(pk=OuterRef("conversation_id")).values("whatsapp_account_id")
    Message.objects.filter(
        whatsapp_account__isnull=True,
        direction="outbound",
        internal=False,
        conversation__channel="whatsapp",
        conversation__whatsapp_account__isnull=False,
    ).update(whatsapp_account_id=Subquery(account_of_conversation[:1]))


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0007_encrypt_verify_token"),
    ]

    operations = [
        migrations.RunPython(fill_message_accounts, migrations.RunPython.noop, elidable=True),
    ]
