// Desktop notifications and the sound for a customer's new message, opted into with the bell.

import { t } from "../i18n.js";
import { previewText } from "../system.js";
import { $, contactName } from "./dom.js";

let enabled = localStorage.getItem("pytake.notify") === "1";
let audioContext = null;

export function renderNotifyToggle() {
  const button = $("notify-toggle");
  const denied = "Notification" in window && Notification.permission === "denied";
  button.setAttribute("aria-pressed", String(enabled));
  const text = t(enabled ? (denied ? "notify.denied" : "notify.on") : "notify.off");
  $("notify-text").textContent = text;
  button.title = text; // the words, where the top bar shows only the bell
}

$("notify-toggle").addEventListener("click", async () => {
  enabled = !enabled;
  localStorage.setItem("pytake.notify", enabled ? "1" : "0");
  if (enabled && "Notification" in window && Notification.permission === "default") {
    await Notification.requestPermission();
  }
  if (enabled) ensureAudio();
  renderNotifyToggle();
});

function ensureAudio() {
  // Browsers only allow audio after a user gesture: create the context from the toggle's click.
  if (!audioContext && window.AudioContext) audioContext = new AudioContext();
  return audioContext;
}

function beep() {
  const ctx = audioContext;
  if (!ctx) return;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = "sine";
  osc.frequency.value = 880;
  gain.gain.setValueAtTime(0.0001, ctx.currentTime);
  gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.25);
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + 0.3);
}

/** A customer wrote in `conv`; `onOpen` opens it when the notification is clicked. */
export function notifyNewMessage(conv, onOpen) {
  if (!enabled) return;
  beep();
  if ("Notification" in window && Notification.permission === "granted") {
    const note = new Notification(t("notify.title", { name: contactName(conv) }), {
      body: previewText(conv.last_message_preview),
      tag: `pytake-conversation-${conv.id}`,
    });
    note.onclick = () => {
      window.focus();
      onOpen(conv.id);
      note.close();
    };
  }
}

/** A teammate mentioned us in a note (`notification`); `onOpen` opens it when clicked. */
export function notifyMention(notification, onOpen) {
  if (!enabled) return;
  beep();
  if ("Notification" in window && Notification.permission === "granted") {
    const note = new Notification(t("mentions.desktop_title", { name: notification.author?.name || "" }), {
      body: notification.text,
      tag: `pytake-mention-${notification.id}`,
    });
    note.onclick = () => {
      window.focus();
      onOpen(notification);
      note.close();
    };
  }
}
