// The order messages and conversations are shown in, shared by the inbox, the web-chat widget
// and the simulator phone.
//
// Messages: the server's order, the message id — the order PyTake stored them in and GET
// .../messages/ pages them in, so the `before`/`after` cursors and the screen agree. Never a
// time: WhatsApp's are whole seconds by Meta's clock ("…:37Z"), PyTake's have microseconds
// ("…:37.840697Z"); compared as text "." sorts before "Z", and even compared as instants a
// customer's "Oi" can carry a time after the bot reply it caused. Messages not stored yet (no id:
// a bubble being sent, the simulator phone's own) follow, by time. Conversations: newest activity
// first, as GET /api/conversations/ lists them.

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

/** Order two messages as the server does: by id; one not stored yet (no id) after the stored
 * ones, and two of those by time (ties keep their order). */
export function compareMessages(a, b) {
  if (a.id || b.id) return Math.sign((a.id || MAX_ID) - (b.id || MAX_ID));
  const delta = instant(a.created_at) - instant(b.created_at);
  return delta ? (delta < 0 ? -1 : 1) : 0; // NaN (a time missing): as they arrived
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
