// The open conversation's messages: the history (scrolling up through the cursor API, catching
// up after a reconnect), live messages and ticks, each message one bubble however many copies
// of it arrive (REST, socket, replay, the optimistic one typed here).

import { t } from "../i18n.js";
import { compareMessages, placeMessage } from "../order.js";
import { mediaNode } from "../media.js";
import { flash, flowNode, orderNode, quoteNode, reactionsNode } from "../message_parts.js";
import { MESSAGE_STATUS_RANK } from "../realtime.js";
import { kindText, systemText } from "../system.js";
import { $, clockTime } from "./dom.js";
import { templateNode } from "./template_view.js";
import { clearReply, startReply } from "./reply.js";
import { me, openId, session } from "./state.js";

const WINDOW_ERROR_CODES = new Set([131047]); // re-engagement: outside the 24-hour window

const messages = new Map(); // key ("id:12" or "c:<client_id>") -> message, for the open conversation
let historyMore = false;
let historyLoading = false;
let retry = null; // fn(message, {note}) that sends a failed message again (the composer's)
const revealed = new Set(); // ids of deleted messages staff chose to see again

/** The composer sends again a message that failed for want of a connection. */
export function onRetry(fn) {
  retry = fn;
}

/** Another conversation opens (or none): forget this one's messages. */
export function clearMessages() {
  messages.clear();
  revealed.clear();
  clearReply();
  historyMore = false;
  $("message-list").replaceChildren();
}

/** The held copy of a message by its key ("id:12" or "c:<client_id>"). */
export function heldMessage(key) {
  return messages.get(key);
}

export function renderAllMessages() {
  for (const message of messages.values()) renderMessage(message);
}

// --- history -------------------------------------------------------------------------------

function oldestServerId() {
  let oldest = null;
  for (const message of messages.values()) {
    if (message.id && (oldest === null || compareMessages(message, oldest) < 0)) oldest = message;
  }
  return oldest?.id ?? null;
}

function newestServerId() {
  let newest = null;
  for (const message of messages.values()) {
    if (message.id && (newest === null || compareMessages(message, newest) > 0)) newest = message;
  }
  return newest?.id ?? null;
}

export async function loadHistory({ initial = false } = {}) {
  const id = openId();
  if (historyLoading || (!initial && !historyMore)) return;
  historyLoading = true;
  const box = $("messages");
  box.setAttribute("aria-busy", "true"); // screen readers: do not announce a page of history
  const before = initial ? null : oldestServerId();
  const heightBefore = box.scrollHeight;
  const topBefore = box.scrollTop;
  try {
    const page = await session.get(`conversations/${id}/messages/`, { before: before || undefined, limit: 40 });
    if (id !== openId()) return;
    for (const message of page.results) upsertMessage(message, { quiet: true });
    historyMore = page.has_more;
    $("history-status").textContent = page.has_more ? "" : t("pane.start");
    if (initial) box.scrollTop = box.scrollHeight;
    else box.scrollTop = topBefore + (box.scrollHeight - heightBefore); // keep the reader's place
  } finally {
    historyLoading = false;
    box.setAttribute("aria-busy", "false");
  }
  // A short first page leaves nothing to scroll: keep loading until it fills the pane.
  if (id === openId() && historyMore && box.scrollHeight <= box.clientHeight) loadHistory();
}

$("messages").addEventListener("scroll", () => {
  if ($("messages").scrollTop < 120) loadHistory();
});

/** Every message of conversation ``id`` after the newest one held (the newest page when none is). */
export async function catchUpMessages(id) {
  let after = newestServerId();
  if (!after) {
    const page = await session.get(`conversations/${id}/messages/`, { limit: 40 });
    if (id === openId()) for (const message of page.results) upsertMessage(message);
    return;
  }
  while (after) {
    const page = await session.get(`conversations/${id}/messages/`, { after, limit: 200 });
    if (id !== openId()) return;
    for (const message of page.results) upsertMessage(message);
    if (!page.has_more || !page.results.length) break;
    after = page.results[page.results.length - 1].id;
  }
}

// --- messages ------------------------------------------------------------------------------

function messageKey(message) {
  return message.id ? `id:${message.id}` : `c:${message.client_id}`;
}

/** Insert or update a message of the open conversation. Idempotent: the same message from
 * REST, from the socket and from a replay ends as one bubble; an optimistic bubble is replaced
 * by the server's message with the same client_id. */
