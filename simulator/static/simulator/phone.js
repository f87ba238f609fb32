// The simulator's phone: the person using it plays a WhatsApp customer.
// Its socket (/ws/simulator/phone/, `{"type", "data"}` frames) is the shared client's
// ReconnectingSocket (../pytake/realtime.js): heartbeat, backoff with jitter, connection state.
import { placeMessage } from "../pytake/order.js";
import { ConnectionState, ReconnectingSocket } from "../pytake/realtime.js";

const $ = (id) => document.getElementById(id);
const state = { account: "", waId: "", name: "", socket: null, typingTimer: null, choices: 0, acting: null };
const REACTIONS = ["👍", "❤️", "😂", "🙏"];

function csrf() {
  const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}
function say(text) { $("status").textContent = text || ""; }

function describe(m) {
  const b = m.body || {};
  switch (m.type) {
    case "text": return { text: b.body || "" };
    case "image": return { text: b.caption || "", image: m.media_url || b.link || null };
    case "sticker": return { image: m.media_url || b.link || null, label: b.animated ? "Animated sticker" : "" };
    case "document": return { text: b.caption || "", label: "📄 " + (b.filename || b.link || "Document"), href: m.media_url || b.link || null };
    case "audio": return { label: b.voice ? "🎤 Voice note" : "🎵 Audio", audio: m.media_url || b.link || null };
    case "video": return { text: b.caption || "", video: m.media_url || b.link || null, label: "🎬 Video" };
    case "template": return { label: "Template: " + (b.name || ""), text: m.text || "" };
    case "reaction": return { label: b.emoji ? "Reacted " + b.emoji : "Removed a reaction" };
    case "edit": return { label: "Edited a message", text: (b.message && b.message.text && b.message.text.body) || "" };
    case "revoke": return { label: "Deleted a message" };
    case "order": return { label: "🛒 Order: " + ((b.product_items || []).length) + " item(s)", text: b.text || "" };
    case "system": return { label: b.body || "System message" };
    case "interactive":
      if (b.type === "button_reply") { return { text: (b.button_reply && b.button_reply.title) || "" }; }
      return {
        text: (b.body && b.body.text) || "",
        buttons: ((b.action && b.action.buttons) || []).map((x) => x.reply || {}),
      };
    default: return { label: "[" + m.type + "]" };
  }
}

/** A bubble's message as far as ordering goes (the simulator's rows have no id: ties keep the
 * order they arrived in). The server lists a thread by time: live frames can arrive otherwise. */
const shownMessage = (li) => ({ created_at: li.dataset.createdAt, id: null });

function render(m) {
  const existing = document.querySelector(`[data-wamid="${CSS.escape(m.wamid)}"]`);
  const li = document.createElement("li");
  li.className = "bubble" + (m.direction === "to_business" ? " mine" : "");
  li.dataset.wamid = m.wamid;
  li.dataset.createdAt = m.created_at;
  const d = describe(m);
  if (d.label) { const s = document.createElement("em"); s.textContent = d.label; li.append(s, document.createElement("br")); }
  if (d.image) { const img = document.createElement("img"); img.src = d.image; img.alt = ""; li.append(img); }
  if (d.audio) { const a = document.createElement("audio"); a.controls = true; a.preload = "none"; a.src = d.audio; li.append(a); }
  if (d.video) { const v = document.createElement("video"); v.controls = true; v.preload = "metadata"; v.src = d.video; li.append(v); }
  if (d.href) {
    const a = document.createElement("a"); a.href = d.href; a.textContent = "Download"; a.rel = "noopener";
    a.setAttribute("download", ""); li.append(a, document.createElement("br"));
  }
  if (d.text) { li.append(document.createTextNode(d.text)); }
  if (d.buttons && d.buttons.length) {
    const row = document.createElement("div");
    row.className = "buttons";
    for (const btn of d.buttons) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = btn.title || ""; b.className = "reply-button";
      b.addEventListener("click", () => send({ reply_id: btn.id || "", reply_title: btn.title || "" }));
      row.append(b);
    }
    li.append(row);
  }
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = new Date(m.created_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (m.direction === "to_business") {
    const t = document.createElement("span");
    t.className = "ticks" + (m.status === "read" ? " read" : "");
    t.textContent = " ✓✓";
    meta.append(t);
  }
  li.append(meta);
  if (m.body && m.body.context && m.body.context.id) { li.dataset.replyTo = m.body.context.id; }
  li.append(actions(m));
  if (existing) { existing.replaceWith(li); } // a newer copy of a bubble shown: in its place
  placeMessage($("thread"), li, m, shownMessage);
  $("thread").scrollTop = $("thread").scrollHeight;
}

