#!/bin/sh
# node-deps.sh: installs web-api's npm development packages (playwright-core
# and ws, pinned in web-api/package-lock.json) with "npm ci", but only when
# web-api/node_modules is missing or older than the package files.
set -eu
cd "$(dirname "$0")/../web-api"

stamp=node_modules/.package-lock.json   # npm ci writes it last
if [ -f "$stamp" ] && [ ! package-lock.json -nt "$stamp" ] && [ ! package.json -nt "$stamp" ]; then
    echo "node-deps.sh: web-api/node_modules is up to date"
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "node-deps.sh: npm not found (run tests/deps.sh)" >&2; exit 1; }
echo "node-deps.sh: npm ci in web-api/"
npm ci --no-audit --no-fund
