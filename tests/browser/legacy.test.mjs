// The demo portal's legacy page (legacy.html, legacy.js): a page written for
// the old ActiveX control's SOF_* calls, changed only by an await before each
// call, on keybridge-sof.js's install(), in headless Chromium against the
// real daemon. The user list (SOF_GetUserList) of the PKCS#11 and the SKF
// token, certificate export and details (SOF_ExportUserCert,
// SOF_GetCertInfo), login (SOF_Login, a cancelled dialog first), signatures
// checked with node and openssl (SOF_SignData, SOF_SignMessage), an SM2
// envelope round trip (SOF_ExportExChangeUserCert, SOF_EncryptData,
// SOF_DecryptData), and errors as SOF_GetLastError() numbers with keybridge's
// code, in Chinese and English. run.py --encryption makes the tokens.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env, launch, openDemoPage, pinentryAnswers, pinentryClear, pinentryDialogs, screenshot,
  textMatching } from './lib.mjs';

const SM2 = 'Demo SM2 User';
let browser, page, logs, work;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'kb-legacy-'));
  ({ browser, page, logs } = await launch());
  await openDemoPage(page, 'legacy.html');
});

after(async () => {
  if (browser) await browser.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
  if (logs && logs.length) console.log(logs.map((l) => `# ${l}`).join('\n'));
});

// ---- helpers ----

// Presses the button and answers the result line's text once it matches re
// (the line is emptied first: an earlier answer must not count).
async function press(button, result, re) {
  await page.evaluate((id) => { document.getElementById(id).textContent = ''; }, result);
  await page.click(`#${button}`);
  return textMatching(page, `#${result}`, re);
}

async function pickUser(cn) {
  const value = await page.locator('#UserList option', { hasText: cn }).first().getAttribute('value');
  await page.selectOption('#UserList', value);
  return value;
}

const value = (id) => page.locator(`#${id}`).inputValue();

function certOf(b64) {
  return new crypto.X509Certificate(Buffer.from(b64, 'base64'));
}

// ---- the flows ----

test('SOF_GetUserList at load: one user per signing certificate, CertID "<token>:<certificate>"', async () => {
  await textMatching(page, '#Version', /\d/);
  // the SKF token may show a moment after the page asked: ask again until it is there
  for (let i = 0; i < 50 && !(await page.locator('#UserList option', { hasText: SM2 }).count()); i++) {
    await page.waitForTimeout(200);
    await page.click('#btnGetUserList');
  }
  const names = await page.locator('#UserList option').allTextContents();
  assert.deepEqual([...names].sort(), [SM2, '张三', '王五'].sort(), 'signing certificates only, no encryption one');
  assert.match(await page.locator('#UsersResult').textContent(), /^找到 3 个用户证书。$/);
  const id = await pickUser('张三');
  assert.match(id, new RegExp(`^${env.token.id}:[0-9a-f]{16}$`));
});

