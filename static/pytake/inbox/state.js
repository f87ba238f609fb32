// The inbox's shared state: who is signed in, the socket, the newest copy of every conversation,
// and which conversation is open. Each piece has one writer, named below; every other module
// only reads it. State that one part of the screen alone needs lives in that part's module
// (the list's filters in list.js, the open conversation's messages in messages.js, ...).
//
// Modules import one way (main → dispatch → pane → list → team → state ...), never in a
// cycle: where a lower part must reach a higher one (a click in the list opens the pane, a
// conversation's new copy reaches list, pane and team) it goes through a hook here.

import { Session } from "../api.js";

export const config = JSON.parse(document.getElementById("pytake-config")?.textContent || "{}");
export const session = new Session({ base: config.api || "/api/" });

const store = {
  me: null, // the signed-in user (GET me/); written by main.js
  rt: null, // the RealtimeClient while signed in; written by main.js
  latest: new Map(), // id -> the newest copy seen of every conversation; written by freshest()
  openId: null, // the conversation in the pane; written by pane.js
  open: null, // its newest copy; written by pane.js (setOpen)
};

export const me = () => store.me;
export const rt = () => store.rt;
export const openId = () => store.openId;
export const openCopy = () => store.open;

export function isSupervisor() {
  return !!store.me && (store.me.role === "supervisor" || store.me.role === "admin");
}

export function setMe(user) {
  store.me = user;
}

export function setRealtime(client) {
  store.rt = client;
}

/** The pane shows conversation `id` (null: none), whose newest copy is `conv`. */
export function setOpen(id, conv) {
  store.openId = id;
  store.open = conv;
  for (const fn of openChangeListeners) fn(id, conv);
}

/** `fn(id, conv)` whenever the pane's conversation or its copy changes (the contact panel, the
 * header's labels and moves follow it). */
export function onOpenChange(fn) {
  openChangeListeners.push(fn);
}

/** The newest copy of a conversation seen so far. Copies come from REST answers and live events,
 * and can arrive out of order (an action's answer overtaken by the events of a later action, a
 * list page read before an event it arrives after, events published by two processes): each
 * carries its `seq`, and an older one than already seen is set aside for the newer. */
export function freshest(copy) {
  const known = store.latest.get(copy.id);
  if (known && known.seq > copy.seq) return known;
  store.latest.set(copy.id, copy);
  return copy;
}

const copyListeners = [];
const openChangeListeners = [];
const openListeners = [];

/** One copy of a conversation from a live event or an action's answer: if it is the newest
 * seen, every part of the screen that shows conversations hears of it (`onNewerCopy`). */
export function acceptCopy(copy) {
  const previous = store.latest.get(copy.id);
  const conv = freshest(copy);
  if (conv === copy) for (const fn of copyListeners) fn(conv, previous);
  return conv;
}

/** `fn(copy, previous)` for each copy acceptCopy() takes as the newest (`previous`: the one it
 * replaces, if any was seen). The list, the pane and the team listen. */
export function onNewerCopy(fn) {
  copyListeners.push(fn);
}

/** Ask for conversation `id` to be opened (a click in the list, the waiting panel, a
 * notification); the pane does it (`options.at`: a message to show, from a search hit or a
 * mention). Hooks like these keep the modules' imports one-way, as
 * hashed imports in production need (a cycle cannot be hashed). */
export function requestOpen(id, options = {}) {
  for (const fn of openListeners) fn(id, options);
}

export function onOpenRequest(fn) {
  openListeners.push(fn);
}

/** The newest copy of conversation `id` seen so far, if any. */
export function latest(id) {
  return store.latest.get(id);
}

/** For the browser console and the tests (`window.pytake.state`). */
export const snapshot = store;
