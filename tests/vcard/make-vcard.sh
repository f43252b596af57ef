#!/bin/sh
# make-vcard.sh DIR
#
# Builds what backs kb-vcard-bridge's virtual CAC card, in a fresh DIR:
#
#   DIR/softhsm2.conf     SoftHSM2 configuration, slots.removable = true (so that
#                         the bridge's use_hw=removable mode mirrors the token too)
#   DIR/tokens/           SoftHSM2 token "kb-vcard" made by
#                         tests/fixtures/make-token.sh (user PIN 123456), with the
#                         EC pair 02 deleted: libcacard's CAC emulation is RSA only.
#                         Left: id 01 RSA-2048 "签名证书" CN=张三 (valid) and
#                         id 03 RSA-2048 "过期证书" CN=王五 (expired); key and
#                         certificate share the CKA_ID.
#   DIR/kb-vcard-certs/   01.pem 03.pem (the card's certificates) and ca.pem
#   DIR/nssdb/            NSS database (empty password) with SoftHSM2 registered
#                         by "modutil -add" and the token's slot flagged
#                         PublicCerts in pkcs11.txt (so NSS finds certificates by
#                         nickname before any login): libcacard reads the
#                         certificates and signs through it.
#
# stdout, one KEY=VALUE a line (for tests/integration/vcard.py):
#   SOFTHSM2_CONF=DIR/softhsm2.conf   (the bridge needs it in its environment)
#   NSSDB=DIR/nssdb
#   TOKEN=kb-vcard                    (kb-vcard-bridge --token)
#   CERT=kb-vcard:签名证书             (kb-vcard-bridge --cert, NSS nicknames)
#   CERT=kb-vcard:过期证书
# Through kb-vcard-bridge and OpenSC's cac driver the card shows up as token
# "张三" (the first certificate's CN), serial 000058bd002c19b5 (the same for
# every virtual card), with the pairs as ids 0001 ("CAC ID Certificate", from
# 01) and 0002 ("CAC Email Signature Certificate", from 03); private keys are
# listed only after login; the PIN is the token's user PIN.
# stderr: progress. Needs openssl, softhsm2-util, pkcs11-tool, certutil and
# modutil (libnss3-tools). SOFTHSM2_MODULE overrides the module path.
set -eu

exec 3>&1 1>&2

prog=${0##*/}
die() {
    printf '%s: error: %s\n' "$prog" "$*" >&2
    exit 1
}

[ $# -eq 1 ] || die "usage: $prog DIR"
for tool in certutil modutil pkcs11-tool; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (run tests/deps.sh)"
done
if [ -n "${SOFTHSM2_MODULE:-}" ]; then
    MODULE=$SOFTHSM2_MODULE
elif [ -f /usr/lib/softhsm/libsofthsm2.so ]; then
    MODULE=/usr/lib/softhsm/libsofthsm2.so
else
    MODULE=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so
fi
[ -f "$MODULE" ] || die "libsofthsm2.so not found; install softhsm2 or set SOFTHSM2_MODULE"
SOFTHSM2_MODULE=$MODULE
export SOFTHSM2_MODULE

mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
if [ -e "$DIR/softhsm2.conf" ] || [ -e "$DIR/nssdb" ]; then
    die "$DIR is not fresh"
fi
case $DIR in *'"'*) die "DIR must not contain '\"'" ;; esac

LABEL=kb-vcard
PIN=123456
SOFTHSM2_CONF=$DIR/softhsm2.conf
export SOFTHSM2_CONF
mkdir -p "$DIR/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = true\n' \
    "$DIR" >"$SOFTHSM2_CONF"

here=$(cd "$(dirname "$0")" && pwd -P)
KB_TOKEN_EC_SIGNING=0 "$here/../fixtures/make-token.sh" "$DIR" "$LABEL" "$PIN" >/dev/null

for type in cert pubkey privkey; do
    pkcs11-tool --module "$MODULE" --token-label "$LABEL" -l --pin "$PIN" \
        --delete-object --type "$type" --id 02 >/dev/null
done
rm -f "$DIR/$LABEL-certs/02.pem"

NSSDB=$DIR/nssdb
mkdir -p "$NSSDB"
certutil -N -d "sql:$NSSDB" --empty-password
modutil -dbdir "sql:$NSSDB" -add "SoftHSM2" -libfile "$MODULE" -force >/dev/null
# NSS looks certificates up by nickname only on tokens it may read without a
# login: mark the token's slot "PublicCerts" (modutil has no option for it).
# SoftHSM2's slot id is fixed when the token is initialized.
slot=$(pkcs11-tool --module "$MODULE" -L |
    awk -v l="$LABEL" '/^Slot /{ s = $3; sub(/^\(/, "", s); sub(/\):?$/, "", s) }
        $0 ~ "token label *: " l "$" { print s; exit }')
case $slot in 0x[0-9a-f]*) ;; *) die "no SoftHSM2 slot for token '$LABEL'" ;; esac
sed -i "s|^name=SoftHSM2\$|&\\
NSS=slotParams=($slot={slotFlags=[PublicCerts]})|" "$NSSDB/pkcs11.txt"
grep -q "^NSS=slotParams=($slot=" "$NSSDB/pkcs11.txt" || die "cannot edit $NSSDB/pkcs11.txt"
# Only NSS's internal module and SoftHSM2: a p11-kit proxy here would load
# OpenSC into the bridge, which would then see its own card.
if modutil -dbdir "sql:$NSSDB" -list | grep -q 'p11-kit'; then
    die "the NSS database loads p11-kit; it must hold only SoftHSM2"
fi

# The certificates as NSS sees them: exactly 01 and 03, by nickname.
nicks=$(certutil -L -d "sql:$NSSDB" -h all </dev/null 2>/dev/null |
    sed -n "s/^\\($LABEL:[^ ].*[^ ]\\) \\{2,\\}[a-zA-Z,]*\$/\\1/p")
for want in "$LABEL:签名证书" "$LABEL:过期证书"; do
    printf '%s\n' "$nicks" | grep -Fqx -e "$want" ||
        die "NSS does not see certificate '$want' (found: $nicks)"
done
[ "$(printf '%s\n' "$nicks" | wc -l)" -eq 2 ] || die "NSS sees other certificates: $nicks"

printf 'SOFTHSM2_CONF=%s\nNSSDB=%s\nTOKEN=%s\nCERT=%s\nCERT=%s\n' "$SOFTHSM2_CONF" "$NSSDB" \
    "$LABEL" "$LABEL:签名证书" "$LABEL:过期证书" >&3
printf '%s: virtual card data ready in %s (PIN %s)\n' "$prog" "$DIR" "$PIN"
