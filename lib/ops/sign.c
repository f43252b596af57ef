/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POST /v1/tokens/{token}/sign and …/authenticate: raw signatures and CMS
 * SignedData, made by OpenSSL with the token key (see p11-pkey.c), under one
 * PIN flow per request.
 */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <string.h>

#include "kb-core.h"
#include "kb-pkcs11.h"
#include "kb-service.h"
#include "kb-sign-sm2.h"
#include "kb-formats.h"

#define MIN_CHALLENGE 16
#define MAX_CHALLENGE 1024

typedef struct algorithm {
        const char *name;
        kb_key_type key;
        const char *md;
        bool pss;
} algorithm;

static const algorithm algorithms[] = {
        { "RSA-PKCS1-SHA256", KB_KEY_RSA, "SHA256", false },
        { "RSA-PKCS1-SHA384", KB_KEY_RSA, "SHA384", false },
        { "RSA-PKCS1-SHA512", KB_KEY_RSA, "SHA512", false },
        { "RSA-PSS-SHA256",   KB_KEY_RSA, "SHA256", true },
        { "ECDSA-SHA256",     KB_KEY_EC,  "SHA256", false },
        { "ECDSA-SHA384",     KB_KEY_EC,  "SHA384", false },
        { "SM2-SM3",          KB_KEY_SM2, "SM3",    false },
};

typedef enum format { FORMAT_RAW, FORMAT_CMS, FORMAT_CMS_DETACHED } format;

typedef struct item {
        unsigned char *bytes;
        size_t len;
        bool is_digest;
} item;

typedef struct request {
        const algorithm *alg;
        format fmt;
        item items[KB_MAX_ITEMS];
        size_t n_items;
        const char *sm2_id;     /* SM2: the signer's distinguishing ID */
} request;

KB_DEFINE_POINTER_CLEANUP(CMS_ContentInfo, CMS_ContentInfo_free)

static void request_clear(request *rq) {
        for (size_t i = 0; i < rq->n_items; i++)
                free(rq->items[i].bytes);
        rq->n_items = 0;
}

static const algorithm *find_algorithm(const char *name) {
        for (size_t i = 0; i < KB_ELEMENTSOF(algorithms); i++)
                if (strcmp(algorithms[i].name, name) == 0)
                        return &algorithms[i];
        return NULL;
}

static int parse_format(kb_call *call, format *ret) {
        const char *f;
        int r = kb_param_string(call, "format", false, &f);
        if (r < 0)
                return r;
        if (!f || strcmp(f, "raw") == 0)
                *ret = FORMAT_RAW;
        else if (strcmp(f, "cms") == 0)
                *ret = FORMAT_CMS;
        else if (strcmp(f, "cms-detached") == 0)
                *ret = FORMAT_CMS_DETACHED;
        else
                return kb_bad_field(call, "format");
        return 0;
}

static int parse_item(kb_call *call, size_t i, json_t *o, const request *rq, item *ret) {
        char field[48];
        json_t *data = json_object_get(o, "data"), *digest = json_object_get(o, "digest");
        snprintf(field, sizeof(field), "items[%zu]", i);
        if (!json_is_object(o) || !data == !digest)
                return kb_bad_field(call, field);
        snprintf(field, sizeof(field), "items[%zu].%s", i, data ? "data" : "digest");
        int r = kb_param_base64(call, field, data ? data : digest, &ret->bytes, &ret->len);
        if (r < 0)
                return r;
        ret->is_digest = digest != NULL;
        /* A digest must be the algorithm's length, and CMS signs data only. */
        EVP_MD *md = EVP_MD_fetch(NULL, rq->alg->md, NULL);
        bool ok = !digest || (rq->fmt == FORMAT_RAW && md && ret->len == (size_t) EVP_MD_get_size(md));
        EVP_MD_free(md);
        return ok ? 0 : kb_bad_field(call, field);
}

/* sm2Id: only with SM2-SM3; GM/T 0009's default ID when absent. */
static int parse_sm2_id(kb_call *call, request *rq) {
        int r = kb_param_string(call, "sm2Id", false, &rq->sm2_id);
        if (r < 0)
                return r;
        if (!rq->sm2_id) {
                rq->sm2_id = KB_SM2_DEFAULT_ID;
                return 0;
        }
        size_t n = strlen(rq->sm2_id);
        if (rq->alg->key != KB_KEY_SM2 || n == 0 || n > KB_SM2_MAX_ID_LEN)
                return kb_bad_field(call, "sm2Id");
        return 0;
}

