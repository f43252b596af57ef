// What the demo portal's pages (main, remote download, RA) share: the
// language, small DOM helpers, the portal's own server, the connection to
// keybridge shown in the header, and the links between pages.
import { KeybridgeClient } from '../keybridge.js';
import { TEXTS } from './i18n.js';

export const params = new URLSearchParams(location.search);
let lang = params.get('lang') || ((navigator.language || '').startsWith('zh') ? 'zh' : 'en');
const onLang = [];

export const T = () => TEXTS[lang];
export const $ = (id) => document.getElementById(id);

export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, attrs || {});
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

export function say(id, text, ok) {
  const e = $(id);
  e.textContent = text;
  e.className = `result ${ok === false ? 'error' : 'ok'}`;
}

// An error's text: what a known reason (error.reason: why the daemon
// refused, e.g. token-not-blank) or code means in the page's language, else
// the message as it came.
export function errorText(e) {
  const reason = e.details && e.details.reason;
  const known = (reason && T().reasons[reason]) || T().errors[e.code];
  const details = e.details && e.details.retriesLeft != null ? ` (retriesLeft ${e.details.retriesLeft})` : '';
  const hint = e.hint ? ` ${e.hint}` : '';   // what the page adds: what differs, what to do
  return `${known || e.message}${details} [${e.code || e.name}]${hint}`;
}

// A certificate's key in a few words: "RSA 2048", "EC P-256", "SM2 256"
// (the curve when it says more than the key type).
export function keyText(c) {
  if (c.curve && c.curve !== c.keyType) return [c.keyType, c.curve].filter(Boolean).join(' ');
  return [c.keyType, c.keyBits].filter(Boolean).join(' ');
}

// Runs one button's flow: its result line shows the outcome or the error
// (the error's code in data-code, its reason in data-reason, for the tests
// and for styling). The button is disabled while the flow runs; after it,
// enabled() says whether it may be pressed again (default: yes).
export function action(buttonId, resultId, flow, enabled = () => true) {
  $(buttonId).addEventListener('click', async () => {
    $(buttonId).disabled = true;
    say(resultId, '…');
    delete $(resultId).dataset.code;
    delete $(resultId).dataset.reason;
    try {
      await flow();
    } catch (e) {
      say(resultId, errorText(e), false);
      $(resultId).dataset.code = e.code || e.name;
      if (e.details && e.details.reason) $(resultId).dataset.reason = e.details.reason;
    } finally {
      $(buttonId).disabled = !enabled();
    }
  });
}

// The portal's own server (same origin); errors carry its code.
export async function server(path, body) {
  const resp = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const data = await resp.json();
  if (!resp.ok) throw Object.assign(new Error(data.error.message), { code: data.error.code });
  return data;
}

// ---- texts and language ----

export function applyTexts() {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  document.querySelectorAll('[data-t]').forEach((e) => { e.textContent = T()[e.dataset.t]; });
  document.querySelectorAll('[data-t-placeholder]').forEach((e) => { e.placeholder = T()[e.dataset.tPlaceholder]; });
  setupNav();
  onLang.forEach((fn) => fn());
}

// Calls fn now (through applyTexts) and after each change of language.
export function onLanguage(fn) {
  onLang.push(fn);
}

export function setupLanguage() {
  $('lang-zh').addEventListener('click', () => { lang = 'zh'; applyTexts(); });
  $('lang-en').addEventListener('click', () => { lang = 'en'; applyTexts(); });
}

// The links between the demo's pages keep the daemon's address and the language.
export function setupNav() {
  document.querySelectorAll('a[data-nav]').forEach((a) => {
    const q = new URLSearchParams(location.search);
    q.set('lang', lang);
    a.href = `${a.dataset.nav}?${q}`;
  });
}

// ---- the connection to keybridge, shown in the header ----

const daemonUrl = params.get('daemon');   // one URL, tried alone
const daemonPort = params.get('port');     // another port, tried https then http

export function showState(kb) {
  const st = kb ? kb.state : 'connecting';
  const text = st === 'connected' ? `${T().connected} (${kb.transport === 'websocket' ? 'WebSocket' : 'REST'})` :
    st === 'disconnected' ? T().disconnected : T().connecting;
  $('state').textContent = text;
  $('state').dataset.state = st;
  const port = daemonPort || '27182';
  $('daemon-url').textContent = (kb && kb.baseUrl) || daemonUrl || `https://127.0.0.1:${port} · http://127.0.0.1:${port}`;
}

function showConnectError(e) {
  $('connect-error').hidden = false;
  $('connect-error').textContent = errorText(e);
  $('connect-error').dataset.code = e.code;
  $('approve').hidden = e.code !== 'ORIGIN_NOT_ALLOWED';
}

// Connects to keybridge; onConnected runs once connected (and again after
// an approval of this site). Token events call onTokens(event, payload).
export function startClient(onConnected, onTokens) {
  const options = { url: daemonUrl || null };
  if (daemonPort) options.port = Number(daemonPort);
  const kb = new KeybridgeClient(options);
  for (const ev of ['connected', 'disconnected', 'transport']) kb.on(ev, () => showState(kb));
  for (const ev of ['token.inserted', 'token.removed', 'token.changed']) kb.on(ev, (p) => onTokens(ev, p));
  onLanguage(() => showState(kb));
  const go = async () => {
    showState(kb);
    try {
      await kb.connect();
    } catch (e) {
      showState(kb);
      showConnectError(e);
      return;
    }
    $('connect-error').hidden = true;
    $('approve').hidden = true;
    showState(kb);
    await onConnected();
  };
  $('approve').addEventListener('click', async () => {
    try {
      await kb.approveOrigin();
      await go();
    } catch (e) {
      showConnectError(e);
    }
  });
  go();
  return kb;
}
