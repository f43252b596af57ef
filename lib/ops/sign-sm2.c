/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SM2-SM3 signatures for sign and authenticate: the host computes Z and
 * e = SM3(Z || M) (kb-sm2.h), the backend's token signs e, and every
 * signature is checked against the certificate before it leaves, so a
 * token whose key does not match its certificate cannot hand out a
 * signature that would fail at the relying party.
 */
#include <openssl/err.h>
#include <string.h>

#include "kb-core.h"
#include "kb-service.h"
#include "kb-sign-sm2.h"
#include "kb-formats.h"

static bool verifies(const EVP_PKEY *pub, const unsigned char e[KB_SM2_DIGEST_LEN], const unsigned char *sig,
                     size_t len) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *v = EVP_PKEY_CTX_new_from_pkey(NULL, (EVP_PKEY *) pub, NULL);
        bool ok = v && EVP_PKEY_verify_init(v) > 0 && EVP_PKEY_verify(v, sig, len, e, KB_SM2_DIGEST_LEN) == 1;
        ERR_clear_error();
        return ok;
}

int kb_sm2_signer_sign(void *ctx, const unsigned char e[KB_SM2_DIGEST_LEN], unsigned char **ret, size_t *ret_len) {
        kb_sm2_signer *s = ctx;
        int r = s->source->ops->sm2_sign(s->source, s->token, &s->key, e, ret, ret_len);
        if (r >= 0 && !verifies(s->pub, e, *ret, *ret_len)) {
                OPENSSL_free(*ret);
                *ret = NULL;
                r = -KB_E_CERTIFICATE_MISMATCH;
        }
        return r;
}

static json_t *to_json(unsigned char *sig, size_t len) {
        json_t *j = kb_base64_json(sig, len);
        OPENSSL_free(sig);
        return j;
}

int kb_sign_sm2(kb_token_op *op, const kb_sm2_item *it, json_t **ret) {
        const unsigned char *in = op->cert->der;
        _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &in, (long) op->cert->der_len);
        if (!x)
                return -KB_E_INTERNAL;
        kb_sm2_signer s = { .source = op->source, .token = op->token, .pub = X509_get0_pubkey(x) };
        if (kb_key_id_of(op->cert, &s.key) < 0)
                return -KB_E_NOT_FOUND;
        unsigned char e[KB_SM2_DIGEST_LEN], *sig = NULL;
        size_t len = 0;
        int r;
        if (it->cms)
                r = kb_sm2_cms_sign(x, it->id, it->id_len, it->bytes, it->len, it->detached, time(NULL), kb_sm2_signer_sign,
                                    &s, &sig, &len);
        else {
                r = 0;
                if (it->is_digest)
                        memcpy(e, it->bytes, sizeof(e));  /* the caller's own e = SM3(Z || M) */
                else
                        r = kb_sm2_digest(s.pub, it->id, it->id_len, it->bytes, it->len, e);
                if (r >= 0)
                        r = kb_sm2_signer_sign(&s, e, &sig, &len);
        }
        if (r < 0)
                return r;
        *ret = to_json(sig, len);
        return *ret ? 0 : -KB_E_INTERNAL;
}
