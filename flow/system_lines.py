"""What the history says when a conversation changes hands or is resolved, and what the customer is
told when an agent joins, in Portuguese and English.

A system line is stored as a code with parameters, ``content["system"] = {"event": code, …}``,
and each client renders it in its viewer's language (``static/pytake/system.js`` holds the same
templates as ``SYSTEM_TEMPLATES`` below; a browser test checks that both render alike). The
parameters carry the names as well as the ids, so a client needs nothing else to render a line.
``content["text"]`` keeps a rendering in the tenant's language for clients that do not know the
codes (and for search).

Events and their parameters:

==============  =========================================================================
``taken``       ``to``, ``to_name``: an agent took a conversation nobody had
``assigned``    ``to``, ``to_name``, ``by``, ``by_name`` (``by`` null: automatically)
``transferred`` ``from``, ``from_name``, ``to``, ``to_name``, ``by``, ``by_name`` (nullable)
``returned``    ``from``, ``from_name``: the agent handed it back to the queue
``requeued``    ``from``, ``from_name``, ``by``, ``by_name`` (null: the system), ``reason``
``resolved``    ``by``, ``by_name`` (null: the system), ``reason``
==============  =========================================================================

Every event may carry ``reason``: a code (``agent absent``, ``inactivity``) shown translated,
or free text shown as written; ``auto`` and ``returned`` say nothing more.
"""

from __future__ import annotations

from typing import Any

from conversations.models import User

LANGUAGES = ("pt", "en")

# key: event, or event + ".by" when someone (not the system) did it.
SYSTEM_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "taken": "{to_name} took the conversation",
        "assigned": "Assigned to {to_name} automatically",
        "assigned.by": "Assigned to {to_name} by {by_name}",
        "transferred": "Transferred from {from_name} to {to_name}",
        "transferred.by": "Transferred from {from_name} to {to_name} by {by_name}",
        "returned": "{from_name} returned the conversation to the queue",
        "requeued": "Returned to the queue",
        "requeued.by": "Returned to the queue by {by_name}",
        "resolved": "Conversation resolved",
        "resolved.by": "Conversation resolved by {by_name}",
        "reason": "{text} ({reason})",
        "end": "{text}.",
        "reason.agent absent": "agent absent",
        "reason.inactivity": "inactivity",
    },
    "pt": {
        "taken": "{to_name} assumiu a conversa",
        "assigned": "Atribuída a {to_name} automaticamente",
        "assigned.by": "Atribuída a {to_name} por {by_name}",
        "transferred": "Transferida de {from_name} para {to_name}",
        "transferred.by": "Transferida de {from_name} para {to_name} por {by_name}",
        "returned": "{from_name} devolveu a conversa à fila",
        "requeued": "Devolvida à fila",
        "requeued.by": "Devolvida à fila por {by_name}",
        "resolved": "Conversa resolvida",
        "resolved.by": "Conversa resolvida por {by_name}",
        "reason": "{text} ({reason})",
        "end": "{text}.",
        "reason.agent absent": "agente ausente",
        "reason.inactivity": "inatividade",
    },
}
SILENT_REASONS = frozenset({"", "auto", "returned"})

# What the customer is told (in the conversation's bot language).
CUSTOMER_TEMPLATES: dict[str, dict[str, str]] = {
    "en": {"agent_joined": "An agent has joined: {agent_name}."},
    "pt": {"agent_joined": "Um atendente entrou na conversa: {agent_name}."},
}


def _language(language: str) -> str:
    return language if language in SYSTEM_TEMPLATES else "en"


def display_name(user: User | None) -> str:
    if user is None:
        return ""
    return user.get_full_name() or f"#{user.pk}"


def customer_name(user: User) -> str:
    """How an agent is named to customers: the first word of their name, never their e-mail."""
    words = (user.name or "").split()
    return words[0] if words else "—"


def assignment_event(
    *, previous: User | None, assignee: User | None, actor: User | None, reason: str
) -> dict[str, Any]:
    """The ``content["system"]`` of a change of hands (ids and names, the ids under the keys
    ``from``/``to``/``by`` that earlier lines had)."""
    if assignee is None:
        event = "returned" if actor is not None and actor == previous else "requeued"
    elif actor is not None and actor == assignee and previous is None:
        event = "taken"
    elif previous is None:
        event = "assigned"
    else:
        event = "transferred"
    return {
        "event": event,
        "from": previous.pk if previous else None,
        "from_name": display_name(previous),
        "to": assignee.pk if assignee else None,
        "to_name": display_name(assignee),
        "by": actor.pk if actor else None,
        "by_name": display_name(actor),
        "reason": reason,
    }


def resolution_event(*, actor: User | None, reason: str) -> dict[str, Any]:
    return {"event": "resolved", "by": actor.pk if actor else None, "by_name": display_name(actor), "reason": reason}


def system_text(data: dict[str, Any], language: str) -> str:
    """``data`` (a ``content["system"]``) in ``language``; "" for an event this module does not know."""
    strings = SYSTEM_TEMPLATES[_language(language)]
    event = str(data.get("event") or "")
    key = f"{event}.by" if data.get("by") is not None and f"{event}.by" in strings else event
    template = strings.get(key)
    if template is None:
        return ""
    values = {k: ("" if v is None else str(v)) for k, v in data.items()}
    text = template.format_map(_Blank(values))
    reason = str(data.get("reason") or "")
    if reason not in SILENT_REASONS:
        text = strings["reason"].format(text=text, reason=strings.get(f"reason.{reason}", reason))
    return strings["end"].format(text=text)


def customer_text(event: str, language: str, **params: str) -> str:
    return CUSTOMER_TEMPLATES[_language(language)][event].format_map(_Blank(params))


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""
