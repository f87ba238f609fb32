// The agent inbox: login, conversation list, conversation pane, live updates over /ws/.
// State lives in plain objects; the DOM is updated in place so screen readers hear additions only.

import { ApiError, Session } from "./api.js";
import { bindLanguageSelect, locale, onLang, t, translate } from "./i18n.js";
import { ConnectionState, MESSAGE_STATUS_RANK, newClientId, RealtimeClient } from "./realtime.js";

const config = JSON.parse(document.getElementById("pytake-config")?.textContent || "{}");
const $ = (id) => document.getElementById(id);

const WINDOW_ERROR_CODES = new Set([131047, 131026]); // re-engagement / outside the 24-hour window
const TYPING_IDLE_MS = 2500;
const TYPING_REPEAT_MS = 4000;
const TYPING_SHOW_MS = 7000;

const session = new Session({ base: config.api || "/api/" });
const state = {
  me: null,
  scope: "mine",
  status: "open",
  search: "",
  conversations: new Map(), // the list as filtered now: id -> conversation
  latest: new Map(), // id -> the newest copy seen of every conversation (see freshest())
  next: null,
  openId: null,
  open: null,
  messages: new Map(), // key ("id:12" or "c:<client_id>") -> message, for the open conversation
  historyMore: false,
  historyLoading: false,
  agents: new Map(),
  presence: new Map(),
  presenceEvents: 0, // presence changes received so far
  presenceAt: new Map(), // user id -> presenceEvents when their last change came
  notify: localStorage.getItem("pytake.notify") === "1",
  listRequest: 0,
  queueRequest: 0,
  queue: [], // [{position, waiting_seconds, estimated_wait_seconds, conversation}] from GET queue/
  noteMode: false,
};
let rt = null;
const unsubscribers = [];

// ------------------------------------------------------------------------------------------
// Boot, login, logout

function show(view) {
  $("boot").hidden = true;
  $("login").hidden = view !== "login";
  $("app").hidden = view !== "app";
}

function showLogin(messageKey) {
  stopApp();
  show("login");
  $("login-error").textContent = messageKey ? t(messageKey) : "";
  $("login-email").focus();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = $("login-email").value.trim();
  const password = $("login-password").value;
  const button = event.submitter || $("login-form").querySelector("button[type=submit]");
  button.disabled = true;
  $("login-error").textContent = "";
  try {
    await session.login(email, password);
    $("login-password").value = "";
    await startApp();
  } catch (error) {
    const key =
      error.status === 429 ? "login.throttled" : error.code === "network" ? "login.network" : "login.failed";
    $("login-error").textContent = t(key);
  } finally {
    button.disabled = false;
  }
});

$("logout").addEventListener("click", () => {
  session.signOut();
});

session.onChange((kind) => {
  if (kind === "logout") showLogin();
});

async function startApp() {
  let me;
  try {
    me = await session.get("me/");
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      session.logout();
      showLogin("login.expired");
      return;
    }
    throw error;
  }
  state.me = me;
  state.scope = isSupervisor() ? "all" : "mine";
  show("app");
  renderMe();
  renderTabs();
  rt = new RealtimeClient({
    url: config.ws || "/ws/",
    getToken: () => session.token(),
    // Refused token: if it is the one we still hold, rotate; if a proactive refresh already
    // replaced it, the new one is good.
    refreshToken: (used) => (used === session.access ? session.refreshNow() : session.token()),
    onSync: () => refetchAll(),
  });
  // Tests and the browser console reach the live objects here.
  window.pytake = { rt, session, state };
  unsubscribers.push(
    rt.onState(renderConnection),
    rt.on("conversation.new", upsertConversation),
    rt.on("conversation.updated", upsertConversation),
    rt.on("conversation.assigned", upsertConversation),
    rt.on("conversation.revoked", (data) => removeConversation(data.id, { revoked: true })),
    rt.on("message.new", onMessageNew),
    rt.on("message.status", onMessageStatus),
    rt.on("typing", onTyping),
    rt.on("presence", onPresence),
    // Presence is ephemeral (not replayed): after a resume, ask for the team again.
    rt.on("resumed", () => {
      loadAgents().catch(() => {});
      readIfSeen(); // a read that failed while the connection was down
    }),
    rt.on("queue.updated", () => loadQueueSoon()),
    rt.on("broadcast", showBroadcast),
    rt.on("auth_error", () => {
      session.logout();
      showLogin("login.expired");
    }),
  );
  await Promise.all([loadAgents(), loadList(), loadQueue()]);
  rt.connect();
}

function stopApp() {
  while (unsubscribers.length) unsubscribers.pop()();
  if (rt) rt.close();
  rt = null;
  state.openId = null;
  state.open = null;
  state.conversations.clear();
  state.messages.clear();
  $("message-list")?.replaceChildren();
  $("conv-list")?.replaceChildren();
}

