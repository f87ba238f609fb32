// Search over what the agent may see (GET /api/search/?q=): messages, captions and internal
// notes best first with the words found marked, and contacts by name or number. A message hit
// opens its conversation at that message; a contact hit, their newest conversation. Opened
// with the button in the top bar or Ctrl+K; at phone width the dialog fills the screen.

import { t } from "../i18n.js";
import { $, busyWhile, contactName, shortTime } from "./dom.js";
import { requestOpen, session } from "./state.js";

const dialog = $("search-dialog");
const input = $("search-input");
let timer = null;
let ticket = 0;

export function openSearch() {
  if (!dialog.open) dialog.showModal();
  input.focus();
  input.select();
}

function closeSearch() {
  if (dialog.open) dialog.close();
}

$("search-open").addEventListener("click", openSearch);
$("search-close").addEventListener("click", closeSearch);
$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(timer);
  run();
});
dialog.addEventListener("keydown", (event) => {
  if (event.key === "Escape") event.stopPropagation(); // closes the dialog, not the conversation
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const hits = [...dialog.querySelectorAll(".search-hit")];
  if (!hits.length) return;
  event.preventDefault();
  const index = hits.indexOf(document.activeElement);
  if (event.key === "ArrowDown") hits[Math.min(hits.length - 1, index + 1)].focus();
  else if (index <= 0) input.focus();
  else hits[index - 1].focus();
});
// A click on the backdrop (outside the dialog's box) closes it.
dialog.addEventListener("click", (event) => {
  if (event.target === dialog) closeSearch();
});

input.addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(run, 250);
});

async function run() {
  const q = input.value.trim();
  const mine = ++ticket;
  if (!q) {
    $("search-hits").replaceChildren();
    $("search-status").textContent = "";
    return;
  }
  try {
    const result = await busyWhile("search-results", session.get("search/", { q, limit: 30 }));
    if (mine !== ticket) return;
    renderResults(result);
  } catch (error) {
    if (mine !== ticket) return;
    $("search-hits").replaceChildren();
    $("search-status").textContent = error.message;
  }
}

function renderResults({ messages, contacts }) {
  const items = [
    ...messages.map((hit) =>
      hitItem({
        kind: "message",
        title: contactName(hit.conversation),
        when: shortTime(hit.message.created_at),
        body: highlighted(hit.highlight),
        tag: hit.message.internal ? t("note.label") : "",
        open: () => requestOpen(hit.conversation.id, { at: hit.message.id }),
        data: { conversationId: hit.conversation.id, messageId: hit.message.id },
      }),
    ),
    ...contacts
      .filter((contact) => contact.latest_conversation_id)
      .map((contact) =>
        hitItem({
          kind: "contact",
          title: contact.display_name || contact.phone,
          when: contact.phone || "",
          body: document.createTextNode(t("search.contact")),
          tag: "",
          open: () => requestOpen(contact.latest_conversation_id),
          data: { conversationId: contact.latest_conversation_id },
        }),
      ),
  ];
  $("search-hits").replaceChildren(...items);
  $("search-status").textContent = items.length ? t("search.count", { n: items.length }) : t("search.none");
}

function hitItem({ kind, title, when, body, tag, open, data }) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = `search-hit search-hit-${kind}`;
  Object.assign(button.dataset, data);
  button.innerHTML = `<span class="search-hit-top"><strong class="search-hit-title"></strong>
    <span class="search-hit-tag badge badge-muted"></span><time class="muted"></time></span>
    <span class="search-hit-text"></span>`;
  button.querySelector(".search-hit-title").textContent = title;
  button.querySelector(".search-hit-tag").textContent = tag;
  button.querySelector(".search-hit-tag").hidden = !tag;
  button.querySelector("time").textContent = when;
  button.querySelector(".search-hit-text").append(body);
  button.addEventListener("click", () => {
    closeSearch();
    open();
  });
  li.append(button);
  return li;
}

/** The server's highlight (the text escaped, the words found in <mark>) as nodes: text and
 * <mark> only, whatever else it might hold. */
function highlighted(html) {
  const template = document.createElement("template");
  template.innerHTML = html; // inert: nothing in a template runs or loads
  const fragment = document.createDocumentFragment();
  for (const node of template.content.childNodes) {
    if (node.nodeName === "MARK") {
      const mark = document.createElement("mark");
      mark.textContent = node.textContent;
      fragment.append(mark);
    } else {
      fragment.append(document.createTextNode(node.textContent));
    }
  }
  return fragment;
}

/** The language changed: the counts and labels again. */
export function relabelSearch() {
  if (dialog.open && input.value.trim()) run();
}
