// Trouble with one of the tenant's WhatsApp numbers, for its admins (`account.alert`): sending
// stopped by an account-wide error (an expired token, a policy block, Meta disabling the
// account), and sending again; and what else Meta says of a number (quality, messaging limit,
// display name, the account's standing), shown until dismissed.

import { t } from "../i18n.js";
import { $ } from "./dom.js";
import { me, session } from "./state.js";

const blocked = new Map(); // account id -> the alert that stopped it
const notices = new Map(); // account id -> Meta's last word on it, while sending

function banner() {
  let node = $("account-alert");
  if (node) return node;
  node = document.createElement("p");
  node.id = "account-alert";
  node.className = "banner banner-error";
  node.setAttribute("role", "alert");
  node.hidden = true;
  $("broadcast").after(node);
  return node;
}

function render() {
  const node = banner();
  const lines = [...blocked.values()].map((alert) => {
    const line = document.createElement("span");
    line.dataset.accountId = String(alert.account_id);
    line.textContent = t("alert.sending_blocked", {
      number: alert.display_phone_number,
      reason: alert.title || alert.code || "?",
    });
    return line;
  });
  for (const alert of notices.values()) {
    const line = document.createElement("span");
    line.dataset.accountId = String(alert.account_id);
    line.textContent = t("alert.notice", { number: alert.display_phone_number, title: alert.title });
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.textContent = "×";
    dismiss.setAttribute("aria-label", t("alert.dismiss"));
    dismiss.addEventListener("click", () => {
      notices.delete(alert.account_id);
      render();
    });
    line.append(" ", dismiss);
    lines.push(line);
  }
  node.replaceChildren(...lines);
  node.className = blocked.size ? "banner banner-error" : "banner banner-warn";
  node.hidden = lines.length === 0;
}

/** The numbers that stopped sending before this page heard of it (a sign-in, a resync): the
 *  tenant's admins see them as if the alert had just come. */
export async function loadAccountAlerts() {
  if (me()?.role !== "admin") return;
  const numbers = await session.get("whatsapp/numbers/");
  blocked.clear();
  for (const number of numbers) {
    if (number.sending) continue;
    blocked.set(number.id, {
      account_id: number.id,
      display_phone_number: number.display_phone_number,
      blocked: true,
      code: number.sending_blocked_code,
      title: number.sending_blocked_reason,
    });
    notices.delete(number.id);
  }
  render();
}

/** Signed out: nothing of the last user's numbers stays on screen. */
export function resetAccountAlerts() {
  if (!blocked.size && !notices.size) return;
  blocked.clear();
  notices.clear();
  render();
}

/** The language changed: the banner in the new one. */
export function relabelAccountAlerts() {
  if (blocked.size || notices.size) render();
}

export function onAccountAlert(data) {
  if (data.blocked) {
    blocked.set(data.account_id, data);
    notices.delete(data.account_id);
  } else {
    blocked.delete(data.account_id);
    if (data.title) notices.set(data.account_id, data);
    else notices.delete(data.account_id);
  }
  render();
}
