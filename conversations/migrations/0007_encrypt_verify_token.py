"""The webhook verify token encrypted at rest too (pytake/crypto.py), as the access token and the
app secret are since 0005: it is the shared secret that lets a caller subscribe a webhook.

Nothing looks accounts up by it (the handshake compares it with every active account's), so an
encrypted column, which cannot be searched, serves. Same data step as 0005: forwards encrypts
what is not encrypted yet, backwards writes the plaintext back.
"""

from django.db import migrations

import pytake.crypto

MODEL = "conversations.WhatsAppAccount"
FIELDS = ("verify_token",)


def encrypt_verify_tokens(apps, schema_editor):
    pytake.crypto.rewrite_columns(
        apps, schema_editor, model=MODEL, fields=FIELDS, convert=pytake.crypto.encrypt_stored
    )


def decrypt_verify_tokens(apps, schema_editor):
    pytake.crypto.rewrite_columns(apps, schema_editor, model=MODEL, fields=FIELDS, convert=pytake.crypto.decrypt)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0006_pending_outbound_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="whatsappaccount",
            name="verify_token",
            field=pytake.crypto.EncryptedTextField(
                help_text="Meta's webhook verify token: the one set in the app's webhook settings."
            ),
        ),
        migrations.RunPython(encrypt_verify_tokens, decrypt_verify_tokens),
    ]
