// Remote download (远程下载) in the demo portal, end to end in headless
// Chromium: the RA staff page makes a download authorization code for a
// subject, the user's page shows what it authorizes (subject, 1822 days),
// keybridge makes the key and the CSR on a blank token (enrollment.request),
// the demo RA/CA checks the CSR against the code and issues, keybridge
// writes the certificate (enrollment.install). On a blank SoftHSM2 token
// (EC P-256, two OUs) and on a blank application of the software SKF token
// (SM2, a double certificate: the encryption key comes enveloped to the new
// key); the certificates are checked with openssl, the token listing after.
// Refusals: a used code, an unknown one, none, a CSR for another subject, a
// token that holds a certificate already (shown disabled, never picked; the
// daemon refuses it, reason token-not-blank, before any PIN dialog), a token
// not formatted. Each token is enrolled once: a second request on it is
// refused. run.py --blank makes the blank tokens. The flows that need the daemon's
// enrollment run when it lists "enrollment" in GET /v1/info features;
// otherwise they are reported as skipped, never as passed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env, launch, openDemoPage, pinentryAnswers, pinentryClear, pinentryDialogs, screenshot,
  textMatching } from './lib.mjs';

const available = env.features.includes('enrollment');
const why = `the daemon does not list "enrollment" in /v1/info features (${env.features.join(', ')})`;
const GMT_ID = ['-vfyopt', 'distid:1234567812345678'];
const DAY = 86400000;
let browser, page, logs, work;
const codes = {};      // name -> the code the RA page made

before(async () => {
  assert.ok(env.blank, 'run.py --blank passes the blank tokens');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'kb-enroll-'));
  ({ browser, page, logs } = await launch());
});

after(async () => {
  if (browser) await browser.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
  if (logs && logs.length) console.log(logs.map((l) => `# ${l}`).join('\n'));
});

// ---- helpers ----

function openssl(args, input) {
  return execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

function file(name, text) {
  const p = path.join(work, name);
  fs.writeFileSync(p, text);
  return p;
}

// openssl's verdict on a certificate and its CA: "OK" or what it said.
function verify(pem, caPem, extra = []) {
  try {
    return openssl(['verify', ...extra, '-CAfile', caPem, file('verify.pem', pem)]).trim().replace(/^.*: /, '');
  } catch (e) {
    return `${e.stdout}${e.stderr}`;
  }
}

function x509(pem, ...args) {
  return openssl(['x509', '-noout', '-nameopt', 'utf8,sep_comma_plus_space', ...args], pem).trim();
}

// A CSR made by openssl (not by a token) for the subject, as a portal's
// server might receive one.
function opensslCsr(subject) {
  const key = path.join(work, 'other.key');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  const subj = Object.entries(subject).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `/${k}=${x}`)).join('');
  return openssl(['req', '-new', '-utf8', '-key', key, '-subj', subj]);
}

