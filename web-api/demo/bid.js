// The bid opening (开标解密): the bidder picks the encryption certificate on
// the token, the portal's server seals bid files to it (tests/demo_portal.py:
// CMS EnvelopedData for RSA and EC, GM/T 0010 for SM2) and records each bid's
// SHA-256, the page keeps the sealed bids, and at the opening keybridge
// decrypts them on the token, one batch (one PIN dialog) per certificate;
// each plaintext is checked against the SHA-256 recorded at submission.
import { base64ToBytes, bytesToBase64, textToBase64 } from '../keybridge.js';
import { $, T, action, applyTexts, el, errorText, keyText, onLanguage, say, server, setupLanguage,
  startClient } from './common.js';
import { TEXTS } from './i18n.js';

const BATCH = 64;               // items in one decrypt call (the API's maximum)
const MAX_FILE = 512 * 1024;    // what the portal's server takes as one bid
const SCHEMES = { 'RSA-PKCS1': 'RSA PKCS#1 v1.5', 'RSA-OAEP': 'RSA-OAEP', ECDH: 'EC (ECDH)', SM2: 'SM2 (GM/T 0010)' };

let kb = null;
let certs = [];                 // [{token, cert}]: the encryption certificates with their keys
const bids = [];                // the sealed bids, in the order submitted

const fail = (text, code) => Object.assign(new Error(text), { code });
const certKey = (tokenId, certId) => `${tokenId}/${certId}`;
const isEncryption = (c) => c.hasPrivateKey && (c.usage === 'encrypt' || c.usage === 'both');

// ---- the encryption certificates ----

async function refresh() {
  if (!kb || !kb.baseUrl) return;
  try {
    const tokens = await kb.listTokens();
    certs = tokens.flatMap((t) => t.certificates.filter(isEncryption).map((c) => ({ token: t, cert: c })));
    say('bid-cert-result', '');
  } catch (e) {
    say('bid-cert-result', errorText(e), false);
  }
  renderCerts();
}

function renderCerts() {
  const keep = $('bid-cert').value;
  const options = certs.map(({ token, cert }) => el('option', { value: certKey(token.id, cert.id) },
    T().bidCertOption(cert.subjectFields.CN || cert.subject, cert.label, keyText(cert), token.label)));
  $('bid-cert').replaceChildren(...(options.length ? options : [el('option', { value: '' }, T().bidNoCert)]));
  if (options.some((o) => o.value === keep)) $('bid-cert').value = keep;
  showPadding();
}

function chosen() {
  return certs.find(({ token, cert }) => certKey(token.id, cert.id) === $('bid-cert').value);
}

function showPadding() {
  const x = chosen();
  $('bid-padding-label').hidden = !x || x.cert.keyType !== 'RSA';
}

// ---- submitting: the server seals the bid ----

// The bid file: the one picked, else the sample text.
async function bidFile() {
  const f = $('bid-file').files[0];
  if (!f) return { name: T().bidSampleName, data: textToBase64($('bid-text').value) };
  if (f.size > MAX_FILE) throw fail(T().bidTooBig(MAX_FILE), 'FILE_TOO_LARGE');
  return { name: f.name, data: bytesToBase64(new Uint8Array(await f.arrayBuffer())) };
}

async function seal() {
  const x = chosen();
  if (!x) throw fail(T().bidPickCert, 'NO_CERTIFICATE');
  const file = await bidFile();
  const pem = (await kb.getCertificate(x.token.id, x.cert.id)).pem;
  const rsaPadding = x.cert.keyType === 'RSA' ? $('bid-padding').value : undefined;
  const r = await server('/demo-api/bid/seal', { certificate: pem, data: file.data, rsaPadding });
  bids.push({ ...r, n: bids.length + 1, name: file.name, tokenId: x.token.id, certId: x.cert.id, state: 'sealed' });
  $('bid-file').value = '';
  renderBids();
  say('bid-seal-result', T().bidSealed(bids.length, SCHEMES[r.scheme] || r.scheme));
}

// ---- the opening: decrypt on the token, check against the recorded SHA-256 ----

async function openBids() {
  const waiting = bids.filter((b) => b.state !== 'opened' && !b.damaged);
  if (!waiting.length) throw fail(T().bidNothing, 'NO_BIDS');
  const errors = [];
  for (const batch of batches(waiting)) await openBatch(batch, errors);
  renderBids();
  if (errors.length) throw errors[0];
  const same = waiting.filter((b) => b.state === 'opened').length;
  say('bid-open-result', T().bidOpened(waiting.length, same), same === waiting.length);
}

