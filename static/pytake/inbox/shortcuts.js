// Keyboard shortcuts for the inbox, outside text boxes: j / k (or Alt+↓ / Alt+↑ anywhere) for
// the next and previous conversation in the list, r to write in the open one, e to resolve it,
// Ctrl+K to search, ? for the list of them.

import { $ } from "./dom.js";
import { openId, requestOpen } from "./state.js";
import { openSearch } from "./search.js";

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

function appShown() {
  return !$("app").hidden && !document.querySelector("dialog[open]");
}

/** Open the conversation `step` rows below (or above) the open one in the list. */
function move(step) {
  const rows = [...$("conv-list").querySelectorAll(".conv-item")];
  if (!rows.length) return;
  const at = rows.findIndex((button) => Number(button.dataset.id) === openId());
  const next = at < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.max(0, Math.min(rows.length - 1, at + step));
  if (next === at) return;
  requestOpen(Number(rows[next].dataset.id));
  rows[next].scrollIntoView({ block: "nearest" });
}

document.addEventListener("keydown", (event) => {
  if ($("app").hidden || event.defaultPrevented || event.isComposing) return;
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
    event.preventDefault();
    openSearch();
    return;
  }
  if (!appShown()) return;
  if (event.altKey && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
    event.preventDefault();
    move(event.key === "ArrowDown" ? 1 : -1);
    return;
  }
  if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
  const action = {
    j: () => move(1),
    k: () => move(-1),
    r: () => openId() !== null && !$("composer").hidden && $("composer-text").focus(),
    e: () => openId() !== null && !$("act-resolve").hidden && !$("conv-actions").hidden && $("act-resolve").click(),
    "?": () => $("shortcuts-dialog").showModal(),
  }[event.key];
  if (!action) return;
  event.preventDefault();
  action();
});

$("shortcuts-dialog").addEventListener("keydown", (event) => {
  if (event.key === "Escape") event.stopPropagation(); // closes the list, not the conversation
});
