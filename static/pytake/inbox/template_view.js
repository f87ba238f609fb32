// How a WhatsApp template message looks: its header (text, or the kind of media), the body, the
// footer in small print and its buttons, as the customer's phone shows them. Used by the bubbles
// (messages.js) and the picker's preview (templates.js).

import { t } from "../i18n.js";

const MEDIA_ICONS = { IMAGE: "🖼", VIDEO: "🎬", DOCUMENT: "📄", LOCATION: "📍" };

function part(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

/** A template as shown: `{header: {format, text, link}, body, footer, buttons: [{type, text, url}]}`. */
export function templateNode(shown, fallbackText = "") {
  const box = document.createElement("div");
  box.className = "tpl";
  const header = shown?.header;
  if (header?.format === "TEXT" && header.text) box.append(part("strong", "tpl-header", header.text));
  else if (header?.format && MEDIA_ICONS[header.format]) {
    const label = header.link ? header.filename || header.link.split("/").pop() : header.format.toLowerCase();
    box.append(part("div", "tpl-header tpl-media", `${MEDIA_ICONS[header.format]} ${label}`));
  }
  box.append(part("div", "tpl-body", shown?.body ?? fallbackText));
  if (shown?.footer) box.append(part("small", "tpl-footer", shown.footer));
  const buttons = Array.isArray(shown?.buttons) ? shown.buttons : [];
  if (buttons.length) {
    const row = document.createElement("div");
    row.className = "tpl-buttons";
    for (const button of buttons) {
      const icon = button.type === "url" ? "↗ " : button.type === "phone_number" ? "✆ " : button.type === "copy_code" ? "⧉ " : "↩ ";
      const node = part("span", "tpl-button", `${icon}${button.text || button.code || ""}`);
      if (button.url) node.title = button.url;
      row.append(node);
    }
    box.append(row);
  }
  if (shown?.name) box.title = t("templates.sent_by", { name: `${shown.name} (${shown.language})` });
  return box;
}
