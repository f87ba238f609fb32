// Replying to a message: the quoted message shown above the composer until the reply is sent
// or cancelled. The composer reads `replyTarget()` when it sends.

import { t } from "../i18n.js";
import { $ } from "./dom.js";

let target = null; // the message being replied to, or null

function bar() {
  let node = $("reply-bar");
  if (node) return node;
  node = document.createElement("div");
  node.id = "reply-bar";
  node.className = "reply-bar";
  node.hidden = true;
  node.innerHTML = `<div class="reply-bar-text"><span class="reply-bar-label"></span><span class="reply-bar-quote"></span></div>
    <button type="button" class="btn btn-ghost reply-bar-cancel">✕</button>`;
  node.querySelector(".reply-bar-cancel").addEventListener("click", () => clearReply());
  $("composer").before(node);
  return node;
}

/** Reply to `message`: the composer's next message quotes it. */
export function startReply(message) {
  target = message;
  const node = bar();
  node.querySelector(".reply-bar-label").textContent = `${t("msg.replying_to")}: `;
  node.querySelector(".reply-bar-quote").textContent = message.text || message.content?.caption || `[${message.type}]`;
  const cancel = node.querySelector(".reply-bar-cancel");
  cancel.title = t("msg.reply_cancel");
  cancel.setAttribute("aria-label", t("msg.reply_cancel"));
  node.dataset.messageId = String(message.id);
  node.hidden = false;
  $("composer-text").focus();
}

/** The message the next reply quotes (its brief, as the server will echo it), or null. */
export function replyTarget() {
  if (!target) return null;
  return {
    id: target.id,
    type: target.type,
    direction: target.direction,
    sender_type: target.sender_type,
    text: target.text || target.content?.caption || "",
    deleted: !!target.deleted_at,
  };
}

export function clearReply() {
  target = null;
  const node = $("reply-bar");
  if (node) node.hidden = true;
}
