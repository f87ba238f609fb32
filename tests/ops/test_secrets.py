"""WhatsApp access tokens, app secrets and webhook verify tokens are encrypted at rest (pytake/crypto.py): the column
holds a Fernet token, Python code sees plaintext, keys rotate, a wrong key fails loudly, the
migration encrypts rows stored before, and neither admin nor the API shows them."""

import importlib

import pytest
from cryptography.fernet import Fernet
from django.core import checks, serializers
from django.core.exceptions import FieldError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from conversations.models import Tenant, WhatsAppAccount
from pytake import crypto
from tests import factories
from whatsapp.services import signature_for, webhook_event_receive

TOKEN = "EAAG-access-token-of-tenant-a"
SECRET = "meta-app-secret-of-tenant-a"
OLD_KEY, NEW_KEY, OTHER_KEY = (Fernet.generate_key().decode() for _ in range(3))


def raw_columns(pk: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, app_secret FROM conversations_whatsappaccount WHERE id = %s", [pk])
        return cursor.fetchone()


def write_raw(pk: int, access_token: str, app_secret: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE conversations_whatsappaccount SET access_token = %s, app_secret = %s WHERE id = %s",
            [access_token, app_secret, pk],
        )


def account(**fields) -> WhatsAppAccount:
    return factories.WhatsAppAccountFactory(**({"access_token": TOKEN, "app_secret": SECRET} | fields))


@pytest.mark.django_db
def test_the_column_holds_ciphertext_and_the_model_plaintext():
    created = account()
    stored = raw_columns(created.pk)
    assert all(value.startswith("fernet:") for value in stored)
    assert TOKEN not in stored[0] and SECRET not in stored[1]
    loaded = WhatsAppAccount.objects.get(pk=created.pk)
    assert (loaded.access_token, loaded.app_secret) == (TOKEN, SECRET)
    assert list(WhatsAppAccount.objects.filter(pk=created.pk).values_list("app_secret", flat=True)) == [SECRET]
    # Every save is a new encryption: equal plaintexts do not show in the column.
    assert raw_columns(account(access_token=TOKEN, app_secret=SECRET).pk) != stored


@pytest.mark.django_db
def test_the_verify_token_is_stored_encrypted_and_still_answers_the_handshake(client):
    created = account(verify_token="verify-token-of-tenant-a")
    with connection.cursor() as cursor:
        cursor.execute("SELECT verify_token FROM conversations_whatsappaccount WHERE id = %s", [created.pk])
        (stored,) = cursor.fetchone()
    assert stored.startswith("fernet:") and "verify-token-of-tenant-a" not in stored
    params = {"hub.mode": "subscribe", "hub.challenge": "42"}
    answer = client.get("/webhooks/whatsapp/", params | {"hub.verify_token": "verify-token-of-tenant-a"})
    assert (answer.status_code, answer.content) == (200, b"42")
    assert client.get("/webhooks/whatsapp/", params | {"hub.verify_token": stored}).status_code == 403


@pytest.mark.django_db
def test_an_empty_token_stays_empty():
    created = account(access_token="")
    assert raw_columns(created.pk)[0] == ""
    assert WhatsAppAccount.objects.get(pk=created.pk).access_token == ""


@pytest.mark.django_db
def test_a_legacy_plaintext_row_still_reads_and_signs_webhooks():
    created = account()
    write_raw(created.pk, "legacy-token", "legacy-secret")
    loaded = WhatsAppAccount.objects.get(pk=created.pk)
    assert (loaded.access_token, loaded.app_secret) == ("legacy-token", "legacy-secret")
    loaded.save()  # saving it again encrypts it
    assert raw_columns(created.pk)[1].startswith("fernet:")
    body = b'{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"metadata":{"phone_number_id":"%s"}}}]}]}'
    body = body % created.phone_number_id.encode()
    event, _created = webhook_event_receive(body=body, signature=signature_for(body, "legacy-secret"))
    assert event.account_id == created.pk


@pytest.mark.django_db
def test_a_rotated_key_reads_rows_written_with_the_old_one(settings):
    settings.PYTAKE_SECRETS_KEY = [OLD_KEY]
    old_row = account()
    settings.PYTAKE_SECRETS_KEY = [NEW_KEY, OLD_KEY]  # the new key first, the old one behind it
    assert WhatsAppAccount.objects.get(pk=old_row.pk).app_secret == SECRET
    new_row = account(app_secret="written-after-rotation")
    WhatsAppAccount.objects.get(pk=old_row.pk).save()  # re-saving re-encrypts with the first key
    settings.PYTAKE_SECRETS_KEY = [NEW_KEY]  # the old key retired
    assert WhatsAppAccount.objects.get(pk=new_row.pk).app_secret == "written-after-rotation"
    assert WhatsAppAccount.objects.get(pk=old_row.pk).access_token == TOKEN


@pytest.mark.django_db
def test_a_wrong_key_raises_a_clear_error_not_garbage(settings):
    settings.PYTAKE_SECRETS_KEY = [OLD_KEY]
    created = account()
    settings.PYTAKE_SECRETS_KEY = [OTHER_KEY]
    with pytest.raises(crypto.SecretsKeyError, match="cannot be decrypted with the configured keys") as raised:
        WhatsAppAccount.objects.get(pk=created.pk)
    assert "PYTAKE_SECRETS_KEY" in str(raised.value)
    assert raw_columns(created.pk)[1] not in str(raised.value)


@pytest.mark.django_db
def test_without_a_key_the_secret_key_derives_one_and_its_fallbacks_read(settings):
    settings.PYTAKE_SECRETS_KEY = []
    created = account()
    settings.PYTAKE_SECRETS_KEY = [NEW_KEY]  # a key set later: what was stored before still reads
    assert WhatsAppAccount.objects.get(pk=created.pk).app_secret == SECRET
    settings.PYTAKE_SECRETS_KEY = []
    old_secret_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-rotated-django-secret-key-0123456789abcdef"
    with pytest.raises(crypto.SecretsKeyError):
        WhatsAppAccount.objects.get(pk=created.pk)
    settings.SECRET_KEY_FALLBACKS = [old_secret_key]  # Django's own way of rotating SECRET_KEY
    assert WhatsAppAccount.objects.get(pk=created.pk).app_secret == SECRET


def test_a_malformed_key_is_named_and_fails_the_system_check(settings):
    assert crypto.check_secrets_keys() == []
    settings.PYTAKE_SECRETS_KEY = [NEW_KEY, "not-a-fernet-key"]
    with pytest.raises(crypto.SecretsKeyError, match="entry 2 is not a Fernet key"):
        crypto.encrypt("x")
    errors = checks.run_checks(tags=[checks.Tags.security])
    assert [e.id for e in errors if e.id == "pytake.E001"] == ["pytake.E001"]


@pytest.mark.django_db
def test_the_encrypted_column_refuses_to_be_searched():
    account()
    with pytest.raises(FieldError):
        WhatsAppAccount.objects.filter(app_secret=SECRET).exists()
    assert WhatsAppAccount.objects.filter(access_token__isnull=False).count() == 1


@pytest.mark.django_db
def test_dumpdata_writes_ciphertext_and_loaddata_reads_it():
    created = account()
    dumped = serializers.serialize("json", [created])
    assert TOKEN not in dumped and SECRET not in dumped and "fernet:" in dumped
    WhatsAppAccount.objects.filter(pk=created.pk).delete()
    for restored in serializers.deserialize("json", dumped):
        restored.save()
    loaded = WhatsAppAccount.objects.get(pk=created.pk)
    assert (loaded.access_token, loaded.app_secret) == (TOKEN, SECRET)
    assert raw_columns(created.pk)[1].startswith("fernet:")


# --- The migration ------------------------------------------------------------------------------

MIGRATION = ("conversations", "0005_encrypt_whatsapp_secrets")
BEFORE = ("conversations", "0004_audit_trail")


def _migrate(target: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return MigrationExecutor(connection)  # a fresh loader sees the new state


# Migrating back and forth renders the whole migration graph several times: 10 to 15 s of CPU,
# and make test runs the SQLite pass at a lower priority on a busy machine (82 s seen). The
# suite's 120 s timeout catches hangs; these need more room than that without hanging.
MIGRATION_TIMEOUT = pytest.mark.timeout(360)


@MIGRATION_TIMEOUT
@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_rows_and_reverses():
    tenant = Tenant.objects.create(name="Legacy", slug="legacy")
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        executor = _migrate([BEFORE])
        old_model = executor.loader.project_state([BEFORE]).apps.get_model("conversations", "WhatsAppAccount")
        legacy = old_model.objects.create(
            tenant_id=tenant.pk,
            phone_number_id="100200300",
            display_phone_number="+55 11 4000-9999",
            access_token=TOKEN,
            app_secret=SECRET,
            verify_token="verify",
        )
        empty = old_model.objects.create(
            tenant_id=tenant.pk,
            phone_number_id="100200301",
            display_phone_number="+55 11 4000-9998",
            access_token="",
            app_secret=SECRET,
            verify_token="verify-2",
        )
        assert raw_columns(legacy.pk) == (TOKEN, SECRET)

        _migrate([MIGRATION])
        stored = raw_columns(legacy.pk)
        assert all(value.startswith("fernet:") for value in stored)
        assert raw_columns(empty.pk)[0] == ""
        # Only the secrets: the table is as that migration left it, without later columns.
        loaded = WhatsAppAccount.objects.only("access_token", "app_secret").get(pk=legacy.pk)
        assert (loaded.access_token, loaded.app_secret) == (TOKEN, SECRET)
        # Run again (a half-applied run, a second database): encrypted rows are left as they are.
        module = importlib.import_module("conversations.migrations.0005_encrypt_whatsapp_secrets")
        with connection.schema_editor() as editor:
            module.encrypt_secrets(executor.loader.project_state([MIGRATION]).apps, editor)
        assert raw_columns(legacy.pk) == stored

        _migrate([BEFORE])
        assert raw_columns(legacy.pk) == (TOKEN, SECRET)
        assert raw_columns(empty.pk) == ("", SECRET)
    finally:
        _migrate(leaves)
    assert WhatsAppAccount.objects.get(pk=legacy.pk).app_secret == SECRET
    assert raw_columns(legacy.pk)[1].startswith("fernet:")


@MIGRATION_TIMEOUT
@pytest.mark.django_db(transaction=True)
def test_the_verify_token_migration_encrypts_existing_rows_and_reverses():
    before, after = ("conversations", "0006_pending_outbound_index"), ("conversations", "0007_encrypt_verify_token")
    tenant = Tenant.objects.create(name="Legacy", slug="legacy")
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()

    def raw_verify_token(pk):
        with connection.cursor() as cursor:
            cursor.execute("SELECT verify_token FROM conversations_whatsappaccount WHERE id = %s", [pk])
            return cursor.fetchone()[0]

    try:
        executor = _migrate([before])
        old_model = executor.loader.project_state([before]).apps.get_model("conversations", "WhatsAppAccount")
        legacy = old_model.objects.create(
            tenant_id=tenant.pk,
            phone_number_id="100200302",
            display_phone_number="+55 11 4000-9997",
            app_secret=SECRET,
            verify_token="legacy-verify",
        )
        assert raw_verify_token(legacy.pk) == "legacy-verify"
        _migrate([after])
        assert raw_verify_token(legacy.pk).startswith("fernet:")
        assert WhatsAppAccount.objects.only("verify_token").get(pk=legacy.pk).verify_token == "legacy-verify"
        _migrate([before])
        assert raw_verify_token(legacy.pk) == "legacy-verify"
    finally:
        _migrate(leaves)
    assert WhatsAppAccount.objects.get(pk=legacy.pk).verify_token == "legacy-verify"


# --- Never shown --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_says_whether_a_secret_is_set_never_what_it_is(client):
    operator = factories.UserFactory(tenant=None, is_staff=True, is_superuser=True)
    client.force_login(operator)
    created = account(access_token="")
    page = client.get(f"/admin/conversations/whatsappaccount/{created.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert SECRET not in html and "fernet:" not in html
    assert created.verify_token not in html
    assert html.count("Set; leave blank to keep it.") == 2 and html.count("Not set.") == 1  # secret, verify / token
    add = client.get("/admin/conversations/whatsappaccount/add/").content.decode()
    assert add.count("Not set.") == 3
    listing = client.get("/admin/conversations/whatsappaccount/").content.decode()
    assert SECRET not in listing and "fernet:" not in listing


@pytest.mark.django_db
def test_the_api_never_returns_an_account_secret(api_for, supervisor, tenant):
    created = account(tenant=tenant)
    conversation = factories.ConversationFactory(tenant=tenant, whatsapp_account=created)
    factories.MessageFactory(conversation=conversation, whatsapp_account=created)
    api = api_for(supervisor)
    for url in (
        "/api/me/",
        "/api/conversations/",
        f"/api/conversations/{conversation.pk}/",
        f"/api/conversations/{conversation.pk}/messages/",
        "/api/queue/",
    ):
        response = api.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert TOKEN not in body and SECRET not in body and "fernet:" not in body, url
