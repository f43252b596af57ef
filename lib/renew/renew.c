/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * renewal.request and renewal.cancel: a new key pair beside the current one
 * (or the current key), a PKCS#10 request with the current subject signed by
 * that key, and a proof — CMS SignedData by the current key over the
 * request's DER, detached — so the CA sees the holder of the current
 * certificate asked. The request is remembered until its certificate is
 * installed or it is cancelled (which destroys its uninstalled key).
 */
#include <openssl/cms.h>
#include <openssl/objects.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>
#include <time.h>

#include "kb-core.h"
#include "kb-pkcs11.h"
#include "renew-internal.h"

KB_DEFINE_POINTER_CLEANUP(X509_REQ, X509_REQ_free)
KB_DEFINE_POINTER_CLEANUP(CMS_ContentInfo, CMS_ContentInfo_free)

/* SM2 keys live on SKF tokens, the others on PKCS#11 tokens: a renewal
 * keeps to its token's kind. */
static bool fits_token(const kb_cert *cur, kb_key_type type) {
        return (type == KB_KEY_SM2) == (cur->key_type == KB_KEY_SM2);
}

/* params.keyType, or the current key's type and size. */
static int key_spec(kb_call *call, const kb_cert *cur, kb_keygen *spec) {
        const char *name = NULL;
        int r = kb_param_string(call, "keyType", false, &name);
        if (r < 0)
                return r;
        if (!name)
                name = kb_renew_key_type_name(&(kb_keygen) { .type = cur->key_type, .bits = cur->key_bits });
        r = name ? kb_renew_key_type(name, spec) : -KB_E_UNSUPPORTED_ALGORITHM;
        if (r >= 0 && fits_token(cur, spec->type))
                return 0;
        snprintf(call->error_field, sizeof(call->error_field), "keyType");
        return -KB_E_UNSUPPORTED_ALGORITHM;
}

static int make_proof(EVP_PKEY *key, const kb_cert *cur, const unsigned char *csr, size_t csr_len, json_t **ret) {
        unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_DETACHED;
        const unsigned char *in = cur->der;
        _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &in, (long) cur->der_len);
        _cleanup_(BIO_freep) BIO *data = BIO_new_mem_buf(csr, (int) csr_len);
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms =
                CMS_sign_ex(NULL, NULL, NULL, NULL, flags, kb_p11_libctx(), kb_p11_propq());
        if (!x || !data || !cms || !CMS_add1_signer(cms, x, key, EVP_sha256(), flags) ||
            !CMS_final(cms, data, NULL, flags))
                return -KB_E_INTERNAL;
        _cleanup_free_ unsigned char *out = NULL;
        int len = i2d_CMS_ContentInfo(cms, &out);
        *ret = len > 0 ? kb_base64_json(out, (size_t) len) : NULL;
        return *ret ? 0 : -KB_E_INTERNAL;
}

static X509_NAME *current_subject(const kb_cert *cur) {
        const unsigned char *in = cur->der;
        _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &in, (long) cur->der_len);
        return x ? X509_NAME_dup(X509_get_subject_name(x)) : NULL;
}

static int request_body(kb_service *svc, kb_call *call, kb_token_op *op, EVP_PKEY *key, const kb_key_id *id,
                        json_t *ret) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        _cleanup_free_ unsigned char *der = NULL;
        json_t *proof = NULL;
        bool sm2 = op->cert->key_type == KB_KEY_SM2;
        X509_NAME *subject = current_subject(op->cert);
        kb_call_progress(call, "sign-request", 75);
        int r = subject ? kb_renew_csr(svc, op, key, id, op->cert->key_type, subject, &req) : -KB_E_INTERNAL;
        X509_NAME_free(subject);
        int len = r >= 0 ? i2d_X509_REQ(req, &der) : -1;
        if (r >= 0 && len <= 0)
                r = -KB_E_INTERNAL;
        if (r >= 0) {
                kb_call_progress(call, "sign-proof", 85);
                r = sm2 ? kb_renew_sm2_proof(op, der, (size_t) len, &proof)
                        : make_proof(op->key, op->cert, der, (size_t) len, &proof);
                if (r < 0 && !sm2) {
                        ERR_clear_error();
                        int e = op->source->ops->key_error(op->source, op->key);
                        r = e == -KB_E_INTERNAL ? r : e;
                }
                r = kb_token_gone(svc, op->source, op->token->id, r);
        }
        if (r < 0)
                return r;
        json_object_set_new(ret, "proof", proof);
        json_object_set_new(ret, "csr", kb_renew_csr_pem(req));
        return json_object_get(ret, "csr") ? 0 : -KB_E_INTERNAL;
}

