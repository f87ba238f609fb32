// A small dictionary: English and Brazilian Portuguese. The language comes from the user's choice
// (kept in localStorage: a preference, not a secret) or navigator.language.

const STRINGS = {
  en: {
    "lang.label": "Language",
    "login.title": "Sign in to your inbox",
    "login.email": "Email",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.failed": "Wrong email or password.",
    "login.throttled": "Too many attempts. Wait a minute and try again.",
    "login.network": "The server could not be reached.",
    "login.expired": "Your session ended. Please sign in again.",
    "app.logout": "Log out",
    "availability.label": "Availability",
    "availability.available": "Available",
    "availability.away": "Away",
    "conn.connecting": "Connecting…",
    "conn.open": "Live",
    "conn.reconnecting": "Reconnecting…",
    "conn.offline": "Offline",
    "notify.on": "Notifications on",
    "notify.off": "Notifications off",
    "notify.denied": "Notifications blocked by the browser",
    "notify.title": "New message from {name}",
    "list.heading": "Conversations",
    "list.empty": "No conversations here.",
    "list.more": "Load more",
    "list.unread": "{count} unread",
    "scope.mine": "Mine",
    "scope.queue": "Unassigned",
    "scope.all": "All",
    "filter.status": "Status",
    "filter.search": "Search",
    "filter.search_placeholder": "Name or phone",
    "status.open": "Open",
    "status.pending": "Pending",
    "status.resolved": "Resolved",
    "status.any": "Any status",
    "state.open": "Open",
    "state.pending": "Pending",
    "state.resolved": "Resolved",
    "agents.heading": "Team",
    "agents.load": "{n} open",
    "agents.load_title": "Open conversations assigned",
    "presence.online": "online",
    "presence.away": "away",
    "presence.offline": "offline",
    "pane.empty": "Select a conversation to start.",
    "pane.back": "Back to the list",
    "pane.messages": "Messages",
    "pane.loading": "Loading messages…",
    "pane.start": "Start of the conversation",
    "pane.revoked": "This conversation was assigned to someone else.",
    "meta.unassigned": "Unassigned",
    "meta.with_bot": "With the bot",
    "meta.waiting": "Waiting for an agent",
    "meta.assigned": "Assigned to {name}",
    "meta.you": "you",
    "channel.whatsapp": "WhatsApp",
    "channel.webchat": "Web chat",
    "actions.label": "Conversation actions",
    "actions.take": "Take",
    "actions.take_over": "Take over",
    "actions.assign": "Assign to",
    "actions.assign_placeholder": "Assign to…",
    "actions.nobody": "Nobody (queue)",
    "actions.release": "Return to queue",
    "actions.resolve": "Resolve",
    "actions.reopen": "Reopen",
    "assign.confirm": "Assign {contact} to {name}?",
    "assign.confirm_transfer": "Transfer {contact} from {from} to {name}?",
    "assign.confirm_queue": "Take {contact} from {from} and put it back to wait for an agent?",
    "assign.yes": "Confirm",
    "assign.no": "Cancel",
    "queue.heading": "Waiting for an agent",
    "queue.empty": "Nobody is waiting.",
    "queue.position": "#{position}",
    "queue.waiting": "waiting {time}",
    "composer.note": "Internal note",
    "composer.note_placeholder": "Internal note: only the team sees it",
    "note.label": "Internal note",
    "broadcast.from": "{name}: {text}",
    "broadcast.dismiss": "Dismiss",
    "broadcast.label": "Announce to the team",
    "broadcast.placeholder": "A message every agent sees",
    "broadcast.send": "Announce",
    "broadcast.sent": "Sent to the team.",
    "broadcast.empty": "Write the announcement first.",
    "broadcast.failed": "Could not send the announcement.",
    "duration.seconds": "{n} s",
    "duration.minutes": "{n} min",
    "duration.hours": "{h} h {m} min",
    "composer.label": "Message",
    "composer.placeholder": "Type a message",
    "composer.send": "Send",
    "composer.retry": "Retry",
    "typing.customer": "{name} is typing…",
    "typing.staff": "{name} is typing…",
    "tick.pending": "Sending",
    "tick.sent": "Sent",
    "tick.delivered": "Delivered",
    "tick.read": "Read",
    "tick.failed": "Not delivered",
    "error.window": "Not delivered: more than 24 hours since the customer's last message. Only an approved template can reopen the conversation.",
    "error.generic": "Not delivered: {reason}",
    "error.network": "Not sent: no connection. It will not be sent twice if you retry.",
    "window.closed": "The 24-hour window closed {when}: a free-form reply will not be delivered.",
    "window.open_until": "Reply window open until {when}.",
    "sender.bot": "Bot",
    "sender.system": "System",
    "webchat.welcome": "Hello! How can we help?",
    "webchat.intro": "Tell us your name to start the chat.",
    "webchat.name": "Your name",
    "webchat.start": "Start",
    "webchat.message": "Message",
    "webchat.send": "Send",
    "webchat.typing": "typing…",
    "webchat.quick": "Quick replies",
    "webchat.queue": "You are #{position} in line (about {minutes} min)",
    "webchat.online": "online",
    "webchat.reconnecting": "reconnecting…",
    "webchat.offline": "offline",
    "webchat.visitor": "Visitor",
    "webchat.attach": "Attach a photo or document",
    "composer.attach": "Attach a file",
    // History lines, from content.system = {event, …} (system.js; the server's flow/system_lines.py
    // holds the same templates). ".by": someone, not the system, did it.
    "system.taken": "{to_name} took the conversation",
    "system.assigned": "Assigned to {to_name} automatically",
    "system.assigned.by": "Assigned to {to_name} by {by_name}",
    "system.transferred": "Transferred from {from_name} to {to_name}",
    "system.transferred.by": "Transferred from {from_name} to {to_name} by {by_name}",
    "system.returned": "{from_name} returned the conversation to the queue",
    "system.requeued": "Returned to the queue",
    "system.requeued.by": "Returned to the queue by {by_name}",
    "system.resolved": "Conversation resolved",
    "system.resolved.by": "Conversation resolved by {by_name}",
    "system.reason": "{text} ({reason})",
    "system.end": "{text}.",
    "system.reason.agent absent": "agent absent",
    "system.reason.inactivity": "inactivity",
    // A message without text, by its kind: the list preview "[image]" and a bubble with no text.
    "preview.image": "📷 Photo",
    "preview.audio": "🎤 Audio",
    "preview.video": "🎥 Video",
    "preview.document": "📄 Document",
    "preview.sticker": "💟 Sticker",
    "preview.location": "📍 Location",
    "preview.contacts": "👤 Contact",
    "preview.interactive": "🔘 Reply",
    "preview.reaction": "👍 Reaction",
    "preview.template": "📝 Template",
    "preview.unsupported": "⚠️ Unsupported message",
    "media.image": "Photo",
    "media.sticker": "Sticker",
    "media.video": "Video",
    "media.audio": "Audio",
    "media.voice": "Voice note",
    "media.document": "Document",
    "media.pending": "downloading…",
    "media.failed": "could not be downloaded: {reason}",
    "media.retry": "Try again",
    "media.unavailable": "File unavailable",
    "media.attach": "Attach a photo or document",
  },
  pt: {
    "lang.label": "Idioma",
    "login.title": "Entre na sua caixa de atendimento",
    "login.email": "E-mail",
    "login.password": "Senha",
    "login.submit": "Entrar",
    "login.failed": "E-mail ou senha incorretos.",
    "login.throttled": "Muitas tentativas. Aguarde um minuto e tente de novo.",
    "login.network": "Não foi possível contatar o servidor.",
    "login.expired": "Sua sessão terminou. Entre novamente.",
    "app.logout": "Sair",
    "availability.label": "Disponibilidade",
    "availability.available": "Disponível",
    "availability.away": "Ausente",
    "conn.connecting": "Conectando…",
    "conn.open": "Ao vivo",
    "conn.reconnecting": "Reconectando…",
    "conn.offline": "Sem conexão",
    "notify.on": "Notificações ativas",
    "notify.off": "Notificações desativadas",
    "notify.denied": "Notificações bloqueadas pelo navegador",
    "notify.title": "Nova mensagem de {name}",
    "list.heading": "Conversas",
    "list.empty": "Nenhuma conversa aqui.",
    "list.more": "Carregar mais",
    "list.unread": "{count} não lidas",
    "scope.mine": "Minhas",
    "scope.queue": "Sem atendente",
    "scope.all": "Todas",
    "filter.status": "Situação",
    "filter.search": "Buscar",
    "filter.search_placeholder": "Nome ou telefone",
    "status.open": "Abertas",
    "status.pending": "Pendentes",
    "status.resolved": "Resolvidas",
    "status.any": "Todas",
    "state.open": "Aberta",
    "state.pending": "Pendente",
    "state.resolved": "Resolvida",
    "agents.heading": "Equipe",
    "agents.load": "{n} em aberto",
    "agents.load_title": "Conversas abertas atribuídas",
    "presence.online": "online",
    "presence.away": "ausente",
    "presence.offline": "offline",
    "pane.empty": "Selecione uma conversa para começar.",
    "pane.back": "Voltar para a lista",
    "pane.messages": "Mensagens",
    "pane.loading": "Carregando mensagens…",
    "pane.start": "Início da conversa",
    "pane.revoked": "Esta conversa foi atribuída a outra pessoa.",
    "meta.unassigned": "Sem responsável",
    "meta.with_bot": "Com o bot",
    "meta.waiting": "Aguardando atendente",
    "meta.assigned": "Com {name}",
    "meta.you": "você",
    "channel.whatsapp": "WhatsApp",
    "channel.webchat": "Chat do site",
    "actions.label": "Ações da conversa",
    "actions.take": "Assumir",
    "actions.take_over": "Transferir para mim",
    "actions.assign": "Atribuir a",
    "actions.assign_placeholder": "Atribuir a…",
    "actions.nobody": "Ninguém (fila)",
    "actions.release": "Devolver à fila",
    "actions.resolve": "Resolver",
    "actions.reopen": "Reabrir",
    "assign.confirm": "Atribuir {contact} a {name}?",
    "assign.confirm_transfer": "Transferir {contact} de {from} para {name}?",
    "assign.confirm_queue": "Tirar {contact} de {from} e devolver para aguardar atendente?",
    "assign.yes": "Confirmar",
    "assign.no": "Cancelar",
    "queue.heading": "Aguardando atendente",
    "queue.empty": "Ninguém aguardando.",
    "queue.position": "#{position}",
    "queue.waiting": "aguardando há {time}",
    "composer.note": "Nota interna",
    "composer.note_placeholder": "Nota interna: só a equipe vê",
    "note.label": "Nota interna",
    "broadcast.from": "{name}: {text}",
    "broadcast.dismiss": "Fechar",
    "broadcast.label": "Aviso para a equipe",
    "broadcast.placeholder": "Uma mensagem que todos os agentes veem",
    "broadcast.send": "Avisar",
    "broadcast.sent": "Enviado para a equipe.",
    "broadcast.empty": "Escreva o aviso primeiro.",
    "broadcast.failed": "Não foi possível enviar o aviso.",
    "duration.seconds": "{n} s",
    "duration.minutes": "{n} min",
    "duration.hours": "{h} h {m} min",
    "composer.label": "Mensagem",
    "composer.placeholder": "Digite uma mensagem",
    "composer.send": "Enviar",
    "composer.retry": "Tentar de novo",
    "typing.customer": "{name} está digitando…",
    "typing.staff": "{name} está digitando…",
    "tick.pending": "Enviando",
    "tick.sent": "Enviada",
    "tick.delivered": "Entregue",
    "tick.read": "Lida",
    "tick.failed": "Não entregue",
    "error.window": "Não entregue: mais de 24 horas desde a última mensagem do cliente. Só um modelo aprovado pode reabrir a conversa.",
    "error.generic": "Não entregue: {reason}",
    "error.network": "Não enviada: sem conexão. Tentar de novo não duplica a mensagem.",
    "window.closed": "A janela de 24 horas fechou {when}: uma resposta livre não será entregue.",
    "window.open_until": "Janela de resposta aberta até {when}.",
    "sender.bot": "Bot",
    "sender.system": "Sistema",
    "webchat.welcome": "Olá! Como podemos ajudar?",
    "webchat.intro": "Diga seu nome para começar a conversa.",
    "webchat.name": "Seu nome",
    "webchat.start": "Começar",
    "webchat.message": "Mensagem",
    "webchat.send": "Enviar",
    "webchat.typing": "digitando…",
    "webchat.quick": "Respostas rápidas",
    "webchat.queue": "Você é o nº {position} na fila (≈ {minutes} min)",
    "webchat.online": "online",
    "webchat.reconnecting": "reconectando…",
    "webchat.offline": "sem conexão",
    "webchat.visitor": "Visitante",
    "webchat.attach": "Anexar foto ou documento",
    "composer.attach": "Anexar arquivo",
    "system.taken": "{to_name} assumiu a conversa",
    "system.assigned": "Atribuída a {to_name} automaticamente",
    "system.assigned.by": "Atribuída a {to_name} por {by_name}",
    "system.transferred": "Transferida de {from_name} para {to_name}",
    "system.transferred.by": "Transferida de {from_name} para {to_name} por {by_name}",
    "system.returned": "{from_name} devolveu a conversa à fila",
    "system.requeued": "Devolvida à fila",
    "system.requeued.by": "Devolvida à fila por {by_name}",
    "system.resolved": "Conversa resolvida",
    "system.resolved.by": "Conversa resolvida por {by_name}",
    "system.reason": "{text} ({reason})",
    "system.end": "{text}.",
    "system.reason.agent absent": "agente ausente",
    "system.reason.inactivity": "inatividade",
    "preview.image": "📷 Foto",
    "preview.audio": "🎤 Áudio",
    "preview.video": "🎥 Vídeo",
    "preview.document": "📄 Documento",
    "preview.sticker": "💟 Figurinha",
    "preview.location": "📍 Localização",
    "preview.contacts": "👤 Contato",
    "preview.interactive": "🔘 Resposta",
    "preview.reaction": "👍 Reação",
    "preview.template": "📝 Modelo",
    "preview.unsupported": "⚠️ Mensagem não suportada",
    "media.image": "Foto",
    "media.sticker": "Figurinha",
    "media.video": "Vídeo",
    "media.audio": "Áudio",
    "media.voice": "Mensagem de voz",
    "media.document": "Documento",
    "media.pending": "baixando…",
    "media.failed": "não foi possível baixar: {reason}",
    "media.retry": "Tentar de novo",
    "media.unavailable": "Arquivo indisponível",
    "media.attach": "Anexar uma foto ou documento",
  },
};

