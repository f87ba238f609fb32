"""Secrets at rest: a model field that stores its value encrypted with Fernet.

Keys come from ``PYTAKE_SECRETS_KEY`` (comma-separated Fernet keys: the first encrypts, all
decrypt, so a new key goes first and the old one stays behind it until every row is saved again).
After those, and when it is unset, keys derived from ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``
also decrypt, and the ``SECRET_KEY`` one encrypts when no key is set: ``make run`` needs nothing,
a deployment that sets a key later still reads what it stored before, and a ``SECRET_KEY``
rotated with Django's fallbacks keeps the secrets readable.

A stored value is ``fernet:<token>``. A value without the prefix is legacy plaintext from before
encryption and is read as it is (the migration that introduced the field encrypts those rows).
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models

PREFIX = "fernet:"
_HKDF_INFO = b"pytake secrets at rest v1"


class SecretsKeyError(ImproperlyConfigured):
    """A stored secret cannot be decrypted with the configured keys, or a key is malformed."""


def key_from_secret(secret: str) -> bytes:
    """A Fernet key derived from a string secret (HKDF-SHA256), as urlsafe base64."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(raw)


@functools.lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...], secret_keys: tuple[str, ...]) -> MultiFernet:
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except ValueError:
            raise SecretsKeyError(
                f"PYTAKE_SECRETS_KEY entry {position} is not a Fernet key (32 url-safe base64-encoded bytes; "
                'make one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
            ) from None
    fernets += [Fernet(key_from_secret(secret)) for secret in secret_keys if secret]
    return MultiFernet(fernets)


@checks.register(checks.Tags.security)
def check_secrets_keys(**kwargs: Any) -> list[checks.CheckMessage]:
    """``manage.py check`` (and ``migrate``) refuse a malformed PYTAKE_SECRETS_KEY up front,
    not at the first webhook."""
    try:
        _keys()
    except SecretsKeyError as exc:
        return [checks.Error(str(exc), id="pytake.E001")]
    return []


@checks.register(checks.Tags.security, deploy=True)
def check_secrets_key_set(**kwargs: Any) -> list[checks.CheckMessage]:
    """In production the key should not hang on DJANGO_SECRET_KEY, which then could never change
    without losing every stored token."""
    if settings.DEBUG or settings.PYTAKE_SECRETS_KEY:
        return []
    return [
        checks.Warning(
            "PYTAKE_SECRETS_KEY is not set: WhatsApp tokens and app secrets are encrypted with a key "
            "derived from DJANGO_SECRET_KEY.",
            hint='Set PYTAKE_SECRETS_KEY (python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())").',
            id="pytake.W001",
        )
    ]


def _keys() -> MultiFernet:
    """The configured keys; read from settings on every call (cached per value) so tests and
    ``override_settings`` see a change."""
    return _multi_fernet(
        tuple(settings.PYTAKE_SECRETS_KEY),
        (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS),
    )


def encrypt(plaintext: str) -> str:
    return PREFIX + _keys().encrypt(plaintext.encode()).decode("ascii")


def is_encrypted(value: str) -> bool:
    return value.startswith(PREFIX)


def decrypt(stored: str) -> str:
    """The plaintext of a stored value; legacy plaintext (no prefix) is returned as it is.

    Raises ``SecretsKeyError`` when no configured key opens it: never garbage."""
    if not is_encrypted(stored):
        return stored
    try:
        return _keys().decrypt(stored.removeprefix(PREFIX).encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise SecretsKeyError(
            "A stored secret cannot be decrypted with the configured keys. The key changed: put the key "
            "it was written with back into PYTAKE_SECRETS_KEY, after the new one (when PYTAKE_SECRETS_KEY "
            "is unset the key comes from DJANGO_SECRET_KEY: restore the old one, or add it to "
            "SECRET_KEY_FALLBACKS)."
        ) from None


def encrypt_stored(value: str) -> str:
    """``value`` encrypted, unless it already is (a data migration run twice changes nothing)."""
    return value if is_encrypted(value) else encrypt(value)


def rewrite_columns(
    apps: Any, schema_editor: Any, *, model: str, fields: Sequence[str], convert: Callable[[str], str]
) -> None:
    """For data migrations: rewrite the non-empty values of ``fields`` of every row of ``model``
    ("app.Model") with ``convert``, on the raw columns, not through the field, so that it sees
    exactly what is stored."""
    found = apps.get_model(*model.split("."))
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    table = quote(found._meta.db_table)
    pk_column = quote(found._meta.pk.column)
    columns = [quote(found._meta.get_field(name).column) for name in fields]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {pk_column}, {', '.join(columns)} FROM {table} ORDER BY {pk_column}")
        rows = cursor.fetchall()
        for pk, *values in rows:
            new = [convert(value) if value else value for value in values]
            if new != values:
                assignments = ", ".join(f"{column} = %s" for column in columns)
                cursor.execute(f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s", [*new, pk])


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """A text field stored encrypted (see the module docstring). Python code sees plaintext.

    An empty value stays empty (so "not set" is visible without a key). The column cannot be
    searched: every encryption differs, so only ``isnull`` lookups are allowed and the others
    raise ``FieldError`` instead of silently matching nothing. Serialisation (``dumpdata``)
    writes the encrypted value; loading it decrypts.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return decrypt(value) if value else value

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if not isinstance(value, str) or not value:
            return value
        try:
            return decrypt(value)
        except SecretsKeyError as exc:  # a form or a fixture gave a value no key opens
            raise ValidationError(str(exc), code="undecryptable") from None

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return encrypt(value) if isinstance(value, str) and value else value

    def value_to_string(self, obj: models.Model) -> str:
        value = self.value_from_object(obj)
        return encrypt(value) if value else ""

    def get_lookup(self, lookup_name: str) -> Any:
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None
