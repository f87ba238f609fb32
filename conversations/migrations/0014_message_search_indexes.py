"""Full-text indexes for searching messages (``conversations.search``; PostgreSQL only).

A message's searchable text is its ``text`` and its ``caption`` (media). Two GIN indexes of that
text as a ``tsvector``, one with the Portuguese dictionary and one with the English one, serve
``@@ websearch_to_tsquery(…)`` in either language. The expression must stay the same as
``conversations.search.DOCUMENT_SQL``, or the planner cannot use the index
(``tests/conversations/test_search.py`` checks the plan). Contact names and numbers are found
through the trigram index of migration 0009. SQLite (the embedded default) has neither: its
search is a plain match.
"""

from django.db import migrations

DOCUMENT = "(COALESCE((content ->> 'text'), '') || ' ' || COALESCE((content ->> 'caption'), ''))"
INDEXES = {"msg_search_pt_idx": "portuguese", "msg_search_en_idx": "english"}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, config in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON conversations_message"
            f" USING gin (to_tsvector('{config}'::regconfig, {DOCUMENT}))"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0013_agent_toolbox")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
