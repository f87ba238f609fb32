// Many conversations at once: "Select" puts a box on every row of the list; the bar under the
// filters assigns, labels or resolves the chosen ones (POST /api/conversations/bulk/). Each is
// checked by the server on its own; the rows change through their live events, and the bar
// says how many were done.

import { t } from "../i18n.js";
import { $, busyWhile } from "./dom.js";
import { allLabels, onLabelsChange } from "./labels.js";
import { onRowRender, renderList } from "./list.js";
import { session } from "./state.js";
import { onTeamChange, teamMembers } from "./team.js";

const selected = new Set();
let active = false;

function setActive(value) {
  active = value;
  if (!active) selected.clear();
  $("bulk-toggle").setAttribute("aria-pressed", String(active));
  document.body.classList.toggle("bulk-mode", active);
  $("bulk-result").textContent = "";
  renderBar();
  renderList();
}

$("bulk-toggle").addEventListener("click", () => setActive(!active));

onRowRender((li, conv) => {
  let box = li.querySelector(".conv-select");
  if (!box) {
    box = document.createElement("input");
    box.type = "checkbox";
    box.className = "conv-select";
    box.addEventListener("change", () => {
      const id = Number(li.dataset.id);
      if (box.checked) selected.add(id);
      else selected.delete(id);
      renderBar();
    });
    li.prepend(box);
  }
  box.hidden = !active;
  box.checked = selected.has(conv.id);
  box.setAttribute("aria-label", t("bulk.choose", { name: li.querySelector(".conv-name").textContent }));
});

function renderBar() {
  $("bulk-bar").hidden = !active;
  $("bulk-count").textContent = t("bulk.count", { n: selected.size });
  for (const id of ["bulk-assign", "bulk-label", "bulk-resolve"]) $(id).disabled = selected.size === 0;
}

function renderChoices() {
  const assign = $("bulk-assign");
  const first = new Option(t("actions.assign_placeholder"), "", true, true);
  first.disabled = true;
  assign.replaceChildren(
    first,
    new Option(t("actions.nobody"), "none"),
    ...[...teamMembers()].map((m) => new Option(m.name, String(m.id))),
  );
  const label = $("bulk-label");
  const prompt = new Option(t("bulk.label_add"), "", true, true);
  prompt.disabled = true;
  label.replaceChildren(prompt, ...allLabels().map((l) => new Option(l.name, String(l.id))));
}

onTeamChange(renderChoices);
onLabelsChange(renderChoices);

async function act(body) {
  if (!selected.size) return;
  try {
    const answer = await busyWhile("bulk-bar", session.post("conversations/bulk/", { ids: [...selected], ...body }));
    $("bulk-result").textContent = t("bulk.result", { ok: answer.succeeded, failed: answer.failed });
    if (body.action === "resolve") {
      // Resolved ones leave the open list: they are no longer chosen (those refused stay).
      for (const result of answer.results) if (result.ok) selected.delete(result.id);
      renderBar();
      renderList();
    }
  } catch (error) {
    $("bulk-result").textContent = error.message;
  }
  renderChoices();
}

$("bulk-assign").addEventListener("change", (event) => {
  const value = event.target.value;
  act({ action: "assign", assignee_id: value === "none" ? null : Number(value) });
});
$("bulk-label").addEventListener("change", (event) => {
  act({ action: "label", add_labels: [Number(event.target.value)] });
});
$("bulk-resolve").addEventListener("click", () => act({ action: "resolve" }));

/** The language changed: the bar's texts. */
export function relabelBulk() {
  renderChoices();
  renderBar();
}
