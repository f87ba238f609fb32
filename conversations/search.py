"""Search inside the inbox: messages (text, media captions, internal notes) and contacts (names,
numbers, notes about them), limited by the audience rule to what the asking user may see.

On PostgreSQL, messages are found by full-text search with the Portuguese and the English
dictionaries (a match in either counts; ``ts_rank`` orders the hits), on the stored
``search_vector`` column of migration 0015 and its GIN index; the page's hits are highlighted by
``ts_headline`` (``DOCUMENT_SQL`` is the text the column was made from). Contacts are matched anywhere in their name, profile name,
phone or WhatsApp id, served by the trigram index of migration 0009. On SQLite (the embedded
default) both are a plain case-insensitive match, newest first. A word found in more than
``CANDIDATES`` messages is ranked among the newest of them: search serves finding a recent
conversation, and ranking every match of a common word grows with the history.

A highlight is HTML-safe: the message's text escaped, with ``<mark>…</mark>`` around the matched
words and nothing else.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import BigIntegerField, BooleanField, FloatField, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.expressions import RawSQL

from conversations.access import contacts_visible_to, conversations_readable_by
from conversations.models import Contact, ContactNote, Message, SenderType, User
from conversations.selectors import contact_list

# The searchable text of a message; the same expression as the column of migration 0015.
DOCUMENT_SQL = (
    "(COALESCE((\"conversations_message\".\"content\" ->> 'text'), '') || ' ' || "
    "COALESCE((\"conversations_message\".\"content\" ->> 'caption'), ''))"
)
CONFIGS = ("portuguese", "english")
MARK_START, MARK_STOP = "\ue000", "\ue001"  # private-use characters: never in a message's text
HEADLINE_OPTIONS = f"StartSel={MARK_START}, StopSel={MARK_STOP}, MaxWords=24, MinWords=8, MaxFragments=2"
SNIPPET_CHARS = 80
CANDIDATES = 200  # matches ranked per search, the newest ones
RECENT_WINDOW = 20_000  # newest messages of the tenant, or of an agent's view, walked for a common word


@dataclass
class MessageHit:
    message: Message
    rank: float
    highlight: str


def _on_postgres() -> bool:
    return connection.vendor == "postgresql"


# The stored tsvector of migration 0015 (Portuguese and English lexemes together) and a query
# matching either dictionary's reading of the words.
VECTOR_SQL = '"conversations_message"."search_vector"'
QUERY_SQL = " || ".join(f"websearch_to_tsquery('{config}'::regconfig, %s)" for config in CONFIGS)
MATCH_SQL = f"{VECTOR_SQL} @@ ({QUERY_SQL})"
RANK_SQL = f"ts_rank({VECTOR_SQL}, {QUERY_SQL})"
HEADLINE_SQL = (
    f"ts_headline('{{config}}'::regconfig, {DOCUMENT_SQL}, websearch_to_tsquery('{{config}}'::regconfig, %s), %s)"
)


def messages_searchable_by(*, user: User) -> QuerySet[Message]:
    """Messages the user may read: of conversations the audience rule lets them read, and no
    system lines (assignment, resolution) — their wording is PyTake's, not anyone's words."""
    qs = _messages_of_tenant(user=user)
    if user.tenant_id is not None and not user.is_supervisor:
        qs = qs.filter(conversation__in=conversations_readable_by(user=user).values("pk"))
    return qs


def _messages_of_tenant(*, user: User) -> QuerySet[Message]:
    """The messages of the user's tenant search may find (no system lines), whoever may read
    them: a supervisor's view; for an agent, a place to measure a word's frequency, never an
    answer."""
    if user.tenant_id is None:
        return Message.objects.none()
    return Message.objects.filter(tenant_id=user.tenant_id).exclude(sender_type=SenderType.SYSTEM)


def message_search(*, user: User, q: str, limit: int = 20) -> list[MessageHit]:
    """The best ``limit`` messages matching ``q`` the user may read, best first, highlighted."""
    term = q.strip()
    if not term or user.tenant_id is None:  # a user of no tenant reads no message
        return []
    qs = messages_searchable_by(user=user).select_related("conversation__contact", "sender", "attachment")
    if _on_postgres():
        newest = _newest_matches(user=user, qs=qs, term=term)
        if not newest:
            return []
        headline_columns = {
            f"headline_{config}": RawSQL(
                HEADLINE_SQL.format(config=config), [term, HEADLINE_OPTIONS], output_field=TextField()
            )
            for config in CONFIGS
        }
        ranked = list(
            # One array parameter, not an IN of 200 (Django prepares each value of an IN: ~10 ms).
            Message.objects.filter(
                RawSQL('"conversations_message"."id" = ANY(%s)', [newest], output_field=BooleanField())
            )
            .select_related("conversation__contact", "sender", "attachment")
            .annotate(rank=RawSQL(RANK_SQL, [term] * len(CONFIGS), output_field=FloatField()))
            # PostgreSQL computes these costly columns after the sort and the limit: for the
            # page's rows only, never for every candidate.
            .annotate(**headline_columns)
            .order_by("-rank", "-id")[:limit]
        )
        return [MessageHit(m, round(float(m.rank), 6), _headline(m, term)) for m in ranked]
    rows: list[Message] = list(
        qs.filter(Q(content__text__icontains=term) | Q(content__caption__icontains=term)).order_by("-id")[:limit]
    )
    return [MessageHit(m, 0.0, _highlight_plain(_document(m), term)) for m in rows]


def _newest_matches(*, user: User, qs: QuerySet[Message], term: str) -> list[int]:
    """Ids of the newest ``CANDIDATES`` messages of ``qs`` (the user's view) matching ``term``
    (PostgreSQL): the same ids whichever way they are found.

    Two shapes of search, each fast where the other is slow. A common word: a walk backwards by
    id over the newest ``RECENT_WINDOW`` messages, each checked against its stored vector
    (microseconds apiece), ends at the ``CANDIDATES``-th match. A rare one: the GIN index gives
    its few matches in the whole history. (Left to itself, the planner reads backwards for a
    word it guesses common and finds nowhere: the whole table.) Which is which is learnt from
    the walk over the tenant's newest messages, a plain read of the table: fewer matches there
    than wanted, and the word is rare. For a supervisor that walk is the view's. An agent's view
    is a part of the tenant: only a word common there is looked for in a second walk, over the
    view, which it ends early. A rare word never walks the view in full, which reads 3-4 times
    as many rows as the tenant's walk (docs/benchmarks.md, "Search at 1M messages")."""
    tenant = _messages_of_tenant(user=user)
    recent = _walk(tenant, term)
    if len(recent) >= CANDIDATES and not user.is_supervisor:
        recent = _walk(qs, term)
    if len(recent) >= CANDIDATES:
        return recent
    match = RawSQL(MATCH_SQL, [term] * len(CONFIGS), output_field=BooleanField())
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # The planner, guessing thousands of matches for a word it has no statistics of, would
        # start parallel workers: 15-20 ms at 1,000,000 messages, for a query of a millisecond.
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        return list(qs.filter(match).order_by(_UNINDEXED_ID.desc()).values_list("pk", flat=True)[:CANDIDATES])


def _walk(qs: QuerySet[Message], term: str) -> list[int]:
    """Ids of the newest ``CANDIDATES`` messages matching ``term`` among the newest
    ``RECENT_WINDOW`` of ``qs``, read backwards by id. The window is a subquery of its own:
    written by Django as a query of its own, its SQL names the message table as ``MATCH_SQL``
    does (a subquery inside Django's query would alias it)."""
    window = (
        qs.order_by("-id")
        .annotate(hit=RawSQL(MATCH_SQL, [term] * len(CONFIGS), output_field=BooleanField()))
        .values_list("pk", "hit")[:RECENT_WINDOW]
    )
    sql, params = window.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT recent."pk" FROM ({sql}) recent WHERE recent."hit" ORDER BY recent."pk" DESC LIMIT %s',
            [*params, CANDIDATES],
        )
        return [pk for (pk,) in cursor.fetchall()]


