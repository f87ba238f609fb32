// PyTake real-time client (docs/realtime-protocol.md). Plain ES module, no build step.
//
//   ReconnectingSocket: JSON frames over one WebSocket, `on(type, fn)` dispatch, request/ack by
//     `ref`, heartbeat, exponential backoff with jitter, a connection-state observable. Knows
//     nothing of PyTake events: the WhatsApp simulator phone can use it for its own socket.
//   RealtimeClient: the /ws/ protocol on top: bearer token, token refresh on 4001, resume from
//     the last event id, dedupe by id, per-conversation `seq` gap detection, re-join after a
//     reconnect, `resync` → app refetch, and the web-chat `message` action with an outbox.

export const ConnectionState = Object.freeze({
  CONNECTING: "connecting", // first connection attempt
  OPEN: "open", // connected (and, for RealtimeClient, caught up)
  RECONNECTING: "reconnecting", // lost it, trying again
  OFFLINE: "offline", // not trying: browser offline, auth failed, or a do-not-retry close code
});

// Close codes the server uses and what to do about them.
const NO_RETRY = new Set([4003, 4009]); // forbidden origin/tenant; replaced by a newer tab
const CLIENT_CLOSE = 1000;
const HEARTBEAT_LOST = 4000; // our own code when the server stopped answering pings

/** A message's delivery statuses in the order they move in (a status only moves forward;
 * `failed` is the end of an outbound message that could not be sent). */
export const MESSAGE_STATUS_RANK = Object.freeze({ pending: 0, sent: 1, delivered: 2, read: 3, failed: 4 });

export class RequestError extends Error {
  constructor(code, message, frame) {
    super(message || code);
    this.name = "RequestError";
    this.code = code;
    this.frame = frame || null;
  }
}

