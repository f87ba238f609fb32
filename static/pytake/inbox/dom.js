// Small helpers every part of the inbox uses: element lookup, the busy marker, and how names,
// times and durations are written.

import { locale, t } from "../i18n.js";

export const $ = (id) => document.getElementById(id);

const busyCounts = new Map(); // element id -> requests outstanding for it

/** `request`'s answer, with element `id` marked aria-busy until it and any other request
 * begun for it have settled (the tests wait on that too). */
export async function busyWhile(id, request) {
  busyCounts.set(id, (busyCounts.get(id) || 0) + 1);
  $(id).setAttribute("aria-busy", "true");
  try {
    return await request;
  } finally {
    busyCounts.set(id, busyCounts.get(id) - 1);
    $(id).setAttribute("aria-busy", String(busyCounts.get(id) > 0));
  }
}

export function contactName(conv) {
  const c = conv?.contact || {};
  return c.display_name || c.name || c.profile_name || c.phone || `#${conv?.id ?? ""}`;
}

export function initials(name) {
  const parts = String(name).replace(/[^\p{L}\p{N} ]/gu, "").trim().split(/\s+/);
  return ((parts[0]?.[0] || "") + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase() || "#";
}

export function shortTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const now = new Date();
  if (date.toDateString() === now.toDateString()) return clockTime(iso);
  return date.toLocaleDateString(locale(), { day: "2-digit", month: "short" });
}

export function clockTime(iso) {
  return new Date(iso).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
}

export function fullTime(iso) {
  return new Date(iso).toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" });
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t("duration.seconds", { n: s });
  if (s < 3600) return t("duration.minutes", { n: Math.floor(s / 60) });
  return t("duration.hours", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

/** Who has a conversation nobody is assigned to: the line of customers waiting for an agent
 * (the waiting panel), or the bot, which answers every open conversation with no agent. Two
 * words that cannot be confused, used wherever an unassigned conversation is shown. */
export function unassignedLabel(conv) {
  if (conv.queued_at) return t("meta.waiting");
  return conv.status === "resolved" ? t("meta.unassigned") : t("meta.with_bot");
}
