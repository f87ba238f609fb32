// The conversation list: the tabs (scope), the status filter and the search, the page of
// conversations they select, and live copies placed in it or taken out of it.

import { t } from "../i18n.js";
import { compareConversations } from "../order.js";
import { previewText } from "../system.js";
import { $, contactName, initials, shortTime, unassignedLabel } from "./dom.js";
import { notifyNewMessage } from "./notify.js";
import { freshest, isSupervisor, me, onNewerCopy, openId, requestOpen, session } from "./state.js";
import { renderBroadcastForm } from "./team.js";

const filter = { scope: "mine", status: "open", search: "", labels: [] };
const shown = new Map(); // the list as filtered now: id -> conversation
let next = null; // the next page's URL
let lastRequest = 0;
const rowRenderers = []; // fn(li, conv) after a row is filled (labels' chips, bulk selection)

/** `fn(li, conv)` each time a row of the list is filled: other modules add to the row. */
export function onRowRender(fn) {
  rowRenderers.push(fn);
}

/** Show only conversations with any of the labels `ids` (none: every conversation). */
export function setLabelFilter(ids) {
  filter.labels = [...ids];
  loadList();
}

/** Agents start on their own conversations, supervisors on all. */
export function resetList() {
  filter.scope = isSupervisor() ? "all" : "mine";
  shown.clear();
  $("conv-list")?.replaceChildren();
}

/** The list's copy of conversation `id`, if it is in the list. */
export function listed(id) {
  return shown.get(id);
}

/** Put (or keep) `conv` in the list, if it matches the filters. */
export function keepListed(conv) {
  shown.set(conv.id, conv);
  if (!matches(conv)) shown.delete(conv.id);
}

function listQuery() {
  const query = { status: filter.status || undefined, search: filter.search || undefined };
  if (filter.labels.length) query.labels = filter.labels.join(",");
  if (filter.scope === "mine") query.assignee = "me";
  if (filter.scope === "queue") query.unassigned = "true";
  return query;
}

/** Does `conv` belong in the list as filtered now? (live events are filtered here) */
function matches(conv) {
  if (filter.status && conv.status !== filter.status) return false;
  if (filter.scope === "mine" && conv.assignee?.id !== me().id) return false;
  if (filter.scope === "queue" && conv.assignee) return false;
  if (filter.labels.length && !filter.labels.some((id) => (conv.labels || []).includes(id))) return false;
  if (filter.search) {
    const needle = filter.search.toLowerCase();
    const c = conv.contact || {};
    const hay = [c.name, c.profile_name, c.phone, c.wa_id, c.display_name].join(" ").toLowerCase();
    if (!hay.includes(needle)) return false;
  }
  return true;
}

export async function loadList({ more = false } = {}) {
  const ticket = ++lastRequest;
  $("conv-list").setAttribute("aria-busy", "true");
  try {
    const page = more && next ? await session.get(next) : await session.get("conversations/", listQuery());
    if (ticket !== lastRequest) return; // a newer filter won
    if (!more) shown.clear();
    for (const copy of page.results) {
      // A live event that overtook this page keeps its newer copy, in the list only if it matches.
      const conv = freshest(copy);
      if (conv === copy || matches(conv)) shown.set(conv.id, conv);
    }
    next = page.next;
    renderList();
  } finally {
    if (ticket === lastRequest) $("conv-list").setAttribute("aria-busy", "false");
  }
}

function sortedConversations() {
  return [...shown.values()]
    .filter((conv) => matches(conv))
    .sort(compareConversations);
}

export function renderList() {
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
      li.querySelector("button").addEventListener("click", () => requestOpen(conv.id));
    }
    fillListItem(li, conv);
    fragment.push(li);
  }
  // Rows move only where the order changed. Re-inserting every row (replaceChildren) took each
  // out of the document for a moment, and a click landing then, as the first pages and live
  // copies arrive after sign-in, opened nothing.
  let cursor = list.firstElementChild;
  for (const li of fragment) {
    if (li === cursor) cursor = cursor.nextElementSibling;
    else list.insertBefore(li, cursor);
  }
  while (cursor) {
    const gone = cursor;
    cursor = cursor.nextElementSibling;
    gone.remove();
  }
  $("conv-empty").hidden = items.length > 0;
  $("conv-more").hidden = !next;
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
  li.querySelector(".conv-preview").textContent = previewText(conv.last_message_preview);
  const unread = li.querySelector(".unread");
  unread.textContent = conv.unread_count > 99 ? "99+" : String(conv.unread_count || "");
  unread.hidden = !conv.unread_count;
  unread.setAttribute("aria-label", t("list.unread", { count: conv.unread_count }));
  const tags = [t(`channel.${conv.channel}`)];
  if (conv.assignee) tags.push(conv.assignee.id === me().id ? t("meta.you") : conv.assignee.name);
  else tags.push(unassignedLabel(conv));
  if (filter.status === "") tags.push(t(`state.${conv.status}`));
  li.querySelector(".conv-item-tags").textContent = tags.join(" · ");
  button.classList.toggle("is-unread", conv.unread_count > 0);
  if (conv.id === openId()) button.setAttribute("aria-current", "true");
  else button.removeAttribute("aria-current");
  for (const fn of rowRenderers) fn(li, conv);
}

// A newer copy of a conversation (a live event, an action's answer): into the list or out of it.
onNewerCopy((conv) => {
  const previous = shown.get(conv.id);
  keepListed(conv);
  const grew = (conv.unread_count || 0) > (previous?.unread_count || 0);
  // Only a customer's message raises the unread count. For a conversation outside the current
  // list there is no previous count to compare with: there the update must also end with the
  // customer's message, or any line of ours (the queue's notice of their place) would notify,
  // with our own text, for messages the agent already knew of.
  const fromCustomer =
    Boolean(conv.last_customer_message_at) &&
    new Date(conv.last_customer_message_at) >= new Date(conv.last_message_at);
  if (grew && (previous || fromCustomer) && (conv.id !== openId() || document.hidden)) {
    notifyNewMessage(conv, requestOpen);
  }
  renderList();
});

/** Conversation `id` is gone from this user's view (`conversation.revoked`, or a 404). */
export function removeConversation(id) {
  shown.delete(id);
  renderList();
}

export function renderTabs() {
  $("tab-all").hidden = !isSupervisor();
  renderBroadcastForm();
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.scope === filter.scope;
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
    const nextTab = tabs[(index + tabs.length) % tabs.length];
    nextTab.focus();
    setScope(nextTab.dataset.scope);
  });
}

function setScope(scope) {
  if (scope === filter.scope) return;
  filter.scope = scope;
  renderTabs();
  loadList();
}

$("filter-status").addEventListener("change", (event) => {
  filter.status = event.target.value;
  loadList();
});

let searchTimer = null;
$("filter-search").addEventListener("input", (event) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    filter.search = event.target.value.trim();
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