static int parse_request(kb_call *call, request *rq) {
        const char *alg;
        int r = kb_param_string(call, "algorithm", true, &alg);
        if (r < 0)
                return r;
        rq->alg = find_algorithm(alg);
        if (!rq->alg) {
                snprintf(call->error_field, sizeof(call->error_field), "algorithm");
                return -KB_E_UNSUPPORTED_ALGORITHM;
        }
        if ((r = parse_format(call, &rq->fmt)) < 0 || (r = parse_sm2_id(call, rq)) < 0)
                return r;
        json_t *items = NULL;
        if ((r = kb_param_items(call, &items)) < 0)
                return r;
        for (size_t i = 0; i < json_array_size(items); i++) {
                r = parse_item(call, i, json_array_get(items, i), rq, &rq->items[i]);
                if (rq->items[i].bytes)
                        rq->n_items++;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int set_padding(EVP_PKEY_CTX *pctx, const algorithm *alg) {
        if (!alg->pss)
                return 1;
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
}

/* Sign data: OpenSSL hashes on the host, the token signs. */
static int sign_data(EVP_PKEY *key, const algorithm *alg, const item *it, json_t **ret) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        size_t len = 0;
        if (!mctx || EVP_DigestSignInit_ex(mctx, &pctx, alg->md, kb_p11_libctx(), kb_p11_propq(), key, NULL) <= 0 ||
            !set_padding(pctx, alg) || EVP_DigestSign(mctx, NULL, &len, it->bytes, it->len) <= 0)
                return -KB_E_INTERNAL;
        _cleanup_free_ unsigned char *sig = malloc(len);
        if (!sig || EVP_DigestSign(mctx, sig, &len, it->bytes, it->len) <= 0)
                return -KB_E_INTERNAL;
        *ret = kb_base64_json(sig, len);
        return *ret ? 0 : -KB_E_INTERNAL;
}

/* Sign a digest the page computed. */
static int sign_digest(EVP_PKEY *key, const algorithm *alg, const item *it, json_t **ret) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(kb_p11_libctx(), key, kb_p11_propq());
        EVP_MD *md = EVP_MD_fetch(kb_p11_libctx(), alg->md, NULL);
        size_t len = 0;
        int ok = pctx && md && EVP_PKEY_sign_init(pctx) > 0 && EVP_PKEY_CTX_set_signature_md(pctx, md) > 0 &&
                 set_padding(pctx, alg) && EVP_PKEY_sign(pctx, NULL, &len, it->bytes, it->len) > 0;
        EVP_MD_free(md);
        if (!ok)
                return -KB_E_INTERNAL;
        _cleanup_free_ unsigned char *sig = malloc(len);
        if (!sig || EVP_PKEY_sign(pctx, sig, &len, it->bytes, it->len) <= 0)
                return -KB_E_INTERNAL;
        *ret = kb_base64_json(sig, len);
        return *ret ? 0 : -KB_E_INTERNAL;
}

/* CMS SignedData with the signer certificate and signing time (OpenSSL adds
 * both); detached leaves the content out. */
static int sign_cms(EVP_PKEY *key, const kb_cert *c, const algorithm *alg, const item *it, bool detached, json_t **ret) {
        unsigned flags = CMS_BINARY | CMS_PARTIAL | (detached ? CMS_DETACHED : 0);
        const unsigned char *der = c->der;
        _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &der, (long) c->der_len);
        _cleanup_(BIO_freep) BIO *in = BIO_new_mem_buf(it->bytes, (int) it->len);
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms =
                CMS_sign_ex(NULL, NULL, NULL, NULL, flags, kb_p11_libctx(), kb_p11_propq());
        if (!x || !in || !cms)
                return -KB_E_INTERNAL;
        CMS_SignerInfo *si = CMS_add1_signer(cms, x, key, EVP_get_digestbyname(alg->md),
                                             flags | (alg->pss ? CMS_KEY_PARAM : 0));
        if (!si || !set_padding(CMS_SignerInfo_get0_pkey_ctx(si), alg) || !CMS_final(cms, in, NULL, flags))
                return -KB_E_INTERNAL;
        _cleanup_free_ unsigned char *out = NULL;
        int len = i2d_CMS_ContentInfo(cms, &out);
        if (len <= 0)
                return -KB_E_INTERNAL;
        *ret = kb_base64_json(out, (size_t) len);
        return *ret ? 0 : -KB_E_INTERNAL;
}

/* SM2 through the backend (sign-sm2.c): its errors are the API's already;
 * a token gone ends every authorization on it. */
static int sign_item_sm2(kb_service *svc, kb_token_op *op, const request *rq, const item *it, json_t **ret) {
        kb_sm2_item s = { .bytes = it->bytes, .len = it->len, .is_digest = it->is_digest,
                          .cms = rq->fmt != FORMAT_RAW, .detached = rq->fmt == FORMAT_CMS_DETACHED,
                          .id = (const unsigned char *) rq->sm2_id, .id_len = strlen(rq->sm2_id) };
        int r = kb_sign_sm2(op, &s, ret);
        if (r < 0) {
                ERR_clear_error();
                r = kb_token_gone(svc, op->source, op->token->id, r);
        }
        return r;
}

static int sign_item(const kb_token_op *op, const request *rq, const item *it, json_t **ret) {
        if (rq->fmt != FORMAT_RAW)
                return sign_cms(op->key, op->cert, rq->alg, it, rq->fmt == FORMAT_CMS_DETACHED, ret);
        return it->is_digest ? sign_digest(op->key, rq->alg, it, ret) : sign_data(op->key, rq->alg, it, ret);
}

