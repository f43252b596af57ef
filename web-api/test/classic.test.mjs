// The classic-script build defines the same API as keybridge.js on the
// global object, and works. It is generated, not kept in git: the file
// tested is the one the meson build made (KB_CLASSIC_JS, set by
// tests/browser/meson.build), or else the build of keybridge.js made here,
// so that `node --test test/` needs no build step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import WebSocket from 'ws';
import * as esm from '../keybridge.js';
import { classicBuild } from '../build-classic.mjs';
import { FakeDaemon } from './fake-daemon.mjs';

const read = (name) => readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');
const built = process.env.KB_CLASSIC_JS;
const classic = built ? readFileSync(built, 'utf8') : classicBuild(read('keybridge.js'));

test('the generated keybridge.classic.js is the build of this keybridge.js', { skip: !built && 'KB_CLASSIC_JS is not set' }, () => {
  assert.equal(classic, classicBuild(read('keybridge.js')), `${built} is stale: rebuild it (ninja)`);
});

test('the classic build defines window.keybridge with every export', () => {
  const sandbox = {};
  sandbox.globalThis = sandbox;
  vm.runInNewContext(classic, sandbox);
  assert.deepEqual(Object.keys(sandbox.keybridge).sort(), Object.keys(esm).sort());
  assert.equal(sandbox.keybridge.VERSION, esm.VERSION);
  const e = sandbox.keybridge.errorFromResponse(409, { error: { code: 'TOKEN_BUSY', message: 'busy' } });
  assert.equal(e.code, 'TOKEN_BUSY');
});

test('the classic client talks to a daemon, over the WebSocket and over REST', async (t) => {
  // run as a page's <script> would be: in this realm, defining globalThis.keybridge
  vm.runInThisContext(classic, { filename: built || 'keybridge.classic.js' });
  t.after(() => { delete globalThis.keybridge; });
  const fake = await new FakeDaemon().listen();
  t.after(() => fake.close());
  for (const transport of ['websocket', 'rest']) {
    const kb = await globalThis.keybridge.connect({ url: fake.url, WebSocket, transport, reconnect: false, probeTimeout: 1000 });
    try {
      assert.equal(kb.transport, transport);
      assert.deepEqual((await kb.listTokens()).map((x) => x.id), ['aaaa']);
    } finally {
      kb.close();
    }
  }
});

test('the type declarations name every export', () => {
  const dts = read('keybridge.d.ts');
  for (const name of Object.keys(esm)) assert.match(dts, new RegExp(`export (declare )?(const|function|class|interface|type) ${name}\\b`), name);
});