/* The CSR's key: a new pair beside the current one, or the current key.
 * An SM2 key signs through the backend: *ret is its public half. */
/* The CSR's key: a new pair beside the current one, or the current key.
 * An SM2 key signs through the backend: *ret is its public half. */
int kb_renew_new_key(kb_service *svc, kb_call *call, kb_token_op *op, const kb_keygen *spec, kb_key_id *id,
                     EVP_PKEY **ret) {
        int r = kb_renew_generate(call, op, spec, id);
        if (r >= 0) {
                if (spec->type == KB_KEY_SM2)
                        r = op->source->ops->key_public(op->source, op->token, id, true, ret);
                else
                        r = op->source->ops->key_load(op->source, op->token, id, ret);
                if (r < 0)
                        (void) op->source->ops->key_destroy(op->source, op->token, id);
        }
        return kb_token_gone(svc, op->source, op->token->id, r);
}

/* The CSR's key: a new pair beside the current one, or the current key.
 * An SM2 key signs through the backend: *ret is its public half. */
static int csr_key(kb_service *svc, kb_call *call, kb_token_op *op, kb_pending *p, EVP_PKEY **ret) {
        /* A new RSA key may unwrap: the encryption key of a double
         * certificate comes wrapped to the signing key. */
        kb_keygen spec = { .label = op->cert->label, .decrypt = op->cert->usage & KB_USAGE_ENCRYPT, .unwrap = true };
        if (!p->new_key) {
                memcpy(p->key_id.v, op->cert->key_id, op->cert->key_id_len);
                p->key_id.len = op->cert->key_id_len;
                *ret = op->key;
                return EVP_PKEY_up_ref(op->key) ? 0 : -KB_E_INTERNAL;
        }
        int r = key_spec(call, op->cert, &spec);
        return r < 0 ? r : kb_renew_new_key(svc, call, op, &spec, &p->key_id, ret);
}

/* Does the call's token keep its certificates in containers (SKF)? False
 * when it is not known: the operation's own lookup then answers. */
static bool token_in_containers(kb_service *svc, kb_call *call) {
        const char *id = json_string_value(json_object_get(call->params, "token"));
        kb_source *src = NULL;
        const kb_token *t = NULL;
        bool yes = false;
        kb_view *v = id ? kb_cache_view(svc->cache) : NULL;
        if (v && kb_view_token(svc, v, id, &src, &t) >= 0)
                yes = src->ops->certs_in_containers;
        kb_view_free(v);
        return yes;
}

int kb_method_renewal_request(kb_service *svc, kb_call *call, json_t **ret) {
        kb_token_op op;
        kb_pending p = { .new_key = true, .created = time(NULL) };
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        if (!svc->renewals)
                return -KB_E_INTERNAL;
        int r = json_object_get(call->params, "newKey") ? kb_param_bool(call, "newKey", &p.new_key) : 0;
        /* A container's certificate goes only with its key pair: its
         * renewal is always a new container. Refused before the PIN. */
        if (r >= 0 && !p.new_key && token_in_containers(svc, call))
                return kb_call_refuse(call, -KB_E_BAD_REQUEST, "newKey", "new-container-required");
        if (r >= 0)
                r = kb_token_op_begin_renewal(svc, call, "certificate", "renewal.request", &op);
        if (r < 0)
                return r;
        if (op.cert->key_id_len == 0 || op.cert->key_id_len > sizeof(p.key_id.v)) {
                kb_token_op_end(svc, &op);
                return kb_bad_field(call, "certificate");
        }
        if (!p.new_key && op.source->ops->certs_in_containers) { /* the token turned up since the check above */
                kb_token_op_end(svc, &op);
                return kb_call_refuse(call, -KB_E_BAD_REQUEST, "newKey", "new-container-required");
        }
        kb_renew_random_hex(p.request_id, KB_RENEW_ID_LEN);
        memcpy(p.token, op.token->id, sizeof(p.token));
        memcpy(p.certificate, op.cert->id, sizeof(p.certificate));
        json_t *out = json_object();
        r = out ? csr_key(svc, call, &op, &p, &key) : -KB_E_INTERNAL;
        if (r >= 0)
                r = request_body(svc, call, &op, key, &p.key_id, out);
        if (r >= 0)
                r = kb_pending_save(svc->renewals, &p);
        if (r < 0 && p.new_key && key) /* nothing of a failed request stays on the token */
                (void) op.source->ops->key_destroy(op.source, op.token, &p.key_id);
        kb_token_op_end(svc, &op);
        if (r < 0) {
                json_decref(out);
                return r;
        }
        char hex[2 * sizeof(p.key_id.v) + 1];
        kb_key_id_hex(&p.key_id, hex, sizeof(hex));
        json_object_set_new(out, "requestId", json_string(p.request_id));
        json_object_set_new(out, "keyId", json_string(hex));
        json_object_set_new(out, "newKey", json_boolean(p.new_key));
        kb_call_progress(call, "done", 100);
        *ret = out;
        return 0;
}