export function upsertMessage(incoming, { quiet = false } = {}) {
  let key = messageKey(incoming);
  const current = messages.get(key);
  let merged = incoming;
  if (incoming.id && incoming.client_id) {
    // The server's copy of an optimistic bubble: take its place (or, if the socket already
    // brought the same message, drop the bubble).
    const optimisticKey = `c:${incoming.client_id}`;
    const optimistic = messages.get(optimisticKey);
    if (optimistic) {
      messages.delete(optimisticKey);
      const node = document.querySelector(`#message-list [data-key="${CSS.escape(optimisticKey)}"]`);
      if (node && !current) node.dataset.key = key;
      else node?.remove();
      if (optimistic.internal && merged.internal === undefined) merged = { ...merged, internal: true };
    }
  }
  // A note stays a note even if a later copy leaves the flag out.
  if (current?.internal && merged.internal === undefined) merged = { ...merged, internal: true };
  if (current && MESSAGE_STATUS_RANK[merged.status] < MESSAGE_STATUS_RANK[current.status] && current.status !== "failed") {
    merged = { ...merged, status: current.status }; // statuses only move forward
  }
  if (current && current.status === "failed" && merged.status !== "failed" && !current.local) {
    merged = { ...merged, status: "failed", error: current.error };
  }
  key = messageKey(merged);
  messages.set(key, merged);
  renderMessage(merged, { quiet });
}

function renderMessage(message, { quiet = true } = {}) {
  const list = $("message-list");
  const key = messageKey(message);
  let li = list.querySelector(`[data-key="${CSS.escape(key)}"]`);
  const isNew = !li;
  if (isNew) {
    li = document.createElement("li");
    li.dataset.key = key;
    li.innerHTML = `<div class="bubble"><div class="msg-sender"></div><div class="msg-quote-slot"></div>
      <div class="msg-text"></div><div class="msg-extra"></div>
      <div class="msg-meta"><span class="msg-edited" hidden></span><time></time><span class="tick" role="img"></span></div></div>
      <div class="msg-reactions-slot"></div><p class="msg-error" hidden></p>`;
    placeMessage(list, li, message, (node) => messages.get(node.dataset.key));
  }
  const outbound = message.direction === "outbound";
  const system = message.sender_type === "system"; // assignment, resolution: a line, not a bubble
  const note = !!message.internal && !system;
  li.className = `msg ${system ? "msg-system" : note ? "msg-note" : outbound ? "msg-out" : "msg-in"}`;
  if (message.id) li.dataset.id = message.id;
  if (message.client_id) li.dataset.clientId = message.client_id;
  li.dataset.status = message.status;
  li.dataset.createdAt = message.created_at;
  const sender = li.querySelector(".msg-sender");
  const senderName =
    message.sender_type === "bot"
      ? t("sender.bot")
      : message.sender_type === "system"
        ? t("sender.system")
        : outbound && message.sender && message.sender.id !== me().id
          ? message.sender.name
          : "";
  const fromPhone = outbound && message.content?.from_phone ? t("msg.from_phone") : "";
  sender.textContent = note
    ? `${t("note.label")} · ${message.sender?.name || ""}`
    : system
      ? ""
      : senderName || fromPhone;
  sender.classList.toggle("msg-note-label", note);
  sender.hidden = !sender.textContent;
  const text = li.querySelector(".msg-text");
  renderExtras(li, message, { system, note });
  if (message.deleted_at && !revealed.has(message.id)) {
    text.textContent = t("msg.deleted");
  } else if (message.media) {
    // A photo, voice note, document…: its player or card, with the caption under it.
    const retryDownload = message.id ? () => session.post(`messages/${message.id}/media/retry/`) : undefined;
    text.replaceChildren(
      mediaNode(message.media, { type: message.type, getToken: () => session.token(), onRetry: retryDownload }),
    );
  } else if (message.type === "template" && message.content?.template) {
    text.replaceChildren(templateNode(message.content.template, message.text)); // header, footer, buttons
  } else {
    text.textContent = system
      ? systemText(message.content)
      : message.text || (message.type !== "text" ? kindText(message.type) : "");
  }
  const time = li.querySelector("time");
  time.dateTime = message.created_at;
  time.textContent = clockTime(message.created_at);
  const tick = li.querySelector(".tick");
  tick.hidden = !outbound || note || system;
  tick.dataset.status = message.status;
  tick.textContent = { pending: "◷", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!" }[message.status] || "";
  tick.setAttribute("aria-label", t(`tick.${message.status}`));
  tick.title = t(`tick.${message.status}`);
  const errorLine = li.querySelector(".msg-error");
  errorLine.replaceChildren();
  if (message.status === "failed") {
    errorLine.hidden = false;
    errorLine.append(failureText(message));
    if (message.local) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-link";
      button.textContent = t("composer.retry");
      button.addEventListener("click", () => retry?.(message, { note }));
      errorLine.append(" ", button);
    }
  } else {
    errorLine.hidden = true;
  }
  if (isNew && !quiet) {
    const box = $("messages");
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 160;
    if (nearBottom || outbound) li.scrollIntoView({ block: "end" });
  }
}

/** What a message carries beyond its text: the quote above it, an order or a form's answers,
 * the reactions under it, "edited", the deleted marker, and the reply button. */
