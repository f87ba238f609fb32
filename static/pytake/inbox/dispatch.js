// Live events to the modules that care: one table, read top to bottom when an event arrives.
// A module that shows a new kind of event adds its handler here, nowhere else.

import { onAccountAlert } from "./alerts.js";
import { removeConversation } from "./list.js";
import { onMessageNew, onMessageStatus, onMessageUpdated } from "./messages.js";
import { onCustomerMessage, onRevoked, onTyping, readIfSeen } from "./pane.js";
import { loadQueueSoon } from "./queue.js";
import { onAttributeDefinitionsChange } from "./contact_panel.js";
import { onLabelDeleted, onLabelSaved } from "./labels.js";
import { onNotification, onNotificationRead } from "./notifications.js";
import { onSavedRepliesChange } from "./saved_replies.js";
import { acceptCopy } from "./state.js";
import { loadAgents, onPresence, showBroadcast } from "./team.js";
import { onTemplateUpdated } from "./templates.js";

// A copy of a conversation goes to acceptCopy(), which keeps the newest by `seq` and hands it to
// the parts that show conversations (list.js, pane.js, team.js, through state.onNewerCopy).
export const DISPATCH = {
  "conversation.new": [acceptCopy],
  "conversation.updated": [acceptCopy],
  "conversation.assigned": [acceptCopy],
  "conversation.revoked": [(data) => removeConversation(data.id), onRevoked],
  "message.new": [onMessageNew, onCustomerMessage],
  "message.status": [onMessageStatus],
  "message.updated": [onMessageUpdated],
  typing: [onTyping],
  presence: [onPresence],
  // Presence is ephemeral (not replayed): after a resume, ask for the team again; and make a
  // read that failed while the connection was down.
  resumed: [() => loadAgents().catch(() => {}), readIfSeen],
  "queue.updated": [loadQueueSoon],
  broadcast: [showBroadcast],
  // The agent's toolbox: the tenant's labels and contact fields, and our mentions.
  "label.saved": [onLabelSaved],
  "label.deleted": [onLabelDeleted],
  "contact_attribute.saved": [onAttributeDefinitionsChange],
  "contact_attribute.deleted": [onAttributeDefinitionsChange],
  notification: [onNotification],
  "notification.read": [onNotificationRead],
  "saved_reply.saved": [onSavedRepliesChange],
  "saved_reply.deleted": [onSavedRepliesChange],
  "template.updated": [onTemplateUpdated],
  "account.alert": [onAccountAlert],
};

/** Subscribe every handler of the table to `client`; returns the unsubscribers. */
export function subscribe(client) {
  return Object.entries(DISPATCH).flatMap(([type, handlers]) => handlers.map((fn) => client.on(type, fn)));
}
