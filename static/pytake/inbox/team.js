// The team: every staff member with their presence (kept live by `presence` events) and, for
// supervisors, their load (open conversations, read again when an assignment or a status
// changes); and the supervisors' announcements (the box under the team, the banner everyone sees).

import { t, translate } from "../i18n.js";
import { $, busyWhile } from "./dom.js";
import { isSupervisor, me, onNewerCopy, session } from "./state.js";

let agents = new Map(); // id -> staff member, as GET agents/ gave them
const presence = new Map(); // user id -> "online" | "away" | "offline"
let presenceEvents = 0; // presence changes received so far
const presenceAt = new Map(); // user id -> presenceEvents when their last change came
let soonTimer = null;
const changeListeners = []; // fn() after the team list is read (the pane's "Assign to" list)

/** `fn()` whenever the team list has been read again. */
export function onTeamChange(fn) {
  changeListeners.push(fn);
}

/** The staff of the tenant, by id (read by the pane's "Assign to" list). */
export function teamMembers() {
  return agents.values();
}

/** Staff member `id`, if the team list has them. */
export function teamMember(id) {
  return agents.get(id);
}

export async function loadAgents() {
  const asked = presenceEvents;
  const answer = await busyWhile("agent-list", session.get("agents/"));
  agents = new Map(answer.map((agent) => [agent.id, agent]));
  for (const agent of answer) {
    // The REST answer is the truth at load time; `presence` events keep it current. A change
    // that came while the answer was on its way is newer than it (or the same).
    const changedSince = (presenceAt.get(agent.id) || 0) > asked;
    if (agent.presence && !changedSince) presence.set(agent.id, agent.presence);
  }
  renderAgents();
  for (const fn of changeListeners) fn();
}

/** Read the team again shortly: a burst of changes (auto-assignment of several) makes one request. */
function loadAgentsSoon() {
  clearTimeout(soonTimer);
  soonTimer = setTimeout(() => loadAgents().catch(() => {}), 300);
}

// An agent's load is their open conversations: it moves when a conversation changes hands,
// or is resolved or reopened. Supervisors see every conversation's copies go by (events and
// action answers alike); a copy that changes neither changes no load, nor a first copy of an
// unassigned one.
const loadKey = (conv) => `${conv.assignee?.id ?? ""}:${conv.status}`;
onNewerCopy((copy, previous) => {
  if (!isSupervisor()) return;
  if (previous ? loadKey(previous) === loadKey(copy) : !copy.assignee) return;
  loadAgentsSoon();
});

export function onPresence(data) {
  // One frame carries every change of its window (a whole team connecting is one frame).
  presenceEvents += 1;
  for (const change of data.users) {
    presence.set(change.user_id, change.status);
    presenceAt.set(change.user_id, presenceEvents);
  }
  renderAgents();
}

/** Our own socket is open: we are online (or away, as chosen) without waiting for the event. */
export function showMyselfConnected() {
  const user = me();
  presence.set(user.id, user.availability === "away" ? "away" : "online");
  renderAgents();
}

export function renderAgents() {
  const list = $("agent-list");
  const rows = [...agents.values()].map((agent) => {
    const li = document.createElement("li");
    const status = presence.get(agent.id) || "offline";
    li.dataset.userId = agent.id;
    li.dataset.presence = status;
    li.innerHTML = `<span class="presence-dot" aria-hidden="true"></span><span class="agent-name"></span><span class="muted agent-status"></span>
      <span class="agent-load badge badge-muted" hidden></span>`;
    li.querySelector(".agent-name").textContent = agent.name + (agent.id === me().id ? ` (${t("meta.you")})` : "");
    li.querySelector(".agent-status").textContent = t(`presence.${status}`);
    const load = li.querySelector(".agent-load");
    if (isSupervisor() && typeof agent.open_conversations === "number") {
      load.hidden = false;
      load.dataset.count = agent.open_conversations;
      load.textContent = t("agents.load", { n: agent.open_conversations });
      load.title = t("agents.load_title");
    }
    return li;
  });
  list.replaceChildren(...rows);
}

// --- announcements ---------------------------------------------------------------------------

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
  $("agents-body").append(form);
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

/** Only supervisors and admins announce. */
export function renderBroadcastForm() {
  broadcastForm.hidden = !isSupervisor();
}

export function showBroadcast(data) {
  $("broadcast-text").textContent = t("broadcast.from", { name: data.from?.name || "", text: data.text });
  $("broadcast").hidden = false;
}

$("broadcast-close").addEventListener("click", () => {
  $("broadcast").hidden = true;
});
