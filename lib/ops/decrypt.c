/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POST /v1/tokens/{token}/decrypt: digital envelopes opened with the
 * private key of an encryption certificate, under one PIN flow for up to 64
 * of them (a tender's bids at opening, 开标解密).
 *
 * RSA and EC certificates: CMS EnvelopedData or AuthEnvelopedData, which
 * OpenSSL's CMS reads; the content key is opened on the token through the
 * keybridge-p11 provider (C_Decrypt for key transport, C_DeriveKey for ECDH
 * key agreement) and OpenSSL decrypts the content. SM2 certificates: GM/T
 * 0010 EnvelopedData (kb-sm2-envelope.h), opened on the token through the
 * backend's sm2_decrypt. Every plaintext is wiped once it is encoded.
 */
#include <string.h>

#include "kb-core.h"
#include "kb-formats.h"
#include "kb-service.h"
#include "envelope-cms.h"

#define MAX_ENVELOPE (1024 * 1024)

typedef struct envelope {
        unsigned char *der;
        size_t len;
} envelope;

typedef struct request {
        envelope items[KB_MAX_ITEMS];
        size_t n_items;
} request;

static void request_clear(request *rq) {
        for (size_t i = 0; i < rq->n_items; i++)
                free(rq->items[i].der);
        rq->n_items = 0;
}

static void item_field(kb_call *call, size_t i) {
        snprintf(call->error_field, sizeof(call->error_field), "items[%zu].cms", i);
}

static int parse_item(kb_call *call, size_t i, json_t *o, envelope *ret) {
        char field[48];
        json_t *cms = json_object_get(o, "cms");
        snprintf(field, sizeof(field), "items[%zu]", i);
        if (!json_is_object(o) || !json_is_string(cms))
                return kb_bad_field(call, field);
        /* base64 of the limit is 4/3 of it: refuse before decoding */
        if (json_string_length(cms) > (MAX_ENVELOPE + 2) / 3 * 4) {
                item_field(call, i);
                return -KB_E_PAYLOAD_TOO_LARGE;
        }
        snprintf(field, sizeof(field), "items[%zu].cms", i);
        int r = kb_param_base64(call, field, cms, &ret->der, &ret->len);
        if (r >= 0 && ret->len == 0)
                r = kb_bad_field(call, field);
        return r;
}

static int parse_request(kb_call *call, request *rq) {
        json_t *items = NULL;
        int r = kb_param_items(call, &items);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_array_size(items); i++) {
                r = parse_item(call, i, json_array_get(items, i), &rq->items[i]);
                if (rq->items[i].der)
                        rq->n_items++;
                if (r < 0)
                        return r;
        }
        call->batch_items = (unsigned) rq->n_items;
        return 0;
}

/* A plaintext: wiped when it is freed. */
typedef struct plain {
        unsigned char *p;
        size_t len;
} plain;

static void plain_clear(plain *t) {
        if (t->p)
                OPENSSL_clear_free(t->p, t->len);
        *t = (plain) { 0 };
}

static json_t *plain_json(plain *t) {
        json_t *j = kb_base64_json(t->p, t->len);
        plain_clear(t);
        return j;
}

/* ---- GM/T 0010 (SM2 keys, through the backend) ---- */

static int open_sm2(kb_service *svc, kb_token_op *op, X509 *cert, const envelope *e, plain *ret) {
        kb_sm2_envelope env;
        kb_key_id key;
        if (kb_key_id_of(op->cert, &key) < 0)
                return -KB_E_NOT_FOUND;
        int r = kb_sm2_envelope_read(e->der, e->len, cert, &env);
        if (r < 0)
                return r;
        ret->p = OPENSSL_zalloc(env.content_len);
        ret->len = env.content_len;
        r = ret->p ? op->source->ops->sm2_decrypt(op->source, op->token, &key, env.cipher, env.cipher_len, env.iv,
                                                 env.content, env.content_len, ret->p)
                   : -KB_E_INTERNAL;
        kb_sm2_envelope_clear(&env);
        size_t len = 0;
        if (r >= 0)
                r = kb_pkcs7_unpad(ret->p, ret->len, &len);
        if (r < 0)
                return kb_token_op_failed(svc, op, r);
        OPENSSL_cleanse(ret->p + len, ret->len - len);
        ret->len = len;
        return 0;
}