// A call to the portal's own server from the portal's page (same origin).
async function portal(p, body) {
  return page.evaluate(async ([p, body]) => {
    const r = await fetch(p, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  }, [p, body]);
}

// The daemon's listing of a token, read by the page (its origin is allowed).
async function listed(id) {
  const tokens = await page.evaluate(async (url) => (await (await fetch(`${url}/v1/tokens`)).json()).tokens, env.daemon);
  return tokens.find((t) => t.id === id);
}

async function makeCode(fields, keyType) {
  await openDemoPage(page, 'ra.html');
  await page.locator('#ra-codes tr').first().waitFor();
  for (const [k, v] of Object.entries(fields)) await page.fill(`#ra-${k}`, v);
  await page.selectOption('#ra-keytype', keyType);
  await page.click('#ra-make');
  const made = await textMatching(page, '#ra-result', /授权码|\[/);
  assert.match(made, /^已生成证书下载授权码：/, made);
  const code = await page.locator('#ra-code').textContent();
  assert.match(code, /^[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){3}$/);
  await page.locator(`#ra-codes tr[data-code="${code}"][data-state=unused]`).waitFor();
  return code;
}

// The user's steps: the code, then the check of what it authorizes.
async function enterCode(code) {
  await openDemoPage(page, 'download.html');
  await page.locator('#state[data-state=connected]').waitFor();
  await page.fill('#dl-code', code);
  await page.click('#dl-next');
}

async function download(tokenId, pins) {
  await page.locator('#dl-check:not([hidden])').waitFor();
  await page.locator(`#dl-token option[value="${tokenId}"]`).waitFor({ state: 'attached' });
  await page.selectOption('#dl-token', tokenId);
  pinentryClear();
  pinentryAnswers(...pins);
  await page.click('#dl-download');
  return textMatching(page, '#dl-result', /成功|\[/);
}

// ---- the RA staff page ----

test('the RA staff page makes a single-use download code for a subject, in Chinese and in English', async () => {
  codes.p11 = await makeCode({ CN: '钱九', OU: '投标部;采购部' }, 'EC-P256');
  const row = page.locator(`#ra-codes tr[data-code="${codes.p11}"]`);
  assert.match(await row.textContent(), /CN=钱九, OU=采购部, OU=投标部, O=阳光采购测试有限公司, L=济南市, ST=山东省, C=CN/);
  assert.match(await row.textContent(), /EC-P256.*未使用/);
  assert.equal(await page.locator('th', { hasText: '姓名 (CN)' }).count(), 1);
  await screenshot(page, 'enroll-ra');
  await page.click('#lang-en');
  assert.equal(await page.locator('h2').first().textContent(), 'Download authorization (RA staff)');
  assert.match(await row.textContent(), /unused/);
  assert.equal(await page.locator('th', { hasText: 'Name (CN)' }).count(), 1);
  codes.sm2 = await makeCode({ CN: '国密用户', serialNumber: '370102199001011234', emailAddress: 'guomi@example.cn' }, 'SM2');
});

// ---- enrollment on a blank SoftHSM2 token ----

test('a blank SoftHSM2 token: the code, the subject and 1822 days, 下载, the certificate on the token', async (t) => {
  if (!available) {
    t.skip(why);
    return;
  }
  const blank = env.blank.pkcs11;
  assert.deepEqual([blank.initialized, blank.certificates.length], [true, 0], 'the token starts blank');
  await enterCode(codes.p11.toLowerCase().replace(/-/g, ' '));   // as typed: case and separators do not matter
  await page.locator('#dl-check:not([hidden])').waitFor();
  assert.equal(await page.locator('#dl-validity').textContent(), '1822天（5年）');
  assert.equal(await page.locator('#dl-subject tr[data-field=CN] td').textContent(), '钱九');
  assert.equal(await page.locator('#dl-subject tr[data-field=OU] td').textContent(), '投标部; 采购部');
  assert.equal(await page.locator('#dl-keytype').textContent(), 'EC-P256');
  const offered = await page.locator('#dl-token option').evaluateAll((os) => os.map((o) => o.value));
  assert.ok(offered.includes(env.token.id) && !offered.includes(env.blank.skf.id), `PKCS#11 tokens only: ${offered}`);
  assert.equal(await page.locator('#dl-token').inputValue(), blank.id, 'the blank token is picked');
  assert.match(await page.locator(`#dl-token option[value="${blank.id}"]`).textContent(), /，空白）$/);
  // the test's token holds certificates with their keys: shown, disabled, with why
  const held = page.locator(`#dl-token option[value="${env.token.id}"]`);
  assert.deepEqual([await held.isDisabled(), await held.getAttribute('data-state')], [true, 'identity']);
  assert.match(await held.textContent(), /，已有证书，请使用证书更新）$/);
  assert.match(await page.locator('#dl-token-note').textContent(), /已有证书.*不能再下载新证书.*证书更新/);
  await screenshot(page, 'enroll-check');

  const result = await download(blank.id, ['pin 123456', 'pin 123456', 'pin 123456']);
  assert.match(result, /^证书下载成功：钱九，有效期至 \d{4}-\d\d-\d\d（序列号 [0-9a-fA-F:]+）$/, result);
  assert.equal(await page.locator('#dl-progress').evaluate((p) => p.value), 100);
  assert.equal(await page.locator('#dl-stages li.done').count(), 4);
  // the request and the install each ask: no earlier authorization counts for a write
  const dialogs = pinentryDialogs();
  assert.ok(dialogs.length >= 2 && dialogs.every((d) => d.description.includes(env.page)), JSON.stringify(dialogs));

  // the certificate shown is the token's, and what the CA issued for the code
  assert.match(await page.locator('#dl-cert tr[data-field=subject] td').textContent(), /CN=钱九/);
  assert.equal(await page.locator('#dl-cert tr[data-field=key] td').textContent(), 'EC P-256');
  const pem = await page.locator('#dl-pem').textContent();
  assert.equal(verify(pem, env.caPem), 'OK');
  const subject = x509(pem, '-subject');
  for (const part of ['C=CN', 'ST=山东省', 'L=济南市', 'O=阳光采购测试有限公司', 'OU=投标部', 'OU=采购部', 'CN=钱九']) {
    assert.ok(subject.includes(part), `${part} in ${subject}`);
  }
  assert.match(openssl(['x509', '-noout', '-text'], pem), /ASN1 OID: prime256v1/);

  // the token's listing: one certificate, its key on the token, 1822 days
  const token = await listed(blank.id);
  assert.equal(token.initialized, true);
  assert.equal(token.certificates.length, 1);
  const [cert] = token.certificates;
  assert.deepEqual([cert.subjectFields.CN, cert.keyType, cert.hasPrivateKey, cert.status], ['钱九', 'EC', true, 'valid']);
  assert.equal(cert.id, await page.locator('#dl-cert').getAttribute('data-cert'));
  assert.equal((Date.parse(cert.notAfter) - Date.parse(cert.notBefore)) / DAY, 1822);
  await page.locator(`#token-${blank.id}[data-certificates="1"]`).waitFor();
  // not blank any more: disabled, not picked, no other blank PKCS#11 token to pick
  await page.locator(`#dl-token option[value="${blank.id}"][data-state=identity]:disabled`).waitFor({ state: 'attached' });
  assert.equal(await page.locator('#dl-token').inputValue(), '');
  assert.ok(await page.locator('#dl-download').isDisabled());
  await screenshot(page, 'enroll-pkcs11');
});

test('a token that holds a certificate: offered disabled, never picked, and refused (token-not-blank) before any PIN', async (t) => {
  if (!available) {
    t.skip(why);
    return;
  }
  const blank = env.blank.pkcs11;    // enrolled by the test before
  await openDemoPage(page, 'ra.html');
  const made = await portal('/demo-api/ra/codes', { subject: { C: 'CN', CN: '周八' }, keyType: 'EC-P256' });
  await enterCode(made.body.code);
  await page.locator('#dl-check:not([hidden])').waitFor();
  const option = page.locator(`#dl-token option[value="${blank.id}"]`);
  await option.waitFor({ state: 'attached' });
  assert.deepEqual([await option.isDisabled(), await option.getAttribute('data-state')], [true, 'identity']);
  assert.match(await option.textContent(), /，已有证书，请使用证书更新）$/);
  assert.equal(await page.locator('#dl-token').inputValue(), '', 'no token picked: none of them is blank');
  assert.match(await page.locator('#dl-token option:checked').textContent(), /无可装载证书的空白 UKey/);
  assert.ok(await page.locator('#dl-download').isDisabled());
  const note = await page.locator('#dl-token-note').textContent();
  assert.match(note, /^未检测到可装载该证书的空白 UKey/);
  assert.match(note, /标有“已有证书”的 UKey 已装有用户证书，不能再下载新证书；如需延期或更换证书，请在“证书业务”页面使用“证书更新”。/);
  await page.click('#lang-en');
  assert.match(await option.textContent(), /, holds a certificate: use renewal\)$/);
  assert.match(await page.locator('#dl-token-note').textContent(), /"holds a certificate" has a user certificate already.*renewal/);
  await page.click('#lang-zh');

  // keybridge refuses a request on it, before any dialog
  pinentryClear();
  const answer = await page.evaluate(async ([url, id]) => {
    const r = await fetch(`${url}/v1/tokens/${id}/enrollment/request`, { method: 'POST',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ subject: { CN: '周八' }, keyType: 'EC-P256' }) });
    return { status: r.status, body: await r.json() };
  }, [env.daemon, blank.id]);
  assert.equal(answer.status, 400, JSON.stringify(answer.body));
  assert.deepEqual([answer.body.error.code, answer.body.error.field, answer.body.error.reason],
    ['BAD_REQUEST', 'token', 'token-not-blank']);
  assert.deepEqual(pinentryDialogs(), [], 'refused before the PIN dialog');

  // a page whose listing is stale (the token got its certificate meanwhile)
  // sends the request: the refusal is said in the page's words, the listing
  // is read again, and the code stays unused
  await page.evaluate((id) => {
    const s = document.getElementById('dl-token');
    s.querySelector(`option[value="${id}"]`).disabled = false;
    s.value = id;
    s.dispatchEvent(new Event('change'));
  }, blank.id);
  await page.click('#dl-download');
  const said = await textMatching(page, '#dl-result', /\[/);
  assert.equal(said, '该 UKey 已装有证书，不能再下载新证书；如需延期或更换证书，请在“证书业务”页面使用“证书更新”。 [BAD_REQUEST]');
  assert.deepEqual([await page.locator('#dl-result').getAttribute('data-code'), await page.locator('#dl-result').getAttribute('data-reason')],
    ['BAD_REQUEST', 'token-not-blank']);
  assert.deepEqual(pinentryDialogs(), []);
  await page.locator(`#dl-token option[value="${blank.id}"]:disabled`).waitFor({ state: 'attached' });
  const still = await portal('/demo-api/ra/lookup', { code: made.body.code });
  assert.equal(still.body.state, 'unused');
  await screenshot(page, 'enroll-not-blank');

  // a key type the token cannot make is refused with its reason too
  const sm2 = await page.evaluate(async ([url, id]) => {
    const r = await fetch(`${url}/v1/tokens/${id}/enrollment/request`, { method: 'POST',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ subject: { CN: '周八' }, keyType: 'SM2' }) });
    return { status: r.status, body: await r.json() };
  }, [env.daemon, blank.id]);
  assert.deepEqual([sm2.body.error.code, sm2.body.error.field, sm2.body.error.reason],
    ['UNSUPPORTED_ALGORITHM', 'keyType', 'token-cannot-generate'], JSON.stringify(sm2));
});

