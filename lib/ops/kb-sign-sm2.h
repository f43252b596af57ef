/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SM2-SM3 signing of one item through the token op's backend (sign-sm2.c). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kb-service.h"
#include "kb-formats.h"

/* A key pair on a token that signs digests through the backend's sm2_sign,
 * each signature checked with pub before it is used (also renewal's CSR
 * and proof). */
typedef struct kb_sm2_signer {
        kb_source *source;
        const kb_token *token;
        kb_key_id key;
        const EVP_PKEY *pub;
} kb_sm2_signer;

/* A kb_sm2_sign_fn over a kb_sm2_signer: CERTIFICATE_MISMATCH when the
 * token's signature does not verify with pub. */
int kb_sm2_signer_sign(void *signer, const unsigned char e[KB_SM2_DIGEST_LEN], unsigned char **ret,
                       size_t *ret_len);

typedef struct kb_sm2_item {
        const unsigned char *bytes;
        size_t len;
        bool is_digest;         /* bytes are e = SM3(Z || M) already: raw only */
        bool cms, detached;     /* GM/T 0010 SignedData, with or without the data */
        const unsigned char *id;        /* the signer's distinguishing ID */
        size_t id_len;
} kb_sm2_item;

/* The signature (raw: DER SM2Signature; cms: DER SignedData) as base64
 * JSON in *ret. op holds the token with the user logged in.
 * CERTIFICATE_MISMATCH when the token's signature does not verify with the
 * certificate; the backend's errors as they are. */
int kb_sign_sm2(kb_token_op *op, const kb_sm2_item *it, json_t **ret);
