// The daemon in its default mode, HTTPS and WSS with its own local root,
// run through tests/browser/run.py --tls: the root was installed with
// `keybridged trust install` into the browser's NSS database. The page names
// only the port, so connect() tries https first, as it does for a portal.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env, launch, pinentryAnswers, pinentryClear, pinentryDialogs, screenshot, textMatching } from './lib.mjs';

const port = process.env.KB_DAEMON_PORT;
let browser, page, logs;

before(async () => {
  assert.match(env.daemon, /^https:/, 'run.py --tls starts the daemon with TLS');
  ({ browser, page, logs } = await launch());
});

after(async () => {
  if (browser) await browser.close();
  if (logs.length) console.log(logs.map((l) => `# ${l}`).join('\n'));
});

test('with the local root trusted, connect() finds the daemon over HTTPS and talks over WSS', async () => {
  await page.goto(`${env.page}/demo/?port=${port}&lang=zh`);
  await page.locator('#state[data-state=connected]').waitFor();
  assert.equal(await page.locator('#daemon-url').textContent(), `https://127.0.0.1:${port}`);
  assert.match(await page.locator('#state').textContent(), /WebSocket/);
  await page.locator('.token').first().waitFor();
  assert.equal(await page.locator('.token .serial').first().textContent(), env.token.serial);
  await screenshot(page, 'tls-tokens');
});

test('a signature over WSS: the native dialog, then the portal server verifies it', async () => {
  pinentryClear();
  pinentryAnswers('pin 123456');
  await page.click('#sign');
  assert.match(await textMatching(page, '#sign-result', /签名成功|\[/), /签名成功/);
  assert.equal(pinentryDialogs().length, 1);
  await page.click('#verify');
  assert.match(await textMatching(page, '#verify-result', /验证/), /^验证通过/);
});

test('a browser that does not trust the root cannot tell it from no daemon, and says both', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kb-untrusting-'));
  const other = await launch({ home });
  try {
    await other.page.goto(`${env.page}/demo/?port=${port}&lang=en`);
    const err = other.page.locator('#connect-error[data-code]');
    await err.waitFor();
    assert.equal(await err.getAttribute('data-code'), 'NOT_RUNNING');
    assert.match(await err.textContent(), /certificate/i, 'the message names the untrusted certificate');
    await screenshot(other.page, 'tls-untrusted');
  } finally {
    await other.browser.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
});