function isSupervisor() {
  return state.me && (state.me.role === "supervisor" || state.me.role === "admin");
}

/** After a (re)connect with nothing to resume from, or a `resync`: reload what is on screen. */
async function refetchAll() {
  await Promise.all([loadList(), state.openId ? refreshOpenConversation() : null, loadAgents(), loadQueue()]);
}

// ------------------------------------------------------------------------------------------
// Header: me, connection, notifications, language

function renderMe() {
  $("me-name").textContent = state.me.name || state.me.email;
  $("me-role").textContent = state.me.role;
  $("tenant-name").textContent = state.me.tenant ? state.me.tenant.name : "";
  $("availability").value = state.me.availability || "available";
}

$("availability").addEventListener("change", async (event) => {
  // The server announces the change to the team as a `presence` event (ours included).
  try {
    state.me = await session.patch("me/", { availability: event.target.value });
  } catch {
    event.target.value = state.me.availability;
  }
});

function renderConnection(connState) {
  const el = $("conn");
  el.dataset.state = connState;
  $("conn-text").textContent = t(`conn.${connState}`);
  if (connState === ConnectionState.OPEN && state.me) {
    state.presence.set(state.me.id, state.me.availability === "away" ? "away" : "online");
    renderAgents();
  }
}

function renderNotifyToggle() {
  const button = $("notify-toggle");
  const denied = "Notification" in window && Notification.permission === "denied";
  button.setAttribute("aria-pressed", String(state.notify));
  $("notify-text").textContent = t(state.notify ? (denied ? "notify.denied" : "notify.on") : "notify.off");
}

$("notify-toggle").addEventListener("click", async () => {
  state.notify = !state.notify;
  localStorage.setItem("pytake.notify", state.notify ? "1" : "0");
  if (state.notify && "Notification" in window && Notification.permission === "default") {
    await Notification.requestPermission();
  }
  if (state.notify) ensureAudio();
  renderNotifyToggle();
});

let audioContext = null;
function ensureAudio() {
  // Browsers only allow audio after a user gesture: create the context from the toggle's click.
  if (!audioContext && window.AudioContext) audioContext = new AudioContext();
  return audioContext;
}

function beep() {
  const ctx = audioContext;
  if (!ctx) return;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = "sine";
  osc.frequency.value = 880;
  gain.gain.setValueAtTime(0.0001, ctx.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.25);
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + 0.3);
}

function notifyNewMessage(conv) {
  if (!state.notify) return;
  beep();
  if ("Notification" in window && Notification.permission === "granted") {
    const note = new Notification(t("notify.title", { name: contactName(conv) }), {
      body: conv.last_message_preview || "",
      tag: `pytake-conversation-${conv.id}`,
    });
    note.onclick = () => {
      window.focus();
      openConversation(conv.id);
      note.close();
    };
  }
}

bindLanguageSelect($("login-lang"));
bindLanguageSelect($("app-lang"));
onLang(() => {
  translate();
  renderNotifyToggle();
  if (rt) renderConnection(rt.state);
  if (state.me) {
    renderTabs();
    renderList();
    renderAgents();
    renderQueue();
    renderNoteMode();
    if (state.open) {
      renderHeader();
      for (const message of state.messages.values()) renderMessage(message);
    }
  }
});

const busyCounts = new Map(); // element id -> requests outstanding for it

/** `request`'s answer, with element `id` marked aria-busy until it and any other request
 * begun for it have settled (the tests wait on that too). */
async function busyWhile(id, request) {
  busyCounts.set(id, (busyCounts.get(id) || 0) + 1);
  $(id).setAttribute("aria-busy", "true");
  try {
    return await request;
  } finally {
    busyCounts.set(id, busyCounts.get(id) - 1);
    $(id).setAttribute("aria-busy", String(busyCounts.get(id) > 0));
  }
}

// ------------------------------------------------------------------------------------------
// Conversation list

function listQuery() {
  const query = { status: state.status || undefined, search: state.search || undefined };
  if (state.scope === "mine") query.assignee = "me";
  if (state.scope === "queue") query.unassigned = "true";
  return query;
}

/** Does `conv` belong in the list as filtered now? (live events are filtered here) */
function matches(conv) {
  if (state.status && conv.status !== state.status) return false;
  if (state.scope === "mine" && conv.assignee?.id !== state.me.id) return false;
  if (state.scope === "queue" && conv.assignee) return false;
  if (state.search) {
    const needle = state.search.toLowerCase();
    const c = conv.contact || {};
    const hay = [c.name, c.profile_name, c.phone, c.wa_id, c.display_name].join(" ").toLowerCase();
    if (!hay.includes(needle)) return false;
  }
  return true;
}

