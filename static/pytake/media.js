// Media of a message (photo, video, audio, voice note, document, sticker) as DOM nodes, for any
// page that shows messages: the inbox, the web-chat widget. No state of its own, no page wiring.
//
// A message's `media` object (REST and events, docs/realtime-protocol.md):
//   {url, mime_type, filename, size, caption, sha256, status: "pending"|"ready"|"failed",
//    error, voice, animated}
// `url` (`/api/messages/{id}/media/`) needs the same bearer token as the API; an <img> cannot
// send one, so elements get their `src` from `${url}link/`, which answers a short-lived URL
// (`{url, expires_at}`) that works without credentials. Files are never shown as HTML or SVG:
// the server refuses those types, and serves every file with nosniff and a sandbox CSP.
import { t } from "./i18n.js";

/** "1.2 MB", "340 KB", "12 B". */
export function formatSize(bytes) {
  if (bytes == null || Number.isNaN(bytes)) return "";
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} B`;
}

/** The kind a `media` object is shown as: image, sticker, video, voice, audio or document. */
export function mediaKind(type, media) {
  if (type === "sticker") return "sticker";
  if (type === "audio") return media && media.voice ? "voice" : "audio";
  if (type === "image" || type === "video" || type === "document") return type;
  const mime = (media && media.mime_type) || "";
  if (mime.startsWith("image/")) return "image";
  if (mime.startsWith("video/")) return "video";
  if (mime.startsWith("audio/")) return "audio";
  return "document";
}

/** What a file is called: a document's file name, or its kind ("Photo", "Voice note"). */
function mediaName(kind, media) {
  return kind === "document" && media && media.filename ? media.filename : t(`media.${kind}`);
}

/** A short line for lists and notifications: "📷 Photo", "🎤 Voice note (0:12)"… */
export function mediaLabel(type, media) {
  const kind = mediaKind(type, media);
  const icon = { image: "📷", sticker: "🏷️", video: "🎬", voice: "🎤", audio: "🎵", document: "📄" }[kind];
  return `${icon} ${mediaName(kind, media)}`;
}

/**
 * A short-lived URL that serves the file without credentials.
 * `getToken()` returns the bearer token (staff JWT or web-chat token), or a promise of it.
 */
export async function mediaLink(media, getToken) {
  const token = await getToken(); // a string, or a promise of one (the inbox refreshes its token)
  const r = await fetch(`${media.url}link/`, { headers: { Authorization: `Bearer ${token}` } });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return (await r.json()).url;
}

const SVG = "http://www.w3.org/2000/svg";

/** A page with lines, drawn (an emoji showed as an empty box without an emoji font). */
function documentIcon() {
  const svg = document.createElementNS(SVG, "svg");
  for (const [name, value] of Object.entries({
    class: "pt-media-icon", viewBox: "0 0 24 24", width: "16", height: "16", fill: "none",
    stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round", "stroke-linejoin": "round",
    "aria-hidden": "true",
  })) svg.setAttribute(name, value);
  for (const d of ["M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z", "M14 2v6h6", "M8 13h8M8 17h6"]) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

/**
 * The DOM node of a message's media: a placeholder while `pending`, the reason and a retry
 * button when `failed` (`onRetry()` is called; staff only: leave it out for customers), the
 * player, picture or download link once `ready`. The caption goes below.
 * Options: `{type, getToken, onRetry}`; `type` is the message's type.
 * The node carries `data-media-status` so that a `message.updated` can replace it in place.
 */
export function mediaNode(media, { type = "", getToken, onRetry } = {}) {
  const kind = mediaKind(type, media);
  const box = el("figure", `pt-media pt-media-${kind}`);
  box.dataset.mediaStatus = media.status;
  if (media.status === "pending") {
    box.append(el("span", "pt-media-pending", `${mediaLabel(type, media)} · ${t("media.pending")}`));
  } else if (media.status === "failed") {
    box.append(el("span", "pt-media-failed", `${mediaLabel(type, media)} · ${t("media.failed", { reason: media.error || "" })}`));
    if (onRetry) {
      const retry = el("button", "pt-media-retry", t("media.retry"));
      retry.type = "button";
      retry.addEventListener("click", () => {
        retry.disabled = true;
        Promise.resolve(onRetry()).catch(() => { retry.disabled = false; });
      });
      box.append(retry);
    }
  } else {
    box.append(readyNode(kind, media, getToken, type));
  }
  if (media.caption) box.append(el("figcaption", "pt-media-caption", media.caption));
  return box;
}

function readyNode(kind, media, getToken, type) {
  let node;
  if (kind === "image" || kind === "sticker") {
    node = el("img", kind === "sticker" ? "pt-media-sticker" : "pt-media-image");
    node.alt = media.caption || t(`media.${kind}`);
    node.loading = "lazy";
  } else if (kind === "video") {
    node = el("video", "pt-media-video");
    node.controls = true;
    node.preload = "metadata";
  } else if (kind === "audio" || kind === "voice") {
    node = el("audio", "pt-media-audio");
    node.controls = true;
    node.preload = "none";
    node.setAttribute("aria-label", t(`media.${kind}`));
  } else {
    node = el("a", "pt-media-document");
    node.append(documentIcon(), `${mediaName(kind, media)} (${formatSize(media.size)})`);
    node.rel = "noopener";
    node.setAttribute("download", media.filename || "");
    // The link is fetched when clicked: short-lived links are not kept in the page.
    node.href = "#";
    node.addEventListener("click", async (e) => {
      e.preventDefault();
      const url = await mediaLink(media, getToken);
      const a = document.createElement("a");
      a.href = url;
      a.download = media.filename || "";
      a.rel = "noopener";
      document.body.append(a);
      a.click();
      a.remove();
    });
    return node;
  }
  if (getToken) {
    mediaLink(media, getToken)
      .then((url) => { node.src = url; })
      .catch(() => { node.replaceWith(el("span", "pt-media-failed", t("media.unavailable"))); });
  }
  return node;
}
