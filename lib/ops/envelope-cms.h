/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CMS digital envelopes opened with a token key (envelope-cms.c), for decrypt.c. */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

/* Is der a CMS EnvelopedData or AuthEnvelopedData with a recipient (key
 * transport or key agreement) for cert? 0, BAD_REQUEST, NOT_RECIPIENT. */
int kb_cms_envelope_check(const unsigned char *der, size_t len, X509 *cert);

/* Open der for cert with key, a token key of the keybridge-p11 provider:
 * the plaintext in *ret (free with OPENSSL_clear_free(*ret, *ret_len)).
 * BAD_REQUEST, NOT_RECIPIENT, UNSUPPORTED_ALGORITHM (the envelope's or the
 * token's), DECRYPT_FAILED (damaged or altered: one answer for every layer),
 * TOKEN_NOT_PRESENT, INTERNAL. */
int kb_cms_envelope_open(EVP_PKEY *key, X509 *cert, const unsigned char *der, size_t len, unsigned char **ret,
                         size_t *ret_len);
