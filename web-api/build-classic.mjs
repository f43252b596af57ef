// SPDX-License-Identifier: LGPL-2.1-or-later
// Writes keybridge.classic.js, the classic-script build of keybridge.js for
// pages without ES modules: the same code in a function scope, its exports
// on window.keybridge. Run after changing keybridge.js:
//     node build-classic.mjs            (write)
//     node build-classic.mjs --check    (exit 1 when the file is stale)
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (name) => fileURLToPath(new URL(name, import.meta.url));
const EXPORT = /^export (?:async )?(?:function|class|const) ([A-Za-z_$][\w$]*)/;

export function classicBuild(source) {
  const names = [];
  const body = source.split('\n').map((line) => {
    const m = EXPORT.exec(line);
    if (!m) {
      if (/^export\b/.test(line)) throw new Error(`cannot convert: ${line}`);
      return line;
    }
    names.push(m[1]);
    return line.slice('export '.length);
  });
  return [
    '// Generated from keybridge.js by build-classic.mjs; do not edit.',
    '// <script src="keybridge.classic.js"></script> defines window.keybridge.',
    '(function (global) {',
    "'use strict';",
    ...body,
    `global.keybridge = { ${names.join(', ')} };`,
    "})(typeof globalThis !== 'undefined' ? globalThis : this);",
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = classicBuild(readFileSync(here('keybridge.js'), 'utf8'));
  const target = here('keybridge.classic.js');
  if (process.argv.includes('--check')) {
    let now = '';
    try { now = readFileSync(target, 'utf8'); } catch (e) { /* missing */ }
    if (now !== out) {
      console.error('keybridge.classic.js is stale: run node build-classic.mjs');
      process.exit(1);
    }
  } else {
    writeFileSync(target, out);
  }
}
