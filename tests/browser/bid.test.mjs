// The bid opening (开标解密) in the demo portal, end to end in headless
// Chromium against the real daemon: the portal's server seals bids to the
// bidder's encryption certificate (tests/demo_portal.py), the page keeps
// them, and at the opening keybridge decrypts them on the token, one batch
// per certificate; each plaintext must be what was sealed, byte for byte.
// The PKCS#11 token's EC P-256 certificate (李四: CMS, ECDH) and RSA-2048
// one (钱七: CMS, PKCS#1 v1.5 and OAEP), the software SKF token's SM2 one
// (GM/T 0010); run.py --encryption makes them. Refusals: a cancelled PIN
// dialog (PIN_CANCELLED, in Chinese and in English), a bid the portal
// sealed to another certificate (NOT_RECIPIENT: only that bid fails).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { env, launch, openDemoPage, pinentryAnswers, pinentryClear, pinentryDialogs, screenshot,
  textMatching } from './lib.mjs';

const EC = '李四';
const RSA = '钱七';
const SM2 = 'Demo SM2 User';
let browser, page, logs;
const pems = [];        // the certificates the page sent to be sealed to
const sealed = {};      // bid number -> {text} or {bytes}

before(async () => {
  ({ browser, page, logs } = await launch());
  page.on('request', (r) => {
    if (r.url().endsWith('/demo-api/bid/seal')) pems.push(JSON.parse(r.postData()).certificate);
  });
  await openDemoPage(page, 'bid.html');
  await page.locator('#state[data-state=connected]').waitFor();
});

after(async () => {
  if (browser) await browser.close();
  if (logs && logs.length) console.log(logs.map((l) => `# ${l}`).join('\n'));
});

// The certificate for cn among those the page sent to be sealed to.
function pemOf(cn) {
  return pems.find((pem) => {
    try {
      return new crypto.X509Certificate(pem).subject.split('\n').includes(`CN=${cn}`);
    } catch (e) {
      return false;   // one node cannot read (SM2)
    }
  });
}

// ---- helpers ----

async function pick(cn, padding) {
  const option = page.locator('#bid-cert option', { hasText: cn });
  await option.waitFor({ state: 'attached' });
  await page.selectOption('#bid-cert', await option.getAttribute('value'));
  assert.equal(await page.locator('#bid-padding-label').isVisible(), cn === RSA, 'the RSA padding shows for RSA only');
  if (padding) await page.selectOption('#bid-padding', padding);
}

