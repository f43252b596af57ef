#!/bin/sh
# The README's first command: install what is missing, build, create a demo
# SoftHSM2 token (RSA-2048 and EC P-256 keys; certificates valid, expiring in
# 20 days and expired; Chinese subjects; encryption certificates, EC P-256 and
# RSA-2048, for the bid opening page) and a demo SM2 token of the software
# SKF library (signature and encryption certificates), and beside them two
# blank tokens for the remote download (远程下载) of a first certificate: a
# SoftHSM2 token with its PINs set and no objects, and an SKF application with
# its PINs and no container, both made again at a start when they are not
# blank any more (a download went to them, or their PIN was changed). Then
# run keybridged in the foreground on them and serve the demo portal page
# with its small server side (tests/demo_portal.py: login challenges,
# signature checks, a demo CA for renewal, the unblock code for a PIN reset,
# the demo RA's download authorization codes, bids sealed to an encryption
# certificate for the bid opening). It prints one code to try the remote
# download with. Ctrl-C stops both.
#
#   KEYBRIDGE_DEMO_DIR   where the token and daemon state live (build/demo)
#   KEYBRIDGE_DEMO_TLS   1 = HTTPS with the daemon's own root (default 0: plain
#                        HTTP, which browsers accept from any page on loopback)
#   KEYBRIDGE_DEMO_PORT  daemon port (27182); the page is served on port+1
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

# a CJK font, so the demo page's Chinese text renders in a minimal desktop
tests/deps.sh fonts-wqy-microhei
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

demo=${KEYBRIDGE_DEMO_DIR:-$top/build/demo}
port=${KEYBRIDGE_DEMO_PORT:-27182}
page_port=$((port + 1))
mkdir -p "$demo"
if [ ! -d "$demo/tokens/tokens" ]; then
        echo "creating the demo token in $demo/tokens ..." >&2
        # KB_TOKEN_RSA_ENCRYPTION: an RSA encryption certificate (钱七) beside
        # the EC one (李四), so the bid opening (开标解密) page shows both
        # (a demo directory made before it lacks it: remove it to have it)
        if ! KB_TOKEN_RSA_ENCRYPTION=1 tests/fixtures/make-token.sh "$demo/tokens" keybridge-demo \
                >/dev/null 2>"$demo/make-token.log"; then
                cat "$demo/make-token.log" >&2
                exit 1
        fi
fi
export SOFTHSM2_CONF="$demo/tokens/softhsm2.conf"
module=/usr/lib/softhsm/libsofthsm2.so
[ -e "$module" ] || module=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so

# Why the blank token keybridge-blank is not blank any more (nothing when it
# is): blank is formatted with the user PIN 123456 and no certificate with its
# key (an earlier run's download put one there); a key without a certificate
# (an unfinished request's) still counts as blank, as keybridged counts it.
blank_p11_problem() {
        softhsm2-util --show-slots 2>/dev/null | grep -q 'Label: *keybridge-blank *$' || { echo missing; return; }
        if ! objects=$(pkcs11-tool --module "$module" --token-label keybridge-blank --login --pin 123456 \
                --list-objects 2>/dev/null); then
                echo "its user PIN is not 123456 (or is locked)"
                return
        fi
        printf '%s\n' "$objects" | awk '
                /^[^ ]/ { kind = /^Certificate Object/ ? "cert" : /^Private Key Object/ ? "key" : "" }
                /^  ID:/ { if (kind == "cert") cert[$2] = 1; else if (kind == "key") key[$2] = 1 }
                END { for (id in cert) if (id in key) { print "it holds a certificate with its key (ID " id ")"; exit } }'
}
# the blank token of the remote download: formatted (PINs set), no objects;
# made again at each start once a download went to it, so that the code
# printed below always has a blank token to go to
why=$(blank_p11_problem)
if [ -n "$why" ]; then
        if [ "$why" = missing ]; then
                echo "creating the blank demo token keybridge-blank ..." >&2
        else
                echo "re-creating the blank demo token keybridge-blank: $why ..." >&2
                softhsm2-util --delete-token --token keybridge-blank >/dev/null
        fi
        softhsm2-util --init-token --free --label keybridge-blank --so-pin 12345678 --pin 123456 >/dev/null
