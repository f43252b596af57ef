// Shared parts of the browser tests: Debian's Chromium driven by
// playwright-core (no browser download), the scripted pinentry, the
// fault-injecting module's control file, screenshots as artifacts.
// run.py starts the daemon and the demo portal and passes their addresses.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(new URL('../../web-api/package.json', import.meta.url));
const { chromium } = require('playwright-core');

export const env = {
  daemon: must('KB_DAEMON_URL'),
  page: must('KB_PAGE_URL'),
  other: process.env.KB_OTHER_URL,
  token: JSON.parse(must('KB_TOKEN_JSON')),
  features: JSON.parse(must('KB_FEATURES')),
  artifacts: must('KB_ARTIFACTS'),
  // run.py --blank only: the blank tokens' listings ({pkcs11, skf}) and the CAs' certificates
  blank: process.env.KB_BLANK_JSON ? JSON.parse(process.env.KB_BLANK_JSON) : null,
  caPem: process.env.KB_CA_PEM,
  sm2CaPem: process.env.KB_SM2_CA_PEM,
};

function must(name) {
  if (!process.env[name]) throw new Error(`${name} is not set: run this test through tests/browser/run.py`);
  return process.env[name];
}

const FLAGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

// `home`: the HOME the browser runs with (its NSS database, ~/.pki/nssdb,
// is where Chromium on Linux finds locally trusted roots).
export async function launch({ home = process.env.KB_BROWSER_HOME } = {}) {
  const browserEnv = home ? { ...process.env, HOME: home } : process.env;
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: FLAGS,
    env: browserEnv });
  const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  page.setDefaultTimeout(60000);
  return { browser, page, logs };
}

// The demo portal served from `origin`, talking to the test daemon.
export async function openPortal(page, origin = env.page, extra = '') {
  await page.goto(`${origin}/demo/?daemon=${encodeURIComponent(env.daemon)}&lang=zh${extra}`);
}

// Another page of the demo portal (download.html, ra.html), talking to the test daemon.
export async function openDemoPage(page, file, extra = '') {
  await page.goto(`${env.page}/demo/${file}?daemon=${encodeURIComponent(env.daemon)}&lang=zh${extra}`);
}

export async function screenshot(page, name) {
  fs.mkdirSync(env.artifacts, { recursive: true });
  const file = path.join(env.artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// The test pinentry answers the next dialogs with these lines, in order.
export function pinentryAnswers(...lines) {
  fs.writeFileSync(must('KB_TEST_PINENTRY_SCRIPT'), lines.map((l) => `${l}\n`).join(''));
}

export function pinentryDialogs() {
  const log = must('KB_TEST_PINENTRY_LOG');
  if (!fs.existsSync(log)) return [];
  return fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

export function pinentryClear() {
  fs.rmSync(must('KB_TEST_PINENTRY_LOG'), { force: true });
  pinentryAnswers();
}

// Pulls (true) or re-inserts (false) the token through kb-p11fault's
// control file: replaced atomically with a strictly newer mtime, as
// tests/integration/p11fault.py does.
let generation = 1000;
let lastMtime = 0;
export function tokenRemoved(yes) {
  const control = must('KB_P11FAULT_CONTROL');
  const tmp = `${control}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `# written by tests/browser/lib.mjs\n# generation ${++generation}\nremoved = ${yes ? 'yes' : 'no'}\n`);
  lastMtime = Math.max(Date.now() / 1000, lastMtime + 0.01);
  fs.utimesSync(tmp, lastMtime, lastMtime);
  fs.renameSync(tmp, control);
}

// Text of an element once it matches re (fails after the page timeout).
export async function textMatching(page, selector, re) {
  const loc = page.locator(selector);
  await loc.filter({ hasText: re }).first().waitFor();
  return loc.first().textContent();
}