/** What the customer can do to a message, as on a phone: reply to it, react to it, and to their
 * own messages, edit or delete them for everyone. */
function actions(m) {
  const row = document.createElement("div");
  row.className = "actions";
  if (["reaction", "edit", "revoke"].includes(m.type)) { return row; }
  const button = (label, title, fn) => {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = label; b.title = title; b.setAttribute("aria-label", title);
    b.addEventListener("click", fn);
    row.append(b);
  };
  button("↩", "Reply", () => act("reply", m, "Replying to this message"));
  for (const emoji of REACTIONS) { button(emoji, `React ${emoji}`, () => send({ action: "react", target: m.wamid, emoji })); }
  button("∅", "Remove my reaction", () => send({ action: "react", target: m.wamid, emoji: "" }));
  if (m.direction === "to_business") {
    button("✎", "Edit", () => act("edit", m, "Editing: type the new text"));
    button("🗑", "Delete for everyone", () => send({ action: "delete", target: m.wamid }));
  }
  return row;
}

function act(action, m, text) {
  state.acting = { action, target: m.wamid };
  $("acting-text").textContent = text;
  $("acting").hidden = false;
  $("text").focus();
}

function stopActing() {
  state.acting = null;
  $("acting").hidden = true;
}
$("acting-cancel").addEventListener("click", stopActing);
$("send-order").addEventListener("click", () => send({ action: "order", text: $("text").value }));
$("send-unsupported").addEventListener("click", () => send({ action: "unsupported" }));
$("change-number").addEventListener("click", async () => {
  const newWaId = $("text").value.replace(/\D/g, "");
  if (await send({ action: "change_number", text: newWaId })) {
    $("text").value = "";
    $("contact").prepend(contactOption(newWaId, state.name)); $("contact").value = newWaId;
    choose(newWaId, state.name); // the same person, on the new number from now on
  }
});
$("hide-number").addEventListener("change", (e) => { $("username").hidden = !e.target.checked; });

function contactOption(waId, name) {
  const o = document.createElement("option");
  o.value = waId; o.textContent = `${name} (+${waId})`; o.dataset.name = name;
  return o;
}

async function loadContacts(select) {
  const choices = state.choices;
  const r = await fetch(`api/contacts?phone_number_id=${encodeURIComponent(state.account)}`);
  const data = await r.json();
  const el = $("contact");
  el.innerHTML = "";
  for (const c of data.results || []) { el.append(contactOption(c.wa_id, c.name)); }
  if (state.choices !== choices) {
    // A customer was chosen while the list loaded ("Use" on a new wa_id): keep it, do not switch
    // to the list's first customer under the user's hands.
    if (![...el.options].some((o) => o.value === state.waId)) { el.prepend(contactOption(state.waId, state.name)); }
    el.value = state.waId;
    return;
  }
  if (select) { el.value = select; }
  if (el.value) { choose(el.value, el.selectedOptions[0].dataset.name); }
}

async function choose(waId, name) {
  state.choices += 1;
  state.waId = waId; state.name = name || waId;
  $("who").textContent = `${state.name} (+${waId})`;
  $("thread").innerHTML = "";
  await reloadThread();
  connect();
}

async function reloadThread() {
  const r = await fetch(`api/messages?phone_number_id=${encodeURIComponent(state.account)}&wa_id=${encodeURIComponent(state.waId)}`);
  (await r.json()).results.forEach(render); // render() replaces a bubble already shown
}

