// PyTake web-chat widget: a customer chats with the bot, then an agent, over /ws/.
//
// The connection is the shared client (../pytake/realtime.js, the one the inbox uses): it
// reconnects with backoff, renews the web-chat token on close 4001, resumes from the last event
// id, dedupes replayed events, refetches on `resync`, and queues messages typed while offline
// (resent with the same client_id, so the server never stores one twice).
// `session` talks to the REST endpoints; `ui` renders; `reply` holds the message the customer is
// replying to (quoted by what they send next). Protocol: docs/realtime-protocol.md.
import { locale, t, translate } from "../pytake/i18n.js";
import { mediaNode } from "../pytake/media.js";
import { flash, quoteNode, reactionsNode } from "../pytake/message_parts.js";
import { placeMessage } from "../pytake/order.js";
import { ConnectionState, MESSAGE_STATUS_RANK, RealtimeClient, newClientId } from "../pytake/realtime.js";

const root = document.getElementById("chat");
const tenant = root.dataset.tenant;
const tenantName = root.dataset.tenantName;
const storeKey = `pytake.webchat.${tenant}`;
const $ = (id) => document.getElementById(id);

function held() {
  try {
    return JSON.parse(localStorage.getItem(storeKey) || "null");
  } catch {
    return null;
  }
}

