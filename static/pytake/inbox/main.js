// The agent inbox, loaded by templates/inbox/index.html: sign-in and sign-out, the header (who
// is signed in, availability, the connection, the language), and the start of the live
// connection. Each part of the screen is its own module and owns its state (state.js holds what
// they share); dispatch.js routes live events to them.

import { bindLanguageSelect, hasText, onLang, t, translate } from "../i18n.js";
import { ConnectionState, RealtimeClient } from "../realtime.js";
import { loadAccountAlerts, relabelAccountAlerts, resetAccountAlerts } from "./alerts.js";
import { subscribe } from "./dispatch.js";
import { $ } from "./dom.js";
import { loadList, renderList, renderTabs, resetList } from "./list.js";
import { renderNotifyToggle } from "./notify.js";
import "./sections.js"; // the sidebar sections fold
import { closeConversation, refreshOpenConversation, relabelPane } from "./pane.js";
import { loadQueue, renderQueue } from "./queue.js";
import { loadAgents, renderAgents, showMyselfConnected } from "./team.js";
import { loadToolbox, relabelToolbox } from "./toolbox.js";
import { config, me, rt, session, setMe, setRealtime, snapshot } from "./state.js";

const unsubscribers = [];

// --- sign-in, sign-out -----------------------------------------------------------------------

function show(view) {
  $("boot").hidden = true;
  $("login").hidden = view !== "login";
  $("app").hidden = view !== "app";
}

function showLogin(messageKey) {
  stopApp();
  show("login");
  $("login-error").textContent = messageKey ? t(messageKey) : "";
  $("login-email").focus();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = $("login-email").value.trim();
  const password = $("login-password").value;
  const button = event.submitter || $("login-form").querySelector("button[type=submit]");
  button.disabled = true;
  $("login-error").textContent = "";
  try {
    await session.login(email, password);
    $("login-password").value = "";
    await startApp();
  } catch (error) {
    const key =
      error.status === 429 ? "login.throttled" : error.code === "network" ? "login.network" : "login.failed";
    $("login-error").textContent = t(key);
  } finally {
    button.disabled = false;
  }
});

$("logout").addEventListener("click", () => {
  session.signOut();
});

session.onChange((kind) => {
  if (kind === "logout") showLogin();
});

async function startApp() {
  let user;
  try {
    user = await session.get("me/");
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      session.logout();
      showLogin("login.expired");
      return;
    }
    throw error;
  }
  setMe(user);
  resetList();
  show("app");
  renderMe();
  renderTabs();
  const client = new RealtimeClient({
    url: config.ws || "/ws/",
    getToken: () => session.token(),
    // Refused token: if it is the one we still hold, rotate; if a proactive refresh already
    // replaced it, the new one is good.
    refreshToken: (used) => (used === session.access ? session.refreshNow() : session.token()),
    onSync: () => refetchAll(),
  });
  setRealtime(client);
  // Tests and the browser console reach the live objects here.
  window.pytake = { rt: client, session, state: snapshot };
  unsubscribers.push(
    client.onState(renderConnection),
    ...subscribe(client),
    client.on("auth_error", () => {
      session.logout();
      showLogin("login.expired");
    }),
  );
  await Promise.all([loadAgents(), loadList(), loadQueue(), loadToolbox().catch(() => {}), loadAccountAlerts().catch(() => {})]);
  client.connect();
}

function stopApp() {
  while (unsubscribers.length) unsubscribers.pop()();
  closeConversation();
  if (rt()) rt().close();
  setRealtime(null);
  resetList();
  resetAccountAlerts();
}

/** After a (re)connect with nothing to resume from, or a `resync`: reload what is on screen. */
async function refetchAll() {
  await Promise.all([loadList(), refreshOpenConversation(), loadAgents(), loadQueue(), loadToolbox(), loadAccountAlerts()]);
}

// --- header ----------------------------------------------------------------------------------

function renderMe() {
  const user = me();
  $("me-name").textContent = user.name || user.email;
  $("me-role").textContent = hasText(`role.${user.role}`) ? t(`role.${user.role}`) : user.role;
  $("tenant-name").textContent = user.tenant ? user.tenant.name : "";
  $("availability").value = user.availability || "available";
}

$("availability").addEventListener("change", async (event) => {
  // The server announces the change to the team as a `presence` event (ours included).
  try {
    setMe(await session.patch("me/", { availability: event.target.value }));
  } catch {
    event.target.value = me().availability;
  }
});

function renderConnection(connState) {
  const el = $("conn");
  el.dataset.state = connState;
  $("conn-text").textContent = t(`conn.${connState}`);
  if (connState === ConnectionState.OPEN && me()) showMyselfConnected();
}

bindLanguageSelect($("login-lang"));
bindLanguageSelect($("app-lang"));
onLang(() => {
  translate(); // first: the modules below then set the texts that depend on their state
  renderNotifyToggle();
  if (rt()) renderConnection(rt().state);
  if (me()) {
    renderMe();
    renderTabs();
    renderList();
    renderAgents();
    renderQueue();
    relabelPane();
    relabelToolbox();
    relabelAccountAlerts();
  }
});

// --- boot ------------------------------------------------------------------------------------

translate();
renderNotifyToggle();
if (session.loggedIn) {
  startApp().catch(() => showLogin("login.network"));
} else {
  showLogin();
}