// ---- refusals ----

test('a used code and an unknown one are refused with clear messages', async (t) => {
  // a code used by a certificate issued for an openssl-made request (with
  // the daemon's enrollment, the one the token just used goes the same way)
  await openDemoPage(page, 'ra.html');
  const subject = { C: 'CN', O: '阳光采购测试有限公司', CN: '吴十' };
  const made = await portal('/demo-api/ra/codes', { subject, keyType: 'EC-P256' });
  assert.equal(made.status, 200);
  const issued = await portal('/demo-api/ra/issue', { code: made.body.code, csr: opensslCsr(subject) });
  assert.equal(issued.status, 200, JSON.stringify(issued.body));
  assert.equal(verify(issued.body.certificate, env.caPem), 'OK');
  const used = available ? [made.body.code, codes.p11] : [made.body.code];
  for (const code of used) {
    await enterCode(code);
    const text = await textMatching(page, '#dl-code-result', /授权码|\[/);
    assert.match(text, /^该授权码已经使用过（证书已下载）；如需再次下载，请联系 RA 中心重新授权。 \[CODE_USED\]$/, text);
    assert.equal(await page.locator('#dl-code-result').getAttribute('data-code'), 'CODE_USED');
    assert.ok(await page.locator('#dl-check').isHidden(), 'nothing to download');
  }
  // no code: the page says so in its language (not the RA server's English)
  for (const typed of ['', ' - - ']) {
    await page.fill('#dl-code', typed);
    await page.click('#dl-next');
    await page.locator('#dl-code-result[data-code=CODE_EMPTY]').waitFor();
    assert.equal(await page.locator('#dl-code-result').textContent(), '请输入从 RA 中心获取的证书下载授权码。');
  }
  await page.fill('#dl-code', 'ABCD-EFGH-JKLM-NPQR');
  await page.click('#dl-next');
  await page.locator('#dl-code-result[data-code=CODE_UNKNOWN]').waitFor();
  assert.match(await page.locator('#dl-code-result').textContent(), /^授权码不存在，请核对后重新输入。/);
  await page.click('#lang-en');
  await page.click('#dl-next');
  assert.match(await textMatching(page, '#dl-code-result', /code/), /^No such download code: check it and enter it again\./);
  await page.fill('#dl-code', '');
  await page.click('#dl-next');
  assert.equal(await textMatching(page, '#dl-code-result', /code/), 'Enter the download authorization code the RA gave you.');
  await screenshot(page, 'enroll-refused');
  if (!available) t.diagnostic(`the code used by a token's enrollment is not tried: ${why}`);
});

test('the CA refuses a request that names another subject than the code, and the code stays usable', async () => {
  await openDemoPage(page, 'ra.html');
  const made = await portal('/demo-api/ra/codes', { subject: { C: 'CN', CN: '郑十一' }, keyType: 'auto' });
  const other = await portal('/demo-api/ra/issue', { code: made.body.code, csr: opensslCsr({ C: 'CN', CN: '郑十二' }) });
  assert.equal(other.status, 400);
  assert.equal(other.body.error.code, 'SUBJECT_MISMATCH');
  assert.match(other.body.error.message, /CN=郑十二.*CN=郑十一/);
  const more = await portal('/demo-api/ra/issue', { code: made.body.code, csr: opensslCsr({ C: 'CN', CN: '郑十一', O: '多一项' }) });
  assert.equal(more.body.error.code, 'SUBJECT_MISMATCH', 'an extra attribute is another subject too');
  const still = await portal('/demo-api/ra/lookup', { code: made.body.code });
  assert.deepEqual([still.status, still.body.state], [200, 'unused']);
});

// ---- enrollment on a blank SKF application: SM2 double certificate ----

test('a blank SKF application: SM2, a signing and an encryption certificate, the encryption key enveloped', async (t) => {
  if (!available) {
    t.skip(why);
    return;
  }
  const blank = env.blank.skf;
  assert.deepEqual([blank.initialized, blank.certificates.length], [true, 0], 'the application starts empty');
  await enterCode(codes.sm2);
  await page.locator('#dl-check:not([hidden])').waitFor();
  assert.equal(await page.locator('#dl-keytype').textContent(), 'SM2');
  assert.equal(await page.locator('#dl-subject tr[data-field=serialNumber] td').textContent(), '370102199001011234');
  assert.equal(await page.locator('#dl-token').inputValue(), blank.id, 'the blank SKF token is picked');
  assert.match(await page.locator(`#dl-token option[value="${blank.id}"]`).textContent(), /，空白）$/);

  const result = await download(blank.id, ['pin 123456', 'pin 123456', 'pin 123456']);
  assert.match(result, /^证书下载成功：国密用户，有效期至 \d{4}-\d\d-\d\d（序列号 [0-9a-fA-F:]+），加密证书已一并写入$/, result);
  assert.equal(await page.locator('#dl-stages li.done').count(), 4);
  assert.match(await page.locator('#dl-cert tr[data-field=encryption] td').textContent(), /CN=国密用户/);

  // both certificates: the SM2 CA's, SM2-with-SM3 with the GM/T ID, the code's subject
  const sign = await page.locator('#dl-pem').textContent();
  const enc = await page.locator('#dl-enc-pem').textContent();
  for (const pem of [sign, enc]) {
    assert.equal(verify(pem, env.sm2CaPem, GMT_ID), 'OK');
    const text = openssl(['x509', '-noout', '-text'], pem);
    assert.match(text, /Signature Algorithm: SM2-with-SM3/);
    assert.match(text, /ASN1 OID: SM2/);
    const subject = x509(pem, '-subject');
    for (const part of ['CN=国密用户', 'serialNumber=370102199001011234', 'emailAddress=guomi@example.cn', 'C=CN']) {
      assert.ok(subject.includes(part), `${part} in ${subject}`);
    }
  }
  assert.match(x509(sign, '-ext', 'keyUsage'), /Digital Signature, Non Repudiation/);
  assert.match(x509(enc, '-ext', 'keyUsage'), /Key Encipherment, Data Encipherment/);
  assert.notEqual(x509(sign, '-pubkey'), x509(enc, '-pubkey'), 'the encryption key is not the signing key');

  // the token's listing: both certificates with their keys, in one new container
  const token = await listed(blank.id);
  const byUsage = Object.fromEntries(token.certificates.map((c) => [c.usage, c]));
  assert.deepEqual(token.certificates.map((c) => c.usage).sort(), ['encrypt', 'sign'], JSON.stringify(token.certificates));
  for (const c of token.certificates) {
    assert.deepEqual([c.keyType, c.hasPrivateKey, c.subjectFields.CN, c.status], ['SM2', true, '国密用户', 'valid']);
    assert.equal((Date.parse(c.notAfter) - Date.parse(c.notBefore)) / DAY, 1822);
  }
  assert.equal(byUsage.sign.label, byUsage.encrypt.label, 'one container holds both');
  assert.equal(byUsage.sign.id, await page.locator('#dl-cert').getAttribute('data-cert'));
  assert.equal(await page.locator('#dl-cert tr[data-field=key] td').textContent(), 'SM2 256');
  await page.locator(`#token-${blank.id}[data-certificates="2"]`).waitFor();
  await screenshot(page, 'enroll-skf');
});

test('an SKF device its CA has not formatted is offered disabled, and the daemon refuses it', async (t) => {
  if (!available) {
    t.skip(why);
    return;
  }
  await openDemoPage(page, 'ra.html');
  const made = await portal('/demo-api/ra/codes', { subject: { CN: '未格式化' }, keyType: 'SM2' });
  await enterCode(made.body.code);
  const option = page.locator('#dl-token option[data-state=unformatted]');
  await option.waitFor({ state: 'attached' });
  assert.ok(await option.isDisabled());
  assert.match(await option.textContent(), /，未格式化）$/);   // not formatted, and nothing more (not "blank")
  assert.match(await page.locator('#dl-token-note').textContent(), /未格式化.*不能下载证书/);
  // the SKF application enrolled before holds its certificates now: disabled too, nothing picked
  const enrolled = page.locator(`#dl-token option[value="${env.blank.skf.id}"]`);
  assert.deepEqual([await enrolled.isDisabled(), await enrolled.getAttribute('data-state')], [true, 'identity']);
  assert.equal(await page.locator('#dl-token').inputValue(), '');
  const unformatted = await option.getAttribute('value');
  const answer = await page.evaluate(async ([url, id]) => {
    const r = await fetch(`${url}/v1/tokens/${id}/enrollment/request`, { method: 'POST',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ subject: { CN: '未格式化' }, keyType: 'SM2' }) });
    return { status: r.status, body: await r.json() };
  }, [env.daemon, unformatted]);
  assert.deepEqual([answer.status, answer.body.error.code, answer.body.error.field, answer.body.error.reason],
    [409, 'TOKEN_NOT_INITIALIZED', 'token', 'not-formatted']);
  assert.equal((await listed(unformatted)).initialized, false);
});
