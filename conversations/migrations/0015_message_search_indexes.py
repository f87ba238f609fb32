"""Full-text search of messages (``conversations.search``; PostgreSQL only).

A message's searchable text is its ``text`` and its ``caption`` (media). A stored generated
column, ``search_vector``, holds that text as a ``tsvector`` with the Portuguese dictionary
and the English one together; a GIN index serves ``search_vector @@ query``. PostgreSQL writes
the column with the row (the same work the index needs), so a search reads it instead of
parsing each candidate's text again: ranking and filtering a candidate costs microseconds, not
the ~100 µs per dictionary of ``to_tsvector`` (at 1,000,000 messages the difference between
milliseconds and seconds, docs/benchmarks.md). The column is the database's alone: Django's
model does not list it, and never writes it.

Adding a stored column rewrites the table: on a large installation, run this migration in a
quiet hour. Contact names and numbers are found through the trigram index of migration 0009.
SQLite (the embedded default) has neither: its search is a plain match.
"""

from django.db import migrations

DOCUMENT = "(COALESCE((content ->> 'text'), '') || ' ' || COALESCE((content ->> 'caption'), ''))"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "ALTER TABLE conversations_message ADD COLUMN IF NOT EXISTS search_vector tsvector GENERATED ALWAYS AS"
        f" (to_tsvector('portuguese'::regconfig, {DOCUMENT}) || to_tsvector('english'::regconfig, {DOCUMENT}))"
        " STORED"
    )
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS msg_search_idx ON conversations_message USING gin (search_vector)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS msg_search_idx")
    schema_editor.execute("ALTER TABLE conversations_message DROP COLUMN IF EXISTS search_vector")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0014_agent_toolbox")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
