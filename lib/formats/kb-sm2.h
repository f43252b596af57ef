/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SM2 signatures formed on the host around a token that signs a digest
 * (GM/T 0003.2, GM/T 0009): the signer's Z, the digest e = SM3(Z || M) the
 * token signs, and CMS/PKCS#7 SignedData in the form of GM/T 0010, which
 * OpenSSL 3.0's CMS cannot make with SM2.
 */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define KB_SM2_DIGEST_LEN 32
/* The distinguishing ID GM/T 0009 names for when the parties agree on none. */
#define KB_SM2_DEFAULT_ID "1234567812345678"
/* Longest ID we take: ENTL counts bits in 16 bits; a real ID is short. */
#define KB_SM2_MAX_ID_LEN 255

/* Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA). 0 or -KB_E_*. */
int kb_sm2_z(const EVP_PKEY *pub, const unsigned char *id, size_t id_len, unsigned char z[KB_SM2_DIGEST_LEN]);
/* e = SM3(Z || msg): what the token signs. 0 or -KB_E_*. */
int kb_sm2_digest(const EVP_PKEY *pub, const unsigned char *id, size_t id_len, const unsigned char *msg,
                  size_t msg_len, unsigned char e[KB_SM2_DIGEST_LEN]);

/* Signs a 32-byte digest e; the signature as DER SM2Signature
 * (SEQUENCE { r, s }) in *ret, which the caller frees with OPENSSL_free. */
typedef int (*kb_sm2_sign_fn)(void *ctx, const unsigned char e[KB_SM2_DIGEST_LEN], unsigned char **ret,
                              size_t *ret_len);

/* GM/T 0010 SignedData of data by cert's key: SM3 digest, SM2 signature,
 * signed attributes contentType, signingTime (now) and messageDigest, the
 * certificate, the data inside unless detached. DER in *ret (OPENSSL_free).
 * sign's errors come back as they are; otherwise 0 or -KB_E_INTERNAL. */
int kb_sm2_cms_sign(X509 *cert, const unsigned char *id, size_t id_len, const unsigned char *data, size_t len,
                    bool detached, time_t now, kb_sm2_sign_fn sign, void *ctx, unsigned char **ret,
                    size_t *ret_len);
