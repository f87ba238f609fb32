// Labels: the tenant's catalogue (kept live by `label.saved` and `label.deleted`), their chips
// in the list's rows and the open conversation's header, the header's picker that adds and
// removes them, and the list's filter by label (several at once: conversations with any).
// A conversation's own labels travel in its copies (`labels`: ids), so they change live with
// every `conversation.updated`.

import { t } from "../i18n.js";
import { $, busyWhile } from "./dom.js";
import { onRowRender, renderList, setLabelFilter } from "./list.js";
import { bindPopover } from "./popover.js";
import { acceptCopy, onOpenChange, openCopy, openId, session } from "./state.js";

const catalogue = new Map(); // id -> {id, name, colour, description}
const filterIds = new Set(); // the list's filter
const changeListeners = []; // fn() after the catalogue changed (the bulk bar, the contact panel)

/** `fn()` whenever the catalogue changes. */
export function onLabelsChange(fn) {
  changeListeners.push(fn);
}

/** Every label of the tenant, by name. */
export function allLabels() {
  return [...catalogue.values()].sort((a, b) => a.name.localeCompare(b.name));
}

export async function loadLabels() {
  const rows = await session.get("labels/");
  catalogue.clear();
  for (const label of rows) catalogue.set(label.id, label);
  changed();
}

function changed() {
  renderFilter();
  renderHeaderLabels();
  renderPicker();
  renderList();
  for (const fn of changeListeners) fn();
}

/** `label.saved`: a label created or changed by a supervisor. */
export function onLabelSaved(label) {
  catalogue.set(label.id, label);
  changed();
}

/** `label.deleted`: gone from every conversation too (their copies follow). */
export function onLabelDeleted(data) {
  catalogue.delete(data.id);
  if (filterIds.delete(data.id)) setLabelFilter([...filterIds]);
  changed();
}

/** Chips for the label ids `ids` (an id not in the catalogue, a label just deleted, is left out). */
export function labelChips(ids) {
  return (ids || [])
    .map((id) => catalogue.get(id))
    .filter(Boolean)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((label) => {
      const chip = document.createElement("span");
      chip.className = "label-chip";
      chip.dataset.labelId = label.id;
      chip.style.setProperty("--label", label.colour);
      chip.textContent = label.name;
      if (label.description) chip.title = label.description;
      return chip;
    });
}

// --- the list's rows ---------------------------------------------------------------------------

onRowRender((li, conv) => {
  let box = li.querySelector(".conv-item-labels");
  if (!box) {
    box = document.createElement("span");
    box.className = "conv-item-labels label-chips";
    li.querySelector(".conv-item-body").append(box);
  }
  box.replaceChildren(...labelChips(conv.labels));
  box.hidden = !box.childElementCount;
});

// --- the header and its picker -------------------------------------------------------------------

function renderHeaderLabels() {
  $("conv-labels").replaceChildren(...labelChips(openCopy()?.labels));
}

onOpenChange(() => {
  renderHeaderLabels();
  if (!$("label-picker").hidden) renderPicker();
});

function checkboxes(container, checked, onChange) {
  const focused = container.contains(document.activeElement) ? document.activeElement.value : null;
  const rows = allLabels().map((label) => {
    const row = document.createElement("label");
    row.className = "label-option";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = label.id;
    box.checked = checked.has(label.id);
    box.addEventListener("change", () => onChange(label.id, box.checked));
    const swatch = document.createElement("span");
    swatch.className = "label-swatch";
    swatch.style.setProperty("--label", label.colour);
    row.append(box, swatch, document.createTextNode(label.name));
    return row;
  });
  container.replaceChildren(...rows);
  if (focused !== null) container.querySelector(`input[value="${focused}"]`)?.focus();
  return rows.length;
}

function renderPicker() {
  const conv = openCopy();
  const count = checkboxes($("label-picker-options"), new Set(conv?.labels || []), setConversationLabel);
  $("label-picker-empty").hidden = count > 0;
}

async function setConversationLabel(labelId, on) {
  const conv = openCopy();
  if (!conv) return;
  const ids = new Set(conv.labels || []);
  if (on) ids.add(labelId);
  else ids.delete(labelId);
  const id = openId();
  $("conv-error").hidden = true;
  try {
    acceptCopy(await busyWhile("label-picker", session.patch(`conversations/${id}/`, { labels: [...ids] })));
  } catch (error) {
    $("conv-error").textContent = error.message;
    $("conv-error").hidden = false;
    renderPicker(); // the boxes show the labels it has
  }
}

bindPopover($("act-labels"), $("label-picker"), { onOpen: renderPicker });

// --- the list's filter ---------------------------------------------------------------------------

function renderFilter() {
  const count = checkboxes($("label-filter-options"), filterIds, (labelId, on) => {
    if (on) filterIds.add(labelId);
    else filterIds.delete(labelId);
    renderFilterCount();
    setLabelFilter([...filterIds]);
  });
  $("label-filter-empty").hidden = count > 0;
  renderFilterCount();
}

function renderFilterCount() {
  const badge = $("label-filter-count");
  badge.textContent = String(filterIds.size);
  badge.hidden = filterIds.size === 0;
  $("label-filter-toggle").title = filterIds.size ? t("labels.filtering", { n: filterIds.size }) : "";
}

bindPopover($("label-filter-toggle"), $("label-filter"), { onOpen: renderFilter });
