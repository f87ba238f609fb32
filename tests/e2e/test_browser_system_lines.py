"""static/pytake/system.js in Chromium: history lines stored as codes render in the viewer's
language exactly as the server renders them (flow/system_lines.py) for the stored text, and
media previews ("[image]") become labels in both languages. No server: the module is loaded
from the checkout (tests/browser/harness.py)."""

from __future__ import annotations

from typing import Any

import pytest

from conversations.models import MessageType
from flow.system_lines import SYSTEM_TEMPLATES, system_text

pytestmark = [pytest.mark.browser, pytest.mark.once]  # no server, no database: the same in both passes

ANA = {"id": 1, "name": "Ana Lima"}
BIA = {"id": 2, "name": "Bia Souza"}
SOFIA = {"id": 3, "name": "Sofia Reis"}


def line(event: str, *, frm: dict | None = None, to: dict | None = None, by: dict | None = None, reason: str = ""):
    data: dict[str, Any] = {"event": event, "reason": reason}
    for key, who in (("from", frm), ("to", to), ("by", by)):
        if event != "resolved" or key == "by":
            data[key] = who["id"] if who else None
            data[f"{key}_name"] = who["name"] if who else ""
    return data


SAMPLES = [
    line("taken", to=ANA, by=ANA),
    line("assigned", to=ANA, reason="auto"),
    line("assigned", to=ANA, by=SOFIA),
    line("transferred", frm=ANA, to=BIA, by=SOFIA),
    line("transferred", frm=ANA, to=BIA),
    line("returned", frm=ANA, by=ANA),
    line("requeued", frm=ANA, by=SOFIA),
    line("requeued", frm=ANA, reason="agent absent"),
    line("requeued", frm=ANA, reason="a free-text reason"),
    line("resolved", by=SOFIA),
    line("resolved", reason="inactivity"),
]


@pytest.fixture
def system(harness_page):
    harness_page.evaluate("import('/static/pytake/system.js').then((m) => { window.system = m; })")
    harness_page.wait_for_function("window.system !== undefined")
    return harness_page


def render(page, content, language):
    return page.evaluate("([c, l]) => system.systemText(c, l)", [content, language])


def test_every_event_of_the_server_is_a_sample():
    events = {key.split(".")[0] for key in SYSTEM_TEMPLATES["en"] if key not in ("reason", "end")}
    events.discard("reason")
    assert events == {sample["event"] for sample in SAMPLES}


@pytest.mark.parametrize("language", ["pt", "en"])
def test_lines_render_as_the_server_stores_them(system, language):
    for data in SAMPLES:
        expected = system_text(data, language)
        assert expected and "{" not in expected
        assert render(system, {"text": "stored", "system": data}, language) == expected, data


def test_a_line_follows_the_viewer_not_the_stored_text(system):
    content = {"text": "Ana Lima assumiu a conversa.", "system": line("taken", to=ANA, by=ANA)}
    assert render(system, content, "en") == "Ana Lima took the conversation."
    assert render(system, content, "pt") == "Ana Lima assumiu a conversa."


def test_lines_it_cannot_render_keep_their_stored_text(system):
    legacy = {"text": "Alex Agent took the conversation.", "system": {"event": "assignment", "from": None, "to": 4}}
    assert render(system, legacy, "pt") == "Alex Agent took the conversation."
    old_resolved = {"text": "Conversation resolved by Alex.", "system": {"event": "resolved", "by": 4, "reason": ""}}
    assert render(system, old_resolved, "pt") == "Conversation resolved by Alex."
    meta = {"text": "User changed number", "system": {"body": "…", "type": "user_changed_number"}}
    assert render(system, meta, "pt") == "User changed number"


def test_media_previews_are_labels_in_both_languages(system):
    kinds = [t for t in MessageType.values if t != MessageType.TEXT]
    labels = system.evaluate(
        "(kinds) => kinds.map((k) => [system.previewText(`[${k}]`, 'en'), system.previewText(`[${k}]`, 'pt')])", kinds
    )
    for kind, (en, pt) in zip(kinds, labels, strict=True):
        assert en != f"[{kind}]" and pt != f"[{kind}]", kind
    assert labels[kinds.index("image")] == ["📷 Photo", "📷 Foto"]
    # Text stays text; an unknown code is left alone.
    assert system.evaluate("system.previewText('Oi, tudo bem?', 'en')") == "Oi, tudo bem?"
    assert system.evaluate("system.previewText('[nonsense]', 'pt')") == "[nonsense]"
    assert system.evaluate("system.kindText('document', 'pt')") == "📄 Documento"
