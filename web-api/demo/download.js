// The demo portal's remote download (远程下载) of a first certificate onto a
// formatted, empty token, as the RA manuals walk it: enter the download
// authorization code (证书下载授权码), check the certificate it authorizes
// (subject, 1822 days), press 下载. keybridge makes the key and the CSR on
// the token (enrollment.request), the demo RA/CA (tests/demo_portal.py)
// checks the CSR against the code and issues — for SM2 a double certificate,
// the encryption key enveloped to the new key — and keybridge writes what
// it issued onto the token (enrollment.install).
import { $, T, action, applyTexts, el, keyText, onLanguage, params, say, server, setupLanguage, startClient } from './common.js';

const SUBJECT_ORDER = ['C', 'ST', 'L', 'O', 'OU', 'CN', 'serialNumber', 'emailAddress'];
const STAGES = ['request', 'issue', 'install', 'done'];

let kb = null;
let tokens = [];
let auth = null;       // what the code authorizes (the RA's lookup answer)
let pending = null;    // {code, tokenId, req, issued}: issued, not yet written (the install failed)
let shown = null;      // {certificate, encryption} written, as the token lists them
let busy = false;      // a download runs: 下载 stays disabled whatever the listing does

// ---- tokens ----

async function refresh() {
  if (!kb || kb.state !== 'connected') return;
  try {
    tokens = await kb.listTokens();
  } catch (e) {
    $('dl-tokens').replaceChildren(el('p', { className: 'error' }, e.message));
    return;
  }
  renderTokenChoice();
  renderTokens();
}

// A token that can take the authorized key: SM2 on SKF tokens, RSA and EC
// on PKCS#11 tokens.
function fits(t) {
  if (!auth || auth.keyType === 'auto') return true;
  return (auth.keyType === 'SM2') === (t.backend === 'skf');
}

// What a token is to a download: "unformatted" (its CA has not formatted
// it), "identity" (it holds a certificate with its key: that one is renewed,
// and keybridge refuses a request on it, reason token-not-blank) or
// "blank" (certificates without a key, a CA's, do not count).
function tokenState(t) {
  if (t.initialized === false) return 'unformatted';
  return t.certificates.some((c) => c.hasPrivateKey) ? 'identity' : 'blank';
}

function keyTypeFor(t) {
  if (auth.keyType !== 'auto') return auth.keyType;
  return t.backend === 'skf' ? 'SM2' : 'RSA-2048';
}

function renderTokenChoice() {
  if (!auth) return;
  const select = $('dl-token');
  const before = select.value;
  const usable = tokens.filter(fits);
  // only a blank token can be picked; the others are shown, disabled, with why
  const options = usable.map((t) => {
    const state = tokenState(t);
    const o = el('option', { value: t.id, disabled: state !== 'blank' }, T().dlTokenOption(t, state, t.certificates.length));
    o.dataset.state = state;
    o.dataset.blank = String(state === 'blank');
    return o;
  });
  const blanks = usable.filter((t) => tokenState(t) === 'blank');
  if (!blanks.length) options.unshift(el('option', { value: '', disabled: true }, T().dlNoBlank));
  select.replaceChildren(...options);
  select.value = (blanks.find((t) => t.id === before) || blanks[0] || { id: '' }).id;
  showChoice();
}

function chosen() {
  return tokens.find((t) => t.id === $('dl-token').value && fits(t));
}

function showChoice() {
  const t = chosen();
  const states = tokens.filter(fits).map(tokenState);
  $('dl-keytype').textContent = !auth ? '' : auth.keyType !== 'auto' ? auth.keyType :
    T().dlKeyAuto(t ? keyTypeFor(t) : 'SM2 / RSA-2048');
  const notes = [!t ? T().dlNoToken : '', states.includes('identity') ? T().dlNotBlank : '',
    states.includes('unformatted') ? T().dlNotFormatted : ''];
  $('dl-token-note').replaceChildren(...notes.filter(Boolean).map((n) => el('span', { className: 'note-line' }, n)));
  $('dl-download').disabled = busy || !t;
}

