// The demo portal in headless Chromium against the real daemon and a
// SoftHSM2 token: the flows of the CA portals' manuals, one after the other
// on one page (the order matters: the PIN changes, then is reset).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { env, launch, openPortal, pinentryAnswers, pinentryClear, pinentryDialogs, screenshot, textMatching,
  tokenRemoved } from './lib.mjs';

let browser, page, logs;

before(async () => {
  ({ browser, page, logs } = await launch());
  await openPortal(page);
  await page.locator('#state[data-state=connected]').waitFor();
});

after(async () => {
  if (browser) await browser.close();
  if (logs.length) console.log(logs.map((l) => `# ${l}`).join('\n'));
});

const row = (cn) => page.locator(`tr.cert[data-cn="${cn}"]`);

test('the token table shows 证书KEY号, 介质硬件号, validity and the expiry warnings', async () => {
  await page.locator('.token').first().waitFor();
  assert.equal(await page.locator('.token .serial').first().textContent(), env.token.serial);
  assert.equal(await page.locator('.token .hardware-id').first().textContent(), '无', 'PKCS#11 has no hardware id');
  assert.equal(await row('张三').getAttribute('data-status'), 'valid');
  assert.equal(await row('李四').getAttribute('data-status'), 'expiring');
  assert.equal(await row('王五').getAttribute('data-status'), 'expired');
  assert.match(await page.locator('tr.warn-expiring').textContent(), /证书将于 1?\d 天后到期/);
  assert.match(await page.locator('tr.warn-expired').textContent(), /证书已过期/);
  assert.ok(await row('张三').locator('input[type=radio]').isChecked(), 'the valid signing certificate is picked');
  await screenshot(page, 'tokens');
});

test('sign in the native dialog, then verify on the portal server (raw and CMS)', async () => {
  pinentryClear();
  pinentryAnswers('pin 123456');
  await page.click('#sign');
  const signed = await textMatching(page, '#sign-result', /签名成功/);
  assert.match(signed, /RSA-PKCS1-SHA256，256 字节/);
  const dialogs = pinentryDialogs();
  assert.equal(dialogs.length, 1);
  assert.ok(dialogs[0].description.includes(env.page), `the dialog names the page: ${dialogs[0].description}`);
  await page.click('#verify');
  assert.match(await textMatching(page, '#verify-result', /验证/), /^验证通过：.*CN ?= ?张三/);

  await page.selectOption('#sign-format', 'cms');
  await page.click('#sign');
  await page.locator('#verify:not([disabled])').waitFor();
  await page.click('#verify');
  assert.match(await textMatching(page, '#verify-result', /验证/), /^验证通过/);
  assert.equal(pinentryDialogs().length, 1, 'the origin stayed authorized: no second dialog');
  await screenshot(page, 'sign-verify');
});

test('log in with authenticate; the portal server verifies keybridge-auth-1', async () => {
  await page.click('#login');
  assert.match(await textMatching(page, '#login-result', /登录|\[/), /^登录成功：.*CN ?= ?张三/);
});

test('change the PIN in the native dialogs', async () => {
  pinentryClear();
  pinentryAnswers('pin 123456', 'pin 654321', 'pin 654321');
  await page.click('#pin-change');
  assert.equal(await textMatching(page, '#pin-result', /口令|\[/), '口令修改成功。');
  const dialogs = pinentryDialogs();
  assert.equal(dialogs.length, 3, 'current PIN, new PIN, new PIN again');
  assert.ok(dialogs.every((d) => d.description.includes(env.page)));
});

test("reset the PIN to the CA's initial PIN with the unblock code from the portal server", async () => {
  pinentryClear();
  await page.click('#pin-reset');
  assert.match(await textMatching(page, '#pin-result', /重置|\[/), /口令重置成功，初始口令为“123456”/);
  assert.equal(pinentryDialogs().length, 0, 'no dialog: the page passed the unblock code and the new PIN');
  // The reset ended the authorization; the next signature asks for the PIN,
  // and 123456 (the old PIN, not 654321) is accepted again.
  pinentryAnswers('pin 123456');
  await page.selectOption('#sign-format', 'raw');
  await page.evaluate(() => { document.getElementById('sign-result').textContent = ''; });
  await page.click('#sign');
  assert.match(await textMatching(page, '#sign-result', /签名成功|\[/), /签名成功/);
  assert.equal(pinentryDialogs().length, 1);
  await screenshot(page, 'pin');
});

test('write an electronic seal and read it back from the token', async () => {
  await page.click('#seal-make');
  const made = await page.locator('#seal-preview').getAttribute('src');
  assert.match(made, /^data:image\/png;base64,/);
  await page.click('#seal-upload');
  assert.match(await textMatching(page, '#seal-result', /印章|\[/), /印章写入成功（\d+ 字节）/);
  await openPortal(page); // a fresh page: the seal comes from the token
  await page.locator('#state[data-state=connected]').waitFor();
  await page.locator('.token').first().waitFor();
  await page.click('#seal-view');
  assert.match(await textMatching(page, '#seal-result', /印章|\[/), /已读取印章（image\/png）/);
  assert.equal(await page.locator('#seal-image').getAttribute('src'), made);
  await screenshot(page, 'seal');
});

test('pulling the token out shows a removal event, putting it back an insertion', async () => {
  tokenRemoved(true);
  try {
    await textMatching(page, '#events li', new RegExp(`拔出.*${env.token.id}`));
    await page.locator('#tokens .empty').waitFor();
    await screenshot(page, 'removed');
  } finally {
    tokenRemoved(false);
  }
  await textMatching(page, '#events li', new RegExp(`插入.*${env.token.id}`));
  await page.locator('.token').first().waitFor();
});

test('a page without modules: the portal\'s generated keybridge.classic.js defines window.keybridge, which works', async () => {
  // the portal's directory listing stands for an old page without modules
  // (a page made by playwright's route() has no address, and Chromium's Local
  // Network Access would refuse it the loopback daemon); the script goes in
  // with a plain <script src>
  const classic = await page.context().newPage();
  try {
    await classic.goto(`${env.page}/`);
    await classic.addScriptTag({ url: '/keybridge.classic.js' });
    const ids = await classic.evaluate(async (url) => {
      const kb = await window.keybridge.connect({ url, reconnect: false });
      try {
        return (await kb.listTokens()).map((t) => t.id);
      } finally {
        kb.close();
      }
    }, env.daemon);
    assert.ok(ids.includes(env.token.id), `the classic client lists the token: ${ids}`);
  } finally {
    await classic.close();
  }
});
