// A page from an origin the daemon does not allow: the client tells it apart
// from "not running", the page shows the refusal, and asking the user to
// allow the site goes to the native dialog (denied here).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { env, launch, openPortal, pinentryAnswers, pinentryClear, pinentryDialogs, screenshot } from './lib.mjs';

let browser, page, logs;

before(async () => {
  ({ browser, page, logs } = await launch());
});

after(async () => {
  if (browser) await browser.close();
  if (logs.length) console.log(logs.map((l) => `# ${l}`).join('\n'));
});

test('a page from an origin that is not allowed is refused, and says so', async () => {
  await openPortal(page, env.other);
  const err = page.locator('#connect-error[data-code]');
  await err.waitFor();
  assert.equal(await err.getAttribute('data-code'), 'ORIGIN_NOT_ALLOWED');
  assert.match(await err.textContent(), /证书助手未允许本网站访问/);
  assert.ok(await page.locator('#approve').isVisible(), 'the page offers to ask the user');
  assert.equal(await page.locator('.token').count(), 0, 'no token data reached the page');
  await screenshot(page, 'origin-refused');
});

test('asking the user to allow the site shows the native dialog; a denial is reported', async () => {
  pinentryClear();
  pinentryAnswers('deny');
  await page.click('#approve');
  await page.locator('#connect-error[data-code=PIN_CANCELLED]').waitFor();
  const dialogs = pinentryDialogs();
  assert.equal(dialogs.length, 1);
  assert.ok(dialogs[0].description.includes(env.other), dialogs[0].description);
  assert.equal(await page.locator('.token').count(), 0);
});

test('a daemon that is not running is reported as such, not as a refusal', async () => {
  const port = await closedPort();
  await page.goto(`${env.other}/demo/?daemon=${encodeURIComponent(`http://127.0.0.1:${port}`)}&lang=zh`);
  const err = page.locator('#connect-error[data-code]');
  await err.waitFor();
  assert.equal(await err.getAttribute('data-code'), 'NOT_RUNNING');
  await screenshot(page, 'not-running');
});

// A port nothing listens on (bound, then released).
function closedPort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
