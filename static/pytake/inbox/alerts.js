// Trouble with one of the tenant's WhatsApp numbers, for its admins (`account.alert`): sending
// stopped by an account-wide error (an expired token, a policy block), and sending again.

import { t } from "../i18n.js";
import { $ } from "./dom.js";

const blocked = new Map(); // account id -> the alert that stopped it

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

export function onAccountAlert(data) {
  if (data.blocked) blocked.set(data.account_id, data);
  else blocked.delete(data.account_id);
  const node = banner();
  node.replaceChildren(
    ...[...blocked.values()].map((alert) => {
      const line = document.createElement("span");
      line.dataset.accountId = String(alert.account_id);
      line.textContent = t("alert.sending_blocked", {
        number: alert.display_phone_number,
        reason: alert.title || alert.code || "?",
      });
      return line;
    }),
  );
  node.hidden = blocked.size === 0;
}
