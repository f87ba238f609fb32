// The order messages and conversations are shown in, shared by the inbox, the web-chat widget
// and the simulator phone.
//
// Messages: the server's order, `(created_at, id)` — the order GET .../messages/ pages them in,
// so the `before`/`after` cursors and the screen agree. Times are compared as instants, never
// as text: WhatsApp's times are whole seconds ("…:37Z"), PyTake's have microseconds
// ("…:37.840697Z"), and as text "." sorts before "Z" (a customer's "Oi" landed below the bot
// reply it caused). Conversations: newest activity first, as GET /api/conversations/ lists them.

const MAX_ID = Number.MAX_SAFE_INTEGER;

/** Microseconds since the epoch of an ISO 8601 time, exact to the microsecond (a Date keeps
 * milliseconds only); NaN for none. */
export function instant(iso) {
  const parts = /^([^.,]*T\d{2}:\d{2}:\d{2})(?:[.,](\d+))?(.*)$/.exec(iso || "");
  if (!parts) return Number.NaN;
  const seconds = Date.parse(parts[1] + parts[3]);
  const micros = Number(`${parts[2] || ""}000000`.slice(0, 6));
  return seconds * 1000 + micros;
}

/** Order two messages as the server does: by time, then by id; one not stored yet (no id)
 * after the stored ones of the same instant. */
export function compareMessages(a, b) {
  const delta = instant(a.created_at) - instant(b.created_at);
  if (delta) return delta < 0 ? -1 : 1; // NaN (a time missing) falls through to the id
  return Math.sign((a.id || MAX_ID) - (b.id || MAX_ID));
}

/** Order two conversations newest activity first (`last_message_at`, then the newer id). */
export function compareConversations(a, b) {
  const delta = (instant(b.last_message_at) || 0) - (instant(a.last_message_at) || 0);
  if (delta) return delta < 0 ? -1 : 1;
  return Math.sign(b.id - a.id);
}

/** Put `node` (new, or already a child of `list`) where `message`, the one it shows, belongs
 * among its siblings; `messageOf(sibling)` gives the message a sibling shows. Walks from the
 * end (most messages are the newest) and moves nothing already in place; ties keep the order
 * they arrived in. */
export function placeMessage(list, node, message, messageOf) {
  let before = null;
  for (let other = list.lastElementChild; other; other = other.previousElementSibling) {
    if (other === node) continue;
    const shown = messageOf(other);
    if (!shown || compareMessages(shown, message) <= 0) break;
    before = other;
  }
  if (node.parentNode !== list || node.nextElementSibling !== before) list.insertBefore(node, before);
}
