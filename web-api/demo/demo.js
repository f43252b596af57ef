// The demo portal: the flows of the CA portals' user manuals, through
// keybridge.js against a real token, with the demo server (tests/demo_portal.py)
// as the portal's server side: challenges and login, signature checks, a demo
// CA for renewal, and the unblock code for a PIN reset.
import { textToBase64 } from '../keybridge.js';
import { $, T, action, applyTexts, el, errorText, keyText, onLanguage, say, server, setupLanguage, startClient } from './common.js';
import { TEXTS } from './i18n.js';
import { drawSeal } from './seal.js';

let kb = null;
let tokens = [];
let selected = null;          // {tokenId, certId}
let lastSignature = null;     // {tokenId, certId, data, signature, algorithm, format}
let sealToWrite = null;       // {mediaType, image}

function current() {
  const token = tokens.find((t) => selected && t.id === selected.tokenId);
  const cert = token && token.certificates.find((c) => c.id === selected.certId);
  if (!cert) throw Object.assign(new Error(T().pickCert), { code: 'NO_CERTIFICATE' });
  return { token, cert };
}

function algorithmFor(cert) {
  return { RSA: 'RSA-PKCS1-SHA256', EC: 'ECDSA-SHA256', SM2: 'SM2-SM3' }[cert.keyType] || 'RSA-PKCS1-SHA256';
}

// ---- texts and token events ----

// The sample text to sign follows the language unless the user typed their own.
function languageChanged() {
  if (!$('sign-data').value || Object.values(TEXTS).some((x) => x.signData === $('sign-data').value)) {
    $('sign-data').value = T().signData;
  }
  renderTokens();
}

const EVENT_KINDS = { 'token.inserted': 'evInserted', 'token.removed': 'evRemoved', 'token.changed': 'evChanged' };

// One line in the event list; token.removed carries only the id, the others the token.
function tokenEvent(ev, p) {
  const kind = EVENT_KINDS[ev];
  const id = ev === 'token.removed' ? p.id : p.token.id;
  const known = tokens.find((t) => t.id === id);
  const name = (ev === 'token.removed' ? '' : p.token.label) || (known ? known.label : '');
  $('events').prepend(el('li', { className: `event ${kind}` },
    `${new Date().toLocaleTimeString()} ${T()[kind]}: ${name} (${id})`));
  refresh();
}

// ---- the token and certificate table ----

async function refresh() {
  if (!kb || !kb.baseUrl) return;
  try {
    tokens = await kb.listTokens();
  } catch (e) {
    $('tokens').replaceChildren(el('p', { className: 'error' }, errorText(e)));
    return;
  }
  if (!tokens.some((t) => selected && t.id === selected.tokenId && t.certificates.some((c) => c.id === selected.certId))) {
    selected = defaultSelection();
  }
  renderTokens();
}

function defaultSelection() {
  for (const t of tokens) {
    const c = t.certificates.find((x) => x.hasPrivateKey && x.usage !== 'encrypt' && x.status !== 'expired');
    if (c) return { tokenId: t.id, certId: c.id };
  }
  return null;
}

function renderTokens() {
  if (!kb || !kb.baseUrl) return;
  $('tokens').replaceChildren(...(tokens.length ? tokens.map(tokenBox) : [el('p', { className: 'empty' }, T().noToken)]));
  const cur = selected && tokens.flatMap((t) => t.certificates).find((c) => c.id === selected.certId);
  document.querySelectorAll('.selected-name').forEach((e) => { e.textContent = cur ? `${cur.subjectFields.CN} (${cur.label})` : '—'; });
}

function tokenBox(t) {
  const head = el('tr', {}, ...T().cols.map((h) => el('th', {}, h)));
  return el('div', { className: 'token', id: `token-${t.id}` },
    el('h3', {}, `${t.label} `, el('small', {}, `${t.manufacturer} ${t.model}`)),
    el('p', { className: 'token-line' },
      `${T().keyNo}: `, el('code', { className: 'serial' }, t.serial), ' · ',
      `${T().hwNo}: `, el('code', { className: 'hardware-id' }, t.hardwareId || T().none), ' · ',
      `${T().pinState}: `, el('span', { className: `pin pin-${t.pin.status}` }, T().pin[t.pin.status] || t.pin.status)),
    el('table', {}, head, ...t.certificates.flatMap((c) => certRows(t, c))));
}