async function loadList({ more = false } = {}) {
  const ticket = ++state.listRequest;
  $("conv-list").setAttribute("aria-busy", "true");
  try {
    const page = more && state.next ? await session.get(state.next) : await session.get("conversations/", listQuery());
    if (ticket !== state.listRequest) return; // a newer filter won
    if (!more) state.conversations.clear();
    for (const copy of page.results) {
      // A live event that overtook this page keeps its newer copy, in the list only if it matches.
      const conv = freshest(copy);
      if (conv === copy || matches(conv)) state.conversations.set(conv.id, conv);
    }
    state.next = page.next;
    renderList();
  } finally {
    if (ticket === state.listRequest) $("conv-list").setAttribute("aria-busy", "false");
  }
}

function sortedConversations() {
  return [...state.conversations.values()]
    .filter((conv) => matches(conv))
    .sort((a, b) => (a.last_message_at < b.last_message_at ? 1 : a.last_message_at > b.last_message_at ? -1 : b.id - a.id));
}

function renderList() {
  const list = $("conv-list");
  const focusedId = document.activeElement?.closest?.(".conv-item")?.dataset.id;
  const items = sortedConversations();
  const existing = new Map([...list.children].map((li) => [li.dataset.id, li]));
  const fragment = [];
  for (const conv of items) {
    let li = existing.get(String(conv.id));
    if (!li) {
      li = document.createElement("li");
      li.dataset.id = conv.id;
      li.innerHTML = `<button type="button" class="conv-item"><span class="avatar" aria-hidden="true"></span>
        <span class="conv-item-body"><span class="conv-item-top"><span class="conv-name"></span><time class="conv-time"></time></span>
        <span class="conv-item-bottom"><span class="conv-preview"></span><span class="unread badge"></span></span>
        <span class="conv-item-tags"></span></span></button>`;
      li.querySelector("button").addEventListener("click", () => openConversation(conv.id));
    }
    fillListItem(li, conv);
    fragment.push(li);
  }
  list.replaceChildren(...fragment);
  $("conv-empty").hidden = items.length > 0;
  $("conv-more").hidden = !state.next;
  if (focusedId) list.querySelector(`li[data-id="${focusedId}"] button`)?.focus();
}

function fillListItem(li, conv) {
  const button = li.querySelector("button");
  button.dataset.id = conv.id;
  const name = contactName(conv);
  li.querySelector(".avatar").textContent = initials(name);
  li.querySelector(".avatar").dataset.channel = conv.channel;
  li.querySelector(".conv-name").textContent = name;
  const time = li.querySelector(".conv-time");
  time.dateTime = conv.last_message_at;
  time.textContent = shortTime(conv.last_message_at);
  li.querySelector(".conv-preview").textContent = conv.last_message_preview || "";
  const unread = li.querySelector(".unread");
  unread.textContent = conv.unread_count > 99 ? "99+" : String(conv.unread_count || "");
  unread.hidden = !conv.unread_count;
  unread.setAttribute("aria-label", t("list.unread", { count: conv.unread_count }));
  const tags = [t(`channel.${conv.channel}`)];
  if (conv.assignee) tags.push(conv.assignee.id === state.me.id ? t("meta.you") : conv.assignee.name);
  else tags.push(t("meta.unassigned"));
  if (state.status === "") tags.push(t(`state.${conv.status}`));
  li.querySelector(".conv-item-tags").textContent = tags.join(" · ");
  button.classList.toggle("is-unread", conv.unread_count > 0);
  if (conv.id === state.openId) button.setAttribute("aria-current", "true");
  else button.removeAttribute("aria-current");
}

/** The newest copy of a conversation seen so far. Copies come from REST answers and live events,
 * and can arrive out of order (an action's answer overtaken by the events of a later action, a
 * list page read before an event it arrives after, events published by two processes): each
 * carries its `seq`, and an older one than already seen is set aside for the newer. */
function freshest(copy) {
  const known = state.latest.get(copy.id);
  if (known && known.seq > copy.seq) return known;
  state.latest.set(copy.id, copy);
  return copy;
}

function upsertConversation(copy) {
  const conv = freshest(copy);
  if (conv !== copy) return; // older than what is shown
  const previous = state.conversations.get(conv.id);
  state.conversations.set(conv.id, conv);
  if (!matches(conv)) state.conversations.delete(conv.id);
  const grew = (conv.unread_count || 0) > (previous?.unread_count || 0);
  // Only a customer's message raises the unread count. For a conversation outside the current
  // list there is no previous count to compare with: there the update must also end with the
  // customer's message, or any line of ours (the queue's notice of their place) would notify,
  // with our own text, for messages the agent already knew of.
  const fromCustomer =
    Boolean(conv.last_customer_message_at) &&
    new Date(conv.last_customer_message_at) >= new Date(conv.last_message_at);
  if (grew && (previous || fromCustomer) && (conv.id !== state.openId || document.hidden)) notifyNewMessage(conv);
  if (conv.id === state.openId) {
    state.open = conv;
    renderHeader();
    if (grew && !document.hidden) markReadSoon();
  }
  renderList();
}

