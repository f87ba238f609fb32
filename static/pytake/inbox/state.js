// The inbox's shared state: who is signed in, the socket, the newest copy of every conversation,
// and which conversation is open. Each piece has one writer, named below; every other module
// only reads it. State that one part of the screen alone needs lives in that part's module
// (the list's filters in list.js, the open conversation's messages in messages.js, ...).

import { Session } from "../api.js";

export const config = JSON.parse(document.getElementById("pytake-config")?.textContent || "{}");
export const session = new Session({ base: config.api || "/api/" });

const store = {
  me: null, // the signed-in user (GET me/); written by main.js
  rt: null, // the RealtimeClient while signed in; written by main.js
  latest: new Map(), // id -> the newest copy seen of every conversation; written by freshest()
  openId: null, // the conversation in the pane; written by pane.js
  open: null, // its newest copy; written by pane.js and list.js (through setOpen)
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
}

/** The newest copy of a conversation seen so far. Copies come from REST answers and live events,
 * and can arrive out of order (an action's answer overtaken by the events of a later action, a
 * list page read before an event it arrives after, events published by two processes): each
 * carries its `seq`, and an older one than already seen is set aside for the newer. */
export function freshest(copy) {
  const known = store.latest.get(copy.id);
  if (known && known.seq > copy.seq) return known;
  store.latest.set(copy.id, copy);
  for (const fn of copyListeners) fn(copy, known);
  return copy;
}

const copyListeners = new Set();

/** `fn(copy, previous)` whenever freshest() takes a copy of a conversation as its newest
 * (`previous`: the copy it replaces, if one was seen). */
export function onNewerCopy(fn) {
  copyListeners.add(fn);
  return () => copyListeners.delete(fn);
}

/** The newest copy of conversation `id` seen so far, if any. */
export function latest(id) {
  return store.latest.get(id);
}

/** For the browser console and the tests (`window.pytake.state`). */
export const snapshot = store;