# Ordering by an expression of the id, not the id itself, keeps the planner from walking the
# primary key backwards (it would, hoping for early matches) instead of using the GIN index.
_UNINDEXED_ID = RawSQL('("conversations_message"."id" + 0)', [], output_field=BigIntegerField())


def _document(message: Message) -> str:
    return " ".join(part for part in (message.text, message.caption) if part)


def _headline(message: Message, term: str) -> str:
    """The message's ``ts_headline`` (its ``headline_<config>`` columns), with the dictionary
    that marked something (Portuguese first), as safe HTML; a plain snippet if none did."""
    versions = (getattr(message, f"headline_{config}") for config in CONFIGS)
    marked = next((v for v in versions if v and MARK_START in v), None)
    if marked is None:
        return _highlight_plain(_document(message), term)
    return _marks_to_html(marked)


def _marks_to_html(text: str) -> str:
    return html.escape(text).replace(MARK_START, "<mark>").replace(MARK_STOP, "</mark>")


def _highlight_plain(text: str, term: str) -> str:
    """A snippet of ``text`` around the first occurrence of any word of ``term``, each occurrence
    marked (the fallback of SQLite, and of a hit the dictionaries did not mark)."""
    words = [re.escape(w) for w in term.split() if w]
    if not words:
        return html.escape(text[: SNIPPET_CHARS * 2])
    pattern = re.compile("|".join(words), re.IGNORECASE)
    first = pattern.search(text)
    start = max(0, first.start() - SNIPPET_CHARS) if first else 0
    snippet = text[start : start + SNIPPET_CHARS * 2 + (len(first.group(0)) if first else 0)]
    marked = pattern.sub(lambda m: f"{MARK_START}{m.group(0)}{MARK_STOP}", snippet)
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + len(snippet) < len(text) else ""
    return prefix + _marks_to_html(marked) + suffix


def contact_search(*, user: User, q: str, limit: int = 10) -> list[Contact]:
    """Contacts the user may see whose name, profile name, number or WhatsApp id contains ``q``,
    or with a note that does; each with ``latest_conversation_id``, the newest conversation of
    theirs the user may read (None when there is none)."""
    term = q.strip()
    if not term or user.tenant_id is None:
        return []
    # Each condition on its own (the trigram index serves the fields; notes are few), then joined:
    # one query with an OR of the two read every contact of the tenant.
    by_fields = list(contact_list(user=user, search=term).order_by().values_list("pk", flat=True)[: limit * 5])
    by_notes = list(
        ContactNote.objects.filter(tenant_id=user.tenant_id, text__icontains=term)
        .order_by("-id")
        .values_list("contact_id", flat=True)[: limit * 5]
    )
    found = set(by_fields) | set(by_notes)
    if not found:  # the usual answer to words of messages: no query, nor the building of one
        return []
    latest = (
        conversations_readable_by(user=user)
        .filter(contact_id=OuterRef("pk"))
        .order_by("-last_message_at", "-id")
        .values("pk")[:1]
    )
    qs = (
        contacts_visible_to(user=user)
        .filter(pk__in=found)
        .annotate(latest_conversation_id=Subquery(latest))
        .order_by("name", "id")
    )
    return list(qs[:limit])