function removeConversation(id, { revoked = false } = {}) {
  state.conversations.delete(id);
  if (id === state.openId && revoked) {
    closeConversation();
    showPaneNotice(t("pane.revoked"));
  }
  renderList();
}

function renderTabs() {
  $("tab-all").hidden = !isSupervisor();
  broadcastForm.hidden = !isSupervisor();
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.scope === state.scope;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
  }
}

for (const tab of document.querySelectorAll("[role=tab]")) {
  tab.addEventListener("click", () => setScope(tab.dataset.scope));
  tab.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    const tabs = [...document.querySelectorAll("[role=tab]:not([hidden])")];
    const index = tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : -1);
    const next = tabs[(index + tabs.length) % tabs.length];
    next.focus();
    setScope(next.dataset.scope);
  });
}

function setScope(scope) {
  if (scope === state.scope) return;
  state.scope = scope;
  renderTabs();
  loadList();
}

$("filter-status").addEventListener("change", (event) => {
  state.status = event.target.value;
  loadList();
});

let searchTimer = null;
$("filter-search").addEventListener("input", (event) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    state.search = event.target.value.trim();
    loadList();
  }, 250);
});

$("conv-more").addEventListener("click", () => loadList({ more: true }));

// Arrow keys move between conversations.
$("conv-list").addEventListener("keydown", (event) => {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const buttons = [...$("conv-list").querySelectorAll(".conv-item")];
  const index = buttons.indexOf(document.activeElement);
  if (index < 0) return;
  event.preventDefault();
  buttons[Math.max(0, Math.min(buttons.length - 1, index + (event.key === "ArrowDown" ? 1 : -1)))].focus();
});

// ------------------------------------------------------------------------------------------
// Agents and presence

async function loadAgents() {
  const asked = state.presenceEvents;
  const agents = await busyWhile("agent-list", session.get("agents/"));
  state.agents = new Map(agents.map((agent) => [agent.id, agent]));
  for (const agent of agents) {
    // The REST answer is the truth at load time; `presence` events keep it current. A change
    // that came while the answer was on its way is newer than it (or the same).
    const changedSince = (state.presenceAt.get(agent.id) || 0) > asked;
    if (agent.presence && !changedSince) state.presence.set(agent.id, agent.presence);
  }
  renderAgents();
  renderAssignSelect();
}

function onPresence(data) {
  // One frame carries every change of its window (a whole team connecting is one frame).
  state.presenceEvents += 1;
  for (const change of data.users) {
    state.presence.set(change.user_id, change.status);
    state.presenceAt.set(change.user_id, state.presenceEvents);
  }
  renderAgents();
}

function renderAgents() {
  const list = $("agent-list");
  const rows = [...state.agents.values()].map((agent) => {
    const li = document.createElement("li");
    const status = state.presence.get(agent.id) || "offline";
    li.dataset.userId = agent.id;
    li.dataset.presence = status;
    li.innerHTML = `<span class="presence-dot" aria-hidden="true"></span><span class="agent-name"></span><span class="muted agent-status"></span>`;
    li.querySelector(".agent-name").textContent = agent.name + (agent.id === state.me.id ? ` (${t("meta.you")})` : "");
    li.querySelector(".agent-status").textContent = t(`presence.${status}`);
    return li;
  });
  list.replaceChildren(...rows);
}

// ------------------------------------------------------------------------------------------
// Queue (waiting conversations, first in line first) and broadcasts

async function loadQueue() {
  // The last read asked for wins: an earlier one answering late holds an older queue.
  const ticket = ++state.queueRequest;
  const answer = await busyWhile("queue-list", session.get("queue/"));
  if (ticket !== state.queueRequest) return;
  state.queue = answer.results;
  renderQueue();
}

let queueTimer = null;
function loadQueueSoon() {
  // A burst of queue changes (auto-assignment of several) makes one request.
  clearTimeout(queueTimer);
  queueTimer = setTimeout(() => loadQueue().catch(() => {}), 300);
}

function renderQueue() {
  const list = $("queue-list");
  $("queue-size").textContent = String(state.queue.length);
  $("queue-empty").hidden = state.queue.length > 0;
  list.replaceChildren(
    ...state.queue.map((entry) => {
      const conv = entry.conversation;
      const li = document.createElement("li");
      li.dataset.id = conv.id;
      li.innerHTML = `<span class="queue-pos"></span><span class="queue-name"></span><span class="queue-wait"></span>
        <button type="button" class="btn"></button>`;
      li.querySelector(".queue-pos").textContent = t("queue.position", { position: entry.position });
      li.querySelector(".queue-name").textContent = contactName(conv);
      li.querySelector(".queue-wait").dataset.since = conv.queued_at || "";
      const take = li.querySelector("button");
      take.textContent = t("actions.take");
      take.setAttribute("aria-label", `${t("actions.take")}: ${contactName(conv)}`);
      take.addEventListener("click", async () => {
        take.disabled = true;
        try {
          upsertConversation(await session.post(`conversations/${conv.id}/assign/`, { assignee_id: state.me.id }));
          openConversation(conv.id);
        } catch (error) {
          take.disabled = false;
          take.title = error.message;
        }
        loadQueueSoon();
      });
      return li;
    }),
  );
  tickQueue();
}

