// The conversation pane: opening and closing a conversation, its header and actions (take,
// return to queue, assign, resolve, reopen), marking it read, and who is typing in it.
// Its messages and history are messages.js; the box to write in is composer.js.

import { t } from "../i18n.js";
import { renderNoteMode, stopTyping } from "./composer.js";
import { $, busyWhile, contactName, initials, unassignedLabel } from "./dom.js";
import { keepListed, listed, removeConversation, renderList } from "./list.js";
import {
  catchUpMessages,
  clearMessages,
  loadAround,
  loadHistory,
  renderAllMessages,
  showMessage,
  upsertMessage,
} from "./messages.js";
import {
  acceptCopy,
  freshest,
  isSupervisor,
  me,
  onNewerCopy,
  onOpenRequest,
  openCopy,
  openId,
  rt,
  session,
  setOpen,
} from "./state.js";
import { onTeamChange, teamMember, teamMembers } from "./team.js";
import { onTemplateSent, renderWindowState } from "./templates.js";

const TYPING_SHOW_MS = 7000;

/** Open conversation `id`; `at`: at that message (a search hit, a mention), shown highlighted. */
async function openConversation(id, { at = null } = {}) {
  if (openId() === id) {
    if (at) await showMessage(at);
    else $("composer-text").focus();
    return;
  }
  closeConversation();
  const focusAtOpen = document.activeElement;
  setOpen(id, listed(id) || null);
  clearMessages();
  $("conv-error").hidden = true;
  $("pane-empty").hidden = true;
  $("conversation").hidden = false;
  $("conversation").setAttribute("aria-busy", "true");
  document.body.classList.add("pane-open");
  $("history-status").textContent = t("pane.loading");
  renderList();
  if (openCopy()) renderHeader();
  // Join before reading the history: what is published after the join arrives live, and one
  // read after the join's ack covers a message stored between the history read and the join
  // (joining after the reads missed it until the next reload).
  const joined = rt() ? rt().join(id).catch(() => null) : Promise.resolve(null);
  try {
    const history = at ? loadAround(at) : loadHistory({ initial: true });
    const [copy] = await Promise.all([session.get(`conversations/${id}/`), history]);
    if (openId() !== id) return;
    const conv = freshest(copy);
    setOpen(id, conv);
    keepListed(conv);
    renderHeader();
    renderList();
    if (await joined) await catchUpMessages(id);
    if (openId() !== id) return;
    if (at) await showMessage(at);
    if (conv.unread_count) markReadSoon(0);
  } catch (error) {
    if (openId() !== id) return;
    if (error.status === 404) {
      removeConversation(id);
      closeConversation();
      showPaneNotice(t("pane.revoked"));
    } else {
      showConvError(error.message);
    }
  }
  if (openId() !== id) return;
  $("conversation").setAttribute("aria-busy", "false");
  // The composer gets the keyboard, unless the user took it elsewhere while the history loaded
  // (to the "Assign to" confirmation, say: a slow catch-up once pulled it from under them).
  const active = document.activeElement;
  if (active === focusAtOpen || active === document.body || $("conv-list").contains(active)) {
    $("composer-text").focus();
  }
}

export function closeConversation() {
  if (openId() !== null) {
    stopTyping();
    rt()?.leave(openId());
  }
  setOpen(null, null);
  clearMessages();
  clearTypingIndicator();
  hideAssignConfirm();
  $("conversation").hidden = true;
  $("pane-empty").hidden = false;
  $("pane-empty").querySelector("p").textContent = t("pane.empty");
  document.body.classList.remove("pane-open");
}

export function showPaneNotice(text) {
  $("pane-empty").querySelector("p").textContent = text;
}

function showConvError(text) {
  $("conv-error").textContent = text;
  $("conv-error").hidden = false;
}

onOpenRequest(openConversation);
onTemplateSent(upsertMessage);

// A newer copy of the open conversation: its header, and read it if a customer wrote.
onNewerCopy((conv, previous) => {
  if (conv.id !== openId()) return;
  const grew = (conv.unread_count || 0) > (previous?.unread_count || 0);
  setOpen(conv.id, conv);
  renderHeader();
  if (grew && !document.hidden) markReadSoon();
});

/** `conversation.revoked`: the open conversation was given to someone else. */
export function onRevoked(data) {
  if (data.id !== openId()) return;
  closeConversation();
  showPaneNotice(t("pane.revoked"));
}

/** `message.new`, after messages.js placed it: the customer wrote in the open conversation,
 * so they stopped typing, and the page that shows it has read it. */
export function onCustomerMessage(message) {
  if (message.conversation_id !== openId() || message.direction !== "inbound") return;
  clearTypingIndicator();
  if (!document.hidden) markReadSoon();
}

/** After a reconnect with nothing to resume from: the open conversation as the server has it. */
export async function refreshOpenConversation() {
  const id = openId();
  if (id === null) return;
  const conv = freshest(await session.get(`conversations/${id}/`));
  if (id !== openId()) return;
  setOpen(id, conv);
  keepListed(conv);
  renderHeader();
  // Catch up: everything after the newest message we hold, then the newest page for status changes.
  await catchUpMessages(id);
  if (id !== openId()) return;
  const latest = await session.get(`conversations/${id}/messages/`, { limit: 50 });
  if (id !== openId()) return;
  for (const message of latest.results) upsertMessage(message, { quiet: true });
  readIfSeen();
}

/** The language changed: the pane's own texts again. */
export function relabelPane() {
  renderNoteMode();
  if (openCopy()) {
    renderHeader();
    renderAllMessages();
    if (pendingAssign) renderAssignConfirm();
  }
}

