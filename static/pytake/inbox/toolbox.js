// The agent's toolbox, started with the inbox: labels, saved replies and mentions in the box to
// write in, search, the contact panel, the header's moves, bulk actions, notifications and
// keyboard shortcuts. Each lives in its own module; this one loads what they read at start.

import "./mentions.js";
import "./moves.js";
import "./saved_replies.js";
import "./shortcuts.js";
import { relabelBulk } from "./bulk.js";
import { onAttributeDefinitionsChange, relabelContactPanel } from "./contact_panel.js";
import { loadLabels } from "./labels.js";
import { loadNotifications, relabelNotifications } from "./notifications.js";
import { relabelSearch } from "./search.js";

/** What the toolbox reads at sign-in and after a reconnect with nothing to resume from. */
export async function loadToolbox() {
  await Promise.all([loadLabels(), loadNotifications(), onAttributeDefinitionsChange()]);
}

/** The language changed: the toolbox's own texts. */
export function relabelToolbox() {
  relabelBulk();
  relabelContactPanel();
  relabelNotifications();
  relabelSearch();
}
