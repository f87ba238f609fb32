// WhatsApp message templates in the inbox: the composer follows the open conversation's 24-hour
// reply window (closed: it says since when, and offers templates instead of the text box), the
// template picker (search, why a template cannot be used, its parameters with the contact's
// name and phone suggested, a live preview), and "New conversation", which writes first to a
// customer with a template.

import { ApiError } from "../api.js";
import { hasText, t } from "../i18n.js";
import { newClientId } from "../realtime.js";
import { $, busyWhile, contactName, fullTime } from "./dom.js";
import { acceptCopy, isSupervisor, openCopy, openId, requestOpen, session } from "./state.js";
import { templateNode } from "./template_view.js";

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;
const MEDIA = { IMAGE: "image", VIDEO: "video", DOCUMENT: "document" };

let mode = "reply"; // "reply": in the open conversation; "start": a new conversation
let templates = [];
let chosen = null;
let numbers = [];
let windowTimer = null;
// messages.js's upsertMessage, handed over by pane.js (imported here, it would make the import
// chain too deep for the manifest storage's hashing of module imports).
let placeMessage = () => {};

/** Where a sent template's message goes: the open conversation's messages. */
export function onTemplateSent(fn) {
  placeMessage = fn;
}

// --- the reply window ----------------------------------------------------------------------

/** Whether only a template can reach the customer of `conv` now. */
export function windowClosed(conv) {
  if (!conv || conv.channel !== "whatsapp") return false;
  return !conv.window_expires_at || new Date(conv.window_expires_at) <= new Date();
}

/** The window notice and the composer for the open conversation (pane.js calls it whenever the
 * conversation changes: a customer's message reopens the window live). */
export function renderWindowState(conv) {
  clearTimeout(windowTimer);
  const closed = windowClosed(conv) && conv.status !== "resolved";
  const notice = $("window-notice");
  notice.hidden = !closed;
  if (closed) {
    notice.textContent = conv.window_expires_at
      ? t("window.closed", { when: fullTime(conv.window_expires_at) })
      : t("window.never");
  }
  $("composer").classList.toggle("window-closed", closed);
  $("template-open").hidden = !closed;
  if (!closed && conv?.window_expires_at) {
    const left = new Date(conv.window_expires_at) - new Date();
    if (left > 0 && left < 2 ** 31) windowTimer = setTimeout(() => renderWindowState(openCopy()), left + 500);
  }
}

// --- the picker ----------------------------------------------------------------------------

function numberId() {
  if (mode === "reply") return openCopy()?.number_id ?? null;
  if (numbers.length === 1) return numbers[0].id;
  return Number($("new-number").value) || null;
}

async function openPicker(kind) {
  mode = kind;
  chosen = null;
  $("template-error").textContent = "";
  $("new-fields").hidden = kind !== "start";
  $("template-sync").hidden = !isSupervisor();
  $("template-search").value = "";
  showChoice();
  const dialog = $("template-dialog");
  if (!dialog.open) dialog.showModal();
  try {
    if (kind === "start") await loadNumbers();
    await loadTemplates();
  } catch (error) {
    $("template-error").textContent = error.message;
  }
  (kind === "start" ? $("new-phone") : $("template-search")).focus();
}

async function loadNumbers() {
  numbers = await session.get("whatsapp/numbers/");
  const select = $("new-number");
  select.replaceChildren(
    ...numbers.map((n) => new Option(n.name ? `${n.display_phone_number} — ${n.name}` : n.display_phone_number, n.id)),
  );
  $("new-number-wrap").hidden = numbers.length < 2;
}

async function loadTemplates() {
  $("template-list").replaceChildren(Object.assign(document.createElement("li"), { className: "muted", textContent: t("templates.loading") }));
  const params = { page_size: 500 };
  const number = numberId();
  if (number) params.number = number;
  const page = await busyWhile("template-list", session.get("whatsapp/templates/", params));
  templates = page.results.filter((template) => template.status !== "deleted");
  renderTemplateList();
}

