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

export class FakeDaemon {
  constructor() {
    this.requests = [];            // "GET /v1/info", "ws tokens.list", ...
    this.websocket = true;         // false: /v1/ws answers 404, like today's daemon
    this.upgradesRefused = 0;      // number of upgrades refused so far
    this.upgradeTimes = [];        // Date.now() of every upgrade attempt
    this.tokens = [{ id: 'aaaa', label: 'demo', pin: { status: 'ok' }, certificates: [] }];
    this.rest = {};                // "METHOD /path" → (body) => [status, json]
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
      const handler = this.rest[key];
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

// Waits until fn() is true; fails after ms.
export async function until(fn, ms = 3000, what = 'the condition') {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
