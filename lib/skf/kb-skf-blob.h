/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SKF's fixed-size blobs and OpenSSL's forms of the same things: SM2 public
 * keys (ECCPUBLICKEYBLOB and EVP_PKEY), signatures (r and s right-aligned
 * in 64 bytes, and DER ECDSA-Sig-Value), SM2 ciphertexts (ECCCIPHERBLOB and
 * the GM/T 0009 DER SEQUENCE { x, y, hash, ciphertext }).
 * Each returns 0, or -1 when the input does not fit the other form.
 */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>

#include "kb-skf-api.h"

int kb_skf_pub_to_blob(const EVP_PKEY *k, SKF_ECCPUBLICKEYBLOB *blob);
EVP_PKEY *kb_skf_blob_to_pub(const SKF_ECCPUBLICKEYBLOB *blob);    /* NULL: not an SM2 point */
int kb_skf_sig_to_der(const SKF_ECCSIGNATUREBLOB *sig, unsigned char **ret, size_t *ret_len);
int kb_skf_sig_from_der(const unsigned char *der, size_t len, SKF_ECCSIGNATUREBLOB *sig);
int kb_skf_cipher_to_der(const SKF_ECCCIPHERBLOB *c, unsigned char **ret, size_t *ret_len);
int kb_skf_cipher_from_der(const unsigned char *der, size_t len, SKF_ECCCIPHERBLOB *c);
