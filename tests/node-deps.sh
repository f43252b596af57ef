#!/bin/sh
# node-deps.sh: installs the pinned npm development packages with "npm ci",
# for each directory that has a package-lock.json, but only when its
# node_modules is missing or older than the package files:
#   web-api/   playwright-core and ws (the client's and the browser tests)
#   tests/ws/  ws and playwright-core (the independent WebSocket clients)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)

install_in() {
    cd "$top/$1"
    stamp=node_modules/.package-lock.json   # npm ci writes it last
    if [ -f "$stamp" ] && [ ! package-lock.json -nt "$stamp" ] && [ ! package.json -nt "$stamp" ]; then
        echo "node-deps.sh: $1/node_modules is up to date"
        return 0
    fi
    command -v npm >/dev/null 2>&1 || { echo "node-deps.sh: npm not found (run tests/deps.sh)" >&2; exit 1; }
    echo "node-deps.sh: npm ci in $1/"
    npm ci --no-audit --no-fund
}

install_in web-api
install_in tests/ws
