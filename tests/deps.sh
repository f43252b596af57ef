#!/bin/sh
# deps.sh [EXTRA_PACKAGE...]
#
# Installs the Debian 12 packages needed to build keybridge and run its tests,
# plus any packages named as arguments, but only those not installed yet.
# Uses sudo when not root. "apt-get update" runs only when the install fails
# because the package lists are missing or stale.
set -eu

prog=${0##*/}
die() {
    printf '%s: error: %s\n' "$prog" "$*" >&2
    exit 1
}

# build: compiler, meson, libraries; tests: SoftHSM2, OpenSC, NSS tools, curl,
# python3; wrk for the benchmarks; faketime for the TLS renewal test; sslscan
# for the TLS configuration test; Node.js
# and Chromium (with a CJK font for the screenshots) for the JavaScript client
# and the browser tests.
PACKAGES='build-essential meson ninja-build pkg-config libssl-dev openssl
libjansson-dev libmicrohttpd-dev libp11-kit-dev p11-kit libsystemd-dev check
softhsm2 opensc opensc-pkcs11 libnss3-tools curl python3 wrk faketime
libcacard-dev vsmartcard-vpcd pcscd nodejs chromium fonts-wqy-microhei sslscan'
# Debian's nodejs comes without npm; a nodejs that brings its own needs none.
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"

command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script is for Debian"

is_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing=
# shellcheck disable=SC2086 # word splitting of the package list is intended
for pkg in $PACKAGES "$@"; do
    case " $missing " in *" $pkg "*) continue ;; esac
    is_installed "$pkg" || missing="${missing:+$missing }$pkg"
done

if [ -z "$missing" ]; then
    printf '%s: all packages already installed\n' "$prog"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1; then
    as_root() { sudo "$@"; }
else
    die "not root and sudo not found; install as root: $missing"
fi

LOG=$(mktemp "${TMPDIR:-/tmp}/deps.XXXXXX")
trap 'rm -f "$LOG" "$LOG.rc"' EXIT

# apt_install: apt-get install of the missing packages; output shown and kept in $LOG.
apt_install() {
    # shellcheck disable=SC2086 # one argument per package
    { as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends $missing 2>&1; echo $? >"$LOG.rc"; } |
        tee "$LOG"
    return "$(cat "$LOG.rc")"
}

printf '%s: installing: %s\n' "$prog" "$missing"
if apt_install; then
    :
elif grep -Eq 'Unable to locate package|has no installation candidate|is not available|404 +Not Found|Failed to fetch' "$LOG"; then
    printf '%s: package lists missing or stale; running apt-get update\n' "$prog"
    as_root apt-get update
    printf '%s: installing: %s\n' "$prog" "$missing"
    apt_install || die "apt-get install failed for: $missing"
else
    die "apt-get install failed for: $missing"
fi

still=
for pkg in $missing; do
    is_installed "$pkg" || still="${still:+$still }$pkg"
done
[ -z "$still" ] || die "still not installed: $still"
printf '%s: installed: %s\n' "$prog" "$missing"
