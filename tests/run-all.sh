#!/bin/sh
# Install what is missing, build, and run the whole test suite twice: the
# plain build and one with AddressSanitizer + UndefinedBehaviorSanitizer.
set -eu
cd "$(dirname "$0")/.."

tests/deps.sh
# The pinned WebSocket test clients (ws, playwright-core), once.
if [ ! -d tests/ws/node_modules ]; then
        (cd tests/ws && npm ci --no-audit --no-fund)
fi

build() {
        dir=$1; shift
        if [ -d "$dir" ]; then
                meson setup --reconfigure "$dir" "$@" >/dev/null
        else
                meson setup "$dir" "$@" >/dev/null
        fi
        ninja -C "$dir"
        meson test -C "$dir" --print-errorlogs
}

echo "== plain build"
build build -Dwerror=true
echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true \
        -Dc_args=-fsanitize=float-cast-overflow -Dc_link_args=-fsanitize=float-cast-overflow
echo "all tests passed (plain and sanitized)"