function certRows(t, c) {
  const isSel = !!selected && selected.tokenId === t.id && selected.certId === c.id;
  const pick = el('input', { type: 'radio', name: 'cert', checked: isSel, disabled: !c.hasPrivateKey });
  pick.addEventListener('change', () => { selected = { tokenId: t.id, certId: c.id }; renderTokens(); });
  const row = el('tr', { className: `cert${isSel ? ' selected' : ''}` },
    el('td', {}, pick),
    el('td', {}, String(c.subjectFields.CN || c.subject)),
    el('td', {}, String(c.subjectFields.O || '')),
    el('td', {}, T().usage[c.usage] || ''),
    el('td', {}, keyText(c)),
    el('td', {}, c.notBefore.slice(0, 10)),
    el('td', {}, c.notAfter.slice(0, 10)),
    el('td', {}, String(c.daysLeft)),
    el('td', { className: `status status-${c.status}` }, T().status[c.status]));
  row.dataset.cert = c.id;
  row.dataset.cn = String(c.subjectFields.CN || '');
  row.dataset.status = c.status;
  const warn = c.status === 'expiring' ? T().expiringWarn(c.daysLeft) : c.status === 'expired' ? T().expiredWarn : null;
  return warn ? [row, el('tr', { className: `warn warn-${c.status}` }, el('td', { colSpan: 9 }, warn))] : [row];
}

// ---- sign and verify ----

async function sign() {
  const { token, cert } = current();
  const data = textToBase64($('sign-data').value);
  const format = $('sign-format').value;
  const algorithm = algorithmFor(cert);
  const r = await kb.sign(token.id, { certificate: cert.id, algorithm, format, items: [{ data }] });
  lastSignature = { tokenId: token.id, certId: cert.id, data, signature: r.signatures[0], algorithm: r.algorithm, format };
  $('verify').disabled = false;
  say('verify-result', '');
  say('sign-result', `${T().signed(r.algorithm, atob(r.signatures[0]).length)}\n${r.signatures[0]}`);
}

async function verify() {
  const s = lastSignature;
  const pem = (await kb.getCertificate(s.tokenId, s.certId)).pem;
  const r = await server('/demo-api/verify', { certificate: pem, data: s.data, signature: s.signature,
    algorithm: s.algorithm, format: s.format });
  if (!r.signatureValid) throw Object.assign(new Error(T().verifyBad + r.detail), { code: 'SIGNATURE_INVALID' });
  say('verify-result', T().verifyOk(r.subject) + (r.certificateValid ? '' : T().certBad), true);
  $('verify-result').dataset.valid = 'true';
}

// ---- login ----

async function login() {
  const { token, cert } = current();
  const ch = await server('/demo-api/challenge', {});
  const response = await kb.authenticate(token.id, { certificate: cert.id, challenge: ch.challenge });
  const r = await server('/demo-api/login', { id: ch.id, response });
  say('login-result', T().loginOk(r.subject));
}

// ---- renewal ----

const STAGES = ['request', 'issue', 'install', 'done'];

function setStage(stage, percent) {
  const at = STAGES.indexOf(stage);
  document.querySelectorAll('#renew-stages li').forEach((li) => {
    const i = STAGES.indexOf(li.dataset.stage);
    li.className = i < at || stage === 'done' ? 'done' : i === at ? 'active' : '';
  });
  setProgress(percent);
}

function setProgress(percent) {
  $('renew-progress').value = Math.max($('renew-progress').value, Math.round(percent));
}

