/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The request of an SM2 renewal. OpenSSL cannot sign with a key it only
 * knows the public half of, so the request is put together here: the
 * CertificationRequestInfo is encoded, e = SM3(Z || info) with the new key's
 * Z for the GM/T default ID (GM/T 0009) is signed on the token, and the
 * signature goes in with the SM2-with-SM3 algorithm (1.2.156.10197.1.501).
 * The proof is GM/T 0010 SignedData over the request by the current key.
 */
#include <openssl/err.h>
#include <openssl/objects.h>
#include <string.h>
#include <time.h>

#include "kb-core.h"
#include "renew-internal.h"
#include "kb-ops.h"

KB_DEFINE_POINTER_CLEANUP(X509_REQ, X509_REQ_free)
KB_DEFINE_POINTER_CLEANUP(X509_ALGOR, X509_ALGOR_free)

#define GMT_ID ((const unsigned char *) KB_SM2_DEFAULT_ID)
#define GMT_ID_LEN (sizeof(KB_SM2_DEFAULT_ID) - 1)

static X509 *current_cert(const kb_cert *c) {
        const unsigned char *in = c->der;
        return d2i_X509(NULL, &in, (long) c->der_len);
}

/* The request without its signature, for the key pub. */
static X509_REQ *unsigned_request(const X509_NAME *subject, EVP_PKEY *pub) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = X509_REQ_new();
        _cleanup_(X509_ALGOR_freep) X509_ALGOR *alg = X509_ALGOR_new();
        if (!req || !alg || !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
            !X509_REQ_set_subject_name(req, subject) || !X509_REQ_set_pubkey(req, pub) ||
            !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_SM2_with_SM3), V_ASN1_UNDEF, NULL) ||
            !X509_REQ_set1_signature_algo(req, alg))
                return NULL;
        return TAKE_PTR(req);
}

static int set_signature(X509_REQ *req, const unsigned char *sig, size_t len) {
        _cleanup_(ASN1_BIT_STRING_freep) ASN1_BIT_STRING *bits = ASN1_BIT_STRING_new();
        if (!bits || len > INT32_MAX || !ASN1_BIT_STRING_set(bits, (unsigned char *) sig, (int) len))
                return -KB_E_INTERNAL;
        /* whole bytes: no unused bits */
        bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
        bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
        X509_REQ_set0_signature(req, TAKE_PTR(bits));
        return 0;
}

int kb_renew_sm2_csr(kb_token_op *op, const kb_key_id *key, EVP_PKEY *pub, const X509_NAME *subject,
                     X509_REQ **ret) {
        kb_sm2_signer signer = { .source = op->source, .token = op->token, .key = *key, .pub = pub };
        _cleanup_(X509_REQ_freep) X509_REQ *req = unsigned_request(subject, pub);
        unsigned char *info = NULL, e[KB_SM2_DIGEST_LEN], *sig = NULL;
        size_t sig_len = 0;
        int len = req ? i2d_re_X509_REQ_tbs(req, &info) : -1;
        int r = len > 0 ? kb_sm2_digest(pub, GMT_ID, GMT_ID_LEN, info, (size_t) len, e) : -KB_E_INTERNAL;
        if (r >= 0)
                r = kb_sm2_signer_sign(&signer, e, &sig, &sig_len);
        if (r >= 0)
                r = set_signature(req, sig, sig_len);
        OPENSSL_free(sig);
        OPENSSL_free(info);
        ERR_clear_error();
        if (r >= 0)
                *ret = TAKE_PTR(req);
        return r;
}

int kb_renew_sm2_proof(kb_token_op *op, const unsigned char *csr, size_t len, json_t **ret) {
        _cleanup_(X509_freep) X509 *x = current_cert(op->cert);
        kb_sm2_signer signer = { .source = op->source, .token = op->token };
        unsigned char *der = NULL;
        size_t der_len = 0;
        if (!x || kb_key_id_of(op->cert, &signer.key) < 0)
                return -KB_E_INTERNAL;
        signer.pub = X509_get0_pubkey(x);
        int r = kb_sm2_cms_sign(x, GMT_ID, GMT_ID_LEN, csr, len, true, time(NULL), kb_sm2_signer_sign, &signer, &der,
                                &der_len);
        if (r < 0)
                return r;
        *ret = kb_base64_json(der, der_len);
        OPENSSL_free(der);
        return *ret ? 0 : -KB_E_INTERNAL;
}
