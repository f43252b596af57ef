// The classic-script build is generated from keybridge.js and up to date,
// and defines the same API on the global object.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import * as esm from '../keybridge.js';
import { classicBuild } from '../build-classic.mjs';

const read = (name) => readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');

test('keybridge.classic.js is the build of keybridge.js (run node build-classic.mjs)', () => {
  assert.equal(read('keybridge.classic.js'), classicBuild(read('keybridge.js')));
});

test('the classic build defines window.keybridge with every export', () => {
  const sandbox = {};
  sandbox.globalThis = sandbox;
  vm.runInNewContext(read('keybridge.classic.js'), sandbox);
  assert.deepEqual(Object.keys(sandbox.keybridge).sort(), Object.keys(esm).sort());
  const e = sandbox.keybridge.errorFromResponse(409, { error: { code: 'TOKEN_BUSY', message: 'busy' } });
  assert.equal(e.code, 'TOKEN_BUSY');
});

test('the type declarations name every export', () => {
  const dts = read('keybridge.d.ts');
  for (const name of Object.keys(esm)) assert.match(dts, new RegExp(`export (declare )?(const|function|class|interface|type) ${name}\\b`), name);
});
