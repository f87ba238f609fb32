"""Search inside the inbox: messages (text, media captions, internal notes) and contacts (names,
numbers, notes about them), limited by the audience rule to what the asking user may see.

On PostgreSQL, messages are found by full-text search with the Portuguese and the English
dictionaries (a match in either counts; ``ts_rank`` of both orders the hits), served by the two
GIN indexes of migration 0014, whose expression ``DOCUMENT_SQL`` must repeat; the page's hits
are highlighted by ``ts_headline``. Contacts are matched anywhere in their name, profile name,
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

from django.db import connection
from django.db.models import BooleanField, Exists, FloatField, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL

from conversations.access import contacts_visible_to, conversations_readable_by
from conversations.models import Contact, ContactNote, Message, SenderType, User
from conversations.selectors import contact_list

# The searchable text of a message; the same expression as the indexes of migration 0014.
DOCUMENT_SQL = (
    "(COALESCE((\"conversations_message\".\"content\" ->> 'text'), '') || ' ' || "
    "COALESCE((\"conversations_message\".\"content\" ->> 'caption'), ''))"
)
CONFIGS = ("portuguese", "english")
MARK_START, MARK_STOP = "\ue000", "\ue001"  # private-use characters: never in a message's text
HEADLINE_OPTIONS = f"StartSel={MARK_START}, StopSel={MARK_STOP}, MaxWords=24, MinWords=8, MaxFragments=2"
SNIPPET_CHARS = 80
CANDIDATES = 500  # matches ranked per search, the newest ones


@dataclass
class MessageHit:
    message: Message
    rank: float
    highlight: str


def _on_postgres() -> bool:
    return connection.vendor == "postgresql"


def _matches_sql(config: str) -> str:
    return f"to_tsvector('{config}'::regconfig, {DOCUMENT_SQL}) @@ websearch_to_tsquery('{config}'::regconfig, %s)"


def _rank_sql(config: str) -> str:
    return (
        f"ts_rank(to_tsvector('{config}'::regconfig, {DOCUMENT_SQL}), websearch_to_tsquery('{config}'::regconfig, %s))"
    )


def messages_searchable_by(*, user: User) -> QuerySet[Message]:
    """Messages the user may read: of conversations the audience rule lets them read, and no
    system lines (assignment, resolution) — their wording is PyTake's, not anyone's words."""
    if user.tenant_id is None:
        return Message.objects.none()
    qs = Message.objects.filter(tenant_id=user.tenant_id).exclude(sender_type=SenderType.SYSTEM)
    if not user.is_supervisor:
        qs = qs.filter(conversation__in=conversations_readable_by(user=user).values("pk"))
    return qs


def message_search(*, user: User, q: str, limit: int = 20) -> list[MessageHit]:
    """The best ``limit`` messages matching ``q`` the user may read, best first, highlighted."""
    term = q.strip()
    if not term:
        return []
    qs = messages_searchable_by(user=user).select_related("conversation__contact", "sender")
    if _on_postgres():
        matches = " OR ".join(_matches_sql(config) for config in CONFIGS)
        rank = " + ".join(_rank_sql(config) for config in CONFIGS)
        # Ranked among the newest CANDIDATES matches only: a common word matches tens of
        # thousands of messages, and ranking means re-reading each one's text; the GIN index
        # finds the matches, the newest are taken by id, then ts_rank orders those.
        newest = (
            qs.filter(RawSQL(f"({matches})", [term] * len(CONFIGS), output_field=BooleanField()))
            .order_by("-id")
            .values("pk")[:CANDIDATES]
        )
        ranked = list(
            Message.objects.filter(pk__in=newest)
            .select_related("conversation__contact", "sender")
            .annotate(rank=RawSQL(rank, [term] * len(CONFIGS), output_field=FloatField()))
            .order_by("-rank", "-id")[:limit]
        )
        headlines = _headlines(term, [m.pk for m in ranked])
        return [
            MessageHit(m, round(float(m.rank), 6), headlines.get(m.pk) or _highlight_plain(_document(m), term))
            for m in ranked
        ]
    rows: list[Message] = list(
        qs.filter(Q(content__text__icontains=term) | Q(content__caption__icontains=term)).order_by("-id")[:limit]
    )
    return [MessageHit(m, 0.0, _highlight_plain(_document(m), term)) for m in rows]


def _document(message: Message) -> str:
    caption = message.content.get("caption", "") if isinstance(message.content, dict) else ""
    return " ".join(part for part in (message.text, caption if isinstance(caption, str) else "") if part)


def _headlines(term: str, ids: list[int]) -> dict[int, str]:
    """``ts_headline`` of each message, with the dictionary that marked something (Portuguese
    first), as safe HTML. One query for the page, never over the matches."""
    if not ids:
        return {}
    columns = ", ".join(
        f"ts_headline('{config}'::regconfig, {DOCUMENT_SQL}, websearch_to_tsquery('{config}'::regconfig, %s), %s)"
        for config in CONFIGS
    )
    params: list[str] = []
    for _config in CONFIGS:
        params += [term, HEADLINE_OPTIONS]
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT id, {columns} FROM "conversations_message" WHERE id = ANY(%s)',
            [*params, ids],
        )
        found = cursor.fetchall()
    result: dict[int, str] = {}
    for pk, *versions in found:
        marked = next((v for v in versions if MARK_START in v), None)
        if marked is not None:
            result[pk] = _marks_to_html(marked)
    return result


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
    if not term:
        return []
    by_fields = contact_list(user=user, search=term).values("pk")
    notes = ContactNote.objects.filter(contact_id=OuterRef("pk"), text__icontains=term)
    latest = (
        conversations_readable_by(user=user)
        .filter(contact_id=OuterRef("pk"))
        .order_by("-last_message_at", "-id")
        .values("pk")[:1]
    )
    qs = (
        contacts_visible_to(user=user)
        .filter(Q(pk__in=by_fields) | Exists(notes))
        .annotate(latest_conversation_id=Subquery(latest))
        .order_by("name", "id")
    )
    return list(qs[:limit])
