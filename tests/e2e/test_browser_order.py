"""static/pytake/order.js in Chromium, without a server: the order the inbox, the web-chat
widget and the simulator phone show messages and conversations in."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.once]  # no server, no database: the same in both passes

WHOLE = "2026-03-01T12:00:37Z"  # WhatsApp's time: whole seconds
MICRO = "2026-03-01T12:00:37.840697Z"  # PyTake's: microseconds


def run(page, script):
    return page.evaluate(f"""async () => {{
        const order = await import("/static/pytake/order.js");
        {script}
    }}""")


def test_messages_follow_the_id_the_server_stored_them_in_never_a_time(harness_page):
    # As text, "." sorts before "Z": the reply stored 0.84 s after a customer's message was older.
    assert MICRO < WHOLE
    assert run(
        harness_page,
        f"""return [
            order.compareMessages({{created_at: "{WHOLE}", id: 1}}, {{created_at: "{MICRO}", id: 2}}),
            order.compareMessages({{created_at: "{MICRO}", id: 2}}, {{created_at: "{WHOLE}", id: 1}}),
            // Meta's clock ahead of ours: the customer's message, stored first, carries a later time
            order.compareMessages({{created_at: "2026-03-01T12:00:38Z", id: 1}}, {{created_at: "{MICRO}", id: 2}}),
            // not stored yet (no id): after the stored ones
            order.compareMessages({{created_at: "{WHOLE}", id: null}}, {{created_at: "{MICRO}", id: 3}}),
            // two not stored yet: by time, compared as instants (as text the other way round)
            order.compareMessages({{created_at: "{WHOLE}", id: null}}, {{created_at: "{MICRO}", id: null}}),
            // a microsecond apart, the same millisecond: a Date alone cannot tell them apart
            order.compareMessages({{created_at: "2026-03-01T12:00:37.840698+00:00"}},
                                  {{created_at: "2026-03-01T12:00:37.840697Z"}}),
        ];""",
    ) == [-1, 1, -1, 1, -1, 1]


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
        add({{ id: 12, text: "reply", created_at: "{MICRO}" }});
        add({{ id: 11, text: "Oi", created_at: "{WHOLE}" }});  // stored first, arriving later
        add({{ id: null, text: "typing…", created_at: null }});  // not stored yet: last
        add({{ id: 13, text: "later", created_at: "2026-03-01T12:00:38Z" }});
        add({{ id: 12, text: "reply", created_at: "{MICRO}" }});  // shown again: stays
        add({{ id: 10, text: "first", created_at: "2026-03-01T12:00:36.999999Z" }});
        return [...list.children].map((li) => li.dataset.text);
        """,
    )
    assert texts == ["first", "Oi", "reply", "later", "typing…"]
