"""static/pytake/order.js in Chromium, without a server: the order the inbox, the web-chat
widget and the simulator phone show messages and conversations in."""

import pytest

pytestmark = pytest.mark.browser

WHOLE = "2026-03-01T12:00:37Z"  # WhatsApp's time: whole seconds
MICRO = "2026-03-01T12:00:37.840697Z"  # PyTake's: microseconds


def run(page, script):
    return page.evaluate(f"""async () => {{
        const order = await import("/static/pytake/order.js");
        {script}
    }}""")


def test_times_are_compared_as_instants_not_as_text(harness_page):
    # As text, "." sorts before "Z": the reply stored 0.84 s after a customer's message was older.
    assert MICRO < WHOLE
    assert run(
        harness_page,
        f"""return [
            order.compareMessages({{created_at: "{WHOLE}", id: 1}}, {{created_at: "{MICRO}", id: 2}}),
            order.compareMessages({{created_at: "{MICRO}", id: 2}}, {{created_at: "{WHOLE}", id: 1}}),
            // a microsecond apart, the same millisecond: a Date alone cannot tell them apart
            order.compareMessages({{created_at: "2026-03-01T12:00:37.840697Z", id: 9}},
                                  {{created_at: "2026-03-01T12:00:37.840698+00:00", id: 8}}),
            // the same instant written with another offset: the id decides
            order.compareMessages({{created_at: "2026-03-01T09:00:37.5-03:00", id: 5}},
                                  {{created_at: "2026-03-01T12:00:37.500000Z", id: 4}}),
            // not stored yet (no id): after the stored ones of the same instant
            order.compareMessages({{created_at: "{WHOLE}", id: null}}, {{created_at: "{WHOLE}", id: 3}}),
        ];""",
    ) == [-1, 1, -1, 1, 1]


def test_conversations_are_newest_activity_first(harness_page):
    names = run(
        harness_page,
        f"""return [
            {{id: 1, name: "whole", last_message_at: "{WHOLE}"}},
            {{id: 2, name: "none", last_message_at: null}},
            {{id: 3, name: "micro", last_message_at: "{MICRO}"}},
            {{id: 4, name: "same-whole-newer-id", last_message_at: "{WHOLE}"}},
        ].sort(order.compareConversations).map((c) => c.name);""",
    )
    assert names == ["micro", "same-whole-newer-id", "whole", "none"]


def test_a_bubble_arriving_late_takes_its_place_and_one_shown_again_stays(harness_page):
    """Live messages can arrive out of the server's order (a replay, a reply stored before the
    customer's message that caused it was): each goes where a reload would show it."""
    texts = run(
        harness_page,
        f"""
        const list = document.createElement("ol");
        document.body.append(list);
        const shown = (li) => ({{ created_at: li.dataset.createdAt, id: Number(li.dataset.id) || null }});
        const add = (m) => {{
            let li = [...list.children].find((node) => node.dataset.text === m.text);
            if (!li) {{ li = document.createElement("li"); li.dataset.text = m.text; }}
            if (m.id) li.dataset.id = m.id;
            if (m.created_at) li.dataset.createdAt = m.created_at;
            order.placeMessage(list, li, m, shown);
        }};
        add({{ id: 11, text: "reply", created_at: "{MICRO}" }});
        add({{ id: 12, text: "Oi", created_at: "{WHOLE}" }});  // earlier, arriving later
        add({{ id: null, text: "typing…", created_at: null }});  // not stored yet: last
        add({{ id: 13, text: "later", created_at: "2026-03-01T12:00:38Z" }});
        add({{ id: 11, text: "reply", created_at: "{MICRO}" }});  // shown again: stays
        add({{ id: 10, text: "first", created_at: "2026-03-01T12:00:36.999999Z" }});
        return [...list.children].map((li) => li.dataset.text);
        """,
    )
    assert texts == ["first", "Oi", "reply", "later", "typing…"]
