// SPDX-License-Identifier: LGPL-2.1-or-later
// Writes keybridge.classic.js, the classic-script build of keybridge.js for
// pages without ES modules: the same code in a function scope, its exports
// on window.keybridge. Only keybridge.js is kept in git; the build is made
// when needed, so the two cannot drift apart:
//     node build-classic.mjs            (keybridge.classic.js next to keybridge.js;
//                                        npm run build does this)
//     node build-classic.mjs OUT        (writes OUT)
//     node build-classic.mjs IN OUT     (the build of IN: the meson build writes
//                                        build/web-api/keybridge.classic.js so)
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
  const args = process.argv.slice(2);
  if (args.length > 2 || args.some((a) => a.startsWith('-'))) {
    console.error('usage: node build-classic.mjs [[IN] OUT]   (default: keybridge.classic.js next to keybridge.js)');
    process.exit(2);
  }
  const input = args.length === 2 ? args[0] : here('keybridge.js');
  const output = args.length ? args[args.length - 1] : here('keybridge.classic.js');
  writeFileSync(output, classicBuild(readFileSync(input, 'utf8')));
}
