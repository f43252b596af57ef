#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The layout rules of docs/architecture.md, checked on the sources.

- Includes point one way: a file in lib/ or daemon/ includes headers of its
  own folder and of the folders LAYERS lets it reach, never of one above.
  (The build enforces the same through each folder's include path; this
  check does not trust the meson files to be right.)
- A quoted include names a header, not a path: the folder is the build's
  business, so "../x.h" cannot sneak past the rule above.
- No function is longer than MAX_FUNCTION_LINES lines.

Run: python3 tests/layout/check-layout.py [SOURCE_ROOT]
"""
import pathlib
import re
import sys

MAX_FUNCTION_LINES = 80

# folder -> the folders its files may include from, besides its own.
LIB = {
    'lib/core': [],
    'lib/formats': ['lib/core'],
    'lib/pkcs11': ['lib/formats', 'lib/core'],
    'lib/skf': ['lib/formats', 'lib/core'],
    'lib/ops': ['lib/pkcs11', 'lib/skf', 'lib/formats', 'lib/core'],
    'lib/renew': ['lib/ops', 'lib/pkcs11', 'lib/skf', 'lib/formats', 'lib/core'],
    'lib/api': ['lib/renew', 'lib/ops', 'lib/pkcs11', 'lib/skf', 'lib/formats', 'lib/core'],
}
ALL_LIB = list(LIB)
DAEMON = {
    'daemon/config': ALL_LIB,
    'daemon/dialogs': ['daemon/config'] + ALL_LIB,
    'daemon/transport': ['daemon/config'] + ALL_LIB,
    'daemon/access': ['daemon/config'] + ALL_LIB,
    'daemon/server': ['daemon/access', 'daemon/transport', 'daemon/dialogs', 'daemon/config'] + ALL_LIB,
    'daemon': ['daemon/server', 'daemon/access', 'daemon/transport', 'daemon/dialogs',
               'daemon/config'] + ALL_LIB,
}
LAYERS = {**LIB, **DAEMON}
GENERATED = {'kb-build-config.h'}       # meson's configure_file, in the build root

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
FUNCTION_START = re.compile(r'^[A-Za-z_][^;=]*\(')


def sources(root):
    for folder in LAYERS:
        for path in sorted((root / folder).glob('*.[ch]')):
            yield folder, path


def header_homes(root):
    homes = {}
    for folder, path in sources(root):
        if path.suffix == '.h':
            homes.setdefault(path.name, []).append(folder)
    return homes


def include_problems(root):
    homes = header_homes(root)
    for folder, path in sources(root):
        allowed = [folder] + LAYERS[folder]
        for n, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            name = m.group(1)
            where = f'{path.relative_to(root)}:{n}'
            if '/' in name:
                yield f'{where}: "{name}" is a path; include the header by its name'
            elif name in GENERATED:
                continue
            elif name not in homes:
                yield f'{where}: "{name}" is no header of lib/ or daemon/'
            elif len(homes[name]) > 1:
                yield f'{where}: "{name}" exists in {", ".join(homes[name])}; header names must be unique'
            elif homes[name][0] not in allowed:
                yield f'{where}: "{name}" is in {homes[name][0]}, above or beside {folder}'


def long_functions(root):
    """Functions in the project's style: the signature starts at column 0,
    the closing brace is alone at column 0."""
    for folder, path in sources(root):
        if path.suffix != '.c':
            continue
        lines = path.read_text(encoding='utf-8').splitlines()
        start = None
        for n, line in enumerate(lines, 1):
            if start is None and FUNCTION_START.match(line) and not line.startswith(('typedef', '#')):
                start = n
            elif start is not None and line.startswith('}'):
                length = n - start + 1
                if length > MAX_FUNCTION_LINES:
                    yield f'{path.relative_to(root)}:{start}: a function of {length} lines (at most {MAX_FUNCTION_LINES})'
                start = None
            elif start is not None and line.endswith(';') and not line.startswith((' ', '\t')):
                start = None        # a prototype or a declaration, not a definition


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2])
    missing = [f for f in LAYERS if not (root / f).is_dir()]
    problems = [f'{f}: the folder is missing (update LAYERS and docs/architecture.md)' for f in missing]
    problems += list(include_problems(root)) + list(long_functions(root))
    n_files = sum(1 for _ in sources(root))
    for p in problems:
        print(p)
    if n_files == 0:
        print('no sources found under', root)
        return 1
    print(f'{n_files} files checked, {len(problems)} problems')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
