// Small panels that open from a button (the label picker and filter, the snooze choices, the
// mentions): the button says whether its panel is open; a click elsewhere or Escape closes it.

const open = new Set(); // {button, panel} pairs shown now

/** Let `button` open and close `panel`; `onOpen()` runs each time it opens. */
export function bindPopover(button, panel, { onOpen } = {}) {
  const pair = { button, panel };
  button.addEventListener("click", () => (panel.hidden ? show(pair, onOpen) : hide(pair)));
  return { close: () => hide(pair) };
}

function show(pair, onOpen) {
  for (const other of [...open]) hide(other);
  pair.panel.hidden = false;
  pair.button.setAttribute("aria-expanded", "true");
  open.add(pair);
  onOpen?.();
  pair.panel.querySelector("input, button, select, textarea")?.focus();
}

function hide(pair) {
  pair.panel.hidden = true;
  pair.button.setAttribute("aria-expanded", "false");
  open.delete(pair);
}

document.addEventListener("click", (event) => {
  for (const pair of [...open]) {
    if (!pair.panel.contains(event.target) && !pair.button.contains(event.target)) hide(pair);
  }
});

// Escape closes an open panel or dialog, not the conversation behind it (read before anyone
// else: the focused element may have just been redrawn, leaving the focus on the page; a
// dialog closes itself, as the browser does on Escape).
window.addEventListener(
  "keydown",
  (event) => {
    if (event.key !== "Escape") return;
    if (document.querySelector("dialog[open]")) {
      event.stopPropagation();
      return;
    }
    if (!open.size) return;
    event.stopPropagation();
    for (const pair of [...open]) {
      hide(pair);
      pair.button.focus();
    }
  },
  true,
);