function tickQueue() {
  const now = Date.now();
  for (const el of document.querySelectorAll(".queue-wait")) {
    if (!el.dataset.since) continue;
    el.textContent = t("queue.waiting", { time: duration((now - new Date(el.dataset.since)) / 1000) });
  }
}
setInterval(tickQueue, 15000); // waiting times move on without any request

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t("duration.seconds", { n: s });
  if (s < 3600) return t("duration.minutes", { n: Math.floor(s / 60) });
  return t("duration.hours", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

// Supervisors announce to the whole team (POST /api/broadcast/); everyone, the sender included,
// gets it as the `broadcast` event shown in the banner. Built here so the page shell stays as is.
const broadcastForm = (() => {
  const form = document.createElement("form");
  form.id = "broadcast-form";
  form.className = "broadcast-form";
  form.hidden = true;
  form.noValidate = true;
  form.innerHTML = `<label for="broadcast-input" data-i18n="broadcast.label"></label>
    <div class="broadcast-row">
      <input id="broadcast-input" maxlength="1000" autocomplete="off" data-i18n-placeholder="broadcast.placeholder">
      <button type="submit" class="btn" data-i18n="broadcast.send"></button>
    </div>
    <p id="broadcast-result" class="muted broadcast-result" role="status"></p>`;
  document.querySelector(".agents").append(form);
  translate(form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("broadcast-input");
    const result = $("broadcast-result");
    const text = input.value.trim();
    if (!text) {
      result.textContent = t("broadcast.empty");
      input.focus();
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await session.post("broadcast/", { text });
      input.value = "";
      result.textContent = t("broadcast.sent");
    } catch (error) {
      result.textContent = error.message || t("broadcast.failed");
    } finally {
      button.disabled = false;
    }
  });
  return form;
})();

function showBroadcast(data) {
  $("broadcast-text").textContent = t("broadcast.from", { name: data.from?.name || "", text: data.text });
  $("broadcast").hidden = false;
}
$("broadcast-close").addEventListener("click", () => {
  $("broadcast").hidden = true;
});

// ------------------------------------------------------------------------------------------
// Conversation pane

async function openConversation(id) {
  if (state.openId === id) {
    $("composer-text").focus();
    return;
  }
  closeConversation();
  state.openId = id;
  state.open = state.conversations.get(id) || null;
  state.messages.clear();
  $("message-list").replaceChildren();
  $("conv-error").hidden = true;
  $("pane-empty").hidden = true;
  $("conversation").hidden = false;
  document.body.classList.add("pane-open");
  $("history-status").textContent = t("pane.loading");
  renderList();
  if (state.open) renderHeader();
  // Join before reading the history: what is published after the join arrives live, and one
  // read after the join's ack covers a message stored between the history read and the join
  // (joining after the reads missed it until the next reload).
  const joined = rt ? rt.join(id).catch(() => null) : Promise.resolve(null);
  try {
    const [copy] = await Promise.all([session.get(`conversations/${id}/`), loadHistory({ initial: true })]);
    if (state.openId !== id) return;
    const conv = freshest(copy);
    state.open = conv;
    state.conversations.set(conv.id, conv);
    renderHeader();
    renderList();
    if (await joined) await catchUpMessages(id);
    if (state.openId !== id) return;
    if (conv.unread_count) markReadSoon(0);
  } catch (error) {
    if (state.openId !== id) return;
    if (error.status === 404) {
      removeConversation(id);
      closeConversation();
      showPaneNotice(t("pane.revoked"));
    } else {
      showConvError(error.message);
    }
  }
  $("composer-text").focus();
}

function closeConversation() {
  if (state.openId !== null) {
    stopTyping();
    rt?.leave(state.openId);
  }
  state.openId = null;
  state.open = null;
  state.messages.clear();
  clearTypingIndicator();
  $("conversation").hidden = true;
  $("pane-empty").hidden = false;
  $("pane-empty").querySelector("p").textContent = t("pane.empty");
  document.body.classList.remove("pane-open");
}

function showPaneNotice(text) {
  $("pane-empty").querySelector("p").textContent = text;
}

function showConvError(text) {
  $("conv-error").textContent = text;
  $("conv-error").hidden = false;
}

$("conv-back").addEventListener("click", () => {
  const id = state.openId;
  closeConversation();
  renderList();
  document.querySelector(`.conv-item[data-id="${id}"]`)?.focus();
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.openId !== null && document.activeElement?.id !== "filter-search") {
    $("conv-back").click();
  }
});