function unusableReason(template) {
  const key = `templates.unusable.${template.status}`;
  return ["pending", "paused", "disabled", "rejected"].includes(template.status)
    ? t(key)
    : t("templates.unusable.other", { status: template.status });
}

function bodyText(template) {
  const body = (template.components || []).find((c) => String(c.type).toUpperCase() === "BODY");
  return body?.text || "";
}

function renderTemplateList() {
  const query = $("template-search").value.trim().toLowerCase();
  const list = $("template-list");
  const rows = templates.filter((tpl) => !query || tpl.name.toLowerCase().includes(query) || bodyText(tpl).toLowerCase().includes(query));
  if (!rows.length) {
    list.replaceChildren(Object.assign(document.createElement("li"), { className: "muted", textContent: t("templates.empty") }));
    return;
  }
  list.replaceChildren(
    ...rows.map((template) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "template-item";
      button.disabled = !template.usable;
      button.dataset.name = template.name;
      button.dataset.language = template.language;
      const title = document.createElement("strong");
      title.textContent = template.name;
      const badge = Object.assign(document.createElement("span"), { className: "badge badge-muted", textContent: template.language });
      const text = Object.assign(document.createElement("span"), { className: "template-item-body muted", textContent: bodyText(template) });
      button.append(title, " ", badge, text);
      if (!template.usable) {
        const why = Object.assign(document.createElement("span"), { className: "template-why", textContent: unusableReason(template) });
        button.append(why);
      }
      button.addEventListener("click", () => choose(template));
      li.append(button);
      return li;
    }),
  );
}

function showChoice() {
  $("template-choose").hidden = false;
  $("template-fill").hidden = true;
  $("template-send").disabled = true;
}

function suggestions() {
  const list = document.createElement("datalist");
  list.id = "template-suggestions";
  const conv = mode === "reply" ? openCopy() : null;
  const values = conv
    ? [contactName(conv), conv.contact?.name, conv.contact?.profile_name, conv.contact?.phone]
    : [$("new-name").value.trim(), $("new-phone").value.trim()];
  for (const value of new Set(values.filter(Boolean))) list.append(new Option(value));
  return list;
}

function field(part, key, labelText, { type = "text" } = {}) {
  const id = `tpl-${part}-${key}`;
  const label = Object.assign(document.createElement("label"), { htmlFor: id, textContent: labelText });
  const input = Object.assign(document.createElement("input"), { id, type, autocomplete: "off" });
  input.dataset.part = part;
  input.dataset.key = key;
  if (type === "text") input.setAttribute("list", "template-suggestions");
  input.addEventListener("input", renderPreview);
  return [label, input];
}

function choose(template) {
  chosen = template;
  $("template-choose").hidden = true;
  $("template-fill").hidden = false;
  $("template-error").textContent = "";
  const box = $("template-params");
  const nodes = [suggestions()];
  const slots = template.slots || {};
  const header = slots.header;
  if (header?.format === "TEXT") {
    for (const name of header.parameters) nodes.push(...field("header", name, t("templates.parameter", { name: `${name} (header)` })));
  } else if (header && MEDIA[header.format]) {
    nodes.push(...field("header", "link", t("templates.header_link", { kind: MEDIA[header.format] }), { type: "url" }));
  }
  for (const name of slots.body || []) nodes.push(...field("body", name, t("templates.parameter", { name })));
  for (const button of slots.buttons || []) {
    nodes.push(...field("buttons", String(button.index), t("templates.button", { text: button.text || button.type })));
  }
  box.replaceChildren(...nodes);
  $("template-send").disabled = false;
  renderPreview();
  box.querySelector("input")?.focus();
}

function values() {
  const parameters = {};
  for (const input of $("template-params").querySelectorAll("input")) {
    const value = input.value.trim();
    if (!value) continue;
    parameters[input.dataset.part] ||= {};
    parameters[input.dataset.part][input.dataset.key] = value;
  }
  return parameters;
}

