// SPDX-License-Identifier: LGPL-2.1-or-later
// keybridge.js — the JavaScript client of the keybridge web API (version 1).
//
// An ES module with no dependencies. keybridge.classic.js is the same code
// for pages without modules (window.keybridge); it is generated from this
// file by build-classic.mjs. The API is described in docs/api.md and, for
// portal developers, in docs/integration.md.
//
//   import { connect } from './keybridge.js';
//   const kb = await connect();                  // finds the daemon
//   const tokens = await kb.listTokens();
//   kb.on('token.removed', ({ id }) => ...);
//
// Every method returns a Promise and rejects with a KeybridgeError whose
// `code` is one of the API's stable codes (PIN_INCORRECT, TOKEN_BUSY, ...)
// or one of the client's own (NOT_RUNNING, PERMISSION_DENIED, ...).
//
// The code avoids syntax newer than ES2018 (no ?. or ??, no class fields)
// so that the classic build runs in the older browsers portals still meet.

export const VERSION = '0.1.0';
export const DEFAULT_PORT = 27182;

// ---- errors ----------------------------------------------------------------

// Codes the client itself raises; the daemon's codes are in docs/api.md.
export const ClientErrorCodes = Object.freeze({
  NOT_RUNNING: 'NOT_RUNNING',             // no daemon answered: not installed, not running (or TLS not trusted)
  PERMISSION_DENIED: 'PERMISSION_DENIED', // the browser's Local Network Access permission was refused
  CONNECTION_LOST: 'CONNECTION_LOST',     // the connection broke during a call; the call's outcome is unknown
  TIMEOUT: 'TIMEOUT',                     // no answer within the call's timeout
  BAD_RESPONSE: 'BAD_RESPONSE',           // an answer that is not the API's JSON
  NOT_CONNECTED: 'NOT_CONNECTED',         // a call before connect() or after close()
});

const RETRYABLE = ['TOKEN_BUSY', 'RATE_LIMITED', 'CONNECTION_LOST', 'TIMEOUT'];

export class KeybridgeError extends Error {
  constructor(code, message, options) {
    const o = options || {};
    super(message || code);
    this.name = 'KeybridgeError';
    this.code = code;
    this.status = o.status || 0;       // the HTTP status, 0 when there was none
    this.details = o.details || {};    // field, retriesLeft, pinStatus, minLength, ...
    if (o.cause !== undefined) this.cause = o.cause;
  }

  // True when the same call may succeed if tried again later.
  get retryable() {
    return RETRYABLE.indexOf(this.code) >= 0;
  }
}

// The error of a REST answer: the API's {"error": {...}} body, or BAD_RESPONSE.
export function errorFromResponse(status, body) {
  const e = body && typeof body === 'object' ? body.error : null;
  if (!e || typeof e.code !== 'string') {
    return new KeybridgeError('BAD_RESPONSE', `unexpected answer (HTTP ${status})`, { status: status });
  }
  return new KeybridgeError(e.code, e.message, { status: status, details: detailsOf(e) });
}

// JSON-RPC error codes to API codes, for errors without data.code.
const RPC_CODES = { '-32700': 'BAD_REQUEST', '-32600': 'BAD_REQUEST', '-32601': 'NOT_FOUND',
  '-32602': 'BAD_REQUEST', '-32603': 'INTERNAL' };

// The error of a JSON-RPC answer: data.code when the daemon sent it.
export function errorFromRpc(error) {
  const e = error && typeof error === 'object' ? error : {};
  const data = e.data && typeof e.data === 'object' ? e.data : {};
  const code = typeof data.code === 'string' ? data.code : (RPC_CODES[String(e.code)] || 'INTERNAL');
  return new KeybridgeError(code, data.message || e.message, { details: detailsOf(data) });
}

function detailsOf(e) {
  const details = {};
  Object.keys(e).forEach((k) => {
    if (k !== 'code' && k !== 'message') details[k] = e[k];
  });
  return details;
}