// --- session (REST) ------------------------------------------------------------------------------
const session = {
  token: null,
  conversationId: null,
  /** Start a chat, or continue the one `heldToken` belongs to. Null when that one expired. */
  async start(name, heldToken) {
    const body = { tenant, name: name || t("webchat.visitor") };
    if (heldToken) body.session = heldToken;
    const r = await fetch("/api/webchat/sessions/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await r.json();
    if (r.status === 400 && data.code === "invalid_session") {
      localStorage.removeItem(storeKey);
      return null;
    }
    if (!r.ok) throw new Error(data.message || `HTTP ${r.status}`);
    this.token = data.token;
    this.conversationId = data.conversation_id;
    localStorage.setItem(storeKey, JSON.stringify({ token: data.token, name: body.name }));
    return data;
  },
  /** Send a photo or a document (multipart, with the token), quoting the message `replyTo`
   * names if given; answers the stored message. */
  async attach(file, caption, clientId, replyTo) {
    const form = new FormData();
    form.append("file", file);
    if (caption) form.append("text", caption);
    form.append("client_id", clientId);
    if (replyTo) form.append("reply_to", String(replyTo));
    const r = await fetch("/api/webchat/messages/", {
      method: "POST",
      headers: { Authorization: `Bearer ${this.token}` },
      body: form,
    });
    const data = await r.json();
    if (!r.ok) throw new Error(data.message || `HTTP ${r.status}`);
    return data;
  },
  async state() {
    const r = await fetch("/api/webchat/conversation/", { headers: { Authorization: `Bearer ${this.token}` } });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return r.json();
  },
};

/** A fresh token for the same chat (tokens are short-lived); a new chat if that one is gone. */
async function renew() {
  const h = held();
  const data = h && (await session.start(h.name, h.token));
  if (!data) await session.start(h ? h.name : "", null);
  return session.token;
}

// --- ui ------------------------------------------------------------------------------------------
const rendered = new Map(); // message id -> <li>
const pending = new Map(); // client_id -> <li> (typed, not yet stored)
const statuses = new Map(); // message id -> the furthest status seen

/** The message a bubble shows, as far as ordering goes: live events and replays can arrive out
 * of the server's order, and the thread must read as a reload would show it. */
const shownMessage = (li) => ({ created_at: li.dataset.createdAt, id: Number(li.dataset.id) || null });

/** Statuses only move forward: a history read before a `message.status` event can answer after it. */
function furthest(id, status) {
  const known = statuses.get(id);
  const kept = known && (MESSAGE_STATUS_RANK[known] ?? 0) > (MESSAGE_STATUS_RANK[status] ?? 0) ? known : status;
  statuses.set(id, kept);
  return kept;
}
const STATE_TEXT = {
  [ConnectionState.OPEN]: "webchat.online",
  [ConnectionState.RECONNECTING]: "webchat.reconnecting",
  [ConnectionState.OFFLINE]: "webchat.offline",
};

const ui = {
  state(state) {
    $("status").textContent = STATE_TEXT[state] ? t(STATE_TEXT[state]) : "…";
    $("status").dataset.state = state;
  },
  time(at) {
    return new Date(at).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
  },
  message(m) {
    if (m.internal) return;
    const li = rendered.get(m.id) || (m.client_id && pending.get(m.client_id)) || document.createElement("li");
    li.className = m.direction + (m.sender_type === "bot" ? " bot" : "");
    li.dataset.id = String(m.id);
    li.dataset.createdAt = m.created_at;
    li.textContent = "";
    if (m.reply_to) li.appendChild(ui.quote(m.reply_to));
    if (m.media) li.appendChild(mediaNode(m.media, { type: m.type, getToken: () => session.token }));
    else li.appendChild(document.createTextNode((m.content && m.content.text) || m.text || `[${m.type}]`));
    const reactions = reactionsNode(m.reactions);
    if (reactions) li.appendChild(reactions);
    const meta = document.createElement("span");
    meta.className = "meta";
    const name = m.sender_type === "agent" && m.sender ? `${m.sender.name} · ` : "";
    meta.textContent = name + ui.time(m.created_at);
    if (m.direction === "inbound") meta.appendChild(ui.tick(furthest(m.id, m.status)));
    if (!m.deleted_at) meta.prepend(ui.replyButton(m));
    li.appendChild(meta);
    if (m.client_id) pending.delete(m.client_id);
    placeMessage($("messages"), li, m, shownMessage);
    rendered.set(m.id, li);
    $("messages").scrollTop = $("messages").scrollHeight;
    if (m.direction === "outbound") ui.quickReplies((m.content && m.content.quick_replies) || []);
  },
  /** A quoted message above a bubble. The customer's side is "inbound" here: their own messages
   * read as "You", the agents' and the bot's as the business. */
  quote(quoted) {
    return quoteNode(quoted, { onJump: ui.jump, ownSide: "inbound", otherName: tenantName });
  },
  /** The button that starts a reply to `m` (a stored message). */
  replyButton(m) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "reply";
    button.textContent = "↩";
    button.title = t("msg.reply");
    button.setAttribute("aria-label", t("msg.reply"));
    button.addEventListener("click", () => reply.start(m));
    return button;
  },
  /** Scroll to a quoted message and highlight it. */
  jump(id) {
    const li = rendered.get(id);
    if (!li) return;
    li.scrollIntoView({ block: "center" });
    flash(li);
  },
  /** The customer's own message before the server stored it (queued while offline), with the
   * message it quotes (`quoted`, its brief) if any. */
  pendingMessage(text, clientId, quoted = null) {
    const li = document.createElement("li");
    li.className = "inbound pending";
    li.dataset.clientId = clientId; // no time yet: it stays below every stored message
    if (quoted) li.appendChild(ui.quote(quoted));
    li.appendChild(document.createTextNode(text));
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = ui.time(Date.now());
    meta.appendChild(ui.tick("pending"));
    li.appendChild(meta);
    $("messages").appendChild(li);
    pending.set(clientId, li);
    $("messages").scrollTop = $("messages").scrollHeight;
  },
  failed(clientId, reason) {
    const li = pending.get(clientId);
    if (!li) return;
    li.classList.add("failed");
    li.querySelector(".tick")?.replaceWith(ui.tick("failed"));
    if (reason) li.appendChild(Object.assign(document.createElement("small"), { className: "reason", textContent: reason }));
  },
  tick(status) {
    const span = document.createElement("span");
    span.className = `tick ${status}`;
    span.dataset.status = status;
    span.textContent = { read: " ✓✓", delivered: " ✓✓", failed: " !", pending: " 🕓" }[status] || " ✓";
    span.setAttribute("aria-label", status);
    return span;
  },
  status(s) {
    const li = rendered.get(s.id);
    const old = li && li.querySelector(".tick");
    if (old) old.replaceWith(ui.tick(furthest(s.id, s.status)));
  },
  quickReplies(labels) {
    const box = $("quick");
    box.textContent = "";
    for (const label of labels) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.addEventListener("click", () => send(label));
      box.appendChild(b);
    }
  },
  queue(q) {
    const el = $("queue");
    if (!q) {
      el.hidden = true;
      return;
    }
    const minutes = Math.max(1, Math.round(q.estimated_wait_seconds / 60));
    el.textContent = t("webchat.queue", { position: q.position, minutes });
    el.dataset.position = String(q.position);
    el.hidden = false;
  },
  typing(on) {
    $("typing").hidden = !on;
  },
};