// Seals a bid (text, or a file {name, mimeType, buffer}) to cn's certificate;
// returns its row number.
async function seal(cn, { padding, text, file }) {
  await pick(cn, padding);
  if (file) await page.setInputFiles('#bid-file', file);
  else await page.fill('#bid-text', text);
  await page.click('#bid-seal');
  assert.match(await textMatching(page, '#bid-seal-result', /递交|\[/), /份投标文件已加密递交/);
  const n = await page.locator('tr.bid').count();
  sealed[n] = file ? { bytes: file.buffer } : { text };
  return n;
}

const row = (n) => page.locator(`tr.bid[data-n="${n}"]`);

async function openBids() {
  await page.click('#bid-open');
  return textMatching(page, '#bid-open-result', /开标|\[/);
}

// What the page opened for bid n, as bytes (saved through its link).
async function opened(n) {
  const href = await row(n).locator('a.bid-save').getAttribute('href');
  const b64 = await page.evaluate(async (url) => {
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    return btoa(String.fromCharCode(...bytes));
  }, href);
  return Buffer.from(b64, 'base64');
}

async function assertOpened(n) {
  assert.equal(await row(n).getAttribute('data-state'), 'opened', `bid ${n}: ${await row(n).textContent()}`);
  const want = sealed[n].bytes || Buffer.from(sealed[n].text, 'utf8');
  assert.ok((await opened(n)).equals(want), `bid ${n} opens to what was sealed`);
  if (sealed[n].text) assert.equal(await row(n).locator('pre.bid-plain').textContent(), sealed[n].text);
  const sha = crypto.createHash('sha256').update(want).digest('hex');
  assert.equal(await row(n).getAttribute('data-sha256'), sha, 'the SHA-256 the portal recorded is the bid\'s');
}

// ---- the flows ----

test('only the encryption certificates with their keys are offered: EC, RSA and SM2', async () => {
  await page.locator('#bid-cert option', { hasText: SM2 }).waitFor({ state: 'attached' });
  const texts = await page.locator('#bid-cert option').allTextContents();
  assert.equal(texts.length, 3, texts.join(' | '));
  assert.ok([EC, RSA, SM2].every((cn) => texts.some((t) => t.includes(cn))), texts.join(' | '));
  assert.ok(texts.some((t) => t.includes('EC P-256')) && texts.some((t) => t.includes('RSA 2048')), texts.join(' | '));
});

test('a cancelled PIN dialog at the opening: PIN_CANCELLED in the user\'s language, the bid stays sealed', async () => {
  const n = await seal(EC, { text: '投标文件一：投标总价 1,280,000.00 元' });
  assert.equal(await row(n).getAttribute('data-scheme'), 'ECDH');
  assert.equal(await row(n).getAttribute('data-format'), 'cms');
  pinentryClear();
  pinentryAnswers('cancel');
  assert.equal(await openBids(), '已取消。 [PIN_CANCELLED]');
  assert.equal(await row(n).getAttribute('data-code'), 'PIN_CANCELLED');
  assert.equal(pinentryDialogs().length, 1);
  await page.click('#lang-en');
  assert.match(await row(n).locator('.bid-state').textContent(), /^Cancelled\. \[PIN_CANCELLED\]/);
  assert.equal(await page.locator('#bid-list th').first().textContent(), 'No.');
  await page.click('#lang-zh');
  assert.equal(await row(n).locator('pre.bid-plain').count(), 0, 'nothing opened');
});

test('the opening decrypts every bid on its token, one batch per certificate; each is what was sealed', async () => {
  const bin = crypto.randomBytes(3000);
  bin[0] = 0xff;          // not UTF-8
  const ns = [
    await seal(EC, { text: '投标文件二：工期 90 日历天' }),
    await seal(RSA, { padding: 'pkcs1', text: '投标文件三：RSA PKCS#1 v1.5 信封' }),
    await seal(RSA, { padding: 'oaep', file: { name: '技术标.bin', mimeType: 'application/octet-stream', buffer: bin } }),
    await seal(SM2, { text: '投标文件四：SM2 数字信封（GM/T 0010）' }),
  ];
  const schemes = await Promise.all(ns.map((n) => row(n).getAttribute('data-scheme')));
  assert.deepEqual(schemes, ['ECDH', 'RSA-PKCS1', 'RSA-OAEP', 'SM2']);
  assert.equal(await row(ns[3]).getAttribute('data-format'), 'gmt0010');
  pinentryClear();
  pinentryAnswers('pin 123456', 'pin 123456', 'pin 123456');
  assert.equal(await openBids(), '开标完成：解密 5 份投标文件，其中 5 份与递交内容一致。');
  for (const n of [1, ...ns]) await assertOpened(n);
  assert.match(await row(ns[2]).locator('pre.bid-plain').textContent(), /二进制文件，3000 字节/);
  const dialogs = pinentryDialogs();
  assert.ok(dialogs.length >= 2 && dialogs.length <= 3, `one dialog per token at least, per certificate at most: ${dialogs.length}`);
  for (const d of dialogs) {
    assert.ok(d.description.includes(env.page), `the dialog names the page: ${d.description}`);
    assert.match(`${d.title} ${d.description}`, /解密|decrypt/i, 'the dialog says it decrypts');
  }
  await screenshot(page, 'bid-opened');
});

test('a bid sealed to another certificate fails alone (NOT_RECIPIENT); the rest of its batch opens', async () => {
  const rsaPem = pemOf(RSA);
  assert.ok(rsaPem, 'the RSA certificate was seen in an earlier seal');
  const good = await seal(EC, { text: '投标文件五：正常' });
  // a portal that mixed the certificates up: the envelope is for 钱七's key
  await page.route('**/demo-api/bid/seal', (route) => route.continue({
    postData: JSON.stringify({ ...JSON.parse(route.request().postData()), certificate: rsaPem, rsaPadding: 'pkcs1' }),
  }), { times: 1 });
  const bad = await seal(EC, { text: '投标文件六：加密给了别的证书' });
  pinentryClear();
  pinentryAnswers('pin 123456', 'pin 123456');
  assert.match(await openBids(), /^该文件不是加密给此证书的，UKey 不能解密。 \[NOT_RECIPIENT\]/);
  assert.equal(await row(bad).getAttribute('data-state'), 'failed');
  assert.equal(await row(bad).getAttribute('data-code'), 'NOT_RECIPIENT');
  assert.equal(await row(bad).locator('td').nth(2).textContent(), RSA, 'the table shows whom the server sealed it to');
  await assertOpened(good);
  // the failed one is not tried again: a second opening has nothing to do
  assert.equal(await openBids(), '没有待解密的投标文件，请先递交投标文件。 [NO_BIDS]');
  await screenshot(page, 'bid-not-recipient');
});
