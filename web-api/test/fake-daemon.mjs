// SPDX-License-Identifier: LGPL-2.1-or-later
// A small fake keybridged for the client's unit tests: REST routes from a
// handler table, and a JSON-RPC 2.0 WebSocket at /v1/ws (the `ws` package).
//
// The fake exists because the daemon's WebSocket channel is still being
// built: these tests pin the client to the contract in the design's api.md
// (method names, data.code in errors, token.* and operation.progress
// notifications, events.subscribe). The browser tests run against the real
// daemon.
import http from 'node:http';
import { WebSocketServer } from 'ws';

// HTTP status of the API codes the fakes answer with (docs/api.md "Errors").
const STATUS = {
  BAD_REQUEST: 400, UNSUPPORTED_ALGORITHM: 400, DECRYPT_FAILED: 400, PIN_POLICY: 400,
  PIN_INCORRECT: 401, NOT_FOUND: 404, TOKEN_NOT_PRESENT: 409, TOKEN_BUSY: 409,
  PIN_CANCELLED: 409, PIN_FINAL_TRY: 409, CERTIFICATE_MISMATCH: 409, NOT_RECIPIENT: 409,
  PAYLOAD_TOO_LARGE: 413, PIN_LOCKED: 423, RATE_LIMITED: 429, INTERNAL: 500,
};

// An API error for a handler of method() to throw: the REST error object.
export function apiError(code, details = {}) {
  return { apiError: Object.assign({ code, message: `fake ${code}` }, details) };
}

export class FakeDaemon {
  constructor() {
    this.requests = [];            // "GET /v1/info", "ws tokens.list", ...
    this.websocket = true;         // false: /v1/ws answers 404, like today's daemon
    this.upgradesRefused = 0;      // number of upgrades refused so far
    this.upgradeTimes = [];        // Date.now() of every upgrade attempt
    this.tokens = [{ id: 'aaaa', label: 'demo', pin: { status: 'ok' }, certificates: [] }];
    this.rest = {};                // "METHOD /path" → (body) => [status, json]
    this.routes = new Map();       // route of method() → [regexp, handler]: paths with parameters
    this.rpc = {};                 // method → (params, conn) => result | throws {error}
    this.sockets = new Set();
    this.server = http.createServer((req, res) => this._onHttp(req, res));
    this.wss = new WebSocketServer({ noServer: true });
    this.server.on('upgrade', (req, sock, head) => this._onUpgrade(req, sock, head));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this._defaults();
  }

  _defaults() {
    this.rest['GET /v1/info'] = () => [200, { product: 'keybridge', api: 1, features: ['tokens'] }];
    this.rest['GET /v1/tokens'] = () => [200, { tokens: this.tokens }];
    this.rpc['tokens.list'] = () => ({ tokens: this.tokens });
    this.rpc['events.subscribe'] = (p) => ({ events: p.events || [] });
  }

  listen(port = 0) {
    return new Promise((resolve) => this.server.listen(port, '127.0.0.1', () => {
      this.port = this.server.address().port;
      this.url = `http://127.0.0.1:${this.port}`;
      resolve(this);
    }));
  }

  // Stops listening and drops every connection (a daemon that died).
  close() {
    for (const c of this.wss.clients) c.terminate();
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  // Closes the WebSocket connections only (a restart of the channel).
  dropWebSockets() {
    for (const c of this.wss.clients) c.terminate();
  }

  // One handler for both transports, as the daemon's method table has it:
  // fn(params) answers the result or throws apiError(); the REST route may
  // have {name} path parameters, which join the body's and the query's
  // members in params, as JSON-RPC has them.
  method(name, route, fn) {
    const [verb, path] = route.split(' ');
    const names = [];
    const re = new RegExp(`^${verb} ${path.replace(/\{(\w+)\}/g, (m, n) => { names.push(n); return '([^/]+)'; })}$`);
    this.routes.set(route, [re, (body, key, req) => {
      const m = re.exec(key);
      const query = Object.fromEntries(new URL(req.url, 'http://fake').searchParams);
      const params = Object.assign({}, body, query);
      names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
      return restAnswer(() => fn(params));
    }]);
    this.rpc[name] = (params) => rpcAnswer(() => fn(params));
    delete this.rest[route]; // a default of the same route gives way
  }

  notify(method, params) {
    const text = JSON.stringify({ jsonrpc: '2.0', method, params });
    for (const c of this.wss.clients) c.send(text);
  }

  _onHttp(req, res) {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const path = req.url.split('?')[0];
      const key = `${req.method} ${path}`;
      this.requests.push(`${req.method} ${req.url}`);
      const route = Array.from(this.routes.values()).find(([re]) => re.test(key));
      const handler = this.rest[key] || (route && ((b, r) => route[1](b, key, r)));
      const [status, json] = handler ? handler(body ? JSON.parse(body) : undefined, req) :
        [404, { error: { code: 'NOT_FOUND', message: 'Not found.' } }];
      res.writeHead(status, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' });
      res.end(typeof json === 'string' ? json : JSON.stringify(json));
    });
  }

  _onUpgrade(req, sock, head) {
    this.upgradeTimes.push(Date.now());
    if (!this.websocket || req.url !== '/v1/ws') {
      this.upgradesRefused++;
      sock.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, sock, head, (ws) => {
      ws.on('message', (data) => this._onRpc(ws, JSON.parse(String(data))));
    });
  }

  _onRpc(ws, msg) {
    this.requests.push(`ws ${msg.method}`);
    const handler = this.rpc[msg.method];
    const reply = { jsonrpc: '2.0', id: msg.id };
    if (!handler) {
      reply.error = { code: -32601, message: 'Method not found' };
    } else {
      try {
        const result = handler(msg.params || {}, ws, msg.id);
        if (result === undefined) return; // the handler answers later (or never)
        reply.result = result;
      } catch (e) {
        reply.error = e.error || { code: -32603, message: String(e) };
      }
    }
    ws.send(JSON.stringify(reply));
  }
}

function restAnswer(fn) {
  try {
    return [200, fn()];
  } catch (e) {
    if (!e.apiError) throw e;
    return [STATUS[e.apiError.code] || 500, { error: e.apiError }];
  }
}

function rpcAnswer(fn) {
  try {
    return fn();
  } catch (e) {
    if (!e.apiError) throw e;
    const code = e.apiError.code === 'BAD_REQUEST' ? -32602 : e.apiError.code === 'INTERNAL' ? -32603 : -32000;
    throw { error: { code, message: e.apiError.message, data: e.apiError } };
  }
}

// Waits until fn() is true; fails after ms.
export async function until(fn, ms = 3000, what = 'the condition') {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
