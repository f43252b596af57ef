#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The layout rules of docs/architecture.md, checked on the sources and on
the built libraries.

- Every source of lib/ and daemon/ is in a folder of LAYERS.
- Includes point one way: a file includes headers of its own folder and of
  the folders LAYERS lets it reach, never of one above or beside it. Inside
  lib/, a file reaches another folder only through that folder's header,
  kb-<folder>.h; lib/'s headers without the kb- prefix are their folder's
  own. The daemon includes lib/'s kb- headers, and its own folders' headers.
  (The build enforces the direction through each folder's include path;
  this check does not trust the meson files to be right.)
- A quoted include names a header, not a path, so "../x.h" cannot sneak
  past the rules above.
- Calls point the same way: a kb_ symbol a folder's library needs is
  defined in that folder or one it may reach (with FOLDER=LIBRARY.a
  arguments, from the build). A function declared in a low header but
  defined high up would pass the include rules; not this one.
- No function is longer than MAX_FUNCTION_LINES lines.

Run: check-layout.py SOURCE_ROOT [FOLDER=LIBRARY.a ...]
"""
import pathlib
import re
import subprocess
import sys

MAX_FUNCTION_LINES = 80

# folder -> the folders its files may include from and call into, besides its own.
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

INCLUDE = re.compile(r'^\s*#\s*include\s+(?:"([^"]+)"|<(kb-[^>]+)>)')
FUNCTION_START = re.compile(r'^[A-Za-z_][^;=]*\(')


def folder_header(folder):
    return f'kb-{folder.rsplit("/", 1)[1]}.h'


def sources(root):
    """(folder, path) of every .c and .h under lib/ and daemon/; folder None
    for a file outside LAYERS."""
    for top in ('lib', 'daemon'):
        for path in sorted((root / top).rglob('*.[ch]')):
            folder = path.parent.relative_to(root).as_posix()
            yield (folder if folder in LAYERS else None), path


def header_homes(root):
    homes = {}
    for folder, path in sources(root):
        if path.suffix == '.h' and folder:
            homes.setdefault(path.name, []).append(folder)
    return homes


def include_problem(folder, name, homes):
    if '/' in name:
        return f'"{name}" is a path; include the header by its name'
    if name in GENERATED:
        return None
    if name not in homes:
        return f'"{name}" is no header of lib/ or daemon/'
    if len(homes[name]) > 1:
        return f'"{name}" exists in {", ".join(homes[name])}; header names must be unique'
    home = homes[name][0]
    if home == folder:
        return None
    if home not in LAYERS[folder]:
        return f'"{name}" is in {home}, above or beside {folder}'
    if home.startswith('lib/') and not name.startswith('kb-'):
        return f'"{name}" is {home}\'s own header'
    if folder.startswith('lib/') and name != folder_header(home):
        return f'"{name}": from {folder}, {home} is reached through {folder_header(home)}'
    return None


def include_problems(root):
    homes = header_homes(root)
    for folder, path in sources(root):
        if folder is None:
            yield f'{path.relative_to(root)}: not in a folder of the layers (LAYERS, docs/architecture.md)'
            continue
        for n, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1):
            m = INCLUDE.match(line)
            problem = m and include_problem(folder, m.group(1) or m.group(2), homes)
            if problem:
                yield f'{path.relative_to(root)}:{n}: {problem}'
    for folder in LIB:
        if not (root / folder / folder_header(folder)).is_file():
            yield f'{folder}: no {folder_header(folder)} naming what the folder offers'


def function_lengths(lines):
    """(first line, length) of each function in the project's style: the
    signature starts at column 0, the body's opening brace ends the
    signature's last line, the closing brace is alone at column 0."""
    start, in_body = None, False
    for n, line in enumerate(lines, 1):
        if in_body:
            if line.startswith('}'):
                yield start, n - start + 1
                start, in_body = None, False
        elif start is None:
            if FUNCTION_START.match(line) and not line.startswith(('typedef', '#')):
                start = n
                in_body = line.rstrip().endswith('{')
        elif line.rstrip().endswith('{'):
            in_body = True
        elif not line.strip() or line.rstrip().endswith(';') or not line[:1].isspace():
            start = None        # a prototype, a macro call or a declaration
            if FUNCTION_START.match(line) and not line.startswith(('typedef', '#')):
                start = n
                in_body = line.rstrip().endswith('{')


def long_functions(root):
    for folder, path in sources(root):
        if path.suffix != '.c' or folder is None:
            continue
        for start, length in function_lengths(path.read_text(encoding='utf-8').splitlines()):
            if length > MAX_FUNCTION_LINES:
                yield f'{path.relative_to(root)}:{start}: a function of {length} lines (at most {MAX_FUNCTION_LINES})'


def nm(archive, *flags):
    out = subprocess.run(['nm', '-g', *flags, archive], check=True, capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines()
            if line.strip() and not line.endswith(':') and line.split()[-1].startswith('kb_')}


def symbol_problems(archives):
    defined = {}
    for folder, archive in archives:
        for sym in nm(archive, '--defined-only'):
            defined[sym] = folder
    for folder, archive in archives:
        for sym in sorted(nm(archive, '--undefined-only')):
            home = defined.get(sym)
            if home and home != folder and home not in LAYERS[folder]:
                yield f'{folder} calls {sym}, defined in {home} above or beside it'


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2])
    archives = [tuple(a.split('=', 1)) for a in sys.argv[2:]]
    problems = [f'{f}: the folder is missing (update LAYERS and docs/architecture.md)'
                for f in LAYERS if not (root / f).is_dir()]
    problems += [f'{f}: a library for a folder not in LAYERS' for f, _ in archives if f not in LAYERS]
    problems += list(include_problems(root)) + list(long_functions(root))
    if not problems:
        problems += list(symbol_problems(archives))
    n_files = sum(1 for _ in sources(root))
    for p in problems:
        print(p)
    if n_files == 0:
        print('no sources found under', root)
        return 1
    print(f'{n_files} files and {len(archives)} libraries checked, {len(problems)} problems')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