test('SOF_ExportUserCert and SOF_GetCertInfo: the certificate and its details', async () => {
  await pickUser('张三');
  assert.match(await press('btnExportCert', 'CertResult', /证书|\[/), /^证书已导出（\d+ 字节）。$/);
  const cert = certOf(await value('SignCert'));
  assert.ok(cert.subject.split('\n').includes('CN=张三'), cert.subject);
  const info = async (item) => page.locator(`#CertInfo tr[data-item=${item}] td`).textContent();
  assert.equal(await info('cn'), '张三');
  assert.equal(await info('o'), '阳光采购测试有限公司');
  assert.equal(await info('version'), 'V3');
  assert.equal((await info('serial')).replace(/^0+/, '').toUpperCase(), cert.serialNumber.replace(/^0+/, '').toUpperCase());
  assert.match(await info('notAfter'), /^\d{14}$/);
  assert.equal(await page.locator('#CertInfo th').first().textContent(), '版本');
});

test('SOF_Login: a cancelled dialog is SOR_UnknownErr with PIN_CANCELLED; then the PIN, in keybridge\'s dialog', async () => {
  await pickUser('张三');
  pinentryClear();
  pinentryAnswers('cancel');
  assert.equal(await press('btnLogin', 'UsersResult', /登录|失败/), 'SOF_Login 失败，错误码 0x0B000001：已取消。 [PIN_CANCELLED]');
  assert.equal(await page.locator('#UsersResult').getAttribute('data-code'), 'PIN_CANCELLED');
  pinentryAnswers('pin 123456');
  assert.match(await press('btnLogin', 'UsersResult', /登录|失败/), /^登录成功（口令剩余尝试次数：\d+）。$/);
  const dialogs = pinentryDialogs();
  assert.equal(dialogs.length, 2);
  assert.ok(dialogs.every((d) => d.description.includes(env.page)), 'the dialogs name the page');
});

test('SOF_SignData and SOF_SignMessage sign the text; node and openssl verify them', async () => {
  await pickUser('张三');
  await press('btnExportCert', 'CertResult', /证书|\[/);
  const cert = certOf(await value('SignCert'));
  const text = await value('SignText');
  pinentryAnswers('pin 123456', 'pin 123456');
  assert.match(await press('btnSignData', 'SignResult', /签名|失败/), /^签名成功（256 字节）。$/);
  const raw = Buffer.from(await value('SignValue'), 'base64');
  assert.ok(crypto.verify('sha256', Buffer.from(text, 'utf8'), cert.publicKey, raw), 'the raw signature verifies');

  assert.match(await press('btnSignMessage', 'SignResult', /签名|失败/), /^签名成功（\d+ 字节）。$/);
  const p7 = path.join(work, 'message.p7');
  fs.writeFileSync(p7, Buffer.from(await value('SignValue'), 'base64'));
  fs.writeFileSync(path.join(work, 'signer.pem'), cert.toString());
  const content = execFileSync('openssl', ['cms', '-verify', '-binary', '-inform', 'DER', '-in', p7, '-noverify',
    '-certfile', path.join(work, 'signer.pem')], { stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(content.toString('utf8'), text, 'the PKCS#7 carries the text and verifies');
  await screenshot(page, 'legacy-signed');
});

test('SOF_EncryptData to the SM2 encryption certificate, SOF_DecryptData on the SKF token: the same text back', async () => {
  await pickUser(SM2);
  assert.match(await press('btnExportEncCert', 'CertResult', /证书|失败/), /^证书已导出/);
  const enc = certOf(await value('EncCert'));
  assert.ok(enc.subject.split('\n').includes(`CN=${SM2}`), enc.subject);
  await page.fill('#PlainText', '开标前保密：投标总价 1,280,000.00 元');
  assert.match(await press('btnEncrypt', 'EnvResult', /加密|失败/), /^已加密为数字信封（\d+ 字节）。$/);
  const envelope = Buffer.from(await value('Envelope'), 'base64');
  const gmtEnveloped = Buffer.from('06 0a 2a 81 1c cf 55 06 01 04 02 03'.replace(/ /g, ''), 'hex');
  assert.ok(envelope.subarray(0, 20).includes(gmtEnveloped), 'a GM/T 0010 EnvelopedData');
  pinentryClear();
  pinentryAnswers('pin 123456');
  assert.equal(await press('btnDecrypt', 'EnvResult', /解密|失败/), '解密成功，与原文一致。');
  assert.equal(await value('Decrypted'), '开标前保密：投标总价 1,280,000.00 元');
  const dialogs = pinentryDialogs();
  assert.equal(dialogs.length, 1, 'the SKF token asked for its PIN once');
  assert.match(`${dialogs[0].title} ${dialogs[0].description}`, /解密|decrypt/i);
  await screenshot(page, 'legacy-envelope');
});

test('a user without an encryption certificate: the error number and the reason, in Chinese and in English', async () => {
  await pickUser('张三');
  assert.equal(await press('btnExportEncCert', 'CertResult', /证书|失败/),
    'SOF_ExportExChangeUserCert 失败，错误码 0x0B000310：未找到该用户的加密证书。 [NO_ENCRYPTION_CERTIFICATE]');
  await page.click('#lang-en');
  assert.equal(await press('btnExportEncCert', 'CertResult', /certificate|failed/),
    'SOF_ExportExChangeUserCert failed, error 0x0B000310: The user has no encryption certificate on the token. [NO_ENCRYPTION_CERTIFICATE]');
  await page.click('#lang-zh');
});
