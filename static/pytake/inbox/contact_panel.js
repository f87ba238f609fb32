// The contact beside the chat: their name, number and channel, the conversation's labels, the
// tenant's contact fields (text, number, date, one of a list) to fill in, notes about the
// contact, and their previous conversations (one opens from here). It follows the open
// conversation; shown or hidden with the header's "Contact" (remembered), a sheet at phone width.

import { t } from "../i18n.js";
import { previewText } from "../system.js";
import { $, busyWhile, contactName, shortTime } from "./dom.js";
import { labelChips, onLabelsChange } from "./labels.js";
import { isSupervisor, me, onOpenChange, openCopy, requestOpen, session } from "./state.js";

const STORAGE_KEY = "pytake.contactPanel";
let wanted = localStorage.getItem(STORAGE_KEY) === "1";
let definitions = null; // the tenant's contact fields, once read
let contactId = null; // whose details the panel holds
let conversationId = null; // for which open conversation (its previous ones are the others)
let contact = null;
let dirty = false; // a field was edited and not saved: live copies do not overwrite it
let ticket = 0;
let shownNotes = [];
let shownConversations = [];

function setWanted(value) {
  wanted = value;
  localStorage.setItem(STORAGE_KEY, value ? "1" : "0");
  render();
}

$("act-contact").addEventListener("click", () => setWanted(!wanted));
$("contact-close").addEventListener("click", () => {
  setWanted(false);
  $("act-contact").focus();
});
$("contact-panel").addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  event.stopPropagation(); // Escape closes the panel first, then the conversation
  $("contact-close").click();
});

onOpenChange(() => render());
onLabelsChange(() => renderLabels());

function render() {
  const conv = openCopy();
  const shown = wanted && !!conv;
  $("contact-panel").hidden = !shown;
  $("act-contact").setAttribute("aria-expanded", String(shown));
  document.body.classList.toggle("contact-open", shown);
  if (!shown) {
    contactId = conversationId = null; // read again when shown again
    return;
  }
  const id = conv.contact?.id ?? null;
  if (id !== contactId || conv.id !== conversationId) {
    if (id !== contactId) dirty = false;
    contactId = id;
    conversationId = conv.id;
    contact = conv.contact || null;
    renderFacts();
    if (!dirty) renderAttributes();
    load(id);
  } else {
    // A live copy: the contact as it travels in the conversation (name, fields).
    contact = { ...contact, ...conv.contact };
    renderFacts();
    if (!dirty) renderAttributes();
  }
}

async function load(id) {
  const mine = ++ticket;
  $("contact-notes").replaceChildren();
  $("contact-conversations").replaceChildren();
  const [defs, fresh, notes, conversations] = await busyWhile(
    "contact-body",
    Promise.all([
      definitions ? Promise.resolve(definitions) : session.get("contact-attributes/"),
      session.get(`contacts/${id}/`),
      session.get(`contacts/${id}/notes/`),
      session.get(`contacts/${id}/conversations/`),
    ]),
  ).catch(() => [definitions, null, [], []]);
  if (mine !== ticket) return;
  definitions = defs || [];
  if (fresh) contact = fresh;
  renderFacts();
  if (!dirty) renderAttributes();
  renderNotes(notes);
  renderConversations(conversations);
}

/** `contact_attribute.saved` / `contact_attribute.deleted`: the fields again. */
export async function onAttributeDefinitionsChange() {
  definitions = await session.get("contact-attributes/").catch(() => definitions);
  if (!$("contact-panel").hidden && !dirty) renderAttributes();
}

function renderFacts() {
  const conv = openCopy();
  $("contact-name").textContent = contact?.display_name || contactName(conv);
  $("contact-phone").textContent = contact?.phone || contact?.wa_id || "—";
  $("contact-channel").textContent = conv ? t(`channel.${conv.channel}`) : "";
  renderLabels();
}

function renderLabels() {
  const chips = labelChips(openCopy()?.labels);
  $("contact-labels").replaceChildren(...(chips.length ? chips : [t("contact.no_labels")]));
}

// --- custom fields -------------------------------------------------------------------------------

