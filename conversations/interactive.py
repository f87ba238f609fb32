"""Meta's limits on interactive WhatsApp messages, checked where such a message is made.

WhatsApp does not reject a reply button whose title is too long: the phone cuts it, and the
customer reads "Horário de funcionam". So every place that makes interactive content checks it
here: the bot's intents in the admin, the built-in defaults (a test), the flow before it stores
a bot answer with buttons, and the WhatsApp client before it sends one.

Limits, from Meta's Cloud API reference ("Interactive reply buttons messages", "Interactive list
messages"): at most 3 reply buttons, each title 1-20 characters and unique within the message;
a list has at most 10 rows, each row title at most 24 characters (description 72), its button
label and section titles at most 20 and 24; an interactive body at most 1024 characters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pytake.errors import ErrorCode, InvalidInput

MAX_BUTTONS = 3
BUTTON_TITLE_MAX = 20
BODY_MAX = 1024
LIST_ROWS_MAX = 10
LIST_ROW_TITLE_MAX = 24
LIST_ROW_DESCRIPTION_MAX = 72
LIST_BUTTON_MAX = 20
LIST_SECTION_TITLE_MAX = 24


@dataclass(frozen=True)
class Problem:
    """One way a message breaks a limit: ``field`` says where (``buttons.1``, ``body``)."""

    code: ErrorCode
    field: str
    message: str
    limit: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "code": str(self.code)}


def button_problems(buttons: Sequence[str], *, field: str = "buttons") -> list[Problem]:
    """What is wrong with a set of reply-button titles (empty list: nothing)."""
    problems: list[Problem] = []
    if len(buttons) > MAX_BUTTONS:
        problems.append(
            Problem(
                ErrorCode.TOO_MANY_BUTTONS,
                field,
                f"At most {MAX_BUTTONS} buttons; there are {len(buttons)}.",
                MAX_BUTTONS,
            )
        )
    seen: set[str] = set()
    for index, title in enumerate(buttons):
        where = f"{field}.{index}"
        if not title.strip():
            problems.append(Problem(ErrorCode.BUTTON_TITLE_EMPTY, where, "A button needs a title."))
        elif len(title) > BUTTON_TITLE_MAX:
            problems.append(
                Problem(
                    ErrorCode.BUTTON_TITLE_TOO_LONG,
                    where,
                    f"“{title}” has {len(title)} characters; WhatsApp shows at most {BUTTON_TITLE_MAX}.",
                    BUTTON_TITLE_MAX,
                )
            )
        key = title.strip().casefold()
        if key and key in seen:
            problems.append(Problem(ErrorCode.BUTTON_TITLE_DUPLICATE, where, f"“{title}” appears twice."))
        seen.add(key)
    return problems


def body_problems(body: str, *, field: str = "body") -> list[Problem]:
    if len(body) > BODY_MAX:
        return [
            Problem(
                ErrorCode.INTERACTIVE_BODY_TOO_LONG,
                field,
                f"The text has {len(body)} characters; a message with buttons takes at most {BODY_MAX}.",
                BODY_MAX,
            )
        ]
    return []


def reply_buttons_problems(*, body: str, buttons: Sequence[str]) -> list[Problem]:
    """A text with reply buttons. Without buttons it is a plain text message: no limit here."""
    if not buttons:
        return []
    return body_problems(body) + button_problems(buttons)


def list_problems(*, body: str, button: str, sections: Iterable[tuple[str, Sequence[str]]]) -> list[Problem]:
    """A list message: ``sections`` are (title, row titles)."""
    problems = body_problems(body)
    if not button.strip() or len(button) > LIST_BUTTON_MAX:
        problems.append(
            Problem(
                ErrorCode.BUTTON_TITLE_TOO_LONG,
                "button",
                f"The list's button label takes 1 to {LIST_BUTTON_MAX} characters.",
                LIST_BUTTON_MAX,
            )
        )
    rows = 0
    for s, (title, row_titles) in enumerate(sections):
        if len(title) > LIST_SECTION_TITLE_MAX:
            problems.append(
                Problem(
                    ErrorCode.LIST_ROW_TITLE_TOO_LONG,
                    f"sections.{s}.title",
                    f"A section title takes at most {LIST_SECTION_TITLE_MAX} characters.",
                    LIST_SECTION_TITLE_MAX,
                )
            )
        for r, row in enumerate(row_titles):
            rows += 1
            if not row.strip() or len(row) > LIST_ROW_TITLE_MAX:
                problems.append(
                    Problem(
                        ErrorCode.LIST_ROW_TITLE_TOO_LONG,
                        f"sections.{s}.rows.{r}",
                        f"“{row}”: a list row title takes 1 to {LIST_ROW_TITLE_MAX} characters.",
                        LIST_ROW_TITLE_MAX,
                    )
                )
    if rows > LIST_ROWS_MAX:
        problems.append(
            Problem(
                ErrorCode.TOO_MANY_LIST_ROWS,
                "sections",
                f"At most {LIST_ROWS_MAX} rows; there are {rows}.",
                LIST_ROWS_MAX,
            )
        )
    return problems


def raise_for(problems: list[Problem]) -> None:
    """``InvalidInput`` with the first problem's code and all of them in ``extra.problems``."""
    if problems:
        raise InvalidInput(
            " ".join(p.message for p in problems),
            code=problems[0].code,
            extra={"problems": [p.as_dict() for p in problems]},
        )


def validate_reply_buttons(*, body: str, buttons: Sequence[str]) -> None:
    raise_for(reply_buttons_problems(body=body, buttons=buttons))


def usable_buttons(*, body: str, buttons: Sequence[str]) -> list[str]:
    """The buttons that can go out with ``body`` as they are: titles that fit, once each, at most
    three; none when the body is too long for an interactive message (it then goes as plain
    text). For content made at run time (a model's answer, an operator's older intent), where
    sending the answer without a broken button beats not answering."""
    if body_problems(body):
        return []
    kept: list[str] = []
    for title in buttons:
        title = title.strip()
        if not button_problems([*kept, title]) and len(kept) < MAX_BUTTONS:
            kept.append(title)
    return kept
