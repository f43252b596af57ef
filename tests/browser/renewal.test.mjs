// Certificate renewal end to end in the demo portal: the CSR is made on the
// token, the demo CA (the portal server, openssl) issues, the daemon installs.
// Runs when the daemon lists "renewal" in GET /v1/info features; otherwise
// it is reported as skipped, never as passed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { env, launch, openPortal, pinentryAnswers, pinentryClear, screenshot, textMatching } from './lib.mjs';

const available = env.features.includes('renewal');
let browser, page, logs;

before(async () => {
  if (!available) return;
  ({ browser, page, logs } = await launch());
  await openPortal(page);
  await page.locator('#state[data-state=connected]').waitFor();
  await page.locator('.token').first().waitFor();
});

after(async () => {
  if (browser) await browser.close();
  if (logs && logs.length) console.log(logs.map((l) => `# ${l}`).join('\n'));
});

test('renew the signing certificate: request, demo CA, install, with progress', async (t) => {
  if (!available) {
    t.skip(`the daemon does not list "renewal" in /v1/info features (${env.features.join(', ')})`);
    return;
  }
  const old = await page.locator('tr.cert[data-cn="张三"]').getAttribute('data-cert');
  pinentryClear();
  pinentryAnswers('pin 123456', 'pin 123456', 'pin 123456');
  await page.click('#renew');
  const result = await textMatching(page, '#renew-result', /更新|\[/);
  assert.match(result, /^更新成功：张三 新证书有效期至 \d{4}-\d\d-\d\d/);
  assert.equal(await page.locator('#renew-progress').evaluate((p) => p.value), 100);
  assert.equal(await page.locator('#renew-stages li.done').count(), 4);
  const renewed = page.locator('tr.cert[data-cn="张三"]');
  await renewed.first().waitFor();
  const ids = await renewed.evaluateAll((rows) => rows.map((r) => r.dataset.cert));
  assert.ok(!ids.includes(old), `the old certificate ${old} was replaced: ${ids}`);
  const days = Number(await renewed.first().locator('td').nth(7).textContent());
  assert.ok(days >= 360, `the new certificate runs a year: ${days} days left`);
  await screenshot(page, 'renewal');
});
