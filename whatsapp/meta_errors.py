"""What Meta's error codes mean to an agent: the reason a failed message shows in the inbox.

Meta's own titles are terse ("Re-engagement message", "Number of parameters does not match");
the reasons here say what happened and what to do. Codes not listed keep Meta's words.
"""

from __future__ import annotations

REASONS: dict[int, str] = {
    131047: "More than 24 hours have passed since the customer last wrote: only an approved template can be sent now.",
    # Not about the window: the number cannot receive it (not on WhatsApp, an old app, terms not accepted…).
    131026: "WhatsApp could not deliver this message to this number: it may not use WhatsApp, or its app "
    "may need an update.",
    131049: "Meta held back this marketing template to limit the marketing messages this customer gets; "
    "try again later or use a utility template.",
    132000: "The number of parameters does not match the template.",
    132001: "The template does not exist in this language, or is not approved yet.",
    132005: "The template's text is too long once its parameters are filled in.",
    132007: "The template's parameters break WhatsApp's formatting or content rules.",
    132012: "A parameter is not in the format the template expects (text, image, link…).",
    132015: "The template is paused by Meta for low quality; choose another one.",
    132016: "The template is disabled by Meta for low quality; choose another one.",
}


def failure_title(*, code: int | None, title: str, details: str = "") -> str:
    """The ``error_title`` of a message Meta refused: Meta's title, then the reason (ours when the
    code is known, else Meta's details)."""
    reason = REASONS.get(code) if code is not None else None
    said = reason or details
    return f"{title}: {said}" if title and said else (title or said)
