// Saved replies in the message box: "/" and the first letters of a short code (or of the text)
// list the tenant's replies and the agent's own; the chosen one is filled in for this
// conversation by the server (`{{contact.first_name}}` …) and put in the box to edit before
// sending. The list is read when "/" opens it, so a reply saved meanwhile is offered.
// The top bar's "Saved replies" lists them, adds one (the whole team's: supervisors and admins)
// and deletes those one may.

import { t } from "../i18n.js";
import { $, busyWhile } from "./dom.js";
import { isSupervisor, me, openId, session } from "./state.js";
import { addSuggestProvider } from "./suggest.js";

let replies = [];
let readAt = 0;

async function savedReplies() {
  // One read per opening of the list; the letters typed after "/" filter that copy.
  if (Date.now() - readAt > 5000) {
    try {
      replies = await session.get("saved-replies/");
      readAt = Date.now();
    } catch {
      /* offline: the replies read last time */
    }
  }
  return replies;
}

addSuggestProvider({
  pattern: /(?:^|\s)\/([\w-]*)$/,
  active: () => openId() !== null,
  async items(query) {
    if (!query) readAt = 0; // "/" just typed: the list as it is now
    const needle = query.toLowerCase();
    const all = await savedReplies();
    const byCode = all.filter((r) => r.short_code.toLowerCase().startsWith(needle));
    const byText = all.filter((r) => !byCode.includes(r) && r.content.toLowerCase().includes(needle));
    return [...byCode, ...byText];
  },
  render(reply, li) {
    li.className = "suggest-reply";
    li.dataset.shortCode = reply.short_code;
    const code = document.createElement("strong");
    code.textContent = `/${reply.short_code}`;
    const scope = document.createElement("span");
    scope.className = "badge badge-muted";
    scope.textContent = t(`saved.scope_${reply.scope}`);
    const text = document.createElement("span");
    text.className = "suggest-text muted";
    text.textContent = reply.content;
    li.append(code, " ", scope, text);
  },
  async choose(reply) {
    const id = openId();
    try {
      const answer = await session.get(`saved-replies/${reply.id}/render/`, { conversation_id: id });
      return id === openId() ? answer.text : null;
    } catch {
      return reply.content; // the text with its variables, to fill in by hand
    }
  },
});

// --- managing them -------------------------------------------------------------------------------

const dialog = $("saved-dialog");

async function renderManaged() {
  readAt = 0;
  const all = await busyWhile("saved-list", savedReplies());
  const rows = all.map((reply) => {
    const li = document.createElement("li");
    li.dataset.shortCode = reply.short_code;
    li.innerHTML = `<div class="saved-row-top"><strong></strong> <span class="badge badge-muted"></span>
      <button type="button" class="btn btn-link saved-delete"></button></div><p class="saved-row-text"></p>`;
    li.querySelector("strong").textContent = `/${reply.short_code}`;
    li.querySelector(".badge").textContent = t(`saved.scope_${reply.scope}`);
    li.querySelector(".saved-row-text").textContent = reply.content;
    const remove = li.querySelector(".saved-delete");
    remove.textContent = t("saved.delete");
    remove.setAttribute("aria-label", `${t("saved.delete")} /${reply.short_code}`);
    remove.hidden = reply.scope === "tenant" ? !isSupervisor() : reply.owner?.id !== me().id;
    remove.addEventListener("click", async () => {
      try {
        await session.request(`saved-replies/${reply.id}/`, { method: "DELETE" });
        renderManaged();
      } catch (error) {
        $("saved-error").textContent = error.message;
      }
    });
    return li;
  });
  if (!rows.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = t("saved.empty");
    rows.push(li);
  }
  $("saved-list").replaceChildren(...rows);
}

$("saved-open").addEventListener("click", () => {
  $("saved-scope-wrap").hidden = !isSupervisor();
  $("saved-scope").value = "personal";
  $("saved-error").textContent = "";
  dialog.showModal();
  renderManaged();
  $("saved-code").focus();
});

dialog.addEventListener("keydown", (event) => {
  if (event.key === "Escape") event.stopPropagation(); // closes the dialog, not the conversation
});

$("saved-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    short_code: $("saved-code").value.trim(),
    content: $("saved-content").value.trim(),
    scope: isSupervisor() ? $("saved-scope").value : "personal",
  };
  try {
    await session.post("saved-replies/", body);
    $("saved-code").value = "";
    $("saved-content").value = "";
    $("saved-error").textContent = "";
    renderManaged();
  } catch (error) {
    const unknown = error.extra?.unknown;
    $("saved-error").textContent = unknown?.length ? `${error.message} (${unknown.join(", ")})` : error.message;
  }
});

/** `saved_reply.saved` / `saved_reply.deleted`: the next "/" reads them again. */
export function onSavedRepliesChange() {
  readAt = 0;
  if (dialog.open) renderManaged();
}
