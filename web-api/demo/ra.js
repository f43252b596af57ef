// The demo RA's staff page: a subject (and key type) in, a download
// authorization code (证书下载授权码) out, which the user enters on the remote
// download page; and the codes made so far, used or not.
import { $, T, action, applyTexts, el, onLanguage, say, server, setupLanguage } from './common.js';

const FIELDS = ['C', 'ST', 'L', 'O', 'OU', 'CN', 'serialNumber', 'emailAddress'];
let codes = [];

function subjectFromForm() {
  const subject = {};
  for (const k of FIELDS) {
    const v = $(`ra-${k}`).value.trim();
    if (!v) continue;
    if (k === 'OU') {
      const units = v.split(/[;；]/).map((x) => x.trim()).filter(Boolean);
      subject.OU = units.length > 1 ? units : units[0];
    } else {
      subject[k] = v;
    }
  }
  return subject;
}

async function make() {
  const made = await server('/demo-api/ra/codes', { subject: subjectFromForm(), keyType: $('ra-keytype').value });
  say('ra-result', T().raMade(made.code));
  $('ra-code').textContent = made.code;
  const link = $('ra-link');
  const q = new URLSearchParams(location.search);
  q.set('code', made.code);
  link.href = `download.html?${q}`;
  link.hidden = false;
  await list();
}

async function list() {
  codes = (await server('/demo-api/ra/list', {})).codes;
  render();
}

function render() {
  const head = el('tr', {}, ...T().raCols.map((h) => el('th', {}, h)));
  $('ra-codes').replaceChildren(head, ...codes.map((c) => {
    const row = el('tr', { className: `code-row state-${c.state}` },
      el('td', {}, el('code', {}, c.code)), el('td', {}, c.subjectText),
      el('td', {}, c.keyType === 'auto' ? T().raKeyAuto : c.keyType),
      el('td', {}, T().raState[c.state] || c.state), el('td', {}, c.created.replace('T', ' ').replace('Z', ' UTC')),
      el('td', {}, c.certificateSerial || ''));
    row.dataset.code = c.code;
    row.dataset.state = c.state;
    return row;
  }));
}

function subjectLabels() {
  document.querySelectorAll('[data-t-subject]').forEach((e) => { e.textContent = T().subjectNames[e.dataset.tSubject]; });
}

setupLanguage();
onLanguage(() => { subjectLabels(); render(); });
$('ra-refresh').addEventListener('click', () => list().catch(() => {}));
action('ra-make', 'ra-result', make);
applyTexts();
list().catch((e) => say('ra-result', e.message, false));