function renderTokens() {
  $('dl-tokens').replaceChildren(...(tokens.length ? tokens.map(tokenBox) : [el('p', { className: 'empty' }, T().noToken)]));
}

function tokenBox(t) {
  const head = el('tr', {}, ...T().cols.slice(1).map((h) => el('th', {}, h)));
  const rows = t.certificates.map((c) => {
    const r = el('tr', { className: 'cert' },
      el('td', {}, String(c.subjectFields.CN || c.subject)), el('td', {}, String(c.subjectFields.O || '')),
      el('td', {}, T().usage[c.usage] || ''), el('td', {}, keyText(c)),
      el('td', {}, c.notBefore.slice(0, 10)), el('td', {}, c.notAfter.slice(0, 10)), el('td', {}, String(c.daysLeft)),
      el('td', { className: `status status-${c.status}` }, T().status[c.status]));
    r.dataset.cert = c.id;
    r.dataset.cn = String(c.subjectFields.CN || '');
    r.dataset.usage = c.usage || '';
    return r;
  });
  const box = el('div', { className: 'token', id: `token-${t.id}` },
    el('h3', {}, `${t.label} `, el('small', {}, `${t.manufacturer} ${t.model}`)),
    el('p', { className: 'token-line' }, `${T().keyNo}: `, el('code', { className: 'serial' }, t.serial),
      t.initialized === false ? T().dlUnformatted : ''),
    rows.length ? el('table', {}, head, ...rows) :
      el('p', { className: 'empty' }, t.initialized === false ? T().none : T().dlNoCert));
  box.dataset.certificates = String(t.certificates.length);
  return box;
}

// ---- step 1: the code ----

async function next() {
  const code = $('dl-code').value.trim();
  $('dl-check').hidden = true;
  auth = null;
  if (!/[0-9a-z]/i.test(code)) {    // the RA server would answer in English: the page says it
    say('dl-code-result', T().dlCodeEmpty, false);
    $('dl-code-result').dataset.code = 'CODE_EMPTY';
    $('dl-code').focus();
    return;
  }
  auth = await server('/demo-api/ra/lookup', { code });
  if (pending && pending.code !== auth.code) pending = null;
  say('dl-code-result', '');
  say('dl-result', '');
  $('dl-progress').value = 0;
  setStage(null);
  renderAuth();
  $('dl-check').hidden = false;
  await refresh();
}

function renderAuth() {
  if (!auth) return;
  $('dl-subject-line').textContent = auth.subjectText;
  $('dl-subject').replaceChildren(...SUBJECT_ORDER.filter((k) => k in auth.subject).map((k) => {
    const v = auth.subject[k];
    const row = el('tr', {}, el('th', {}, T().subjectNames[k]), el('td', {}, Array.isArray(v) ? v.join('; ') : v));
    row.dataset.field = k;
    return row;
  }));
  $('dl-validity').textContent = T().dlValidityDays(auth.validityDays);
  $('dl-validity').dataset.days = String(auth.validityDays);
  renderTokenChoice();
}

// ---- step 2: download ----

function setStage(stage, percent) {
  const at = STAGES.indexOf(stage);
  document.querySelectorAll('#dl-stages li').forEach((li) => {
    const i = STAGES.indexOf(li.dataset.stage);
    li.className = stage === null ? '' : i < at || stage === 'done' ? 'done' : i === at ? 'active' : '';
  });
  if (percent !== undefined) setProgress(percent);
}

function setProgress(percent) {
  $('dl-progress').value = Math.max($('dl-progress').value, Math.round(percent));
}

async function download() {
  busy = true;
  try {
    await downloadTo(chosen());
  } finally {
    busy = false;
  }
}