function renderHeader() {
  const conv = state.open;
  if (!conv) return;
  const name = contactName(conv);
  $("conv-title").textContent = name;
  $("conv-avatar").textContent = initials(name);
  const parts = [t(`channel.${conv.channel}`)];
  if (conv.contact?.phone) parts.push(conv.contact.phone);
  parts.push(t(`state.${conv.status}`));
  parts.push(
    conv.assignee
      ? t("meta.assigned", { name: conv.assignee.id === state.me.id ? t("meta.you") : conv.assignee.name })
      : t("meta.unassigned"),
  );
  $("conv-meta").textContent = parts.join(" · ");
  const mine = conv.assignee?.id === state.me.id;
  const resolved = conv.status === "resolved";
  $("act-take").hidden = mine || (!!conv.assignee && !isSupervisor());
  // A supervisor taking another agent's conversation takes it over from them.
  $("act-take").dataset.i18n = conv.assignee && !mine ? "actions.take_over" : "actions.take";
  $("act-take").textContent = t($("act-take").dataset.i18n);
  $("act-release").hidden = !mine;
  $("act-assign-wrap").hidden = !isSupervisor();
  $("act-resolve").hidden = resolved;
  $("act-reopen").hidden = !resolved;
  renderAssignSelect();
  renderWindowNotice();
}

function renderAssignSelect() {
  const select = $("act-assign");
  const conv = state.open;
  const options = [new Option(t("actions.assign_placeholder"), "", true, false)];
  options[0].disabled = true;
  options.push(new Option(t("actions.nobody"), "none"));
  for (const agent of state.agents.values()) options.push(new Option(agent.name, String(agent.id)));
  select.replaceChildren(...options);
  select.value = conv?.assignee ? String(conv.assignee.id) : "";
}

function renderWindowNotice() {
  const conv = state.open;
  const notice = $("window-notice");
  if (!conv?.window_expires_at || conv.status === "resolved") {
    notice.hidden = true;
    return;
  }
  const expires = new Date(conv.window_expires_at);
  notice.hidden = expires > new Date();
  notice.textContent = t("window.closed", { when: fullTime(conv.window_expires_at) });
}

async function conversationAction(path, body) {
  const id = state.openId;
  $("conv-error").hidden = true;
  try {
    upsertConversation(await busyWhile("conv-actions", session.post(`conversations/${id}/${path}/`, body)));
  } catch (error) {
    showConvError(error.message);
  }
}

$("act-take").addEventListener("click", () => conversationAction("assign", { assignee_id: state.me.id }));
$("act-release").addEventListener("click", () => conversationAction("assign", { assignee_id: null }));
$("act-resolve").addEventListener("click", () => conversationAction("resolve"));
$("act-reopen").addEventListener("click", () => conversationAction("reopen"));
$("act-assign").addEventListener("change", (event) => {
  const value = event.target.value;
  if (!value) return;
  conversationAction("assign", { assignee_id: value === "none" ? null : Number(value) });
});

let readTimer = null;
function markReadSoon(delay = 400) {
  const id = state.openId;
  clearTimeout(readTimer);
  readTimer = setTimeout(async () => {
    if (id !== state.openId) return;
    try {
      upsertConversation(await session.post(`conversations/${id}/read/`));
    } catch {
      /* retried by the next message, the connection's return (readIfSeen) or a visit */
    }
  }, delay);
}

/** The open conversation's messages are read once the page shows them. */
function readIfSeen() {
  if (!document.hidden && state.open?.unread_count) markReadSoon(0);
}

document.addEventListener("visibilitychange", readIfSeen);

// --- history ------------------------------------------------------------------------------

function oldestServerId() {
  let oldest = null;
  for (const message of state.messages.values()) {
    if (message.id && (oldest === null || compareMessages(message, oldest) < 0)) oldest = message;
  }
  return oldest?.id ?? null;
}

function newestServerId() {
  let newest = null;
  for (const message of state.messages.values()) {
    if (message.id && (newest === null || compareMessages(message, newest) > 0)) newest = message;
  }
  return newest?.id ?? null;
}

async function loadHistory({ initial = false } = {}) {
  const id = state.openId;
  if (state.historyLoading || (!initial && !state.historyMore)) return;
  state.historyLoading = true;
  const box = $("messages");
  box.setAttribute("aria-busy", "true"); // screen readers: do not announce a page of history
  const before = initial ? null : oldestServerId();
  const heightBefore = box.scrollHeight;
  const topBefore = box.scrollTop;
  try {
    const page = await session.get(`conversations/${id}/messages/`, { before: before || undefined, limit: 40 });
    if (id !== state.openId) return;
    for (const message of page.results) upsertMessage(message, { quiet: true });
    state.historyMore = page.has_more;
    $("history-status").textContent = page.has_more ? "" : t("pane.start");
    if (initial) box.scrollTop = box.scrollHeight;
    else box.scrollTop = topBefore + (box.scrollHeight - heightBefore); // keep the reader's place
  } finally {
    state.historyLoading = false;
    box.setAttribute("aria-busy", "false");
  }
  // A short first page leaves nothing to scroll: keep loading until it fills the pane.
  if (id === state.openId && state.historyMore && box.scrollHeight <= box.clientHeight) loadHistory();
}

