"""WhatsApp access tokens and app secrets encrypted at rest (pytake/crypto.py).

The data step works on the raw columns, not through the field, so it sees exactly what is
stored: forwards it encrypts every non-empty value that is not encrypted yet (running it again
changes nothing); backwards it writes the plaintext back. ``app_secret`` becomes a text column:
a Fernet token is longer than the plaintext and would not fit in 255 characters.
"""

from django.db import migrations

import pytake.crypto

MODEL = "conversations.WhatsAppAccount"
FIELDS = ("access_token", "app_secret")


def encrypt_secrets(apps, schema_editor):
    pytake.crypto.rewrite_columns(
        apps, schema_editor, model=MODEL, fields=FIELDS, convert=pytake.crypto.encrypt_stored
    )


def decrypt_secrets(apps, schema_editor):
    pytake.crypto.rewrite_columns(apps, schema_editor, model=MODEL, fields=FIELDS, convert=pytake.crypto.decrypt)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0004_audit_trail"),
    ]

    operations = [
        migrations.AlterField(
            model_name="whatsappaccount",
            name="access_token",
            field=pytake.crypto.EncryptedTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="whatsappaccount",
            name="app_secret",
            field=pytake.crypto.EncryptedTextField(),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
    ]