async function downloadTo(token) {
  if (!token) throw Object.assign(new Error(T().dlPickToken), { code: 'NO_TOKEN' });
  $('dl-progress').value = 0;
  $('dl-cert-box').hidden = true;
  if (!pending || pending.code !== auth.code || pending.tokenId !== token.id) {
    pending = null;
    setStage('request', 2);
    const req = await request(token);
    setStage('issue', 45);
    let issued;
    try {
      issued = await server('/demo-api/ra/issue', { code: auth.code, csr: req.csr });
    } catch (e) {
      kb.cancelEnrollment(token.id, req.requestId).catch(() => {});   // the new key is of no use
      if (e.code === 'SUBJECT_MISMATCH') e.hint = e.message;         // what differs
      throw e;
    }
    pending = { code: auth.code, tokenId: token.id, req, issued };
  }
  setStage('install', 60);
  let r;
  try {
    r = await kb.installEnrollment(token.id, { requestId: pending.req.requestId, certificate: pending.issued.certificate,
      chain: pending.issued.chain, encryption: pending.issued.encryption }, { onProgress: (p) => setProgress(60 + p.percent * 0.4) });
  } catch (e) {
    // The code is used up and the CA issued: keep both, a second press writes them again.
    e.hint = T().dlRetry;
    throw e;
  }
  const issued = pending.issued;
  pending = null;
  setStage('done', 100);
  say('dl-result', T().dlOk(r.certificate) + (r.encryption ? T().dlOkEnc : ''));
  await showCertificate(token, r, issued);
  await refresh();
}

async function request(token) {
  try {
    return await kb.requestEnrollment(token.id, { subject: auth.subject, keyType: keyTypeFor(token) },
      { onProgress: (p) => setProgress(p.percent * 0.4) });
  } catch (e) {
    if (e.code === 'NOT_FOUND' && !kb.hasFeature('enrollment')) throw Object.assign(new Error(T().dlMissing), { code: e.code });
    // the listing was stale (the token got a certificate meanwhile): show it as it is
    if (e.details && e.details.reason === 'token-not-blank') await refresh();
    throw e;
  }
}

async function pemOf(token, cert, fallback) {
  try {
    return (await kb.getCertificate(token.id, cert.id)).pem;
  } catch (e) {
    return fallback;
  }
}

async function showCertificate(token, r, issued) {
  shown = { certificate: r.certificate, encryption: r.encryption ? r.encryption.certificate : null };
  $('dl-pem').textContent = await pemOf(token, r.certificate, issued.certificate);
  $('dl-enc-pem').textContent = shown.encryption ?
    await pemOf(token, shown.encryption, issued.encryption ? issued.encryption.certificate : '') : '';
  $('dl-enc-pem').hidden = !shown.encryption;
  renderCertificate();
  $('dl-cert-box').hidden = false;
}

function renderCertificate() {
  if (!shown) return;
  const c = shown.certificate;
  const f = T().certFields;
  const row = (key, value) => {
    const tr = el('tr', {}, el('th', {}, f[key]), el('td', {}, value));
    tr.dataset.field = key;
    return tr;
  };
  const rows = [row('subject', c.subject), row('issuer', c.issuer), row('serialNumber', c.serialNumber),
    row('notBefore', c.notBefore), row('notAfter', c.notAfter),
    row('key', keyText(c)), row('usage', T().usage[c.usage] || ''),
    row('container', c.label)];
  if (shown.encryption) {
    const e = shown.encryption;
    rows.push(row('encryption', `${e.subject} · ${T().usage[e.usage] || ''} · ${e.serialNumber} · ${e.notAfter.slice(0, 10)}`));
  }
  $('dl-cert').replaceChildren(...rows);
  $('dl-cert').dataset.cert = c.id;
}

// ---- wiring ----

setupLanguage();
onLanguage(() => { renderAuth(); renderTokens(); renderCertificate(); });
$('dl-refresh').addEventListener('click', refresh);
$('dl-token').addEventListener('change', showChoice);
$('dl-code').addEventListener('keydown', (e) => { if (e.key === 'Enter') $('dl-next').click(); });
action('dl-next', 'dl-code-result', next);
action('dl-download', 'dl-result', download, () => !!chosen());
if (params.get('code')) $('dl-code').value = params.get('code');   // a link the RA sent
kb = startClient(refresh, refresh);
applyTexts();
