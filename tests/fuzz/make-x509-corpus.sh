#!/bin/sh
# make-x509-corpus.sh DIR
#
# Writes the seed certificates of fuzz-x509 to DIR as DER: RSA, EC P-256 and
# P-384, brainpool, secp256k1, RSA-PSS, SM2 (CN in Chinese, UTF-8), Ed25519 (a
# key type the model does not name), a v1 certificate with no extensions, a
# CA-issued leaf with keyUsage for encryption only, BMPString and multi-valued
# names, hand-built odd ones, and truncated and corrupted copies. The seeds in corpus/x509/ were made with it once and are
# committed, so the corpus does not change from run to run. Private keys are
# thrown away. Progress goes to stderr.
set -eu

prog=${0##*/}
die() {
    printf '%s: error: %s\n' "$prog" "$*" >&2
    exit 1
}

[ $# -eq 1 ] || die "usage: $prog DIR"
OUT=$1
command -v openssl >/dev/null 2>&1 || die "'openssl' not found"
mkdir -p "$OUT"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/make-x509-corpus.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Own config so nothing from the system openssl.cnf leaks in.
cat >"$WORK/req.cnf" <<'CNF'
[ req ]
distinguished_name = dn
string_mask        = utf8only
utf8               = yes
prompt             = no

[ dn ]
CN = placeholder

[ ca ]
basicConstraints     = critical, CA:true
keyUsage             = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ leaf ]
basicConstraints       = CA:false
keyUsage               = critical, keyEncipherment, dataEncipherment
extendedKeyUsage       = clientAuth, emailProtection
subjectAltName         = email:zhang.san@example.cn, DNS:token.example.cn
authorityKeyIdentifier = keyid
CNF
sed 's/^string_mask .*/string_mask = default/' "$WORK/req.cnf" >"$WORK/bmp.cnf"

# selfsigned NAME KEYOPTS SUBJECT [MORE REQ ARGS]
selfsigned() {
    name=$1 keyopts=$2 subj=$3
    shift 3
    # shellcheck disable=SC2086 # keyopts is a word list on purpose
    openssl genpkey $keyopts -out "$WORK/$name.key" 2>/dev/null
    openssl req -config "$WORK/req.cnf" -new -x509 -utf8 -days 3650 -key "$WORK/$name.key" \
        -subj "$subj" -outform DER -out "$OUT/$name.der" "$@"
}

selfsigned rsa2048 '-algorithm RSA -pkeyopt rsa_keygen_bits:2048' \
    '/C=CN/ST=北京/O=Example RSA/CN=example rsa' -extensions ca -sha256 -set_serial 0x00FF01
selfsigned ec-p256 '-algorithm EC -pkeyopt ec_paramgen_curve:P-256' \
    '/C=CN/O=Example EC/OU=one/OU=two/CN=example ec' -extensions ca -set_serial 1
selfsigned sm2-zh '-algorithm SM2' \
    '/C=CN/O=keybridge 测试/CN=国密测试' -extensions ca -sm3 -sigopt distid:1234567812345678
selfsigned ed25519 '-algorithm ED25519' '/CN=ed25519 key' -extensions ca
selfsigned ec-p384-multirdn '-algorithm EC -pkeyopt ec_paramgen_curve:P-384' \
    '/C=CN/O=Multi+OU=Valued/CN=multi rdn/emailAddress=li.si@example.cn' -multivalue-rdn -extensions ca

# No extensions at all (an X.509 v1 certificate), from a request.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/v1.key"
openssl req -config "$WORK/req.cnf" -new -key "$WORK/v1.key" -subj '/CN=no extensions' -out "$WORK/v1.csr"
openssl x509 -req -in "$WORK/v1.csr" -key "$WORK/v1.key" -days 30 -set_serial 7 \
    -outform DER -out "$OUT/no-extensions.der" 2>/dev/null
if openssl x509 -inform DER -in "$OUT/no-extensions.der" -noout -ext subjectKeyIdentifier 2>/dev/null |
    grep -q .; then
    die "no-extensions.der has extensions"
fi

# BMPString names (the "default" string mask), as older Chinese CAs issue them.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/bmp.key"
openssl req -config "$WORK/bmp.cnf" -new -x509 -utf8 -days 3650 -key "$WORK/bmp.key" \
    -subj '/C=CN/O=中国金融认证中心/CN=张三' -outform DER -out "$OUT/bmpstring.der"

# A leaf issued by the EC CA: issuer and subject differ, encryption-only usage.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/leaf.key"
openssl req -config "$WORK/req.cnf" -new -key "$WORK/leaf.key" -subj '/C=CN/CN=张三/serialNumber=110101199003077777' \
    -out "$WORK/leaf.csr"
openssl x509 -req -in "$WORK/leaf.csr" -CA "$OUT/ec-p256.der" -CAform DER -CAkey "$WORK/ec-p256.key" \
    -extfile "$WORK/req.cnf" -extensions leaf -days 365 -set_serial 0x1234567890ABCDEF \
    -outform DER -out "$OUT/leaf-encrypt.der" 2>/dev/null

# Hand-built with asn1parse -genconf (signatures are junk: the parser does not
# verify them): names with a dotted OID, a T61String, a SEQUENCE and a
# BIT STRING as values, an empty issuer, a negative serial, dates at the ends
# of the UTCTime and GeneralizedTime ranges, a keyUsage that does not decode,
# two keyUsage extensions, keyUsage encipherOnly alone, an unknown key type.
point=$(openssl pkey -in "$WORK/ec-p256.key" -pubout -outform DER | tail -c 65 | od -An -v -tx1 | tr -d ' \n')
# crafted NAME SERIAL SPKI-ALG SUBJECT-SECTION EXTENSIONS-SECTION
crafted() {
    cat >"$WORK/$1.cnf" <<GEN
asn1 = SEQUENCE:cert
[cert]
tbs = SEQUENCE:tbs
alg = SEQUENCE:sigalg
sig = FORMAT:HEX,BITSTRING:00
[tbs]
ver = EXPLICIT:0,INTEGER:2
serial = INTEGER:$2
sigalg = SEQUENCE:sigalg
issuer = SEQUENCE:empty
validity = SEQUENCE:validity
subject = SEQUENCE:$4
spki = SEQUENCE:spki
exts = EXPLICIT:3,SEQUENCE:$5
[sigalg]
alg = OID:ecdsa-with-SHA256
[validity]
nb = UTCTIME:500101000000Z
na = GENTIME:99991231235959Z
[empty]
[odd_names]
r1 = SET:r1
r2 = SET:r2
r3 = SET:r3
r4 = SET:r4
[r1]
a = SEQUENCE:a1
[a1]
oid = OID:1.2.3.4
val = FORMAT:UTF8,UTF8String:dotted oid 值
[r2]
a = SEQUENCE:a2
[a2]
oid = OID:givenName
val = FORMAT:UTF8,T61STRING:René
[r3]
a = SEQUENCE:a3
[a3]
oid = OID:commonName
val = SEQUENCE:inner
[inner]
i = INTEGER:1
[r4]
a = SEQUENCE:a4
[a4]
oid = OID:serialNumber
val = FORMAT:HEX,BITSTRING:00ff
[spki]
alg = SEQUENCE:$3
key = FORMAT:HEX,BITSTRING:$point
[ecalg]
a = OID:id-ecPublicKey
c = OID:prime256v1
[unknownalg]
a = OID:1.3.6.1.4.1.99999.1
[ku_garbage]
ku = SEQUENCE:ku_garbage_ext
[ku_garbage_ext]
oid = OID:keyUsage
crit = BOOLEAN:TRUE
val = FORMAT:HEX,OCTETSTRING:ffff
[ku_twice]
ku1 = SEQUENCE:ku_sign
ku2 = SEQUENCE:ku_sign
[ku_sign]
oid = OID:keyUsage
val = OCTWRAP,FORMAT:BITLIST,BITSTRING:0
[ku_encipher_only]
ku = SEQUENCE:ku_encipher_only_ext
[ku_encipher_only_ext]
oid = OID:keyUsage
val = OCTWRAP,FORMAT:BITLIST,BITSTRING:7
GEN
    openssl asn1parse -genconf "$WORK/$1.cnf" -noout -out "$OUT/$1.der"
}
crafted odd-names -5 ecalg odd_names ku_garbage
crafted ku-twice-unknown-key 0 unknownalg empty ku_twice
crafted ku-encipher-only 0x7FFFFFFFFFFFFFFFFFFFFFFF ecalg odd_names ku_encipher_only

# More key types: brainpool (a curve with no NIST name), secp256k1, RSA-PSS.
selfsigned brainpool '-algorithm EC -pkeyopt ec_paramgen_curve:brainpoolP256r1' '/CN=brainpool'
selfsigned secp256k1 '-algorithm EC -pkeyopt ec_paramgen_curve:secp256k1' '/CN=secp256k1'
selfsigned rsa-pss '-algorithm RSA-PSS -pkeyopt rsa_keygen_bits:1024' '/CN=rsa-pss'

# Broken ones: truncated, one byte flipped in the middle, trailing garbage,
# the outer length lying, and no certificate at all.
head -c 100 "$OUT/rsa2048.der" >"$OUT/truncated-rsa.der"
size=$(wc -c <"$OUT/ec-p256.der")
head -c $((size - 1)) "$OUT/ec-p256.der" >"$OUT/truncated-ec-last-byte.der"
{ cat "$OUT/sm2-zh.der"; printf 'trailing'; } >"$OUT/trailing-garbage.der"
{ printf '\060\202\377\377'; tail -c +5 "$OUT/ec-p256.der"; } >"$OUT/outer-length-lies.der"
{ head -c 200 "$OUT/rsa2048.der"; printf '\377'; tail -c +202 "$OUT/rsa2048.der"; } >"$OUT/flipped-rsa.der"
printf '\060\200\000\000' >"$OUT/indefinite-empty.der"
printf 'not a certificate\n' >"$OUT/text.der"
: >"$OUT/empty.der"

for f in "$OUT"/*.der; do
    [ "$(wc -c <"$f")" -lt 2048 ] || die "$f is 2 KB or more"
done
printf '%s: wrote %s\n' "$prog" "$OUT" >&2