function renderAttributes() {
  const values = contact?.custom_attributes || {};
  const rows = (definitions || []).map((field) => {
    const row = document.createElement("div");
    row.className = "contact-attr";
    const label = document.createElement("label");
    label.htmlFor = `attr-${field.key}`;
    label.textContent = field.label;
    let input;
    if (field.type === "list") {
      input = document.createElement("select");
      input.append(new Option("—", ""), ...field.options.map((option) => new Option(option, option)));
    } else {
      input = document.createElement("input");
      input.type = { number: "number", date: "date" }[field.type] || "text";
      if (field.type === "number") input.step = "any";
      if (field.type === "text") input.maxLength = 1000;
    }
    input.id = `attr-${field.key}`;
    input.name = field.key;
    input.dataset.type = field.type;
    const value = values[field.key];
    input.value = value === undefined || value === null ? "" : String(value);
    input.dataset.saved = input.value;
    input.addEventListener("input", () => {
      dirty = true;
    });
    row.append(label, input);
    return row;
  });
  $("contact-attr-fields").replaceChildren(...rows);
  $("contact-attrs-empty").hidden = rows.length > 0;
  $("contact-attrs-save").hidden = rows.length === 0;
  $("contact-attrs-result").textContent = "";
}

$("contact-attrs").addEventListener("submit", async (event) => {
  event.preventDefault();
  const changes = {};
  for (const input of $("contact-attr-fields").querySelectorAll("input, select")) {
    if (input.value === input.dataset.saved) continue;
    changes[input.name] = input.value === "" ? null : input.value;
  }
  const result = $("contact-attrs-result");
  if (!Object.keys(changes).length || contactId === null) {
    result.textContent = t("contact.nothing_changed");
    return;
  }
  try {
    contact = await busyWhile(
      "contact-body",
      session.patch(`contacts/${contactId}/`, { custom_attributes: changes }),
    );
    dirty = false;
    renderAttributes();
    result.textContent = t("contact.saved");
  } catch (error) {
    const fields = error.extra?.fields || {};
    const detail = Object.entries(fields)
      .map(([key, problems]) => `${definitions.find((d) => d.key === key)?.label || key}: ${[].concat(problems).join(" ")}`)
      .join("; ");
    result.textContent = detail || error.message;
  }
});

// --- notes ----------------------------------------------------------------------------------------

function renderNotes(notes) {
  shownNotes = notes;
  const user = me();
  $("contact-notes").replaceChildren(
    ...notes.map((note) => {
      const li = document.createElement("li");
      li.dataset.noteId = note.id;
      li.innerHTML = `<p class="contact-note-text"></p><p class="muted contact-note-meta"><span></span>
        <button type="button" class="btn btn-link contact-note-delete"></button></p>`;
      li.querySelector(".contact-note-text").textContent = note.text;
      li.querySelector(".contact-note-meta span").textContent =
        `${note.author?.name || ""} · ${shortTime(note.created_at)}`;
      const remove = li.querySelector(".contact-note-delete");
      remove.textContent = t("contact.note_delete");
      remove.hidden = !(isSupervisor() || note.author?.id === user.id);
      remove.addEventListener("click", async () => {
        try {
          await session.request(`contacts/${contactId}/notes/${note.id}/`, { method: "DELETE" });
          shownNotes = shownNotes.filter((n) => n.id !== note.id);
          li.remove();
        } catch (error) {
          $("contact-attrs-result").textContent = error.message;
        }
      });
      return li;
    }),
  );
}

$("contact-note-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const box = $("contact-note-text");
  const text = box.value.trim();
  if (!text || contactId === null) return;
  const id = contactId;
  try {
    await busyWhile("contact-body", session.post(`contacts/${id}/notes/`, { text }));
    box.value = "";
    if (id === contactId) renderNotes(await session.get(`contacts/${id}/notes/`));
  } catch (error) {
    $("contact-attrs-result").textContent = error.message;
  }
});

// --- previous conversations ------------------------------------------------------------------------

function renderConversations(conversations) {
  shownConversations = conversations;
  const openNow = openCopy()?.id;
  const others = conversations.filter((conv) => conv.id !== openNow);
  const rows = others.map((conv) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-ghost contact-conversation";
    button.dataset.id = conv.id;
    button.textContent = `${shortTime(conv.last_message_at || conv.created_at)} · ${t(`state.${conv.status}`)} · ${
      previewText(conv.last_message_preview) || t(`channel.${conv.channel}`)
    }`;
    button.addEventListener("click", () => requestOpen(conv.id));
    li.append(button);
    return li;
  });
  if (!rows.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = t("contact.no_previous");
    rows.push(li);
  }
  $("contact-conversations").replaceChildren(...rows);
}

/** The language changed: the panel's own texts. */
export function relabelContactPanel() {
  if ($("contact-panel").hidden) return;
  renderFacts();
  renderNotes(shownNotes);
  renderConversations(shownConversations);
}