// A fetch that rejected (TypeError) or was aborted, as a KeybridgeError.
function networkError(err, code) {
  if (err instanceof KeybridgeError) return err;
  if (err && err.name === 'AbortError') return new KeybridgeError('TIMEOUT', 'keybridge did not answer in time', { cause: err });
  return new KeybridgeError(code || 'CONNECTION_LOST', 'the connection to keybridge failed', { cause: err });
}

// ---- base64 helpers (for sign data, seals and challenges) -----------------

export function bytesToBase64(bytes) {
  let bin = '';
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  for (let i = 0; i < u8.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

export function base64ToBytes(b64) {
  const bin = atob(b64);
  const u8 = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
  return u8;
}

export function textToBase64(text) {
  return bytesToBase64(new TextEncoder().encode(text));
}

// ---- the method table (docs/api.md "Method table") -------------------------

// JSON-RPC name → REST route. {name} path parameters come from the params.
const METHODS = {
  'info': ['GET', '/v1/info'],
  'tokens.list': ['GET', '/v1/tokens'],
  'token.get': ['GET', '/v1/tokens/{token}'],
  'certificate.get': ['GET', '/v1/tokens/{token}/certificates/{certificate}'],
  'sign': ['POST', '/v1/tokens/{token}/sign'],
  'decrypt': ['POST', '/v1/tokens/{token}/decrypt'],
  'encrypt': ['POST', '/v1/encrypt'],
  'authenticate': ['POST', '/v1/tokens/{token}/authenticate'],
  'pin.change': ['POST', '/v1/tokens/{token}/pin/change'],
  'pin.unblock': ['POST', '/v1/tokens/{token}/pin/unblock'],
  'seal.get': ['GET', '/v1/tokens/{token}/seal'],
  'seal.put': ['POST', '/v1/tokens/{token}/seal'],
  'renewal.request': ['POST', '/v1/tokens/{token}/renewal/request'],
  'renewal.install': ['POST', '/v1/tokens/{token}/renewal/install'],
  'renewal.cancel': ['POST', '/v1/tokens/{token}/renewal/{requestId}/cancel'],
  'enrollment.request': ['POST', '/v1/tokens/{token}/enrollment/request'],
  'enrollment.install': ['POST', '/v1/tokens/{token}/enrollment/install'],
  'enrollment.cancel': ['POST', '/v1/tokens/{token}/enrollment/{requestId}/cancel'],
  'origin.approve': ['POST', '/v1/origins/approval'],
};

// {method, path, query, body} of a REST request for a method and its params.
export function restRequest(name, params) {
  const route = METHODS[name];
  if (!route) throw new KeybridgeError('BAD_REQUEST', `unknown method ${name}`);
  const rest = Object.assign({}, params);
  const path = route[1].replace(/\{(\w+)\}/g, (m, key) => {
    const v = rest[key];
    delete rest[key];
    if (typeof v !== 'string' || !v) throw new KeybridgeError('BAD_REQUEST', `${key} is required`, { details: { field: key } });
    return encodeURIComponent(v);
  });
  if (route[0] === 'GET') {
    const q = Object.keys(rest).filter((k) => rest[k] !== undefined)
      .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(rest[k])}`).join('&');
    return { method: 'GET', path: q ? `${path}?${q}` : path, body: undefined };
  }
  return { method: 'POST', path: path, body: JSON.stringify(rest) };
}

const TOKEN_EVENTS = ['token.inserted', 'token.removed', 'token.changed'];

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isLoopbackPage() {
  if (typeof location === 'undefined' || !location.hostname) return false;
  return ['127.0.0.1', 'localhost', '[::1]', '::1'].indexOf(location.hostname) >= 0;
}

// ---- the client ------------------------------------------------------------

const DEFAULTS = {
  url: null,              // the daemon's base URL; default: https, then http, on 127.0.0.1:port
  port: DEFAULT_PORT,
  transport: 'auto',      // 'auto' (WebSocket when the upgrade works), 'rest' or 'websocket'
  timeout: 180000,        // ms for one call (PIN dialogs can take a while)
  probeTimeout: 3000,     // ms for each connection attempt
  reconnect: true,
  reconnectDelay: 500,    // first back-off delay, doubled up to reconnectMaxDelay
  reconnectMaxDelay: 30000,
  pollInterval: 2000,     // REST only: ms between token list reads for token events (0: never)
  fetch: null,            // injectable for tests; default: the global fetch
  WebSocket: null,        // injectable for tests; default: the global WebSocket
};

export class KeybridgeClient {
  constructor(options) {
    this.options = Object.assign({}, DEFAULTS, options || {});
    this.baseUrl = null;
    this.transport = null;           // 'websocket' | 'rest' once connected
    this.state = 'idle';             // 'connecting' | 'connected' | 'disconnected' | 'closed'
    this.info = null;                // GET /v1/info of the daemon
    this._listeners = {};
    this._ws = null;
    this._pending = new Map();       // JSON-RPC id → {resolve, reject, timer, onProgress, params}
    this._nextId = 1;
    this._retryTimer = null;
    this._retryDelay = this.options.reconnectDelay;
    this._pollTimer = null;
    this._known = null;             // token id → token, for token events (null: not read yet)
    this._polling = false;
    this._pushes = 0;               // token events pushed by the daemon so far
    this._loopbackOption = true;
    this._hadWebSocket = false;     // once the WebSocket worked, reconnection tries it again
    this._reachable = null;         // a daemon that refused this origin (for approveOrigin)
  }

  // ---- events ----

  // Listen for 'token.inserted', 'token.removed', 'token.changed',
  // 'operation.progress', 'connected', 'disconnected', 'transport'.
  // Returns a function that removes the listener.
  on(type, listener) {
    (this._listeners[type] = this._listeners[type] || []).push(listener);
    this._updatePolling();
    return () => this.off(type, listener);
  }

  off(type, listener) {
    const list = this._listeners[type] || [];
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    this._updatePolling();
  }

  _emit(type, detail) {
    (this._listeners[type] || []).slice().forEach((fn) => {
      try {
        fn(detail, type);
      } catch (e) {
        setTimeout(() => { throw e; }, 0); // a listener's bug must not break the client
      }
    });
  }

  _hasTokenListeners() {
    return TOKEN_EVENTS.some((t) => (this._listeners[t] || []).length > 0);
  }

  // ---- connecting ----

  // Finds the daemon and picks the transport. Rejects with NOT_RUNNING,
  // PERMISSION_DENIED or ORIGIN_NOT_ALLOWED (see docs/integration.md).
  async connect() {
    if (this.state === 'closed') throw new KeybridgeError('NOT_CONNECTED', 'the client was closed');
    this.state = 'connecting';
    try {
      await this._findDaemon();
      await this._pickTransport();
    } catch (e) {
      this.state = 'disconnected';
      throw e;
    }
    this._setConnected();
    return this;
  }

  _candidates() {
    const o = this.options;
    if (o.url) return (Array.isArray(o.url) ? o.url : [o.url]).map((u) => u.replace(/\/+$/, ''));
    return [`https://127.0.0.1:${o.port}`, `http://127.0.0.1:${o.port}`];
  }

  async _findDaemon() {
    let lastApiError = null;
    for (const base of this._candidates()) {
      try {
        this.info = await this._fetchJson(base, 'GET', '/v1/info', undefined, this.options.probeTimeout);
        this.baseUrl = base;
        return;
      } catch (e) {
        if (e.status) lastApiError = e; // the daemon answered, with an error the page can read
      }
    }
    throw lastApiError || await this._diagnose();
  }

  // Why no candidate answered: the daemon refused this origin (it answers an
  // opaque no-cors request), the browser's permission is denied, or nothing
  // is listening.
  async _diagnose() {
    for (const base of this._candidates()) {
      if (await this._answersOpaque(base)) {
        this._reachable = base;
        return new KeybridgeError('ORIGIN_NOT_ALLOWED',
          `keybridge at ${base} is running but does not allow this website`, { details: { url: base } });
      }
    }
    if (!isLoopbackPage() && await this._permissionDenied()) {
      return new KeybridgeError('PERMISSION_DENIED',
        'the browser does not allow this website to reach keybridge on this computer (Local Network Access)');
    }
    return new KeybridgeError('NOT_RUNNING',
      'keybridge is not installed or not running on this computer (or its HTTPS certificate is not trusted)');
  }

  async _answersOpaque(base) {
    try {
      await this._fetch(base + '/v1/info', { mode: 'no-cors', cache: 'no-store' }, this.options.probeTimeout);
      return true;
    } catch (e) {
      return false;
    }
  }

  async _permissionDenied() {
    const perms = typeof navigator !== 'undefined' && navigator.permissions;
    if (!perms || typeof perms.query !== 'function') return false;
    for (const name of ['loopback-network', 'local-network-access', 'local-network']) {
      try {
        const status = await perms.query({ name: name });
        return status.state === 'denied';
      } catch (e) {
        // this browser does not know the name: try the next
      }
    }
    return false;
  }

  async _pickTransport() {
    const want = this.options.transport;
    if (want !== 'rest' && this._webSocketClass()) {
      try {
        await this._openWebSocket();
        this._hadWebSocket = true;
        this._setTransport('websocket');
        return;
      } catch (e) {
        if (want === 'websocket') throw e;
      }
    }
    this._setTransport('rest');
  }

  _setTransport(t) {
    if (this.transport === t) return;
    this.transport = t;
    this._emit('transport', { transport: t });
    this._updatePolling();
  }

  _setConnected() {
    const was = this.state;
    this.state = 'connected';
    if (this._wantsUpgrade()) {
      this._scheduleReconnect(); // on REST for now; the WebSocket is tried again
    } else {
      this._retryDelay = this.options.reconnectDelay;
    }
    if (was !== 'connected') this._emit('connected', { url: this.baseUrl, transport: this.transport });
  }

  // After a lost WebSocket the client goes on over REST and keeps trying to
  // get the WebSocket back.
  _wantsUpgrade() {
    return this.transport === 'rest' && this._hadWebSocket && this.options.transport !== 'rest' &&
      this.options.reconnect;
  }

  // Closes the WebSocket and stops reconnecting and polling.
  close() {
    this.state = 'closed';
    clearTimeout(this._retryTimer);
    this._stopPolling();
    this._failPending(new KeybridgeError('NOT_CONNECTED', 'the client was closed'));
    if (this._ws) {
      const ws = this._ws;
      this._ws = null;
      ws.close();
    }
  }

  // ---- REST ----

  _fetch(url, init, timeout) {
    const f = this.options.fetch || (typeof fetch === 'function' ? fetch : null);
    if (!f) return Promise.reject(new KeybridgeError('NOT_CONNECTED', 'no fetch() in this environment'));
    const ctl = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = ctl && timeout ? setTimeout(() => ctl.abort(), timeout) : null;
    const full = Object.assign({}, init, ctl ? { signal: ctl.signal } : {});
    // Chrome's Local Network Access: say that the target is loopback, so the
    // browser asks the user instead of failing. Browsers that do not know the
    // member ignore it; one that rejects the value gets requests without it.
    if (this._loopbackOption) full.targetAddressSpace = 'loopback';
    return f(url, full).catch((e) => {
      if (this._loopbackOption && e instanceof TypeError && /targetAddressSpace/.test(e.message)) {
        this._loopbackOption = false;
        delete full.targetAddressSpace;
        return f(url, full);
      }
      throw e;
    }).finally(() => clearTimeout(timer));
  }

  async _fetchJson(base, method, path, body, timeout) {
    const init = { method: method, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      init.headers = { 'Content-Type': 'application/json' };
      init.body = body;
    }
    let resp;
    try {
      resp = await this._fetch(base + path, init, timeout);
    } catch (e) {
      throw networkError(e);
    }
    let data = null;
    try {
      data = await resp.json();
    } catch (e) {
      data = null;
    }
    if (!resp.ok) throw errorFromResponse(resp.status, data);
    if (!data || typeof data !== 'object') throw new KeybridgeError('BAD_RESPONSE', 'the answer is not JSON', { status: resp.status });
    return data;
  }

  async _callRest(name, params) {
    const r = restRequest(name, params);
    try {
      return await this._fetchJson(this.baseUrl, r.method, r.path, r.body, this.options.timeout);
    } catch (e) {
      if (e.code === 'CONNECTION_LOST') this._lost();
      throw e;
    }
  }

  // ---- WebSocket ----

  _webSocketClass() {
    return this.options.WebSocket || (typeof WebSocket === 'function' ? WebSocket : null);
  }

  _openWebSocket() {
    const WS = this._webSocketClass();
    const url = this.baseUrl.replace(/^http/, 'ws') + '/v1/ws';
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new WS(url);
      } catch (e) {
        reject(networkError(e));
        return;
      }
      const timer = setTimeout(() => fail(new KeybridgeError('TIMEOUT', 'the WebSocket did not open')), this.options.probeTimeout);
      const fail = (err) => {
        clearTimeout(timer);
        ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
        try { ws.close(); } catch (e) { /* already closed */ }
        reject(err);
      };
      ws.onerror = () => fail(new KeybridgeError('CONNECTION_LOST', 'the WebSocket upgrade failed'));
      ws.onclose = () => fail(new KeybridgeError('CONNECTION_LOST', 'the WebSocket closed'));
      ws.onopen = () => {
        clearTimeout(timer);
        this._adoptWebSocket(ws);
        this._subscribe().then(() => resolve(), resolve);
      };
    });
  }

  _adoptWebSocket(ws) {
    this._ws = ws;
    ws.onmessage = (ev) => this._onMessage(ev.data);
    ws.onerror = () => {};
    ws.onclose = () => {
      if (this._ws !== ws) return;
      this._ws = null;
      this._failPending(new KeybridgeError('CONNECTION_LOST', 'the WebSocket to keybridge closed during the call'));
      if (this.state !== 'closed') {
        this._setTransport('rest');
        this._lost();
      }
    };
  }

  // Token events come to subscribed connections only. A daemon without
  // events.subscribe sends them anyway, or never: either way, carry on.
  _subscribe() {
    return this._callWs('events.subscribe', { events: TOKEN_EVENTS }, {}).catch(() => null);
  }

  _callWs(name, params, opts) {
    const ws = this._ws;
    if (!ws) return Promise.reject(new KeybridgeError('CONNECTION_LOST', 'the WebSocket is closed'));
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new KeybridgeError('TIMEOUT', `keybridge did not answer ${name} in time`));
      }, this.options.timeout);
      this._pending.set(id, { resolve, reject, timer, name, params, onProgress: opts.onProgress });
      try {
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: id, method: name, params: params }));
      } catch (e) {
        this._settle(id, networkError(e), null);
      }
    });
  }

  _onMessage(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      return; // not JSON-RPC: nothing to answer
    }
    (Array.isArray(msg) ? msg : [msg]).forEach((m) => this._onRpc(m));
  }

  _onRpc(m) {
    if (!m || typeof m !== 'object') return;
    if (typeof m.method === 'string' && m.id === undefined) {
      this._onNotification(m.method, m.params || {});
      return;
    }
    if (!this._pending.has(m.id)) return;
    if (m.error) this._settle(m.id, errorFromRpc(m.error), null);
    else this._settle(m.id, null, m.result);
  }

  _settle(id, err, result) {
    const p = this._pending.get(id);
    if (!p) return;
    this._pending.delete(id);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(result);
  }

  _failPending(err) {
    Array.from(this._pending.keys()).forEach((id) => this._settle(id, err, null));
  }

  _onNotification(method, params) {
    if (method === 'operation.progress') {
      const p = this._pendingFor(params.requestId);
      if (p && p.onProgress) p.onProgress(params);
      this._emit(method, Object.assign({ method: p ? p.name : null }, params));
      return;
    }
    if (TOKEN_EVENTS.indexOf(method) >= 0) {
      this._pushes++;
      this._tokenEvent(method, params);
    }
    else this._emit(method, params);
  }

  // The call a progress notification belongs to: by its JSON-RPC id, or by
  // the renewal's or enrollment's requestId in its params.
  _pendingFor(requestId) {
    if (this._pending.has(requestId)) return this._pending.get(requestId);
    for (const p of this._pending.values()) {
      if (p.params && p.params.requestId === requestId) return p;
    }
    return this._pending.size === 1 ? this._pending.values().next().value : null;
  }

  // ---- reconnection ----

  // The connection went away: tell the page and retry with back-off.
  _lost() {
    if (this.state === 'closed' || this.state === 'disconnected') return;
    this.state = 'disconnected';
    this._emit('disconnected', { url: this.baseUrl });
    if (this.options.reconnect) this._scheduleReconnect();
  }

  _scheduleReconnect() {
    clearTimeout(this._retryTimer);
    const delay = this._retryDelay;
    this._retryDelay = Math.min(this._retryDelay * 2, this.options.reconnectMaxDelay);
    this._retryTimer = setTimeout(() => this._reconnect(), delay);
  }

  async _reconnect() {
    if (this.state === 'closed') return;
    try {
      this.info = await this._fetchJson(this.baseUrl, 'GET', '/v1/info', undefined, this.options.probeTimeout);
      await this._pickTransport();
    } catch (e) {
      if (this.state !== 'closed') this._scheduleReconnect();
      return;
    }
    if (this.state !== 'closed') this._setConnected();
  }

  // ---- token events ----
  //
  // The daemon pushes token events over the WebSocket. While anyone listens,
  // the client also reads the token list every pollInterval and compares:
  // that gives the events over REST, and over a WebSocket whose daemon does
  // not push them. Both update one picture of the tokens, so each change is
  // reported once, whichever way it was seen first.

  _updatePolling() {
    const want = this.transport !== null && this.options.pollInterval > 0 &&
      this.state !== 'closed' && this._hasTokenListeners();
    if (want && !this._pollTimer) {
      this._pollTimer = setInterval(() => this._poll(), this.options.pollInterval);
      this._poll(); // the list to compare with, now
    } else if (!want) {
      this._stopPolling();
    }
  }

  _stopPolling() {
    clearInterval(this._pollTimer);
    this._pollTimer = null;
    this._known = null;
  }

  async _poll() {
    if (this.state === 'closed' || this._polling) return;
    this._polling = true;
    const pushes = this._pushes;
    try {
      const tokens = (await this.call('tokens.list', {})).tokens;
      // A list read before a pushed event may be older than it: skip it.
      if (this._pollTimer && pushes === this._pushes) this._diffTokens(tokens);
    } catch (e) {
      // a failed read: the reconnection logic has it
    } finally {
      this._polling = false;
    }
  }

  _diffTokens(tokens) {
    const now = new Map(tokens.map((t) => [t.id, t]));
    const before = this._known;
    if (!before) {
      this._known = now;
      return;
    }
    now.forEach((t) => {
      if (!before.has(t.id)) this._tokenEvent('token.inserted', { token: t });
      else if (tokenState(before.get(t.id)) !== tokenState(t)) this._tokenEvent('token.changed', { token: t });
    });
    Array.from(before.keys()).forEach((id) => {
      if (!now.has(id)) this._tokenEvent('token.removed', { id: id });
    });
  }

  // One token event, pushed or found by reading: emitted unless already known.
  _tokenEvent(type, params) {
    const known = this._known;
    const id = type === 'token.removed' ? params.id : (params.token && params.token.id);
    if (known && type === 'token.removed') {
      if (!known.has(id)) return;
      known.delete(id);
    } else if (known && params.token) {
      const had = known.get(id);
      if (had && (type === 'token.inserted' || tokenState(had) === tokenState(params.token))) return;
      known.set(id, params.token);
    }
    this._emit(type, params);
  }

  // ---- calls ----

  // Any method of the method table by its JSON-RPC name, with its params.
  // opts.onProgress receives operation.progress ({stage, percent}) over the
  // WebSocket.
  call(name, params, opts) {
    if (this.state === 'closed' || this.state === 'idle' || !this.baseUrl) {
      return Promise.reject(new KeybridgeError('NOT_CONNECTED', 'call connect() first'));
    }
    if (this.transport === 'websocket' && this._ws) return this._callWs(name, params || {}, opts || {});
    return this._callRest(name, params || {});
  }

  getInfo() { return this.call('info', {}); }
  listTokens() { return this.call('tokens.list', {}).then((r) => r.tokens); }
  getToken(token) { return this.call('token.get', { token: token }); }
  getCertificate(token, certificate) { return this.call('certificate.get', { token: token, certificate: certificate }); }
  sign(token, params) { return this.call('sign', Object.assign({ token: token }, params)); }
  // Opens CMS (or GM/T 0010) envelopes with the token's encryption key:
  // params.certificate names the encryption certificate, params.items are
  // [{cms}] (1-64, one PIN dialog); answers {plaintexts, certificate}.
  decrypt(token, params, opts) { return this.call('decrypt', Object.assign({ token: token }, params), opts); }
  // Seals params.items ([{data}]) to any recipient certificate (PEM or
  // base64 DER). Public key only: no token, no PIN. Answers {envelopes, format}.
  encrypt(params, opts) { return this.call('encrypt', Object.assign({}, params), opts); }
  authenticate(token, params) { return this.call('authenticate', Object.assign({ token: token }, params)); }
  changePin(token, params) { return this.call('pin.change', Object.assign({ token: token }, params)); }
  unblockPin(token, params) { return this.call('pin.unblock', Object.assign({ token: token }, params)); }
  getSeal(token, certificate) { return this.call('seal.get', { token: token, certificate: certificate }); }
  putSeal(token, params) { return this.call('seal.put', Object.assign({ token: token }, params)); }
  requestRenewal(token, params, opts) { return this.call('renewal.request', Object.assign({ token: token }, params), opts); }
  installRenewal(token, params, opts) { return this.call('renewal.install', Object.assign({ token: token }, params), opts); }
  cancelRenewal(token, requestId) { return this.call('renewal.cancel', { token: token, requestId: requestId }); }
  // Enrollment: the first certificate onto a formatted, empty token. The
  // request makes a new key for params.subject and answers its CSR; the
  // install writes what the CA issued; cancel removes the unused key.
  requestEnrollment(token, params, opts) { return this.call('enrollment.request', Object.assign({ token: token }, params), opts); }
  installEnrollment(token, params, opts) { return this.call('enrollment.install', Object.assign({ token: token }, params), opts); }
  cancelEnrollment(token, requestId) { return this.call('enrollment.cancel', { token: token, requestId: requestId }); }

  // Asks the user, in keybridge's own dialog, to allow this website. The one
  // call an origin that is not allowed yet may make; works before connect()
  // succeeded (after it failed with ORIGIN_NOT_ALLOWED).
  approveOrigin() {
    const base = this.baseUrl || this._reachable;
    const bases = base ? [base] : this._candidates();
    return this._firstAnswer(bases, (b) => this._fetchJson(b, 'POST', '/v1/origins/approval', '{}', this.options.timeout));
  }

  async _firstAnswer(bases, fn) {
    let last = null;
    for (const b of bases) {
      try {
        return await fn(b);
      } catch (e) {
        if (e.status) throw e;
        last = e;
      }
    }
    throw last;
  }

  // True when the daemon lists the feature in GET /v1/info.
  hasFeature(name) {
    return !!(this.info && Array.isArray(this.info.features) && this.info.features.indexOf(name) >= 0);
  }
}

// What token.changed compares: the PIN state, whether the token is
// initialized (formatted), and the certificates.
function tokenState(t) {
  return JSON.stringify([t.label, t.pin, t.initialized, (t.certificates || []).map((c) => c.id)]);
}

// Creates a client and connects it. See KeybridgeClient for the options.
export function connect(options) {
  return new KeybridgeClient(options).connect();
}
