// Headless Chromium (the system's /usr/bin/chromium, driven by playwright-core)
// opens /v1/ws from a page of an allowed origin and from one of a foreign
// origin. Environment: KB_WS_URL, KB_PAGE_PORT (its origin is allowed),
// KB_FOREIGN_PORT (not allowed), KB_CHROMIUM (default /usr/bin/chromium).
import http from 'node:http';
import { chromium } from 'playwright-core';

const url = process.env.KB_WS_URL;
let failed = 0;
function check(name, ok, detail) {
  console.log(`${ok ? 'ok' : 'not ok'} - ${name}${ok ? '' : ': ' + JSON.stringify(detail)}`);
  if (!ok) failed++;
}

function serve(port) {
  const srv = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>ws test</title>');
  });
  return new Promise((resolve) => srv.listen(port, '127.0.0.1', () => resolve(srv)));
}

// Runs in the page: open, call tokens.list and subscribe, close.
async function pageScript(wsUrl) {
  const out = { events: [] };
  await new Promise((resolve) => {
    const ws = new WebSocket(wsUrl);
    const t = setTimeout(() => { out.timeout = true; resolve(); }, 8000);
    ws.onopen = () => {
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'tokens.list', id: 1 }));
      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'events.subscribe', id: 2 }));
    };
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.id === 1) out.tokens = m.result?.tokens?.length;
      if (m.id === 2) { out.subscribed = m.result?.events; ws.close(1000); }
    };
    ws.onerror = () => { out.error = true; };
    ws.onclose = (e) => { out.close = e.code; clearTimeout(t); resolve(); };
  });
  return out;
}

async function main() {
  const pages = [await serve(Number(process.env.KB_PAGE_PORT)), await serve(Number(process.env.KB_FOREIGN_PORT))];
  const browser = await chromium.launch({
    executablePath: process.env.KB_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--ignore-certificate-errors'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${process.env.KB_PAGE_PORT}/`);
    const ok = await page.evaluate(pageScript, url);
    check('a page of an allowed origin lists tokens over the WebSocket', ok.tokens > 0, ok);
    check('it subscribes to the token events', Array.isArray(ok.subscribed) && ok.subscribed.length === 3, ok);
    check('it closes cleanly with 1000', ok.close === 1000 && !ok.error, ok);
    await page.goto(`http://127.0.0.1:${process.env.KB_FOREIGN_PORT}/`);
    const bad = await page.evaluate(pageScript, url);
    check('a page of a foreign origin cannot open it', bad.error === true && bad.close === 1006 && bad.tokens === undefined, bad);
  } finally {
    await browser.close();
    pages.forEach((p) => p.close());
  }
}

main().then(() => process.exit(failed ? 1 : 0), (e) => { console.log(`not ok - ${e.stack}`); process.exit(1); });
