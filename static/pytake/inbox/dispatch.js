// Live events to the modules that care: one table, read top to bottom when an event arrives.
// A module that shows a new kind of event adds its handler here, nowhere else.

import { removeConversation, upsertConversation } from "./list.js";
import { onMessageNew, onMessageStatus } from "./messages.js";
import { onTyping, readIfSeen } from "./pane.js";
import { loadQueueSoon } from "./queue.js";
import { loadAgents, onPresence, showBroadcast } from "./team.js";

export const DISPATCH = {
  "conversation.new": [upsertConversation],
  "conversation.updated": [upsertConversation],
  "conversation.assigned": [upsertConversation],
  "conversation.revoked": [(data) => removeConversation(data.id, { revoked: true })],
  "message.new": [onMessageNew],
  "message.status": [onMessageStatus],
  typing: [onTyping],
  presence: [onPresence],
  // Presence is ephemeral (not replayed): after a resume, ask for the team again; and make a
  // read that failed while the connection was down.
  resumed: [() => loadAgents().catch(() => {}), readIfSeen],
  "queue.updated": [loadQueueSoon],
  broadcast: [showBroadcast],
};

/** Subscribe every handler of the table to `client`; returns the unsubscribers. */
export function subscribe(client) {
  return Object.entries(DISPATCH).flatMap(([type, handlers]) => handlers.map((fn) => client.on(type, fn)));
}