$("conv-back").addEventListener("click", () => {
  const id = openId();
  closeConversation();
  renderList();
  document.querySelector(`.conv-item[data-id="${id}"]`)?.focus();
});

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  if (pendingAssign) $("assign-no").click(); // Escape cancels a transfer before anything else
  else if (openId() !== null && document.activeElement?.id !== "filter-search") $("conv-back").click();
});

// --- header and actions ----------------------------------------------------------------------

export function renderHeader() {
  const conv = openCopy();
  if (!conv) return;
  const name = contactName(conv);
  $("conv-title").textContent = name;
  $("conv-avatar").textContent = initials(name);
  const parts = [t(`channel.${conv.channel}`)];
  if (conv.contact?.phone) parts.push(conv.contact.phone);
  parts.push(t(`state.${conv.status}`));
  parts.push(
    conv.assignee
      ? t("meta.assigned", { name: conv.assignee.id === me().id ? t("meta.you") : conv.assignee.name })
      : unassignedLabel(conv),
  );
  $("conv-meta").textContent = parts.join(" · ");
  const mine = conv.assignee?.id === me().id;
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

onTeamChange(() => renderAssignSelect());

function renderAssignSelect() {
  const select = $("act-assign");
  const conv = openCopy();
  const options = [new Option(t("actions.assign_placeholder"), "", true, false)];
  options[0].disabled = true;
  options.push(new Option(t("actions.nobody"), "none"));
  for (const agent of teamMembers()) options.push(new Option(agent.name, String(agent.id)));
  select.replaceChildren(...options);
  // While a choice waits for its confirmation, the list keeps showing it.
  if (pendingAssign) select.value = pendingAssign.assigneeId === null ? "none" : String(pendingAssign.assigneeId);
  else select.value = conv?.assignee ? String(conv.assignee.id) : "";
}

function renderWindowNotice() {
  renderWindowState(openCopy()); // the notice, and templates instead of the text box when closed
}

async function conversationAction(path, body) {
  const id = openId();
  $("conv-error").hidden = true;
  try {
    acceptCopy(await busyWhile("conv-actions", session.post(`conversations/${id}/${path}/`, body)));
  } catch (error) {
    showConvError(error.message);
  }
}

$("act-take").addEventListener("click", () => conversationAction("assign", { assignee_id: me().id }));
$("act-release").addEventListener("click", () => conversationAction("assign", { assignee_id: null }));
$("act-resolve").addEventListener("click", () => conversationAction("resolve"));
$("act-reopen").addEventListener("click", () => conversationAction("reopen"));
// --- assign, after a confirmation -----------------------------------------------------------

// A choice in "Assign to" hands the conversation over only once confirmed: a slip of the list
// (or of the keyboard moving through it) would otherwise transfer it at once.
let pendingAssign = null; // {id, assigneeId} (assigneeId null: back to wait for an agent)

$("act-assign").addEventListener("change", (event) => {
  const value = event.target.value;
  if (!value) return;
  const conv = openCopy();
  const assigneeId = value === "none" ? null : Number(value);
  if (!conv || assigneeId === (conv.assignee?.id ?? null)) {
    hideAssignConfirm();
    return;
  }
  pendingAssign = { id: conv.id, assigneeId };
  renderAssignConfirm();
  $("assign-yes").focus();
});

function renderAssignConfirm() {
  const conv = openCopy();
  const { assigneeId } = pendingAssign;
  const holder = conv.assignee && (conv.assignee.id === me().id ? t("meta.you") : conv.assignee.name);
  const vars = { contact: contactName(conv), name: teamMember(assigneeId)?.name || "", from: holder || "" };
  const key = assigneeId === null ? "assign.confirm_queue" : holder ? "assign.confirm_transfer" : "assign.confirm";
  $("assign-confirm-text").textContent = t(key, vars);
  $("assign-confirm").hidden = false;
}

function hideAssignConfirm() {
  const wasShown = pendingAssign !== null;
  pendingAssign = null;
  $("assign-confirm").hidden = true;
  if (wasShown) renderAssignSelect(); // the list shows who has it again
  return wasShown;
}

$("assign-yes").addEventListener("click", () => {
  const choice = pendingAssign;
  hideAssignConfirm();
  if (choice && choice.id === openId()) conversationAction("assign", { assignee_id: choice.assigneeId });
  $("act-assign").focus();
});

$("assign-no").addEventListener("click", () => {
  hideAssignConfirm();
  $("act-assign").focus();
});

// --- read ------------------------------------------------------------------------------------

let readTimer = null;
export function markReadSoon(delay = 400) {
  const id = openId();
  clearTimeout(readTimer);
  readTimer = setTimeout(async () => {
    if (id !== openId()) return;
    try {
      acceptCopy(await session.post(`conversations/${id}/read/`));
    } catch {
      /* retried by the next message, the connection's return (readIfSeen) or a visit */
    }
  }, delay);
}

/** The open conversation's messages are read once the page shows them. */
export function readIfSeen() {
  if (!document.hidden && openCopy()?.unread_count) markReadSoon(0);
}

document.addEventListener("visibilitychange", readIfSeen);

// --- typing (the others') --------------------------------------------------------------------

let typingShown = null;
export function onTyping(data) {
  if (data.conversation_id !== openId()) return;
  if (data.user && data.user.id === me().id) return;
  if (data.state !== "start") {
    clearTypingIndicator();
    return;
  }
  const name = data.user ? data.user.name : contactName(openCopy());
  $("typing").textContent = t(data.user ? "typing.staff" : "typing.customer", { name });
  $("typing").classList.add("is-visible");
  clearTimeout(typingShown);
  typingShown = setTimeout(clearTypingIndicator, TYPING_SHOW_MS);
}

export function clearTypingIndicator() {
  clearTimeout(typingShown);
  $("typing").textContent = "";
  $("typing").classList.remove("is-visible");
}
