"""A trigram index for the inbox's contact search (PostgreSQL only).

``selectors.contact_list`` matches a term anywhere in a contact's name, profile name, phone or
WhatsApp id (``icontains``: ``UPPER(col::text) LIKE UPPER('%term%')``), which no B-tree index can
serve: at 100,000 contacts the search read the whole table, ~40 ms a page (docs/benchmarks.md,
scenario 5). A GIN index of the four expressions with ``gin_trgm_ops`` serves each ``LIKE`` of
three characters or more; the planner combines them (a bitmap OR). It needs the ``pg_trgm``
extension (trusted since PostgreSQL 13: the database owner may create it); where it cannot be
created the migration says so and goes on without the index: search works, unindexed.
SQLite (the embedded default) has no such index; its search stays a scan.
"""

import logging

from django.db import DatabaseError, migrations, transaction

log = logging.getLogger(__name__)

INDEX = "contact_search_trgm_idx"
COLUMNS = ("name", "profile_name", "phone", "wa_id")


def create(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:  # a managed database that refuses extensions: no index, say so
        log.warning("pg_trgm is not available (%s): the contact search stays unindexed", exc)
        return
    expressions = ", ".join(f'UPPER("{column}"::text) gin_trgm_ops' for column in COLUMNS)
    schema_editor.execute(f'CREATE INDEX IF NOT EXISTS {INDEX} ON "conversations_contact" USING gin ({expressions})')


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0008_message_account_from_conversation")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