static int open_cms(kb_service *svc, kb_token_op *op, X509 *cert, const envelope *e, plain *ret) {
        int r = kb_cms_envelope_open(op->key, cert, e->der, e->len, &ret->p, &ret->len);
        return r < 0 ? kb_token_op_failed(svc, op, r) : r;
}

static int open_item(kb_service *svc, kb_call *call, kb_token_op *op, X509 *cert, size_t i, const envelope *e,
                     json_t **ret) {
        plain t = { 0 };
        int r = op->cert->key_type == KB_KEY_SM2 ? open_sm2(svc, op, cert, e, &t) : open_cms(svc, op, cert, e, &t);
        if (r < 0) {
                plain_clear(&t);
                if (r != -KB_E_TOKEN_NOT_PRESENT && r != -KB_E_INTERNAL)
                        item_field(call, i);
                return r;
        }
        *ret = plain_json(&t);
        return *ret ? 0 : -KB_E_INTERNAL;
}

static int open_all(kb_service *svc, kb_call *call, kb_token_op *op, const request *rq, json_t *out) {
        const unsigned char *der = op->cert->der;
        _cleanup_(X509_freep) X509 *cert = d2i_X509(NULL, &der, (long) op->cert->der_len);
        if (!cert)
                return -KB_E_INTERNAL;
        for (size_t i = 0; i < rq->n_items; i++) {
                json_t *text = NULL;
                int r = open_item(svc, call, op, cert, i, &rq->items[i], &text);
                if (r < 0)
                        return r;
                json_array_append_new(out, text);
                if (rq->n_items > 1)
                        kb_call_progress(call, "decrypt", (int) ((i + 1) * 100 / rq->n_items));
        }
        return 0;
}

/* Is envelope i addressed to cert (of key type)? Read as it will be opened. */
static int check_item(kb_call *call, X509 *cert, kb_key_type type, size_t i, const envelope *e) {
        kb_sm2_envelope env;
        int r;
        if (type == KB_KEY_SM2) {
                r = kb_sm2_envelope_read(e->der, e->len, cert, &env);
                kb_sm2_envelope_clear(&env);
        } else
                r = kb_cms_envelope_check(e->der, e->len, cert);
        if (r < 0)
                item_field(call, i);
        return r;
}

/* Every envelope readable and addressed to the certificate before the PIN
 * flow: a misaddressed or broken one costs no dialog. A certificate that
 * is not one to decrypt with is the PIN flow's to refuse. */
static int check_items(kb_service *svc, kb_call *call, const request *rq) {
        kb_view *v = kb_cache_view(svc->cache);
        kb_source *src = NULL;
        const kb_token *t = NULL;
        const kb_cert *c = NULL;
        X509 *cert = NULL;
        kb_key_type type = KB_KEY_UNKNOWN;
        int r = v ? kb_view_token_cert(svc, call, v, &src, &t, &c) : -KB_E_INTERNAL;
        if (r >= 0 && (c->usage & KB_USAGE_ENCRYPT)) {
                const unsigned char *der = c->der;
                cert = d2i_X509(NULL, &der, (long) c->der_len);
                type = c->key_type;
        }
        kb_view_free(v);
        for (size_t i = 0; r >= 0 && cert && i < rq->n_items; i++)
                r = check_item(call, cert, type, i, &rq->items[i]);
        X509_free(cert);
        return r;
}

int kb_method_decrypt(kb_service *svc, kb_call *call, json_t **ret) {
        request rq = { 0 };
        *ret = NULL;
        kb_token_op op;
        int r = parse_request(call, &rq);
        if (r >= 0)
                r = check_items(svc, call, &rq);
        if (r >= 0)
                r = kb_token_op_begin_decrypting(svc, call, &op);
        if (r < 0) {
                request_clear(&rq);
                return r;
        }
        json_t *texts = json_array();
        r = texts ? open_all(svc, call, &op, &rq, texts) : -KB_E_INTERNAL;
        if (r >= 0)
                *ret = json_pack("{s:O, s:s}", "plaintexts", texts, "certificate", op.cert->id);
        kb_token_op_end(svc, &op);
        if (!*ret)      /* else the transport wipes them after the answer (kb_method.secret_result) */
                kb_json_wipe(texts);
        json_decref(texts);
        request_clear(&rq);
        return r < 0 ? r : *ret ? 0 : -KB_E_INTERNAL;
}
