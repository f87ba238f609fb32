// Saved replies in the message box: "/" and the first letters of a short code (or of the text)
// list the tenant's replies and the agent's own; the chosen one is filled in for this
// conversation by the server (`{{contact.first_name}}` …) and put in the box to edit before
// sending. The list is read when "/" opens it, so a reply saved meanwhile is offered.

import { t } from "../i18n.js";
import { openId, session } from "./state.js";
import { addSuggestProvider } from "./suggest.js";

let replies = [];
let readAt = 0;

async function savedReplies() {
  // One read per opening of the list (a burst of keystrokes reuses it for a few seconds).
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