fi
skf_lib=$top/build/tests/skfsoft/libkb-skfsoft.so
# the SM2 token and the blank SKF application: made when missing (an older
# demo directory gets the blank one added), the blank one made again when it
# is not blank any more (the script says why on stdout)
[ -d "$demo/skf/devices/demo-sm2" ] || echo "creating the demo SM2 tokens in $demo/skf ..." >&2
if ! python3 tests/skfsoft/make-demo-token.py "$skf_lib" "$demo/skf" >&2 2>"$demo/make-sm2.log"; then
        cat "$demo/make-sm2.log" >&2
        exit 1
fi
export KB_SKFSOFT_DIR="$demo/skf/devices"

if [ "${KEYBRIDGE_DEMO_TLS:-0}" = 1 ]; then scheme=https; tls_flag=; else scheme=http; tls_flag=--no-tls; fi
page="http://127.0.0.1:$page_port"

rm -f "$demo/run/api-token" # a stale one from an earlier run would be refused
rm -f "$demo/download-code"  # the portal writes a new one (its codes live while it runs)
python3 tests/demo_portal.py --bind 127.0.0.1 --port "$page_port" --root web-api \
        --ca "$demo/tokens/ca" --trust "$demo/skf/ca/ca.pem" --sm2-ca "$demo/skf/ca" \
        --demo-code-file "$demo/download-code" >"$demo/page.log" 2>&1 &
page_pid=$!
# shellcheck disable=SC2086 # tls_flag is empty or one word
build/daemon/keybridged --foreground $tls_flag \
        --listen "127.0.0.1:$port" --module "$module" --skf-library "$skf_lib" \
        --state-dir "$demo/state" --runtime-dir "$demo/run" \
        --allow-origin "$page" --allow-origin "http://localhost:$page_port" &
daemon_pid=$!
trap 'kill $daemon_pid $page_pid 2>/dev/null; wait 2>/dev/null' INT TERM EXIT

i=0
until [ -s "$demo/run/api-token" ] && curl -ksf --max-time 1 -o /dev/null \
        -H "Authorization: Bearer $(cat "$demo/run/api-token")" "$scheme://127.0.0.1:$port/v1/info"; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 $daemon_pid 2>/dev/null; then
                echo "keybridged did not start (another one on port $port? set KEYBRIDGE_DEMO_PORT)" >&2
                exit 1
        fi
        sleep 0.1
done

i=0
until [ -s "$demo/download-code" ] && curl -sf --max-time 1 -o /dev/null "$page/demo/"; do
        i=$((i + 1))
        if [ $i -gt 50 ] || ! kill -0 $page_pid 2>/dev/null; then
                echo "the demo page server did not start on port $page_port (see $demo/page.log; set KEYBRIDGE_DEMO_PORT)" >&2
                exit 1
        fi
        sleep 0.1
done

cacert=
[ "$scheme" = https ] && cacert="--cacert $demo/state/tls/root.pem "
code=$(sed -n 1p "$demo/download-code")
code_subject=$(sed -n 2p "$demo/download-code")
cat <<EOT

keybridge demo is running (Ctrl-C stops it).

  Demo portal page:  $page/demo/?daemon=$scheme://127.0.0.1:$port
  Bid opening (开标解密):         $page/demo/bid.html?daemon=$scheme://127.0.0.1:$port
  A legacy page's SOF_* calls:  $page/demo/legacy.html?daemon=$scheme://127.0.0.1:$port
  Daemon:            $scheme://127.0.0.1:$port/v1/   (PIN 123456, SO/admin PIN 12345678, all tokens)

Remote download (远程下载) of a first certificate onto a blank token
(keybridge-blank, or "keybridge SM2 blank" for an SM2 double certificate):
  download authorization code (证书下载授权码):  $code
      for $code_subject (single use)
  page:       $page/demo/download.html?daemon=$scheme://127.0.0.1:$port
  more codes: $page/demo/ra.html   (the RA staff page)

Query it as a browser page would (the demo page's origin is allowed):
  curl -s ${cacert}-H 'Origin: $page' $scheme://127.0.0.1:$port/v1/tokens

or as a local tool, with the bearer token only you can read:
  curl -s ${cacert}-H "Authorization: Bearer \$(cat $demo/run/api-token)" $scheme://127.0.0.1:$port/v1/info
EOT
[ "$scheme" = https ] && cat <<EOT

For a browser to accept the HTTPS certificate, trust the daemon's root once:
  build/daemon/keybridged trust install --state-dir $demo/state
EOT
wait $daemon_pid