// The bids by the certificate they were sealed to, at most BATCH a call.
function batches(list) {
  const byCert = new Map();
  for (const b of list) {
    const key = certKey(b.tokenId, b.certId);
    byCert.set(key, [...(byCert.get(key) || []), b]);
  }
  return [...byCert.values()].flatMap((group) =>
    Array.from({ length: Math.ceil(group.length / BATCH) }, (_, i) => group.slice(i * BATCH, (i + 1) * BATCH)));
}

// One decrypt call for the batch. A bid the token cannot open (the error's
// field is items[i].cms) is marked and left out, and the others go again.
async function openBatch(batch, errors) {
  let rest = batch;
  while (rest.length) {
    try {
      await decryptBatch(rest);
      return;
    } catch (e) {
      errors.push(e);
      const m = /^items\[(\d+)\]/.exec((e.details && e.details.field) || '');
      const bad = m ? rest[Number(m[1])] : null;
      for (const b of bad ? [bad] : rest) Object.assign(b, { state: 'failed', error: e, damaged: !!bad });
      rest = bad ? rest.filter((b) => b !== bad) : [];
    }
  }
}

async function decryptBatch(batch) {
  const { tokenId, certId } = batch[0];
  if (!kb.decrypt) throw fail(T().bidMissing, 'NOT_FOUND');
  let r;
  try {
    r = await kb.decrypt(tokenId, { certificate: certId, items: batch.map((b) => ({ cms: b.cms })) });
  } catch (e) {
    const field = e.details && e.details.field;
    const unknownMethod = e.code === 'NOT_FOUND' && (!field || field === 'method') && !kb.hasFeature('decrypt');
    if (unknownMethod) throw fail(T().bidMissing, e.code);
    throw e;
  }
  await Promise.all(batch.map((b, i) => checkPlaintext(b, base64ToBytes(r.plaintexts[i]))));
}

async function checkPlaintext(b, bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  b.plain = bytes;
  b.state = [...digest].map((x) => x.toString(16).padStart(2, '0')).join('') === b.sha256 ? 'opened' : 'mismatch';
  delete b.error;
}

// ---- the table of bids ----

function renderBids() {
  const head = el('tr', {}, ...T().bidCols.map((h) => el('th', {}, h)));
  $('bid-list').replaceChildren(head, ...bids.map(bidRow));
}

function bidRow(b) {
  const state = b.state === 'failed' ? errorText(b.error) : T().bidState[b.state];
  const row = el('tr', { className: `bid state-${b.state}` },
    el('td', {}, String(b.n)), el('td', {}, b.name), el('td', { title: b.recipient }, recipientName(b.recipient)),
    el('td', {}, SCHEMES[b.scheme] || b.scheme), el('td', {}, String(b.size)),
    el('td', {}, el('code', { title: b.sha256 }, `${b.sha256.slice(0, 16)}…`)),
    el('td', { className: 'bid-state' }, state),
    el('td', {}, ...(b.plain ? plainCell(b) : [])));
  Object.assign(row.dataset, { n: b.n, state: b.state, scheme: b.scheme, format: b.format, sha256: b.sha256 });
  if (b.error) row.dataset.code = b.error.code || b.error.name;
  return row;
}

// The CN of the certificate the server sealed to (its whole subject shows on hover).
function recipientName(subject) {
  const m = /(?:^|, )CN ?= ?([^,]+)/.exec(subject);
  return m ? m[1] : subject;
}

// The opened content: the text when it is UTF-8, and a link that saves it.
function plainCell(b) {
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(b.plain);
  } catch (e) {
    text = T().bidBinary(b.plain.length);
  }
  b.url = b.url || URL.createObjectURL(new Blob([b.plain]));
  return [el('pre', { className: 'bid-plain' }, text),
    el('a', { className: 'bid-save', href: b.url, download: b.name }, T().bidSave)];
}

// ---- wiring ----

// The sample bid follows the language unless the user wrote their own.
function languageChanged() {
  if (!$('bid-text').value || Object.values(TEXTS).some((x) => x.bidSample === $('bid-text').value)) {
    $('bid-text').value = T().bidSample;
  }
  renderCerts();
  renderBids();
}

setupLanguage();
onLanguage(languageChanged);
$('refresh').addEventListener('click', refresh);
$('bid-cert').addEventListener('change', showPadding);
action('bid-seal', 'bid-seal-result', seal);
action('bid-open', 'bid-open-result', openBids);
applyTexts();
kb = startClient(refresh, refresh);
