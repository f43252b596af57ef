/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PKCS#11 backend (lib/pkcs11/): token sources from PKCS#11 modules, and
 * the "keybridge-p11" OpenSSL provider that makes a token key an EVP_PKEY.
 * This is what the folder offers the folders above it; pkcs11-internal.h and
 * p11-pkey.h are its own.
 */
#pragma once

#include <openssl/types.h>

#include "kb-core.h"

/* PKCS#11: open the modules at paths, or p11-kit's registered modules when
 * n_paths is 0 (trust-policy modules such as p11-kit-trust are skipped: they
 * hold the system's CA list, not a user's token). A module that fails to load
 * still yields a source, with load_error set. */
int kb_pkcs11_open_sources(char *const *paths, size_t n_paths,
                           kb_source ***ret_sources, size_t *ret_n);

/* The library context (and property query) to pass to CMS_sign_ex,
 * X509_REQ_new_ex (X509_REQ_sign then uses the request's), EVP_DigestSignInit_ex
 * and EVP_PKEY_CTX_new_from_pkey, so that token keys sign through the
 * provider. NULL if OpenSSL could not set it up. */
OSSL_LIB_CTX *kb_p11_libctx(void);
const char *kb_p11_propq(void);
/* Forget this thread's last token result (kb_source_ops.key_error), so that
 * a failure before any token call is not taken for an earlier one's, and
 * kb_p11_last_outcome tells whether one ran since. */
void kb_p11_clear_last_rv(void);
/* What this thread's token calls with a token key came to since
 * kb_p11_clear_last_rv, for an operation OpenSSL may carry on past: CMS
 * decryption goes on with a random content key when the key transport
 * fails (against Bleichenbacher-style attacks), so its success proves
 * nothing. 1: a call ran and succeeded; 0: none ran; DECRYPT_FAILED: the
 * token refused the data; else the token's failure as an API error
 * (TOKEN_NOT_PRESENT, UNSUPPORTED_ALGORITHM for a mechanism or parameters
 * it refuses, INTERNAL). */
int kb_p11_last_outcome(void);