function renderExtras(li, message, { system, note }) {
  const deleted = !!message.deleted_at;
  li.classList.toggle("msg-deleted", deleted);
  const quoteSlot = li.querySelector(".msg-quote-slot");
  quoteSlot.replaceChildren(...(message.reply_to ? [quoteNode(message.reply_to, { onJump: jumpTo })] : []));
  const extra = li.querySelector(".msg-extra");
  const content = message.content || {};
  const hidden = deleted && !revealed.has(message.id);
  const parts = [];
  if (!hidden && content.order) parts.push(orderNode(content.order));
  if (!hidden && content.flow) parts.push(flowNode(content.flow));
  if (deleted && message.id) {
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "btn btn-link msg-reveal";
    toggle.textContent = t(hidden ? "msg.show_deleted" : "msg.hide_deleted");
    toggle.addEventListener("click", () => {
      if (revealed.has(message.id)) revealed.delete(message.id);
      else revealed.add(message.id);
      renderMessage(messages.get(messageKey(message)) || message);
    });
    parts.push(toggle);
  }
  extra.replaceChildren(...parts);
  const edited = li.querySelector(".msg-edited");
  edited.hidden = !message.edited_at;
  edited.textContent = message.edited_at ? t("msg.edited") : "";
  const before = (content.edits || []).map((e) => e.text).filter(Boolean);
  edited.title = before.length ? t("msg.edited_before", { text: before.join(" → ") }) : "";
  const reactions = reactionsNode(message.reactions);
  li.querySelector(".msg-reactions-slot").replaceChildren(...(reactions ? [reactions] : []));
  const meta = li.querySelector(".msg-meta");
  let reply = meta.querySelector(".msg-reply");
  const canReply = !!message.id && !system && !note && !hidden;
  if (canReply && !reply) {
    reply = document.createElement("button");
    reply.type = "button";
    reply.className = "btn btn-ghost msg-reply";
    reply.textContent = "↩";
    reply.addEventListener("click", () => {
      const current = messages.get(`id:${li.dataset.id}`);
      if (current) startReply(current);
    });
    meta.prepend(reply);
  }
  if (reply) {
    reply.hidden = !canReply;
    reply.title = t("msg.reply");
    reply.setAttribute("aria-label", t("msg.reply"));
  }
}

/** Scroll to the message a quote names and highlight it (when it is among those loaded). */
function jumpTo(id) {
  const node = $("message-list").querySelector(`[data-id="${CSS.escape(String(id))}"]`);
  if (!node) return;
  node.scrollIntoView({ block: "center" });
  flash(node);
}

function failureText(message) {
  if (message.local) return t("error.network");
  const code = message.error?.code;
  if (WINDOW_ERROR_CODES.has(code)) return t("error.window");
  if (code === 131026) return t("error.undeliverable"); // the number, not the window
  return t("error.generic", { reason: message.error?.title || code || "?" });
}

/** Notes have no client_id on the server: a note of ours that arrives live before its POST's
 * answer is its pending bubble's stored self (the answer is matched by client_id later). */
function withPendingNote(message) {
  if (!message.internal || message.client_id || message.sender?.id !== me().id) return message;
  for (const held of messages.values()) {
    if (held.internal && held.id === null && held.status === "pending" && held.text === message.text) {
      return { ...message, client_id: held.client_id };
    }
  }
  return message;
}

export function onMessageNew(message) {
  if (message.conversation_id !== openId()) return;
  upsertMessage(withPendingNote(message));
}

/** A message changed in place (its file finished or failed downloading, its reactions changed,
 * the customer edited or deleted it): the bubble shows it. */
export function onMessageUpdated(message) {
  if (message.conversation_id === openId()) upsertMessage(message);
}

export function onMessageStatus(data) {
  if (data.conversation_id !== openId()) return;
  const current = messages.get(`id:${data.id}`);
  if (!current) return;
  upsertMessage({ ...current, ...data });
}

// --- opening the history at a message (a search hit, a mention) -------------------------------

/** The first page of the open conversation: the messages around `messageId` (the older ones
 * load on scrolling up, the newer ones follow with the catch-up). */
export async function loadAround(messageId) {
  const id = openId();
  const page = await session.get(`conversations/${id}/messages/`, { around: messageId, limit: 40 });
  if (id !== openId()) return;
  for (const message of page.results) upsertMessage(message, { quiet: true });
  historyMore = page.has_more_before;
  $("history-status").textContent = page.has_more_before ? "" : t("pane.start");
}

/** Scroll message `messageId` of the open conversation into view and mark it for a moment
 * (`data-found`); the newer messages after it are read first when they are not held yet. */
export async function showMessage(messageId) {
  const id = openId();
  if (!messages.has(`id:${messageId}`)) {
    await loadAround(messageId);
    if (id !== openId()) return;
    await catchUpMessages(id);
    if (id !== openId()) return;
  }
  const li = $("message-list").querySelector(`[data-key="id:${Number(messageId)}"]`);
  if (!li) return;
  for (const old of $("message-list").querySelectorAll("[data-found]")) delete old.dataset.found;
  li.dataset.found = "true";
  li.scrollIntoView({ block: "center" });
}
