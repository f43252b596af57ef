// An independent, conforming client (the `ws` package) against keybridged's
// /v1/ws. Environment: KB_WS_URL (ws:// or wss://), KB_ORIGIN (allowed),
// KB_CA (root PEM for wss), KB_PORT, KB_MAX_BODY. Prints one line per check;
// exits 1 when any fails.
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

const url = process.env.KB_WS_URL;
const origin = process.env.KB_ORIGIN;
const port = process.env.KB_PORT;
const tlsOpts = process.env.KB_CA ? { ca: readFileSync(process.env.KB_CA) } : {};
let failed = 0;

function check(name, ok, detail) {
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}${ok ? '' : ': ' + JSON.stringify(detail)}`);
  if (!ok) failed++;
}

function open(headers = {}, extra = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { origin, headers, ...tlsOpts, ...extra });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

// Requests by id, notifications to a list.
function rpc(ws) {
  const pending = new Map();
  const notes = [];
  let next = 1;
  ws.on('message', (data, isBinary) => {
    const msg = JSON.parse(data.toString());
    if (Array.isArray(msg)) pending.get('batch')?.(msg);
    else if (msg.method) notes.push(msg);
    else pending.get(msg.id)?.(msg);
  });
  return {
    notes,
    call(method, params) {
      const id = next++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        ws.send(JSON.stringify({ jsonrpc: '2.0', method, params, id }));
      });
    },
    batch(reqs) {
      return new Promise((resolve) => {
        pending.set('batch', resolve);
        ws.send(JSON.stringify(reqs));
      });
    },
  };
}

const closed = (ws) => new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));

async function main() {
  const ws = await open();
  const r = rpc(ws);

  const list = await r.call('tokens.list');
  check('tokens.list answers the token list', Array.isArray(list.result?.tokens) && list.result.tokens.length > 0, list);
  const tok = list.result.tokens[0];
  const one = await r.call('token.get', { token: tok.id });
  check('token.get answers the same token', one.result?.id === tok.id && one.result.label === tok.label, one);
  const nf = await r.call('token.get', { token: '0123456789abcdef' });
  check('an unknown token is -32000 with data.code NOT_FOUND', nf.error?.code === -32000 && nf.error.data?.code === 'NOT_FOUND', nf);
  const nm = await r.call('no.such.method');
  check('an unknown method is -32601', nm.error?.code === -32601, nm);
  const bp = await r.call('token.get', {});
  check('a missing param is -32602 naming the field', bp.error?.code === -32602 && bp.error.data?.field === 'token', bp);
  const sub = await r.call('events.subscribe', { events: ['token.inserted', 'token.removed'] });
  check('events.subscribe answers the subscription', JSON.stringify(sub.result) === '{"events":["token.inserted","token.removed"]}', sub);

  const batch = await r.batch([
    { jsonrpc: '2.0', method: 'info', id: 'a' },
    { jsonrpc: '2.0', method: 'info' },
    { jsonrpc: '2.0', method: 'tokens.list', id: 'b' },
  ]);
  check('a batch gets one array without the notification', batch.length === 2 && batch.every((x) => x.result), batch);

  const pong = await new Promise((resolve) => { ws.once('pong', (d) => resolve(d.toString())); ws.ping('hello'); });
  check('a ping is answered with its payload', pong === 'hello', pong);

  // Fragmented message: ws sends fin=false pieces with send(..., {fin:false}).
  const frag = new Promise((resolve) => ws.once('message', (d) => resolve(JSON.parse(d.toString()))));
  const body = JSON.stringify({ jsonrpc: '2.0', method: 'info', id: 'frag' });
  ws.send(body.slice(0, 7), { fin: false });
  ws.send(body.slice(7, 20), { fin: false });
  ws.send(body.slice(20), { fin: true });
  const fr = await frag;
  check('a fragmented message is one call', fr.id === 'frag' && fr.result?.product === 'keybridge', fr);

  const bye = closed(ws);
  ws.close(1000, 'done');
  const c = await bye;
  check('the close handshake ends with 1000', c.code === 1000, c);

  // Over the message limit: the daemon closes with 1009.
  const big = await open({}, { maxPayload: 0 });
  const bigClosed = closed(big);
  big.send('x'.repeat(Number(process.env.KB_MAX_BODY) + 1));
  const bc = await bigClosed;
  check('a message over the limit closes with 1009', bc.code === 1009, bc);

  // Binary frames are not JSON-RPC: 1003.
  const bin = await open();
  const binClosed = closed(bin);
  bin.send(Buffer.from([1, 2, 3]));
  const bic = await binClosed;
  check('a binary message closes with 1003', bic.code === 1003, bic);

  for (const [name, headers, extra, want] of [
    ['a foreign Origin', {}, { origin: 'https://evil.example' }, 403],
    ['a rebinding Host', { Host: `evil.example:${port}` }, {}, 403],
    ['no Origin and no token', {}, { origin: undefined }, 401],
  ]) {
    try {
      const w = await new Promise((resolve, reject) => {
        const o = extra.origin === undefined && 'origin' in extra ? {} : { origin: extra.origin ?? origin };
        const s = new WebSocket(url, { ...o, headers, ...tlsOpts });
        s.once('open', () => resolve(s));
        s.once('unexpected-response', (_req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })));
        s.once('error', reject);
      });
      w.terminate();
      check(`${name} is refused at the upgrade`, false, 'opened');
    } catch (e) {
      check(`${name} is refused at the upgrade with ${want}`, e.status === want, e.status ?? String(e));
    }
  }
}

main().then(() => process.exit(failed ? 1 : 0), (e) => { console.log(`not ok - ${e.stack}`); process.exit(1); });
