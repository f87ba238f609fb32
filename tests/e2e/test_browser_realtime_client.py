"""static/pytake/realtime.js in Chromium against a scripted fake socket: the protocol logic
(token, resume, dedupe, seq gaps, re-join, backoff, close codes, outbox, heartbeat) without a
server. The end-to-end behaviour against the real server is in test_browser_inbox.py."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.once]  # no server, no database: the same in both passes

SETUP = """
window.setup = (options = {}) => {
  window.log = { events: [], syncs: [], states: [], refreshes: [], gaps: [], authErrors: 0,
                 tokens: ["tok1", "tok2", "tok3"], tokenIndex: 0 };
  const client = new realtime.RealtimeClient({
    WebSocket: FakeWebSocket,
    backoff: { base: 20, max: 80 },
    getToken: () => log.tokens[log.tokenIndex],
    refreshToken: (used) => { log.refreshes.push(used); log.tokenIndex += 1; return Promise.resolve(log.tokens[log.tokenIndex]); },
    onSync: (info) => { log.syncs.push(info); },
    ...options,
  });
  client.on("*", (data, frame) => { if (typeof frame.id === "number") log.events.push(frame.id); });
  client.on("gap", (data) => log.gaps.push(data));
  client.on("auth_error", () => { log.authErrors += 1; });
  client.onState((s) => log.states.push(s));
  window.client = client;
  client.connect();
};
// Open the newest socket and say hello as the server does.
window.hello = (lastEventId, extra = {}) => {
  last().serverOpen();
  last().push({ type: "hello", data: { user: { id: 7, role: "agent", tenant_id: 1 },
    last_event_id: lastEventId, heartbeat_seconds: 25, ...extra } });
};
window.ackLast = (action, data = {}) => {
  const frame = last().sentOf(action).at(-1);
  last().push({ type: "ack", ref: frame.ref, data });
};
true;  // (a script ending in a function would be called by page.evaluate)
"""


@pytest.fixture
def page(harness_page):
    harness_page.evaluate(SETUP)
    return harness_page


def connect_fresh(page, last_event_id=5, **options):
    page.evaluate("(o) => setup(o)", options)
    page.wait_for_function("sockets.length === 1")
    page.evaluate(f"hello({last_event_id})")
    page.wait_for_function("client.state === 'open'")


def test_connects_with_the_bearer_subprotocol_and_refetches_once_on_first_hello(page):
    page.evaluate("setup()")
    page.wait_for_function("sockets.length === 1")
    assert page.evaluate("last().protocols") == ["bearer", "tok1"]
    assert page.evaluate("last().url") == "ws://pytake.test/ws/"
    assert page.evaluate("client.state") == "connecting"
    page.evaluate("hello(5)")
    page.wait_for_function("client.state === 'open'")
    assert page.evaluate("log.syncs") == [{"reason": "initial", "last_event_id": 5}]
    assert page.evaluate("last().sentOf('resume').length") == 0  # nothing to resume from yet
    assert page.evaluate("client.lastEventId") == 5
    assert page.evaluate("log.states") == ["offline", "connecting", "open"]


def test_dedupes_by_id_and_resumes_from_the_last_id_after_a_network_loss(page):
    connect_fresh(page)
    page.evaluate("""for (const id of [6, 7, 7, 6]) last().push({ type: "conversation.updated", id, data: {} })""")
    assert page.evaluate("log.events") == [6, 7]

    page.evaluate("last().serverClose(1006)")
    assert page.evaluate("client.state") == "reconnecting"
    page.wait_for_function("sockets.length === 2")  # after the backoff
    page.evaluate("hello(9)")
    page.wait_for_function("last().sentOf('resume').length === 1")
    assert page.evaluate("last().sentOf('resume')[0].last_event_id") == 7
    assert page.evaluate("client.state") == "reconnecting"  # not "open" before it has caught up
    # The server's replay starts a little before the position asked for: ids 3 and 5 precede the
    # first hello's position (5), which the page's REST state already covers; 7 was delivered.
    page.evaluate("""for (const id of [3, 5, 7, 8, 9]) last().push({ type: "message.new", id, data: {} })""")
    page.evaluate("ackLast('resume', { replayed: 2, last_event_id: 9 })")
    page.wait_for_function("client.state === 'open'")
    assert page.evaluate("log.events") == [6, 7, 8, 9]
    assert page.evaluate("log.syncs.length") == 1  # a resume needs no REST refetch


def test_a_seq_gap_on_a_joined_conversation_resumes_from_before_the_gap(page):
    connect_fresh(page)
    page.evaluate("window.joined = client.join(42); true")  # evaluate would await the promise
    page.wait_for_function("last().sentOf('join').length === 1")
    assert page.evaluate("last().sentOf('join')[0].conversation_id") == 42
    page.evaluate("ackLast('join', { conversation_id: 42, seq: 3 })")
    page.evaluate("joined")
    page.evaluate("""
      last().push({ type: "message.new", id: 6, conversation_id: 42, seq: 4, data: {} });
      // another conversation, not joined: its seq means nothing to us
      last().push({ type: "conversation.updated", id: 7, conversation_id: 99, seq: 50, data: {} });
      // seq 5 of conversation 42 (id 8) was dropped by the channel layer
      last().push({ type: "message.new", id: 9, conversation_id: 42, seq: 6, data: {} });
    """)
    page.wait_for_function("last().sentOf('resume').length === 1")
    assert page.evaluate("last().sentOf('resume')[0].last_event_id") == 6  # the last event before the gap
    assert page.evaluate("log.gaps") == [{"conversation_id": 42, "expected": 5, "got": 6}]
    page.evaluate("""for (const id of [7, 8, 9]) last().push({ type: "message.new", id, conversation_id: id === 7 ? 99 : 42,
                                                           seq: { 7: 50, 8: 5, 9: 6 }[id], data: {} })""")
    page.evaluate("ackLast('resume', { replayed: 3, last_event_id: 9 })")
    assert page.evaluate("log.events") == [6, 7, 9, 8]  # 8 recovered once, 7 and 9 not twice


def test_after_a_reconnect_it_rejoins_before_resuming(page):
    connect_fresh(page)
    page.evaluate("client.join(42); true")
    page.wait_for_function("last().sentOf('join').length === 1")
    page.evaluate("ackLast('join', { conversation_id: 42, seq: 3 })")
    page.evaluate("""last().push({ type: "message.new", id: 6, conversation_id: 42, seq: 4, data: {} })""")

    page.evaluate("last().serverClose(1012)")  # server restarting
    page.wait_for_function("sockets.length === 2")
    page.evaluate("hello(8)")
    page.wait_for_function("last().sent.length === 1")
    assert page.evaluate("last().sent[0]")["action"] == "join"
    page.evaluate("ackLast('join', { conversation_id: 42, seq: 6 })")
    page.wait_for_function("last().sentOf('resume').length === 1")
    assert page.evaluate("last().sentOf('resume')[0].last_event_id") == 6
    page.evaluate("""
      last().push({ type: "message.new", id: 7, conversation_id: 42, seq: 5, data: {} });
      last().push({ type: "message.new", id: 8, conversation_id: 42, seq: 6, data: {} });
    """)
    page.evaluate("ackLast('resume', { replayed: 2, last_event_id: 8 })")
    page.wait_for_function("client.state === 'open'")
    assert page.evaluate("log.gaps") == []  # the replay filled 5 and 6: no false gap
    assert page.evaluate("log.events") == [6, 7, 8]


def test_close_4001_refreshes_the_token_and_reconnects_at_once(page):
    connect_fresh(page)
    page.evaluate("last().serverClose(4001, 'token expired')")
    page.wait_for_function("sockets.length === 2")
    assert page.evaluate("log.refreshes") == ["tok1"]
    assert page.evaluate("last().protocols") == ["bearer", "tok2"]
    page.evaluate("hello(5)")
    page.wait_for_function("last().sentOf('resume').length === 1")


def test_close_4001_with_no_way_to_refresh_goes_offline_and_reports(page):
    connect_fresh(page, refreshToken=None)
    page.evaluate("client.options.refreshToken = () => Promise.resolve(null)")  # the session is over
    page.evaluate("last().serverClose(4001)")
    page.wait_for_function("client.state === 'offline'")
    assert page.evaluate("log.authErrors") == 1
    assert page.evaluate("client.stopped") is True
    assert page.evaluate("sockets.length") == 1


@pytest.mark.parametrize("code", [4003, 4009])
def test_forbidden_and_replaced_connections_are_not_retried(page, code):
    connect_fresh(page)
    page.evaluate(f"last().serverClose({code})")
    page.wait_for_function("client.state === 'offline'")
    assert page.evaluate("client.stopped") is True
    assert page.evaluate("client.retryTimer") is None
    assert page.evaluate("sockets.length") == 1


def test_resync_refetches_and_continues_from_the_servers_position(page):
    connect_fresh(page)
    page.evaluate("last().serverClose(1006)")
    page.wait_for_function("sockets.length === 2")
    page.evaluate("hello(900)")
    page.wait_for_function("last().sentOf('resume').length === 1")
    page.evaluate("""last().push({ type: "resync", ref: last().sentOf('resume')[0].ref,
                                    data: { reason: "expired", last_event_id: 850 } })""")
    page.wait_for_function("client.state === 'open'")
    assert page.evaluate("log.syncs.at(-1)") == {"reason": "expired", "last_event_id": 850}
    assert page.evaluate("client.lastEventId") == 850
    page.evaluate("""for (const id of [849, 850, 851]) last().push({ type: "message.new", id, data: {} })""")
    assert page.evaluate("log.events") == [851]  # the refetch covers what precedes the position


def test_webchat_messages_wait_for_the_connection_and_are_resent_with_the_same_client_id(page):
    page.evaluate("setup({ refreshToken: undefined })")
    page.wait_for_function("sockets.length === 1")
    page.evaluate("window.sent = client.send('hello there', 'c-1').then((ack) => (window.acked = ack)); true")
    page.evaluate("hello(0)")
    page.wait_for_function("last().sentOf('message').length === 1")
    assert page.evaluate("last().sentOf('message')[0].client_id") == "c-1"
    page.evaluate("last().serverClose(1006)")  # the ack never came
    page.wait_for_function("sockets.length === 2")
    page.evaluate("hello(3)")
    page.wait_for_function("last().sentOf('resume').length === 1")
    page.evaluate("ackLast('resume', { replayed: 0, last_event_id: 3 })")
    page.wait_for_function("last().sentOf('message').length === 1")
    assert page.evaluate("last().sentOf('message')[0]")["client_id"] == "c-1"
    assert page.evaluate("last().sentOf('message')[0]")["text"] == "hello there"
    page.evaluate("ackLast('message', { message_id: 77 })")
    page.wait_for_function("window.acked !== undefined")
    assert page.evaluate("window.acked") == {"message_id": 77}


def test_a_webchat_reply_carries_the_id_it_quotes_also_when_resent(page):
    page.evaluate("setup({ refreshToken: undefined })")
    page.wait_for_function("sockets.length === 1")
    page.evaluate("client.send('plain', 'c-1'); client.send('quoting', 'c-2', { replyTo: 41 }); true")
    page.evaluate("hello(0)")
    page.wait_for_function("last().sentOf('message').length === 1")
    assert "reply_to" not in page.evaluate("last().sentOf('message')[0]")
    page.evaluate("ackLast('message', { message_id: 76 })")
    page.wait_for_function("last().sentOf('message').length === 2")
    assert page.evaluate("last().sentOf('message')[1]")["reply_to"] == 41
    page.evaluate("last().serverClose(1006)")  # the ack never came: resent with its quote
    page.wait_for_function("sockets.length === 2")
    page.evaluate("hello(3)")
    page.wait_for_function("last().sentOf('resume').length === 1")
    page.evaluate("ackLast('resume', { replayed: 0, last_event_id: 3 })")
    page.wait_for_function("last().sentOf('message').length === 1")
    sent = page.evaluate("last().sentOf('message')[0]")
    assert (sent["client_id"], sent["text"], sent["reply_to"]) == ("c-2", "quoting", 41)


def test_pings_every_heartbeat_and_reconnects_when_the_server_goes_silent(page):
    page.evaluate("setup()")
    page.wait_for_function("sockets.length === 1")
    page.evaluate("hello(1, { heartbeat_seconds: 1 })")
    page.wait_for_function("sockets[0].sentOf('ping').length >= 1", timeout=4000)
    # The fake server never answers the pings: after two silent beats the client gives up on it.
    page.wait_for_function("sockets.length === 2", timeout=8000)
    assert page.evaluate("client.state") == "reconnecting"


def test_backoff_grows_exponentially_with_jitter_and_a_cap(page):
    delays = page.evaluate("""[0, 1, 2, 3, 10].map((attempt) => [0, 1].map((r) =>
        realtime.backoffDelay(attempt, { base: 500, max: 30000, random: () => r })))""")
    assert delays == [[250, 500], [500, 1000], [1000, 2000], [2000, 4000], [15000, 30000]]


def test_a_token_that_cannot_be_fetched_for_network_reasons_is_retried_not_logged_out(page):
    page.evaluate("""setup({ getToken: () => {
        window.tokenCalls = (window.tokenCalls || 0) + 1;
        if (window.tokenCalls < 3) return Promise.reject(Object.assign(new Error("offline"), { code: "network" }));
        return "tok1";
    } })""")
    page.wait_for_function("sockets.length === 1")  # third try
    assert page.evaluate("window.tokenCalls") == 3
    assert page.evaluate("log.authErrors") == 0
    assert "reconnecting" in page.evaluate("log.states")


def test_no_token_at_all_reports_an_auth_error(page):
    page.evaluate("setup({ getToken: () => null })")
    page.wait_for_function("client.state === 'offline'")
    assert page.evaluate("log.authErrors") == 1
    assert page.evaluate("sockets.length") == 0
