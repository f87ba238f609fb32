// The header's moves beside take / resolve: mark pending (waiting on the customer), snooze
// until a time (quick choices or one picked), transfer to a teammate or the queue with a note
// for whoever picks it up. And a conversation opened from a mention that is not the agent's:
// read, not answered (no box to write in, no actions).

import { t } from "../i18n.js";
import { $, busyWhile } from "./dom.js";
import { bindPopover } from "./popover.js";
import { acceptCopy, isSupervisor, me, onOpenChange, openCopy, openId, session } from "./state.js";
import { onTeamChange, teamMembers } from "./team.js";

/** An agent may only read a conversation another agent has (they were mentioned in it). */
export function readOnly(conv) {
  return !!conv && !isSupervisor() && !!conv.assignee && conv.assignee.id !== me().id;
}

function render(id, conv) {
  const locked = readOnly(conv);
  $("readonly-notice").hidden = !locked;
  $("composer").hidden = locked;
  $("conv-actions").hidden = locked;
  $("act-labels").hidden = locked;
  if (!conv) {
    hideTransfer();
    return;
  }
  const status = conv.status;
  const mine = conv.assignee?.id === me().id;
  $("act-pending").hidden = status === "pending" || status === "resolved";
  $("act-snooze").hidden = status === "resolved";
  $("act-transfer").hidden = !(mine || isSupervisor()) || status === "resolved";
  $("act-snooze").title = conv.snoozed_until
    ? t("moves.snoozed_until", { when: new Date(conv.snoozed_until).toLocaleString() })
    : "";
  if (id !== transferFor) hideTransfer();
}

onOpenChange(render);

async function move(path, body) {
  const id = openId();
  $("conv-error").hidden = true;
  try {
    acceptCopy(await busyWhile("conv-actions", session.post(`conversations/${id}/${path}/`, body)));
    return true;
  } catch (error) {
    $("conv-error").textContent = error.message;
    $("conv-error").hidden = false;
    return false;
  }
}

$("act-pending").addEventListener("click", () => move("pending"));

// --- snooze ------------------------------------------------------------------------------------

const snoozeMenu = bindPopover($("act-snooze"), $("snooze-menu"), {
  onOpen: () => {
    // The custom time starts at one hour from now, in the agent's own time zone.
    const at = new Date(Date.now() + 3600_000);
    at.setSeconds(0, 0);
    $("snooze-until").value = localInput(at);
    $("snooze-until").min = localInput(new Date());
  },
});

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** When a quick choice ends: in an hour, tomorrow at 9:00, next Monday at 9:00. */
export function snoozeChoice(kind, now = new Date()) {
  if (kind === "1h") return new Date(now.getTime() + 3600_000);
  const at = new Date(now);
  at.setHours(9, 0, 0, 0);
  if (kind === "tomorrow") at.setDate(at.getDate() + 1);
  else at.setDate(at.getDate() + (((8 - at.getDay()) % 7) || 7)); // next Monday
  return at;
}

async function snooze(until) {
  snoozeMenu.close();
  await move("snooze", { until: until.toISOString() });
}

for (const button of $("snooze-menu").querySelectorAll("[data-snooze]")) {
  button.addEventListener("click", () => snooze(snoozeChoice(button.dataset.snooze)));
}

$("snooze-custom").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("snooze-until").value;
  if (!value) return;
  snooze(new Date(value)); // a datetime-local value is read in the agent's time zone
});

// --- transfer ----------------------------------------------------------------------------------

let transferFor = null;

function renderTransferChoices() {
  const select = $("transfer-to");
  const chosen = select.value;
  const options = [new Option(t("actions.nobody"), "none")];
  for (const member of teamMembers()) {
    if (member.id !== openCopy()?.assignee?.id) options.push(new Option(member.name, String(member.id)));
  }
  select.replaceChildren(...options);
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

onTeamChange(renderTransferChoices);

$("act-transfer").addEventListener("click", () => {
  if (!$("transfer-form").hidden) {
    hideTransfer();
    return;
  }
  transferFor = openId();
  renderTransferChoices();
  $("transfer-note").value = "";
  $("transfer-form").hidden = false;
  $("transfer-to").focus();
});

function hideTransfer() {
  transferFor = null;
  $("transfer-form").hidden = true;
}

$("transfer-cancel").addEventListener("click", () => {
  hideTransfer();
  $("act-transfer").focus();
});

$("transfer-form").addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  event.stopPropagation();
  $("transfer-cancel").click();
});

$("transfer-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (transferFor !== openId()) return;
  const value = $("transfer-to").value;
  const body = { assignee_id: value === "none" ? null : Number(value), note: $("transfer-note").value.trim() };
  if (await move("transfer", body)) hideTransfer();
});
