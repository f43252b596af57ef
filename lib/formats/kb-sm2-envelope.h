/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SM2 digital envelopes as GM/T 0010 defines them: PKCS#7 EnvelopedData
 * with the GM/T content-type OIDs, the SM4 content key SM2-encrypted
 * (SM2-3, a DER SM2Cipher of GM/T 0009) to each recipient, named by issuer
 * and serial number, and the content SM4-CBC with PKCS#7 padding. OpenSSL
 * 3.0's CMS can neither read nor write them.
 */
#pragma once

#include <openssl/x509.h>
#include <stddef.h>

#define KB_SM4_BLOCK 16

/* What a recipient needs to open an envelope. */
typedef struct kb_sm2_envelope {
        unsigned char *cipher;          /* the SM4 key, SM2-encrypted: DER SM2Cipher */
        size_t cipher_len;
        unsigned char iv[KB_SM4_BLOCK];
        unsigned char *content;         /* SM4-CBC, padded: a whole number of blocks */
        size_t content_len;
} kb_sm2_envelope;

/* Read a DER ContentInfo and find cert's recipient in it. 0, or
 * BAD_REQUEST (not GM/T 0010 EnvelopedData), UNSUPPORTED_ALGORITHM (content
 * not SM4-CBC, key not SM2-encrypted), NOT_RECIPIENT (no recipient for
 * cert), DECRYPT_FAILED (content not whole blocks). */
int kb_sm2_envelope_read(const unsigned char *der, size_t len, X509 *cert, kb_sm2_envelope *ret);
void kb_sm2_envelope_clear(kb_sm2_envelope *e);

/* Seal data to cert's SM2 public key: a fresh SM4 key and IV. DER ContentInfo
 * in *ret (OPENSSL_free). 0, UNSUPPORTED_ALGORITHM (not an SM2 key), INTERNAL. */
int kb_sm2_envelope_seal(X509 *cert, const unsigned char *data, size_t len, unsigned char **ret, size_t *ret_len);

/* The length of buf without its PKCS#7 padding (block KB_SM4_BLOCK) in
 * *ret_len; DECRYPT_FAILED when the padding is not one. Checks every pad
 * byte without an early exit. */
int kb_pkcs7_unpad(const unsigned char *buf, size_t len, size_t *ret_len);
