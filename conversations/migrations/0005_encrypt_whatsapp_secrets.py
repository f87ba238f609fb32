"""WhatsApp access tokens and app secrets encrypted at rest (pytake/crypto.py).

The data step works on the raw columns, not through the field, so it sees exactly what is
stored: forwards it encrypts every non-empty value that is not encrypted yet (running it again
changes nothing); backwards it writes the plaintext back. ``app_secret`` becomes a text column:
a Fernet token is longer than the plaintext and would not fit in 255 characters.
"""

from django.db import migrations

import pytake.crypto

FIELDS = ("access_token", "app_secret")


def _rewrite(apps, schema_editor, convert):
    account = apps.get_model("conversations", "WhatsAppAccount")
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    table = quote(account._meta.db_table)
    pk_column = quote(account._meta.pk.column)
    columns = [quote(account._meta.get_field(name).column) for name in FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {pk_column}, {', '.join(columns)} FROM {table} ORDER BY {pk_column}")
        rows = cursor.fetchall()
        for pk, *values in rows:
            new = [convert(value) if value else value for value in values]
            if new != values:
                assignments = ", ".join(f"{column} = %s" for column in columns)
                cursor.execute(f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s", [*new, pk])


def encrypt_secrets(apps, schema_editor):
    _rewrite(
        apps,
        schema_editor,
        lambda value: value if pytake.crypto.is_encrypted(value) else pytake.crypto.encrypt(value),
    )


def decrypt_secrets(apps, schema_editor):
    _rewrite(apps, schema_editor, pytake.crypto.decrypt)


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
