// History lines and message-kind previews, rendered in a viewer's language.
//
// A system line's message carries `content.system = {event, …params}` (events and parameters:
// flow/system_lines.py, which holds the same templates as i18n.js) and `content.text`, the line in
// the tenant's language for clients that do not know the codes. A conversation's
// `last_message_preview` is the message's text, or `[<message type>]` (e.g. "[image]") for one
// without text: a code rendered here ("📷 Photo" / "📷 Foto").
import { hasText, lang, tIn } from "./i18n.js";

const SILENT_REASONS = new Set(["", "auto", "returned"]);
const PREVIEW_CODE = /^\[([a-z_]+)\]$/;

/** The line of a system message (`message.content`) in `code` ("pt", "en"; the page's language by
 * default). Lines this client cannot render (an older line without names, Meta's own system
 * notices) fall back to the stored text. */
export function systemText(content, code = lang()) {
  const data = content && content.system;
  const stored = (content && content.text) || "";
  if (!data || typeof data.event !== "string" || !hasText(`system.${data.event}`)) return stored;
  const values = {};
  for (const [k, v] of Object.entries(data)) values[k] = v === null || v === undefined ? "" : String(v);
  for (const who of ["from", "to", "by"]) {
    if (values[who] && !(`${who}_name` in values)) return stored; // written before lines carried names
  }
  const byKey = `system.${data.event}.by`;
  const key = data.by !== null && data.by !== undefined && hasText(byKey) ? byKey : `system.${data.event}`;
  let text = tIn(code, key, values);
  const reason = values.reason || "";
  if (!SILENT_REASONS.has(reason)) {
    const known = hasText(`system.reason.${reason}`);
    text = tIn(code, "system.reason", { text, reason: known ? tIn(code, `system.reason.${reason}`) : reason });
  }
  return tIn(code, "system.end", { text });
}

/** A conversation's `last_message_preview` in `code`: a kind code ("[image]") becomes its label,
 * any other text is returned as it is. */
export function previewText(preview, code = lang()) {
  const text = preview || "";
  const match = PREVIEW_CODE.exec(text);
  if (!match || !hasText(`preview.${match[1]}`)) return text;
  return tIn(code, `preview.${match[1]}`);
}

/** What a message without text shows: its kind's label (`type` "image" → "📷 Photo"). */
export function kindText(type, code = lang()) {
  return previewText(`[${type}]`, code);
}
