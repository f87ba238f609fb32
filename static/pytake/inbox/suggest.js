// The list that opens over the message box while a trigger is typed ("/" for a saved reply,
// "@" in a note for a teammate): filtered as one types, chosen with the arrows and Enter or Tab
// (or a click), closed with Escape. One list at a time; each trigger is a provider.
//
// Its keys are read on the composer form in the capture phase, before the box's own handler
// (Enter sends): while the list is open, Enter chooses and the message is not sent.

import { $ } from "./dom.js";

const box = $("composer-text");
const list = document.createElement("ul");
list.id = "composer-suggest";
list.className = "composer-suggest";
list.setAttribute("role", "listbox");
list.hidden = true;
$("composer").append(list);
box.setAttribute("aria-autocomplete", "list");
box.setAttribute("aria-controls", list.id);
box.setAttribute("aria-expanded", "false");

const providers = [];
let current = null; // {provider, start, end, items, index} while the list is open
let ticket = 0;
let inserting = false;

/** A trigger: `pattern` is matched against the text before the caret (group 1: what was typed
 * after the trigger); `active()` says whether it applies now; `items(query)` (maybe a promise)
 * what to offer; `render(item, li)` shows one; `choose(item)` (maybe a promise) the text put in
 * place of the trigger and query. */
export function addSuggestProvider(provider) {
  providers.push(provider);
}

async function update() {
  if (inserting) return;
  const mine = ++ticket;
  const before = box.value.slice(0, box.selectionStart);
  for (const provider of providers) {
    if (!provider.active()) continue;
    const match = provider.pattern.exec(before);
    if (!match) continue;
    const query = match[1];
    const start = before.length - query.length - 1;
    const items = await provider.items(query);
    if (mine !== ticket) return;
    if (!items.length) break;
    current = { provider, start, end: before.length, trigger: before[start], items: items.slice(0, 8), index: 0 };
    render();
    return;
  }
  close();
}

function render() {
  const { provider, items, index } = current;
  list.replaceChildren(
    ...items.map((item, n) => {
      const li = document.createElement("li");
      li.id = `composer-suggest-${n}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(n === index));
      provider.render(item, li);
      // mousedown, not click: the box keeps its focus (and its caret).
      li.addEventListener("mousedown", (event) => {
        event.preventDefault();
        current.index = n;
        choose();
      });
      return li;
    }),
  );
  list.hidden = false;
  box.setAttribute("aria-expanded", "true");
  box.setAttribute("aria-activedescendant", `composer-suggest-${index}`);
  list.children[index]?.scrollIntoView({ block: "nearest" });
}

export function closeSuggestions() {
  close();
}

function close() {
  current = null;
  list.hidden = true;
  list.replaceChildren();
  box.setAttribute("aria-expanded", "false");
  box.removeAttribute("aria-activedescendant");
}

async function choose() {
  const chosen = current;
  if (!chosen) return;
  close();
  ticket++;
  const text = await chosen.provider.choose(chosen.items[chosen.index]);
  if (text === null || text === undefined) return;
  // Only the trigger and what was typed after it are replaced.
  const value = box.value;
  if (value[chosen.start] !== chosen.trigger) return; // the box changed meanwhile (another conversation)
  box.value = value.slice(0, chosen.start) + text + value.slice(chosen.end);
  const caret = chosen.start + text.length;
  box.focus();
  box.setSelectionRange(caret, caret);
  inserting = true;
  box.dispatchEvent(new Event("input", { bubbles: true })); // the box grows to fit
  inserting = false;
}

box.addEventListener("input", update);
box.addEventListener("blur", () => close());

$("composer").addEventListener(
  "keydown",
  (event) => {
    if (!current || event.target !== box || event.isComposing) return;
    const n = current.items.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      current.index = (current.index + (event.key === "ArrowDown" ? 1 : -1) + n) % n;
      render();
    } else if (event.key === "Enter" || event.key === "Tab") {
      choose();
    } else if (event.key === "Escape") {
      close();
      ticket++;
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  },
  true,
);
