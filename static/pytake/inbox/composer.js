// The box to write in: replies and internal notes (an optimistic bubble first, the server's
// message in its place), and our own typing signal to the others in the conversation.

import { ApiError } from "../api.js";
import { t } from "../i18n.js";
import { newClientId } from "../realtime.js";
import { $ } from "./dom.js";
import { heldMessage, onRetry, upsertMessage } from "./messages.js";
import { clearReply, replyTarget } from "./reply.js";
import { me, openId, rt, session } from "./state.js";

const TYPING_IDLE_MS = 2500;
const TYPING_REPEAT_MS = 4000;

const composer = $("composer-text");
let noteMode = false;

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = composer.value.trim();
  if (!text || openId() === null) return;
  composer.value = "";
  autoGrow();
  if (!noteMode) stopTyping();
  postMessage(text, newClientId(), { note: noteMode });
});

$("note-toggle").addEventListener("click", () => {
  noteMode = !noteMode;
  renderNoteMode();
  composer.focus();
});

export function renderNoteMode() {
  $("note-toggle").setAttribute("aria-pressed", String(noteMode));
  $("composer").classList.toggle("is-note", noteMode);
  composer.placeholder = t(noteMode ? "composer.note_placeholder" : "composer.placeholder");
}

composer.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

composer.addEventListener("input", () => {
  autoGrow();
  if (noteMode) return; // the customer must not see the team typing a note
  if (composer.value.trim()) startTyping();
  else stopTyping();
});
composer.addEventListener("blur", () => stopTyping());

function autoGrow() {
  composer.style.height = "auto";
  composer.style.height = `${Math.min(composer.scrollHeight, 160)}px`;
}

/** Send `text` (or, with `note`, add it as an internal note) to the open conversation; the
 * same `clientId` again (a retry) is never stored twice. */
export async function postMessage(text, clientId, { note = false, quoted = note ? null : replyTarget() } = {}) {
  const id = openId();
  const user = me();
  if (quoted) clearReply();
  const optimistic = {
    id: null,
    client_id: clientId,
    conversation_id: id,
    direction: "outbound",
    sender_type: "agent",
    sender: { id: user.id, name: user.name },
    type: "text",
    text,
    status: "pending",
    error: null,
    internal: note,
    reply_to: quoted,
    created_at: heldMessage(`c:${clientId}`)?.created_at || new Date().toISOString(),
  };
  upsertMessage(optimistic);
  try {
    // Notes have no client_id on the server: the answer is matched to the bubble here.
    const saved = note
      ? { ...(await session.post(`conversations/${id}/notes/`, { text })), client_id: clientId, internal: true }
      : await session.post(`conversations/${id}/messages/`, {
          text,
          client_id: clientId,
          ...(quoted ? { reply_to: quoted.id } : {}),
        });
    if (id === openId()) upsertMessage(saved);
  } catch (error) {
    if (id !== openId()) return;
    if (error instanceof ApiError && error.code !== "network" && error.status < 500) {
      upsertMessage({ ...optimistic, status: "failed", error: { code: error.code, title: error.message } });
    } else {
      upsertMessage({ ...optimistic, status: "failed", local: true });
    }
  }
}

onRetry((message, { note }) =>
  postMessage(message.text, message.client_id, { note, quoted: note ? null : message.reply_to || null }),
);

// --- files: the attach button, dropping a file on the conversation, pasting an image -----------------

/** Send `file` to the open conversation, with what is in the box as its caption. The server
 * checks the file's type from its content and the channel's limits; a refusal shows on the bubble. */
export async function postFile(file) {
  const id = openId();
  if (id === null || !file) return;
  const caption = noteMode ? "" : composer.value.trim();
  if (caption) {
    composer.value = "";
    autoGrow();
  }
  const clientId = newClientId();
  const user = me();
  const optimistic = {
    id: null,
    client_id: clientId,
    conversation_id: id,
    direction: "outbound",
    sender_type: "agent",
    sender: { id: user.id, name: user.name },
    type: "document",
    text: caption ? `${file.name} · ${caption}` : file.name,
    status: "pending",
    error: null,
    internal: false,
    created_at: new Date().toISOString(),
  };
  upsertMessage(optimistic);
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("client_id", clientId);
  if (caption) form.append("text", caption);
  try {
    const saved = await session.post(`conversations/${id}/messages/`, form);
    if (id === openId()) upsertMessage(saved);
  } catch (error) {
    if (id !== openId()) return;
    const reason = error instanceof ApiError ? { code: error.code, title: error.message } : null;
    upsertMessage({ ...optimistic, status: "failed", error: reason, local: !reason });
  }
}

$("composer-file").addEventListener("change", (event) => {
  const [file] = event.target.files;
  event.target.value = "";
  postFile(file);
});

const pane = $("messages");
pane.addEventListener("dragover", (event) => {
  if (openId() !== null && event.dataTransfer?.types.includes("Files")) event.preventDefault();
});
pane.addEventListener("drop", (event) => {
  const [file] = event.dataTransfer?.files || [];
  if (!file || openId() === null) return;
  event.preventDefault();
  postFile(file);
});
composer.addEventListener("paste", (event) => {
  const item = [...(event.clipboardData?.items || [])].find((i) => i.kind === "file");
  const file = item?.getAsFile();
  if (!file) return;
  event.preventDefault();
  postFile(file);
});

// --- typing (ours) ---------------------------------------------------------------------------

let typingSentAt = 0;
let typingIdle = null;
let typingActiveFor = null;

function startTyping() {
  const id = openId();
  if (id === null || !rt()) return;
  const now = Date.now();
  if (typingActiveFor !== id || now - typingSentAt > TYPING_REPEAT_MS) {
    rt().typing(id, "start");
    typingSentAt = now;
    typingActiveFor = id;
  }
  clearTimeout(typingIdle);
  typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
}

export function stopTyping() {
  clearTimeout(typingIdle);
  if (typingActiveFor !== null && rt()) rt().typing(typingActiveFor, "stop");
  typingActiveFor = null;
  typingSentAt = 0;
}