export const LANGUAGES = [
  ["en", "English"],
  ["pt", "Português"],
];
const STORAGE_KEY = "pytake.lang";
let current = detect();
const listeners = new Set();

function detect() {
  const saved = globalThis.localStorage?.getItem(STORAGE_KEY);
  if (saved && STRINGS[saved]) return saved;
  const nav = (globalThis.navigator?.language || "en").toLowerCase();
  return nav.startsWith("pt") ? "pt" : "en";
}

export function lang() {
  return current;
}

/** The BCP 47 tag for dates and numbers. */
export function locale() {
  return current === "pt" ? "pt-BR" : "en";
}

export function setLang(code) {
  if (!STRINGS[code] || code === current) return;
  current = code;
  globalThis.localStorage?.setItem(STORAGE_KEY, code);
  for (const fn of listeners) fn(code);
}

export function onLang(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function t(key, vars = {}) {
  return tIn(current, key, vars);
}

/** `t` in a given language (`code`), whatever the page's: a text rendered for someone else. */
export function tIn(code, key, vars = {}) {
  const text = (STRINGS[code] || STRINGS.en)[key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** Whether the dictionary has `key` (in English, which has every key). */
export function hasText(key) {
  return key in STRINGS.en;
}

/** Apply the dictionary to `data-i18n`, `data-i18n-placeholder`, `data-i18n-aria-label` and
 * `data-i18n-title` in `root`. */
export function translate(root = document) {
  document.documentElement.lang = locale();
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

/** Fill a <select> with the languages and keep it in sync. */
export function bindLanguageSelect(select) {
  select.replaceChildren(...LANGUAGES.map(([code, name]) => new Option(name, code, false, code === current)));
  select.addEventListener("change", () => setLang(select.value));
  onLang((code) => {
    select.value = code;
  });
}