$("messages").addEventListener("scroll", () => {
  if ($("messages").scrollTop < 120) loadHistory();
});

async function refreshOpenConversation() {
  const id = state.openId;
  const conv = freshest(await session.get(`conversations/${id}/`));
  if (id !== state.openId) return;
  state.open = conv;
  state.conversations.set(conv.id, conv);
  renderHeader();
  // Catch up: everything after the newest message we hold, then the newest page for status changes.
  await catchUpMessages(id);
  if (id !== state.openId) return;
  const latest = await session.get(`conversations/${id}/messages/`, { limit: 50 });
  if (id !== state.openId) return;
  for (const message of latest.results) upsertMessage(message, { quiet: true });
  readIfSeen();
}

/** Every message of conversation ``id`` after the newest one held (the newest page when none is). */
async function catchUpMessages(id) {
  let after = newestServerId();
  if (!after) {
    const page = await session.get(`conversations/${id}/messages/`, { limit: 40 });
    if (id === state.openId) for (const message of page.results) upsertMessage(message);
    return;
  }
  while (after) {
    const page = await session.get(`conversations/${id}/messages/`, { after, limit: 200 });
    if (id !== state.openId) return;
    for (const message of page.results) upsertMessage(message);
    if (!page.has_more || !page.results.length) break;
    after = page.results[page.results.length - 1].id;
  }
}

// --- messages -----------------------------------------------------------------------------

function messageKey(message) {
  return message.id ? `id:${message.id}` : `c:${message.client_id}`;
}

function compareMessages(a, b) {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1;
  return (a.id || Number.MAX_SAFE_INTEGER) - (b.id || Number.MAX_SAFE_INTEGER);
}

/** Insert or update a message of the open conversation. Idempotent: the same message from
 * REST, from the socket and from a replay ends as one bubble; an optimistic bubble is replaced
 * by the server's message with the same client_id. */
function upsertMessage(incoming, { quiet = false } = {}) {
  let key = messageKey(incoming);
  const current = state.messages.get(key);
  let merged = incoming;
  if (incoming.id && incoming.client_id) {
    // The server's copy of an optimistic bubble: take its place (or, if the socket already
    // brought the same message, drop the bubble).
    const optimisticKey = `c:${incoming.client_id}`;
    const optimistic = state.messages.get(optimisticKey);
    if (optimistic) {
      state.messages.delete(optimisticKey);
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
  state.messages.set(key, merged);
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
    li.innerHTML = `<div class="bubble"><div class="msg-sender"></div><div class="msg-text"></div>
      <div class="msg-meta"><time></time><span class="tick" role="img"></span></div></div>
      <p class="msg-error" hidden></p>`;
    insertSorted(list, li, message);
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
        : outbound && message.sender && message.sender.id !== state.me.id
          ? message.sender.name
          : "";
  sender.textContent = note ? `${t("note.label")} · ${message.sender?.name || ""}` : system ? "" : senderName;
  sender.classList.toggle("msg-note-label", note);
  sender.hidden = !sender.textContent;
  li.querySelector(".msg-text").textContent = message.text || (message.type !== "text" ? `[${message.type}]` : "");
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
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "btn btn-link";
      retry.textContent = t("composer.retry");
      retry.addEventListener("click", () => postMessage(message.text, message.client_id, { note }));
      errorLine.append(" ", retry);
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

function insertSorted(list, li, message) {
  // Most messages are the newest: walk from the end.
  let before = null;
  for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
    const other = state.messages.get(node.dataset.key);
    if (!other || compareMessages(other, message) <= 0) break;
    before = node;
  }
  list.insertBefore(li, before);
}

function failureText(message) {
  if (message.local) return t("error.network");
  const code = message.error?.code;
  if (WINDOW_ERROR_CODES.has(code)) return t("error.window");
  return t("error.generic", { reason: message.error?.title || code || "?" });
}

/** Notes have no client_id on the server: a note of ours that arrives live before its POST's
 * answer is its pending bubble's stored self (the answer is matched by client_id later). */
function withPendingNote(message) {
  if (!message.internal || message.client_id || message.sender?.id !== state.me.id) return message;
  for (const held of state.messages.values()) {
    if (held.internal && held.id === null && held.status === "pending" && held.text === message.text) {
      return { ...message, client_id: held.client_id };
    }
  }
  return message;
}

function onMessageNew(message) {
  if (message.conversation_id !== state.openId) return;
  upsertMessage(withPendingNote(message));
  if (message.direction === "inbound") {
    clearTypingIndicator();
    if (!document.hidden) markReadSoon();
  }
}

function onMessageStatus(data) {
  if (data.conversation_id !== state.openId) return;
  const current = state.messages.get(`id:${data.id}`);
  if (!current) return;
  upsertMessage({ ...current, ...data });
}

// --- composer -----------------------------------------------------------------------------

const composer = $("composer-text");

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = composer.value.trim();
  if (!text || state.openId === null) return;
  composer.value = "";
  autoGrow();
  if (!state.noteMode) stopTyping();
  postMessage(text, newClientId(), { note: state.noteMode });
});