/* A batch (bid documents) reports each item done as progress. */
static int sign_all(kb_service *svc, kb_call *call, kb_token_op *op, const request *rq, json_t *out) {
        for (size_t i = 0; i < rq->n_items; i++) {
                json_t *sig = NULL;
                if (rq->alg->key == KB_KEY_SM2) {
                        int r = sign_item_sm2(svc, op, rq, &rq->items[i], &sig);
                        if (r < 0)
                                return r;
                } else if (sign_item(op, rq, &rq->items[i], &sig) < 0) {
                        ERR_clear_error();
                        return kb_token_op_key_error(svc, op);
                }
                json_array_append_new(out, sig);
                if (rq->n_items > 1)
                        kb_call_progress(call, "sign", (int) ((i + 1) * 100 / rq->n_items));
        }
        return 0;
}

int kb_method_sign(kb_service *svc, kb_call *call, json_t **ret) {
        request rq = { 0 };
        kb_token_op op;
        int r = parse_request(call, &rq);
        if (r >= 0)
                r = kb_token_op_begin_signing(svc, call, "sign", rq.alg->key, &op);
        if (r < 0) {
                request_clear(&rq);
                return r;
        }
        json_t *sigs = json_array();
        r = sigs ? sign_all(svc, call, &op, &rq, sigs) : -KB_E_INTERNAL;
        if (r >= 0)
                *ret = json_pack("{s:O, s:s, s:s}", "signatures", sigs, "algorithm", rq.alg->name,
                                 "certificate", op.cert->id);
        kb_token_op_end(svc, &op);
        json_decref(sigs);
        request_clear(&rq);
        return r < 0 ? r : *ret ? 0 : -KB_E_INTERNAL;
}

/* keybridge-auth-1: the signed message is SHA-256(origin) || SHA-256(challenge),
 * with the origin the daemon saw, so a challenge relayed by another site
 * verifies for that site only. */
static int auth_message(const char *origin, const unsigned char *challenge, size_t len, unsigned char msg[64]) {
        unsigned n = 0;
        return EVP_Digest(origin, strlen(origin), msg, &n, EVP_sha256(), NULL) &&
               EVP_Digest(challenge, len, msg + 32, &n, EVP_sha256(), NULL) ? 0 : -KB_E_INTERNAL;
}

static int auth_request(kb_call *call, unsigned char **ret_challenge, size_t *ret_len) {
        if (!call->origin)
                return kb_bad_field(call, "origin"); /* the format binds an origin */
        int r = kb_param_base64(call, "challenge", json_object_get(call->params, "challenge"), ret_challenge, ret_len);
        if (r >= 0 && (*ret_len < MIN_CHALLENGE || *ret_len > MAX_CHALLENGE))
                r = kb_bad_field(call, "challenge");
        return r;
}

/* The auth message signed with the key's own algorithm: ECDSA-SHA256,
 * RSA-PKCS1-SHA256, or SM2-SM3 with the default ID. */
static int auth_sign(kb_service *svc, kb_token_op *op, unsigned char msg[64], const algorithm **ret_alg,
                     json_t **ret) {
        kb_key_type type = op->cert->key_type;
        const algorithm *alg = find_algorithm(type == KB_KEY_EC ? "ECDSA-SHA256" :
                                              type == KB_KEY_SM2 ? "SM2-SM3" : "RSA-PKCS1-SHA256");
        item it = { .bytes = msg, .len = 64 };
        request rq = { .alg = alg, .fmt = FORMAT_RAW, .sm2_id = KB_SM2_DEFAULT_ID };
        *ret_alg = alg;
        if (type == KB_KEY_SM2)
                return sign_item_sm2(svc, op, &rq, &it, ret);
        if (type != KB_KEY_EC && type != KB_KEY_RSA)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        if (sign_data(op->key, alg, &it, ret) < 0) {
                ERR_clear_error();
                return kb_token_op_key_error(svc, op);
        }
        return 0;
}

int kb_method_authenticate(kb_service *svc, kb_call *call, json_t **ret) {
        _cleanup_free_ unsigned char *challenge = NULL;
        size_t len = 0;
        unsigned char msg[64];
        kb_token_op op;
        int r = auth_request(call, &challenge, &len);
        if (r >= 0)
                r = auth_message(call->origin, challenge, len, msg);
        if (r >= 0)
                r = kb_token_op_begin_signing(svc, call, "authenticate", KB_KEY_UNKNOWN, &op);
        if (r < 0)
                return r;
        const algorithm *alg = NULL;
        json_t *sig = NULL;
        _cleanup_free_ char *pem = kb_cert_to_pem(op.cert);
        r = auth_sign(svc, &op, msg, &alg, &sig);
        if (r >= 0)
                *ret = json_pack("{s:s, s:s?, s:s, s:o}", "format", "keybridge-auth-1", "certificate", pem,
                                 "algorithm", alg->name, "signature", sig);
        kb_token_op_end(svc, &op);
        return r < 0 ? r : *ret ? 0 : -KB_E_INTERNAL;
}