/* Does a certificate on the token use this key? Then it is not ours to drop. */
static bool key_in_use(const kb_token *t, const kb_key_id *id) {
        for (size_t i = 0; i < t->n_certs; i++)
                if (t->certs[i]->key_id_len == id->len && memcmp(t->certs[i]->key_id, id->v, id->len) == 0)
                        return true;
        return false;
}

int kb_pending_of_call(kb_service *svc, kb_call *call, bool enrollment, kb_pending *ret) {
        const char *token, *id;
        int r = kb_param_string(call, "token", true, &token);
        if (r >= 0)
                r = kb_param_string(call, "requestId", true, &id);
        if (r >= 0)
                r = kb_pending_load(svc->renewals, id, false, ret);
        if (r >= 0 && (strcmp(ret->token, token) != 0 || ret->enrollment != enrollment))
                r = -KB_E_NOT_FOUND;
        if (r == -KB_E_NOT_FOUND && !call->error_field[0])
                snprintf(call->error_field, sizeof(call->error_field), "requestId");
        return r;
}

int kb_renew_cancel_locked(kb_service *svc, kb_call *call, kb_token_op *op, const kb_pending *p, json_t **ret) {
        kb_pending again;
        /* An unfinished install goes first, on this login (its rollback may
         * wait for one). Finished, it may have installed this request. */
        int r = kb_install_recover_first(svc, call, op);
        if (r >= 0 && kb_pending_load(svc->renewals, p->request_id, false, &again) < 0) {
                snprintf(call->error_field, sizeof(call->error_field), "requestId");
                r = -KB_E_NOT_FOUND;
        }
        /* A certificate uses the key (installed meanwhile): never drop it. */
        if (r >= 0 && key_in_use(op->token, &p->key_id))
                r = kb_bad_field(call, "requestId");
        else if (r >= 0)
                r = kb_token_gone(svc, op->source, op->token->id,
                                  op->source->ops->key_destroy(op->source, op->token, &p->key_id));
        kb_token_op_end(svc, op);
        if (r >= 0)
                r = kb_pending_remove(svc->renewals, p->request_id);
        if (r < 0)
                return r;
        *ret = json_pack("{s:s, s:b}", "requestId", p->request_id, "cancelled", 1);
        return *ret ? 0 : -KB_E_INTERNAL;
}

int kb_method_renewal_cancel(kb_service *svc, kb_call *call, json_t **ret) {
        kb_pending p;
        kb_token_op op;
        if (!svc->renewals)
                return -KB_E_INTERNAL;
        int r = kb_pending_of_call(svc, call, false, &p);
        if (r < 0)
                return r;
        if (!p.new_key) { /* the current key: nothing on the token to undo */
                r = kb_pending_remove(svc->renewals, p.request_id);
                *ret = json_pack("{s:s, s:b}", "requestId", p.request_id, "cancelled", 1);
                return r < 0 ? r : 0;
        }
        json_object_set_new(call->params, "certificate", json_string(p.certificate));
        r = kb_token_op_begin_renewal(svc, call, "certificate", "renewal.cancel", &op);
        return r < 0 ? r : kb_renew_cancel_locked(svc, call, &op, &p, ret);
}