async function renew() {
  const { token, cert } = current();
  $('renew-progress').value = 0;
  setStage('request', 2);
  const oldPem = (await kb.getCertificate(token.id, cert.id)).pem;
  let req;
  try {
    req = await kb.requestRenewal(token.id, { certificate: cert.id },
      { onProgress: (p) => setProgress(p.percent * 0.4) });
  } catch (e) {
    if (e.code === 'NOT_FOUND' && !kb.hasFeature('renewal')) throw Object.assign(new Error(T().renewMissing), { code: e.code });
    throw e;
  }
  try {
    await issueAndInstall(token, cert, req, oldPem);
  } catch (e) {
    kb.cancelRenewal(token.id, req.requestId).catch(() => {});
    throw e;
  }
}

async function issueAndInstall(token, cert, req, oldPem) {
  setStage('issue', 45);
  const issued = await server('/demo-api/ca/issue', { csr: req.csr, proof: req.proof, certificate: oldPem });
  setStage('install', 60);
  const r = await kb.installRenewal(token.id, { requestId: req.requestId, replaces: cert.id,
    certificate: issued.certificate, chain: issued.chain }, { onProgress: (p) => setProgress(60 + p.percent * 0.4) });
  setStage('done', 100);
  selected = { tokenId: token.id, certId: r.certificate.id };
  say('renew-result', T().renewOk(r.certificate));
  await refresh();
}

// ---- PIN ----

async function changePin() {
  const { token } = current();
  await kb.changePin(token.id, {});
  say('pin-result', T().pinChanged);
  await refresh();
}

async function resetPin() {
  const { token } = current();
  const code = await server('/demo-api/unblock-code', { token: token.id });
  const r = await kb.unblockPin(token.id, { unblockCode: code.unblockCode, newPin: code.newPin });
  say('pin-result', T().pinResetOk(code.newPin) + (r.mustChange ? ` ${T().mustChange}` : ''));
  await refresh();
}

// ---- seal ----

async function viewSeal() {
  const { token, cert } = current();
  let s;
  try {
    s = await kb.getSeal(token.id, cert.id);
  } catch (e) {
    if (e.code !== 'NOT_FOUND' || e.details.field) throw e;
    $('seal-image').removeAttribute('src');
    say('seal-result', T().noSeal);
    return;
  }
  $('seal-image').src = `data:${s.mediaType};base64,${s.image}`;
  say('seal-result', T().sealRead(s.mediaType));
}

async function uploadSeal() {
  const { token, cert } = current();
  if (!sealToWrite) throw Object.assign(new Error(T().sealPick), { code: 'NO_IMAGE' });
  const r = await kb.putSeal(token.id, { certificate: cert.id, mediaType: sealToWrite.mediaType, image: sealToWrite.image });
  say('seal-result', T().sealWritten(r.size));
  $('seal-image').src = `data:${sealToWrite.mediaType};base64,${sealToWrite.image}`;
}

function useSealDataUrl(url) {
  const m = /^data:([^;]+);base64,(.*)$/.exec(url);
  sealToWrite = { mediaType: m[1], image: m[2] };
  $('seal-preview').src = url;
}

function pickSealFile() {
  const f = $('seal-file').files[0];
  if (!f) return;
  const reader = new FileReader();
  reader.onload = () => useSealDataUrl(reader.result);
  reader.readAsDataURL(f);
}

// ---- wiring ----

setupLanguage();
onLanguage(languageChanged);
$('refresh').addEventListener('click', refresh);
$('seal-file').addEventListener('change', pickSealFile);
$('seal-make').addEventListener('click', () => useSealDataUrl(drawSeal(T().sealName)));
action('sign', 'sign-result', sign);
action('verify', 'verify-result', verify);
action('login', 'login-result', login);
action('renew', 'renew-result', renew);
action('pin-change', 'pin-result', changePin);
action('pin-reset', 'pin-result', resetPin);
action('seal-view', 'seal-result', viewSeal);
action('seal-upload', 'seal-result', uploadSeal);
applyTexts();
kb = startClient(refresh, tokenEvent);