/** Delay before reconnect attempt `attempt` (0-based): exponential, capped, "equal jitter". */
export function backoffDelay(attempt, { base = 500, max = 30000, random = Math.random } = {}) {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export class ReconnectingSocket {
  /**
   * @param {object} options
   * @param {string | (() => string)} options.url  absolute ws(s):// URL, or a path like "/ws/"
   * @param {() => (string[] | undefined | Promise<string[] | undefined>)} [options.protocols]
   * @param {number} [options.heartbeatSeconds] send `ping` this often (0: never)
   * @param {object} [options.ping] the frame to send as heartbeat (default {action: "ping"})
   * @param {{base?: number, max?: number}} [options.backoff] milliseconds
   * @param {number} [options.requestTimeout] ms before an unanswered request is rejected
   * @param {typeof WebSocket} [options.WebSocket] injectable for tests
   */
  constructor(options) {
    this.options = {
      heartbeatSeconds: 25,
      ping: { action: "ping" },
      backoff: { base: 500, max: 30000 },
      requestTimeout: 15000,
      ...options,
    };
    this.WebSocketImpl = this.options.WebSocket || globalThis.WebSocket;
    this.ws = null;
    this.state = ConnectionState.OFFLINE;
    this.attempt = 0;
    this.refSeq = 0;
    this.pending = new Map(); // ref -> {resolve, reject, timer}
    this.handlers = new Map(); // type -> Set<fn>
    this.stateHandlers = new Set();
    this.stopped = true;
    this.retryTimer = null;
    this.heartbeatTimer = null;
    this.lastFrameAt = 0;
    this.lastClose = null;
    this._onOnline = () => this.stopped || this._reconnectNow();
    this._onOffline = () => this.ws && this.ws.close(HEARTBEAT_LOST, "browser offline");
  }

  // --- public API ---------------------------------------------------------------------------

  /** Subscribe to frames of `type` ("*" for every frame). Returns an unsubscribe function. */
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type)?.delete(fn);
  }

  /** Observe the connection state; `fn(state, detail)` is called now and on every change. */
  onState(fn) {
    this.stateHandlers.add(fn);
    fn(this.state, {});
    return () => this.stateHandlers.delete(fn);
  }

  connect() {
    if (!this.stopped) return;
    this.stopped = false;
    if (typeof window !== "undefined") {
      window.addEventListener("online", this._onOnline);
      window.addEventListener("offline", this._onOffline);
    }
    this._setState(ConnectionState.CONNECTING);
    this._open();
  }

  /** Close for good (logout, page leaving). */
  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this._stopHeartbeat();
    if (typeof window !== "undefined") {
      window.removeEventListener("online", this._onOnline);
      window.removeEventListener("offline", this._onOffline);
    }
    if (this.ws) this.ws.close(CLIENT_CLOSE, "client closed");
    this.ws = null;
    this._rejectPending("closed");
    this._setState(ConnectionState.OFFLINE, { reason: "closed" });
  }

  /** Drop the current socket and reconnect at once (used by tests and by "retry now" buttons). */
  reconnect() {
    if (this.stopped) return this.connect();
    this._reconnectNow();
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === 1;
  }

  /** Send a frame now; returns false if the socket is not open. */
  sendFrame(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Send `{action, ...fields, ref}` and resolve with the ack's `data` (reject on `error`). */
  request(action, fields = {}) {
    return new Promise((resolve, reject) => {
      const ref = `r${++this.refSeq}`;
      if (!this.sendFrame({ action, ...fields, ref })) {
        reject(new RequestError("not_connected", "The connection is not open."));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new RequestError("timeout", `No answer to ${action}.`));
      }, this.options.requestTimeout);
      this.pending.set(ref, { resolve, reject, timer });
    });
  }

  // --- hooks for subclasses -----------------------------------------------------------------

  /** Called for every parsed frame before it is dispatched; return false to swallow it. */
  _accept(_frame) {
    return true;
  }

  /** The socket opened (before any frame). */
  _opened() {
    this.attempt = 0;
    this._setState(ConnectionState.OPEN);
  }

  /** Decide what a close means: "retry" (with backoff), "now" (at once), or "stop". */
  async _closeDecision(code) {
    if (NO_RETRY.has(code)) return "stop";
    return "retry";
  }

  // --- internals ----------------------------------------------------------------------------

  _url() {
    let url = typeof this.options.url === "function" ? this.options.url() : this.options.url;
    if (url.startsWith("/")) {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      url = `${scheme}//${location.host}${url}`;
    }
    return url;
  }

  async _open() {
    clearTimeout(this.retryTimer);
    let protocols;
    try {
      protocols = this.options.protocols ? await this.options.protocols() : undefined;
    } catch (error) {
      if (error && error.code === "no_token") {
        // Nobody to connect as: the app must log in again.
        this._emit("auth_error", { error }, { type: "auth_error" });
        this._setState(ConnectionState.OFFLINE, { reason: "auth" });
        this.stopped = true;
        return;
      }
      // Getting a token failed for another reason (the refresh endpoint is unreachable while the
      // server restarts): that is network trouble, so back off and try again.
      if (this.stopped) return;
      this._setState(ConnectionState.RECONNECTING, { reason: "token" });
      this.retryTimer = setTimeout(() => this._open(), backoffDelay(this.attempt++, this.options.backoff));
      return;
    }
    if (this.stopped) return;
    if (typeof navigator !== "undefined" && navigator.onLine === false) {
      this._setState(ConnectionState.OFFLINE, { reason: "network" });
      return; // the "online" event reconnects
    }
    const ws = protocols ? new this.WebSocketImpl(this._url(), protocols) : new this.WebSocketImpl(this._url());
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      this._startHeartbeat();
      this._opened();
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return; // not ours to crash on
      }
      if (!frame || typeof frame !== "object") return;
      this._settle(frame);
      if (this._accept(frame) !== false) this._dispatch(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this._closed(event.code, event.reason);
    };
    ws.onerror = () => {}; // a close event always follows
  }

  async _closed(code, reason) {
    this._stopHeartbeat();
    this._rejectPending("disconnected");
    this.lastClose = { code, reason };
    this._emit("close", { code, reason }, { type: "close" });
    if (this.stopped) return;
    const decision = await this._closeDecision(code);
    if (this.stopped) return;
    if (decision === "stop") {
      this.stopped = true;
      this._setState(ConnectionState.OFFLINE, { code, reason });
      return;
    }
    this._setState(ConnectionState.RECONNECTING, { code, reason });
    const delay = decision === "now" ? 0 : backoffDelay(this.attempt, this._backoffFor(code));
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this._open(), delay);
  }

  _backoffFor(code) {
    const backoff = this.options.backoff;
    // Rate limited: start slower so a misbehaving tab does not hammer the server.
    return code === 4029 ? { ...backoff, base: Math.max(backoff.base * 8, 4000) } : backoff;
  }

  _reconnectNow() {
    clearTimeout(this.retryTimer);
    if (this.ws) {
      this.ws.close(HEARTBEAT_LOST, "reconnect");
      // onclose schedules the next attempt; make it immediate
      this.attempt = 0;
    } else {
      this._open();
    }
  }

  _startHeartbeat() {
    this._stopHeartbeat();
    const seconds = this.options.heartbeatSeconds;
    if (!seconds) return;
    const every = Math.max(1000, seconds * 800); // a bit more often than required
    this.heartbeatTimer = setInterval(() => {
      // Nothing heard for two beats (not even a pong): the socket is dead but not closed.
      if (Date.now() - this.lastFrameAt > 2 * every + 1000) {
        this.ws?.close(HEARTBEAT_LOST, "heartbeat lost");
        return;
      }
      this.sendFrame(this.options.ping);
    }, every);
  }

  _stopHeartbeat() {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  _settle(frame) {
    if (frame.ref === undefined || frame.ref === null) return;
    const entry = this.pending.get(String(frame.ref));
    if (!entry) return;
    if (frame.type === "ack") {
      this.pending.delete(String(frame.ref));
      clearTimeout(entry.timer);
      entry.resolve(frame.data ?? {});
    } else if (frame.type === "error") {
      this.pending.delete(String(frame.ref));
      clearTimeout(entry.timer);
      entry.reject(new RequestError(frame.code, frame.message, frame));
    }
  }

  _rejectPending(code) {
    for (const [ref, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(new RequestError(code, "The connection closed before an answer."));
      this.pending.delete(ref);
    }
  }

  _dispatch(frame) {
    this._emit(frame.type, frame.data, frame);
  }

  _emit(type, data, frame) {
    for (const key of [type, "*"]) {
      for (const fn of this.handlers.get(key) || []) {
        try {
          fn(data, frame);
        } catch (error) {
          console.error("pytake realtime handler failed", type, error);
        }
      }
    }
  }

  _setState(state, detail = {}) {
    if (state === this.state && !detail.force) return;
    this.state = state;
    for (const fn of this.stateHandlers) fn(state, detail);
  }
}

/** Keeps the last `limit` ids seen, for dedupe after overlapping replays. */
class SeenIds {
  constructor(limit = 5000) {
    this.limit = limit;
    this.ids = new Set();
    this.order = [];
    this.floor = 0; // ids at or below this were evicted: treat them as seen
  }
  has(id) {
    return id <= this.floor || this.ids.has(id);
  }
  /** Every id up to `id` counts as seen: a state loaded over REST after that position covers it. */
  seenUpTo(id) {
    this.floor = Math.max(this.floor, id);
  }
  add(id) {
    if (this.ids.has(id)) return;
    this.ids.add(id);
    this.order.push(id);
    if (this.order.length > this.limit) {
      this.order.sort((a, b) => a - b);
      const dropped = this.order.splice(0, this.order.length - this.limit);
      for (const old of dropped) this.ids.delete(old);
      this.floor = Math.max(this.floor, dropped[dropped.length - 1]);
    }
  }
}

export class RealtimeClient extends ReconnectingSocket {
  /**
   * @param {object} options
   * @param {string} [options.url] default "/ws/"
   * @param {() => (string | Promise<string>)} options.getToken the current access token (a staff
   *   app refreshes it here when it is about to expire)
   * @param {(usedToken: string) => Promise<string | null>} [options.refreshToken] called on close
   *   4001 with the token that was refused: returns a new one, or null when the user must log in
   *   again (web-chat: omit it)
   * @param {(info: {reason: string, last_event_id?: number}) => (void | Promise<void>)} [options.onSync]
   *   refetch state over REST: called on the first `hello` (so state loaded before it is not stale)
   *   and on `resync`
   * @param {number | null} [options.lastEventId] resume position (e.g. kept across a page reload)
   */
  constructor(options) {
    super({ url: "/ws/", ...options });
    this.lastEventId = options.lastEventId ?? null;
    this.seen = new SeenIds();
    this.joined = new Map(); // conversation id -> {seq, anchorId} (last seq seen, id of that event)
    this.resuming = false;
    this.resumeAgainFrom = null;
    this.outbox = []; // web-chat messages waiting for the connection: {text, client_id, reply_to, resolve, reject}
    this.hello = null;
    this.refreshing = null;
    this.authFailures = 0;
    this.options.protocols = async () => {
      const token = await this.options.getToken();
      if (!token) throw new RequestError("no_token", "Not logged in.");
      this.usedToken = token;
      return ["bearer", token];
    };
  }

  // --- commands ---------------------------------------------------------------------------

  /** Subscribe to a conversation; kept across reconnects. Resolves with the ack ({seq}). */
  async join(conversationId) {
    const id = Number(conversationId);
    if (!this.joined.has(id)) this.joined.set(id, { seq: null, anchorId: null });
    if (this.state !== ConnectionState.OPEN) return null; // sent on (re)connect
    const ack = await this.request("join", { conversation_id: id });
    this._baseline(id, ack);
    return ack;
  }

  async leave(conversationId) {
    const id = Number(conversationId);
    this.joined.delete(id);
    if (this.state !== ConnectionState.OPEN) return null;
    return this.request("leave", { conversation_id: id }).catch(() => null);
  }

  /** `state`: "start" or "stop". Fire and forget: typing is ephemeral. */
  typing(conversationId, state) {
    return this.sendFrame({ action: "typing", conversation_id: Number(conversationId), state });
  }

  read(conversationId) {
    return this.request("read", { conversation_id: Number(conversationId) });
  }

  /** Web-chat customer: send a text message, quoting the message `replyTo` names (an id) if
   * given. Queued while disconnected, sent after the resume; the server is idempotent on
   * `client_id`, so a resend after a lost ack never duplicates. */
  send(text, clientId = newClientId(), { replyTo = null } = {}) {
    return new Promise((resolve, reject) => {
      this.outbox.push({ text, client_id: clientId, reply_to: replyTo, resolve, reject });
      if (this.state === ConnectionState.OPEN) this._flushOutbox();
    });
  }

  /** Ask for a replay now (e.g. after the page was hidden for a long time). */
  resume(fromId = this.lastEventId) {
    return this._resume(fromId);
  }

  // --- protocol ---------------------------------------------------------------------------

  _opened() {
    // The socket is open but we are not "open" for the UI until hello (and the resume) are done.
    this.lastFrameAt = Date.now();
  }

  async _closeDecision(code) {
    this.resuming = false;
    if (code === 4001) {
      // Expired or revoked token: refresh once, then reconnect at once (and resume).
      this.authFailures += 1;
      if (!this.options.refreshToken || this.authFailures > 2) {
        this._emit("auth_error", { code }, { type: "auth_error" });
        return "stop";
      }
      try {
        const token = await this.options.refreshToken(this.usedToken);
        if (!token) {
          this._emit("auth_error", { code }, { type: "auth_error" });
          return "stop";
        }
      } catch {
        return "retry"; // the refresh endpoint is unreachable: a network problem, back off
      }
      return "now";
    }
    return super._closeDecision(code);
  }

  _accept(frame) {
    const { type } = frame;
    if (type === "hello") {
      this._hello(frame.data || {});
      return true;
    }
    if (type === "resync") {
      this._resync(frame.data || {});
      return true;
    }
    if (typeof frame.id === "number") {
      if (this.seen.has(frame.id)) return false; // replayed twice, or live and replayed
      this.seen.add(frame.id);
      if (this.lastEventId === null || frame.id > this.lastEventId) this.lastEventId = frame.id;
      this._checkSeq(frame);
    }
    return true;
  }

  async _hello(data) {
    this.hello = data;
    this.authFailures = 0;
    if (data.heartbeat_seconds) {
      this.options.heartbeatSeconds = data.heartbeat_seconds;
      this._startHeartbeat();
    }
    const fresh = this.lastEventId === null;
    try {
      // Re-join first so the resumed stream and the live one cover the joined conversations.
      await Promise.all(
        [...this.joined.keys()].map((id) =>
          this.request("join", { conversation_id: id }).then(
            (ack) => this._baseline(id, ack, { keepSeq: !fresh }),
            (error) => {
              this.joined.delete(id);
              this._emit("join_error", { conversation_id: id, error }, { type: "join_error" });
            },
          ),
        ),
      );
      if (fresh) {
        // Nothing seen yet: the app's REST state is the baseline; take hello's position, then
        // refetch so that nothing committed between the page's first load and now is missing.
        this.lastEventId = data.last_event_id ?? 0;
        this.seen.seenUpTo(this.lastEventId); // a later replay's overlap must not deliver them again
        await this._sync({ reason: "initial", last_event_id: this.lastEventId });
      } else {
        await this._resume(this.lastEventId);
      }
    } catch (error) {
      if (!this.isOpen) return; // closed meanwhile: the reconnect does it again
      console.warn("pytake realtime: catching up failed", error);
    }
    if (!this.isOpen) return;
    this.attempt = 0;
    this._setState(ConnectionState.OPEN, { resumed: !fresh });
    this._flushOutbox();
  }

  async _resume(fromId) {
    if (fromId === null || fromId === undefined) return;
    if (this.resuming) {
      // One at a time; remember the earliest position still needed.
      this.resumeAgainFrom = this.resumeAgainFrom === null ? fromId : Math.min(this.resumeAgainFrom, fromId);
      return;
    }
    this.resuming = true;
    try {
      const answer = this.request("resume", { last_event_id: fromId });
      this.resumeRef = `r${this.refSeq}`; // a `resync` answers this resume instead of an ack
      const ack = await answer;
      this._emit("resumed", ack, { type: "resumed", data: ack });
    } finally {
      this.resuming = false;
      this.resumeRef = null;
    }
    if (this.resumeAgainFrom !== null) {
      const again = this.resumeAgainFrom;
      this.resumeAgainFrom = null;
      await this._resume(again);
    }
  }

  async _resync(data) {
    // Our position is older than the server keeps: what we hold may be stale. Refetch, then
    // continue from where the server says; per-conversation seq restarts from the next event.
    this.resumeAgainFrom = null;
    if (typeof data.last_event_id === "number") {
      this.lastEventId = data.last_event_id;
      this.seen.seenUpTo(data.last_event_id);
    }
    for (const entry of this.joined.values()) entry.seq = null;
    await this._sync({ reason: data.reason || "expired", last_event_id: data.last_event_id });
    const pending = this.resumeRef && this.pending.get(this.resumeRef);
    if (pending) {
      this.pending.delete(this.resumeRef);
      clearTimeout(pending.timer);
      pending.resolve({ resync: true, last_event_id: data.last_event_id });
    }
  }

  async _sync(info) {
    if (!this.options.onSync) return;
    try {
      await this.options.onSync(info);
    } catch (error) {
      console.warn("pytake realtime: refetch failed", error);
    }
  }

  _baseline(id, ack, { keepSeq = false } = {}) {
    const entry = this.joined.get(id);
    if (!entry || !ack || typeof ack.seq !== "number") return;
    // After a reconnect the replay brings the events between our seq and the server's: keep ours.
    if (entry.seq === null || !keepSeq) entry.seq = Math.max(entry.seq ?? 0, ack.seq);
    if (entry.anchorId === null) entry.anchorId = this.lastEventId;
  }

  _checkSeq(frame) {
    const id = Number(frame.conversation_id);
    const entry = this.joined.get(id);
    if (!entry || typeof frame.seq !== "number") return;
    if (entry.seq !== null && frame.seq > entry.seq + 1 && !this.resuming) {
      // A missed event (the channel layer is at-most-once): replay from before it.
      const from = entry.anchorId ?? this.lastEventId;
      this._emit("gap", { conversation_id: id, expected: entry.seq + 1, got: frame.seq }, { type: "gap" });
      this._resume(Math.min(from, frame.id - 1)).catch(() => {});
    }
    if (entry.seq === null || frame.seq > entry.seq) {
      entry.seq = frame.seq;
      entry.anchorId = frame.id;
    }
  }

  async _flushOutbox() {
    while (this.outbox.length && this.state === ConnectionState.OPEN) {
      const item = this.outbox[0];
      try {
        const quoting = item.reply_to ? { reply_to: item.reply_to } : {};
        const ack = await this.request("message", { text: item.text, client_id: item.client_id, ...quoting });
        this.outbox.shift();
        item.resolve(ack);
      } catch (error) {
        if (error.code === "not_connected" || error.code === "disconnected" || error.code === "timeout") return;
        this.outbox.shift(); // the server refused it: it will not succeed on retry
        item.reject(error);
      }
    }
  }
}

export function newClientId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  return `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

/** Seconds until a JWT's `exp` (negative when expired; null when unreadable). */
export function jwtSecondsLeft(token, now = Date.now()) {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return typeof payload.exp === "number" ? payload.exp - now / 1000 : null;
  } catch {
    return null;
  }
}

export function jwtClaims(token) {
  try {
    return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return {};
  }
}
