// The waiting panel: conversations waiting for an agent, first in line first (GET queue/),
// each with its place, how long it has waited, and a button to take it.

import { t } from "../i18n.js";
import { $, busyWhile, contactName, duration } from "./dom.js";
import { acceptCopy, me, requestOpen, session } from "./state.js";

let entries = []; // [{position, waiting_seconds, estimated_wait_seconds, conversation}]
let lastRequest = 0;
let soonTimer = null;

export async function loadQueue() {
  // The last read asked for wins: an earlier one answering late holds an older queue.
  const ticket = ++lastRequest;
  const answer = await busyWhile("queue-list", session.get("queue/"));
  if (ticket !== lastRequest) return;
  entries = answer.results;
  renderQueue();
}

export function loadQueueSoon() {
  // A burst of queue changes (auto-assignment of several) makes one request.
  clearTimeout(soonTimer);
  soonTimer = setTimeout(() => loadQueue().catch(() => {}), 300);
}

export function renderQueue() {
  const list = $("queue-list");
  $("queue-size").textContent = String(entries.length);
  $("queue-empty").hidden = entries.length > 0;
  list.replaceChildren(...entries.map(queueItem));
  tickQueue();
}

function queueItem(entry) {
  const conv = entry.conversation;
  const li = document.createElement("li");
  li.dataset.id = conv.id;
  li.innerHTML = `<span class="queue-pos"></span><span class="queue-name"></span><span class="queue-wait"></span>
    <button type="button" class="btn"></button>`;
  li.querySelector(".queue-pos").textContent = t("queue.position", { position: entry.position });
  li.querySelector(".queue-name").textContent = contactName(conv);
  li.querySelector(".queue-wait").dataset.since = conv.queued_at || "";
  const take = li.querySelector("button");
  take.textContent = t("actions.take");
  take.setAttribute("aria-label", `${t("actions.take")}: ${contactName(conv)}`);
  take.addEventListener("click", async () => {
    take.disabled = true;
    try {
      acceptCopy(await session.post(`conversations/${conv.id}/assign/`, { assignee_id: me().id }));
      requestOpen(conv.id);
    } catch (error) {
      take.disabled = false;
      take.title = error.message;
    }
    loadQueueSoon();
  });
  return li;
}

function tickQueue() {
  const now = Date.now();
  for (const el of document.querySelectorAll(".queue-wait")) {
    if (!el.dataset.since) continue;
    // The time alone (under the "Waiting for an agent" heading), so the name keeps the room;
    // the whole phrase is its title.
    const time = duration((now - new Date(el.dataset.since)) / 1000);
    el.textContent = time;
    el.title = t("queue.waiting", { time });
  }
}
setInterval(tickQueue, 15000); // waiting times move on without any request