$("note-toggle").addEventListener("click", () => {
  state.noteMode = !state.noteMode;
  renderNoteMode();
  composer.focus();
});

function renderNoteMode() {
  $("note-toggle").setAttribute("aria-pressed", String(state.noteMode));
  $("composer").classList.toggle("is-note", state.noteMode);
  composer.placeholder = t(state.noteMode ? "composer.note_placeholder" : "composer.placeholder");
}

composer.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

composer.addEventListener("input", () => {
  autoGrow();
  if (state.noteMode) return; // the customer must not see the team typing a note
  if (composer.value.trim()) startTyping();
  else stopTyping();
});
composer.addEventListener("blur", () => stopTyping());

function autoGrow() {
  composer.style.height = "auto";
  composer.style.height = `${Math.min(composer.scrollHeight, 160)}px`;
}

async function postMessage(text, clientId, { note = false } = {}) {
  const id = state.openId;
  const optimistic = {
    id: null,
    client_id: clientId,
    conversation_id: id,
    direction: "outbound",
    sender_type: "agent",
    sender: { id: state.me.id, name: state.me.name },
    type: "text",
    text,
    status: "pending",
    error: null,
    internal: note,
    created_at: state.messages.get(`c:${clientId}`)?.created_at || new Date().toISOString(),
  };
  upsertMessage(optimistic);
  try {
    // Notes have no client_id on the server: the answer is matched to the bubble here.
    const saved = note
      ? { ...(await session.post(`conversations/${id}/notes/`, { text })), client_id: clientId, internal: true }
      : await session.post(`conversations/${id}/messages/`, { text, client_id: clientId });
    if (id === state.openId) upsertMessage(saved);
  } catch (error) {
    if (id !== state.openId) return;
    if (error instanceof ApiError && error.code !== "network" && error.status < 500) {
      upsertMessage({ ...optimistic, status: "failed", error: { code: error.code, title: error.message } });
    } else {
      upsertMessage({ ...optimistic, status: "failed", local: true });
    }
  }
}

// --- typing -------------------------------------------------------------------------------

let typingSentAt = 0;
let typingIdle = null;
let typingActiveFor = null;

function startTyping() {
  const id = state.openId;
  if (id === null || !rt) return;
  const now = Date.now();
  if (typingActiveFor !== id || now - typingSentAt > TYPING_REPEAT_MS) {
    rt.typing(id, "start");
    typingSentAt = now;
    typingActiveFor = id;
  }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(typingIdle);
  if (typingActiveFor !== null && rt) rt.typing(typingActiveFor, "stop");
  typingActiveFor = null;
  typingSentAt = 0;
}

let typingShown = null;
function onTyping(data) {
  if (data.conversation_id !== state.openId) return;
  if (data.user && data.user.id === state.me.id) return;
  if (data.state !== "start") {
    clearTypingIndicator();
    return;
  }
  const name = data.user ? data.user.name : contactName(state.open);
  $("typing").textContent = t(data.user ? "typing.staff" : "typing.customer", { name });
  $("typing").classList.add("is-visible");
  clearTimeout(typingShown);
  typingShown = setTimeout(clearTypingIndicator, TYPING_SHOW_MS);
}

function clearTypingIndicator() {
  clearTimeout(typingShown);
  $("typing").textContent = "";
  $("typing").classList.remove("is-visible");
}

// ------------------------------------------------------------------------------------------
// Formatting

function contactName(conv) {
  const c = conv?.contact || {};
  return c.display_name || c.name || c.profile_name || c.phone || `#${conv?.id ?? ""}`;
}

function initials(name) {
  const parts = String(name).replace(/[^\p{L}\p{N} ]/gu, "").trim().split(/\s+/);
  return ((parts[0]?.[0] || "") + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase() || "#";
}

function shortTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const now = new Date();
  if (date.toDateString() === now.toDateString()) return clockTime(iso);
  return date.toLocaleDateString(locale(), { day: "2-digit", month: "short" });
}

function clockTime(iso) {
  return new Date(iso).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
}

function fullTime(iso) {
  return new Date(iso).toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" });
}

// ------------------------------------------------------------------------------------------

translate();
renderNotifyToggle();
if (session.loggedIn) {
  startApp().catch(() => showLogin("login.network"));
} else {
  showLogin();
}