function fill(text, given) {
  return String(text || "").replace(PLACEHOLDER, (whole, name) => given?.[name] || whole);
}

function renderPreview() {
  if (!chosen) return;
  const given = values();
  const parts = Object.fromEntries((chosen.components || []).map((c) => [String(c.type).toUpperCase(), c]));
  const header = parts.HEADER;
  const shown = {
    header: header
      ? { format: String(header.format || "TEXT").toUpperCase(), text: fill(header.text, given.header), link: given.header?.link }
      : null,
    body: fill(parts.BODY?.text, given.body),
    footer: parts.FOOTER?.text || "",
    buttons: (parts.BUTTONS?.buttons || []).map((b, index) => ({
      type: String(b.type).toLowerCase(),
      text: b.text,
      url: b.url ? String(b.url).replace(PLACEHOLDER, (whole) => given.buttons?.[index] || whole) : undefined,
    })),
  };
  $("template-preview").replaceChildren(templateNode(shown));
}

function showError(error) {
  const fields = error instanceof ApiError ? error.extra?.fields || {} : {};
  const lines = [error.message];
  for (const input of $("template-params").querySelectorAll("input")) input.removeAttribute("aria-invalid");
  for (const [name, problems] of Object.entries(fields)) {
    const key = name.replace(/^template\.parameters\./, "");
    const input = $("template-params").querySelector(`input[id="tpl-${key.replace(".", "-")}"]`);
    if (input) input.setAttribute("aria-invalid", "true");
    lines.push(`${key}: ${[].concat(problems).join(" ")}`);
  }
  $("template-error").textContent = lines.join(" · ");
}

async function send(event) {
  event.preventDefault();
  if (!chosen) return;
  const template = { name: chosen.name, language: chosen.language, parameters: values() };
  const button = $("template-send");
  button.disabled = true;
  try {
    if (mode === "reply") {
      const id = openId();
      const saved = await session.post(`conversations/${id}/messages/`, { template, client_id: newClientId() });
      if (id === openId()) placeMessage(saved);
    } else {
      const body = { phone: $("new-phone").value.trim(), name: $("new-name").value.trim(), template, client_id: newClientId() };
      const number = numberId();
      if (number) body.number_id = number;
      const started = await session.post("conversations/", body);
      acceptCopy(started.conversation);
      requestOpen(started.conversation.id);
    }
    $("template-dialog").close();
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = !chosen;
  }
}

$("template-open").addEventListener("click", () => openPicker("reply"));
$("new-conversation").addEventListener("click", () => openPicker("start"));
$("template-search").addEventListener("input", renderTemplateList);
$("template-back").addEventListener("click", () => {
  chosen = null;
  showChoice();
});
$("template-cancel").addEventListener("click", () => $("template-dialog").close());
$("template-form").addEventListener("submit", send);
$("new-number").addEventListener("change", () => {
  showChoice();
  loadTemplates().catch((error) => showError(error));
});
$("template-sync").addEventListener("click", async () => {
  const button = $("template-sync");
  button.disabled = true;
  button.textContent = t("templates.syncing");
  try {
    await session.post("whatsapp/templates/sync/", {});
    await loadTemplates();
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
    button.textContent = t("templates.sync");
  }
});

/** `template.updated` (admins only): Meta changed a template's status, quality or category. */
export function onTemplateUpdated(data) {
  const key = data.change === "message_template_quality_update" ? "templates.changed_quality" : "templates.changed";
  const status = hasText(`templates.status.${data.status}`) ? t(`templates.status.${data.status}`) : data.status;
  $("broadcast-text").textContent = t(key, {
    name: `${data.name} (${data.language})`,
    status,
    quality: data.quality || "?",
    reason: data.reason ? ` ${data.reason}` : "",
  });
  $("broadcast").hidden = false;
  if ($("template-dialog").open && !chosen) loadTemplates().catch(() => {});
}