// --- replying to a message -----------------------------------------------------------------------
// The bar above the text box shows the message the customer replies to until they send (the
// message then quotes it: `reply_to`) or cancel (× or Escape).
const reply = {
  target: null, // the quoted message's brief, as the server will echo it in `reply_to`
  start(m) {
    const text = m.text || m.content?.text || m.content?.caption || "";
    this.target = {
      id: m.id,
      type: m.type,
      direction: m.direction,
      sender_type: m.sender_type,
      text,
      deleted: !!m.deleted_at,
    };
    $("reply-label").textContent = `${t("msg.replying_to")}: `;
    $("reply-quote").textContent = text || `[${m.type}]`;
    $("reply-bar").dataset.messageId = String(m.id);
    $("reply-bar").hidden = false;
    $("text").focus();
  },
  cancel() {
    this.target = null;
    $("reply-bar").hidden = true;
    delete $("reply-bar").dataset.messageId;
  },
  /** The quote for the message being sent now (null for none); the bar goes. */
  take() {
    const quoted = this.target;
    this.cancel();
    return quoted;
  },
};

// --- wiring ---------------------------------------------------------------------------------------
let rt = null;
let typingTimer = null;
let customerTypingTimer = null;

function markRead() {
  if (!rt || rt.state !== ConnectionState.OPEN || document.visibilityState !== "visible") return;
  rt.read(session.conversationId).catch(() => {}); // retried by the next message or visit
}

function send(text) {
  text = (text || "").trim();
  if (!text) return;
  const clientId = newClientId();
  const quoted = reply.take();
  ui.pendingMessage(text, clientId, quoted);
  ui.quickReplies([]);
  stopTyping();
  // Refused by the server (too long, a quote that is not theirs…): the bubble says it failed.
  rt.send(text, clientId, { replyTo: quoted?.id }).catch(() => ui.failed(clientId));
}

/** A photo or a document, with what is typed as its caption. */
async function attach(file) {
  if (!file) return;
  const caption = $("text").value.trim();
  const clientId = newClientId();
  const quoted = reply.take();
  ui.pendingMessage(`📎 ${file.name}`, clientId, quoted);
  $("text").value = "";
  try {
    ui.message(await session.attach(file, caption, clientId, quoted?.id));
  } catch (err) {
    ui.failed(clientId, err.message); // too large, not a photo or document…: the server says why
  }
}

function stopTyping() {
  if (!typingTimer) return;
  clearTimeout(typingTimer);
  typingTimer = null;
  rt.typing(session.conversationId, "stop");
}

async function refresh() {
  const state = await session.state();
  state.messages.forEach(ui.message);
  ui.queue(state.queue);
  markRead();
}

function connect() {
  rt = new RealtimeClient({
    getToken: () => session.token,
    refreshToken: () => renew().catch(() => null),
    onSync: refresh,
  });
  rt.onState((state) => ui.state(state));
  rt.on("message.new", (m) => {
    ui.message(m);
    if (m.direction === "outbound") {
      ui.typing(false);
      markRead();
    }
    // Customers are not sent assignment events: an agent joining or writing means the wait is over.
    if (m.sender_type === "agent" || m.content?.notice?.event === "agent_joined") ui.queue(null);
  });
  rt.on("message.status", (s) => ui.status(s));
  rt.on("message.updated", (m) => ui.message(m)); // its file finished (or failed) downloading
  rt.on("typing", (t) => {
    ui.typing(t.state === "start");
    clearTimeout(customerTypingTimer);
    // A "stop" that never comes (the agent closed the tab) must not leave "typing…" forever.
    if (t.state === "start") customerTypingTimer = setTimeout(() => ui.typing(false), 10000);
  });
  rt.on("queue.position", (q) => ui.queue(q));
  rt.on("queue.left", () => ui.queue(null)); // the queue ticket closed: taken or resolved
  window.pytakeWidget = { rt, session }; // for tests and debugging, as the inbox's `pytake`
  rt.connect();
}

async function begin(name, heldToken) {
  let data = await session.start(name, heldToken);
  if (!data) data = await session.start(name, null); // the held session expired: a new chat
  $("start").hidden = true;
  $("composer").hidden = false;
  await refresh().catch(() => {}); // history now; the client refetches again once connected
  connect();
  setInterval(() => renew().catch(() => {}), 60 * 60 * 1000); // renew before tokens expire
}

$("start").addEventListener("submit", (e) => {
  e.preventDefault();
  begin($("name").value, null);
});
$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  send($("text").value);
  $("text").value = "";
});
$("file").addEventListener("change", () => {
  attach($("file").files[0]);
  $("file").value = "";
});
$("text").addEventListener("input", () => {
  if (!typingTimer) rt.typing(session.conversationId, "start");
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, 3000);
});
$("reply-cancel").addEventListener("click", () => {
  reply.cancel();
  $("text").focus();
});
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || !reply.target) return;
  reply.cancel();
  $("text").focus();
});
document.addEventListener("visibilitychange", markRead);

translate(); // the page's texts in the visitor's language (their browser's, or the one they chose)
const h = held();
if (h && h.token) begin(h.name, h.token);
else $("start").hidden = false;