function connect() {
  if (state.socket) { state.socket.close(); state.socket = null; }
  if (!state.account || !state.waId) { return; }
  const query = `phone_number_id=${encodeURIComponent(state.account)}&wa_id=${encodeURIComponent(state.waId)}`;
  const socket = new ReconnectingSocket({ url: `/ws/simulator/phone/?${query}`, backoff: { base: 500, max: 10000 } });
  state.socket = socket;
  let opened = false;
  socket.onState((s) => {
    if (state.socket !== socket) { return; }
    $("conn").classList.toggle("live", s === ConnectionState.OPEN);
    $("conn").dataset.state = s;
    // Back after a drop: this socket has no replay, so reload the thread to catch up.
    if (s === ConnectionState.OPEN && opened) { reloadThread(); }
    if (s === ConnectionState.OPEN) { opened = true; }
  });
  socket.on("message.new", (m) => {
    if (m.direction === "to_customer") { $("typing").hidden = true; }
    render(m);
  });
  socket.on("message.status", (s) => {
    for (const id of s.wamids || []) {
      const t = document.querySelector(`[data-wamid="${CSS.escape(id)}"] .ticks`);
      if (t && s.status === "read") { t.classList.add("read"); }
    }
  });
  socket.on("typing", (t) => {
    $("typing").hidden = false;
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(() => { $("typing").hidden = true; }, ((t && t.seconds) || 25) * 1000);
  });
  window.pytakePhone = { socket }; // for tests and debugging
  socket.connect();
}

$("account").addEventListener("change", (e) => { state.account = e.target.value; loadContacts(); loadTemplates(); });

// The operator's control over the number's templates: a new status is Meta's review speaking.
const TEMPLATE_STATUSES = ["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"];

async function loadTemplates() {
  const list = $("templates");
  list.replaceChildren();
  if (!state.account) return;
  const r = await fetch(`api/templates?phone_number_id=${encodeURIComponent(state.account)}`);
  if (!r.ok) return;
  for (const tpl of (await r.json()).results) {
    const li = document.createElement("li");
    const label = document.createElement("label");
    label.htmlFor = `tpl-status-${tpl.id}`;
    label.textContent = `${tpl.name} (${tpl.language}) `;
    const select = document.createElement("select");
    select.id = `tpl-status-${tpl.id}`;
    for (const status of TEMPLATE_STATUSES) select.append(new Option(status, status, false, status === tpl.status));
    select.addEventListener("change", async () => {
      const form = new FormData();
      form.append("phone_number_id", state.account);
      form.append("template_id", tpl.id);
      form.append("status", select.value);
      const answer = await fetch("api/templates/status", { method: "POST", body: form, headers: { "X-CSRFToken": csrf() } });
      say(answer.ok ? `${tpl.name} (${tpl.language}) is now ${select.value}.` : "The status could not be changed.");
    });
    label.append(select);
    li.append(label);
    list.append(li);
  }
}
$("contact").addEventListener("change", (e) => choose(e.target.value, e.target.selectedOptions[0].dataset.name));
$("use-new").addEventListener("click", () => {
  const waId = $("new-wa-id").value.replace(/\D/g, "");
  if (waId.length < 6) { say("A wa_id is a phone number with country code, digits only."); return; }
  say("");
  const name = $("new-name").value.trim() || waId;
  $("contact").prepend(contactOption(waId, name)); $("contact").value = waId;
  choose(waId, name);
});
$("file").addEventListener("change", () => {
  const f = $("file").files[0];
  $("file-name").hidden = !f;
  $("file-name").textContent = f ? `Attached: ${f.name} (the text becomes its caption)` : "";
  $("voice-row").hidden = !(f && f.type.startsWith("audio/"));
});
async function send(fields) {
  if (!state.waId) { say("Choose or create a customer first."); return false; }
  const form = new FormData();
  form.append("phone_number_id", state.account);
  form.append("wa_id", state.waId);
  form.append("name", state.name);
  if ($("hide-number").checked) { form.append("username", $("username").value.trim() || state.name); }
  for (const [k, v] of Object.entries(fields)) { form.append(k, v); }
  const r = await fetch("api/send", { method: "POST", body: form, headers: { "X-CSRFToken": csrf() } });
  const data = await r.json();
  if (!r.ok) { say(data.message || "Could not send."); return false; }
  say("");
  render(data);
  return true;
}
$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const fields = { text: $("text").value };
  if (state.acting) { Object.assign(fields, state.acting); }
  if ($("file").files[0]) {
    fields.file = $("file").files[0];
    if ($("voice").checked) { fields.voice = "1"; }
  }
  if (await send(fields)) {
    stopActing();
    $("text").value = ""; $("file").value = ""; $("file-name").hidden = true;
    $("voice").checked = false; $("voice-row").hidden = true;
  }
});

const accounts = JSON.parse($("accounts").textContent);
if (accounts.length) { state.account = accounts[0].phone_number_id; loadContacts(); loadTemplates(); }
