/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Cleanup helpers for the OpenSSL types lib/ and daemon/ use. */
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kb-cleanup.h"

KB_DEFINE_POINTER_CLEANUP(X509, X509_free)
KB_DEFINE_POINTER_CLEANUP(X509_NAME, X509_NAME_free)
KB_DEFINE_POINTER_CLEANUP(X509_EXTENSION, X509_EXTENSION_free)
KB_DEFINE_POINTER_CLEANUP(EVP_PKEY, EVP_PKEY_free)
KB_DEFINE_POINTER_CLEANUP(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
KB_DEFINE_POINTER_CLEANUP(EVP_MD_CTX, EVP_MD_CTX_free)
KB_DEFINE_POINTER_CLEANUP(BIO, BIO_free)
KB_DEFINE_POINTER_CLEANUP(BIGNUM, BN_free)
KB_DEFINE_POINTER_CLEANUP(ASN1_INTEGER, ASN1_INTEGER_free)
KB_DEFINE_POINTER_CLEANUP(ASN1_TIME, ASN1_TIME_free)
KB_DEFINE_POINTER_CLEANUP(BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free)
KB_DEFINE_POINTER_CLEANUP(ASN1_BIT_STRING, ASN1_BIT_STRING_free)
KB_DEFINE_POINTER_CLEANUP(NAME_CONSTRAINTS, NAME_CONSTRAINTS_free)
KB_DEFINE_POINTER_CLEANUP(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free)
/* Memory from OpenSSL (i2d_*, OPENSSL_malloc). */
static inline void kb_openssl_freep(void *p) { OPENSSL_free(*(void **) p); }
#define _cleanup_openssl_ _cleanup_(kb_openssl_freep)
