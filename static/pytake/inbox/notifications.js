// Our notifications (a teammate mentioned us in a note): the count of unread ones on the "@"
// button, kept live by `notification` and `notification.read` (read on another device), the
// list under it, and a desktop notification when they are on. Opening one reads it and opens
// its conversation at the note (read-only when it is not ours: see moves.js).

import { t } from "../i18n.js";
import { $, busyWhile, shortTime } from "./dom.js";
import { notifyMention } from "./notify.js";
import { bindPopover } from "./popover.js";
import { requestOpen, session } from "./state.js";

let unread = 0;
let items = []; // the newest page, newest first

export async function loadNotifications() {
  const [count, page] = await Promise.all([
    session.get("notifications/unread-count/"),
    busyWhile("mentions-list", session.get("notifications/")),
  ]);
  unread = count.unread;
  items = page.results;
  render();
}

/** `notification`: a new mention of us. */
export function onNotification(notification) {
  if (items.some((item) => item.id === notification.id)) return; // a replay of one we hold
  items = [notification, ...items].slice(0, 50);
  if (!notification.read_at) unread += 1;
  render();
  notifyMention(notification, openNotification);
}

/** `notification.read`: read here or on another device. */
export function onNotificationRead(data) {
  const item = items.find((i) => i.id === data.id);
  if (item && !item.read_at) {
    item.read_at = data.read_at;
    unread = Math.max(0, unread - 1);
    render();
  } else if (!item) {
    session.get("notifications/unread-count/").then((count) => {
      unread = count.unread;
      render();
    }, () => {});
  }
}

function render() {
  const badge = $("mentions-count");
  badge.textContent = unread > 99 ? "99+" : String(unread);
  badge.hidden = unread === 0;
  $("mentions-toggle").setAttribute("aria-label", `${t("mentions.title")}: ${t("mentions.unread", { n: unread })}`);
  $("mentions-read-all").hidden = unread === 0;
  $("mentions-empty").hidden = items.length > 0;
  $("mentions-list").replaceChildren(
    ...items.map((item) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "mention-item";
      button.dataset.id = item.id;
      button.dataset.conversationId = item.conversation_id;
      button.classList.toggle("is-unread", !item.read_at);
      button.innerHTML = `<span class="mention-top"><strong></strong><time class="muted"></time></span>
        <span class="mention-text"></span>`;
      button.querySelector("strong").textContent = t("mentions.by", { name: item.author?.name || "" });
      button.querySelector("time").textContent = shortTime(item.created_at);
      button.querySelector(".mention-text").textContent = item.text;
      button.addEventListener("click", () => {
        panel.close();
        openNotification(item);
      });
      li.append(button);
      return li;
    }),
  );
}

async function openNotification(item) {
  requestOpen(item.conversation_id, { at: item.message_id });
  if (item.read_at) return;
  try {
    const answer = await session.post(`notifications/${item.id}/read/`);
    item.read_at = item.read_at || new Date().toISOString();
    unread = answer.unread;
    render();
  } catch {
    /* stays unread; read from the list later */
  }
}

const panel = bindPopover($("mentions-toggle"), $("mentions-panel"));

$("mentions-read-all").addEventListener("click", async () => {
  try {
    const answer = await session.post("notifications/read-all/");
    for (const item of items) item.read_at = item.read_at || new Date().toISOString();
    unread = answer.unread;
    render();
  } catch {
    /* the count stays as it is */
  }
});

/** The language changed. */
export function relabelNotifications() {
  render();
}
