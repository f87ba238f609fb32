// Staff session and REST calls: login, token refresh (rotating), JSON errors.
//
// Where the tokens live: sessionStorage, per tab. It survives a reload of the tab but not closing
// it, and it is not shared between tabs. That last point matters with rotation + blacklisting: a
// refresh token shared through localStorage would be rotated by one tab while another tab is about
// to use it, and that tab would be logged out. Script on the page can still read sessionStorage
// (as it could read memory); an HttpOnly refresh cookie would need a server-side endpoint.

import { jwtClaims, jwtSecondsLeft } from "./realtime.js";

const ACCESS_KEY = "pytake.access";
const REFRESH_KEY = "pytake.refresh";
const REFRESH_MARGIN_SECONDS = 60; // refresh when the access token has less than this left

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = (body && body.code) || (status === 0 ? "network" : "error");
    this.extra = (body && body.extra) || {};
  }
}

export class Session {
  constructor({ base = "/api/", storage = globalThis.sessionStorage } = {}) {
    this.base = base;
    this.storage = storage;
    this.access = storage?.getItem(ACCESS_KEY) || null;
    this.refresh = storage?.getItem(REFRESH_KEY) || null;
    this.refreshing = null;
    this.refreshTimer = null;
    this.listeners = new Set();
    this._schedule();
  }

  get loggedIn() {
    return !!this.refresh || (!!this.access && (jwtSecondsLeft(this.access) ?? 0) > 0);
  }

  get claims() {
    return this.access ? jwtClaims(this.access) : {};
  }

  /** `fn("login" | "logout" | "refresh")` */
  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async login(email, password) {
    const body = await this._fetch("auth/token/", { method: "POST", body: { email, password }, auth: false });
    this._store(body.access, body.refresh);
    this._notify("login");
    return body;
  }

  logout() {
    this._store(null, null);
    this._notify("logout");
  }

  /** Log out on the server too: the refresh token is blacklisted, so a copy of it is worthless.
   * Local logout happens whatever the server says (offline, token already expired). */
  async signOut() {
    const refresh = this.refresh;
    this.logout();
    if (!refresh) return;
    try {
      await this._fetch("auth/logout/", { method: "POST", body: { refresh }, auth: false });
    } catch {
      // nothing more to do: the token expires on its own
    }
  }

  /** A valid access token, refreshed first if it is about to expire. */
  async token() {
    const left = this.access ? jwtSecondsLeft(this.access) : null;
    if (this.access && left !== null && left > REFRESH_MARGIN_SECONDS) return this.access;
    if (!this.refresh) return this.access && left > 0 ? this.access : null;
    return this.refreshNow();
  }

  /** Exchange the refresh token (single flight: concurrent callers share one request). Resolves
   * with the new access token, or null when the session is over (the user must log in). */
  refreshNow() {
    if (!this.refresh) return Promise.resolve(null);
    if (!this.refreshing) {
      this.refreshing = this._fetch("auth/token/refresh/", {
        method: "POST",
        body: { refresh: this.refresh },
        auth: false,
      })
        .then(
          (body) => {
            // Rotation is on: the answer carries a new refresh token and the old one is blacklisted.
            this._store(body.access, body.refresh || this.refresh);
            this._notify("refresh");
            return this.access;
          },
          (error) => {
            if (error.status === 401 || error.status === 400) {
              this.logout();
              return null;
            }
            throw error; // network trouble: keep the session, the caller retries
          },
        )
        .finally(() => {
          this.refreshing = null;
        });
    }
    return this.refreshing;
  }

  get(path, query) {
    return this.request(path, { query });
  }

  post(path, body) {
    return this.request(path, { method: "POST", body: body ?? {} });
  }

  patch(path, body) {
    return this.request(path, { method: "PATCH", body });
  }

  /** An authenticated JSON request; one refresh-and-retry on 401. */
  async request(path, { method = "GET", body, query } = {}) {
    try {
      return await this._fetch(path, { method, body, query, token: await this.token() });
    } catch (error) {
      if (error.status !== 401 || !this.refresh) throw error;
      const token = await this.refreshNow();
      if (!token) throw error;
      return this._fetch(path, { method, body, query, token });
    }
  }

  async _fetch(path, { method = "GET", body, query, token, auth = true } = {}) {
    let url = path.startsWith("/") || path.startsWith("http") ? path : this.base + path;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
      }
      const qs = params.toString();
      if (qs) url += (url.includes("?") ? "&" : "?") + qs;
    }
    const headers = { Accept: "application/json" };
    const form = body instanceof FormData; // a file upload: the browser writes its multipart header
    if (body !== undefined && !form) headers["Content-Type"] = "application/json";
    if (auth && token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : form ? body : JSON.stringify(body),
        credentials: "omit", // JWT only: no session cookie, so no CSRF exposure
      });
    } catch {
      throw new ApiError(0, { code: "network", message: "The server could not be reached." });
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { code: "bad_response", message: text.slice(0, 200) };
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  _store(access, refresh) {
    this.access = access;
    this.refresh = refresh;
    if (this.storage) {
      for (const [key, value] of [
        [ACCESS_KEY, access],
        [REFRESH_KEY, refresh],
      ]) {
        if (value) this.storage.setItem(key, value);
        else this.storage.removeItem(key);
      }
    }
    this._schedule();
  }

  _schedule() {
    // Refresh ahead of expiry so the socket's reconnect after its 4001 close is instant and REST
    // calls never start with a dead token.
    clearTimeout(this.refreshTimer);
    if (!this.access || !this.refresh) return;
    const left = jwtSecondsLeft(this.access);
    if (left === null) return;
    const inMs = Math.max(1000, (left - REFRESH_MARGIN_SECONDS) * 1000);
    this.refreshTimer = setTimeout(() => this.refreshNow().catch(() => {}), Math.min(inMs, 2 ** 31 - 1));
  }

  _notify(kind) {
    for (const fn of this.listeners) fn(kind);
  }
}
