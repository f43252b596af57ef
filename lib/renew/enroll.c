/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Enrollment (远程下载): a first key and certificate onto a token the CA
 * formatted, which holds none. enrollment.request generates the key pair
 * and answers a PKCS#10 request with the subject the RA gave; there is no
 * proof, as no earlier key exists to sign one (the RA's authorization code
 * stands for it). enrollment.install is renewal's journaled install with
 * nothing to replace, recovered by the same scan; enrollment.cancel
 * destroys a key that never got its certificate.
 */
#include <string.h>
#include <time.h>

#include "kb-core.h"
#include "renew-internal.h"

KB_DEFINE_POINTER_CLEANUP(X509_REQ, X509_REQ_free)

/* Where no label is given: the subject's CN, else this. */
#define DEFAULT_LABEL "keybridge"

typedef struct enroll_req {
        X509_NAME *subject;
        char *subject_text;
        kb_keygen spec;
        char label[KB_ENROLL_LABEL_MAX + 1];
} enroll_req;

static void enroll_req_clear(enroll_req *e) {
        X509_NAME_free(e->subject);
        free(e->subject_text);
}

static int parse_label(kb_call *call, enroll_req *e) {
        const char *label = NULL;
        int r = kb_param_string(call, "label", false, &label);
        if (r < 0)
                return r;
        if (label && (!label[0] || strlen(label) > KB_ENROLL_LABEL_MAX))
                return kb_call_refuse(call, -KB_E_BAD_REQUEST, "label", label[0] ? "too-long" : "empty");
        if (!label) {
                int n = X509_NAME_get_text_by_NID(e->subject, NID_commonName, e->label, sizeof(e->label));
                if (n > 0)
                        return 0;
                label = DEFAULT_LABEL;
        }
        snprintf(e->label, sizeof(e->label), "%s", label);
        return 0;
}

/* Everything a refusal can be decided on without the token. */
static int parse_enroll(kb_call *call, enroll_req *e) {
        const char *type = NULL;
        int r = kb_enroll_subject(call, &e->subject, &e->subject_text);
        if (r >= 0)
                r = kb_param_string(call, "keyType", true, &type);
        if (r >= 0 && kb_renew_key_type(type, &e->spec) < 0)
                r = kb_call_refuse(call, -KB_E_UNSUPPORTED_ALGORITHM, "keyType", "unknown-key-type");
        if (r >= 0)
                r = parse_label(call, e);
        /* An RSA key also decrypts and unwraps: the encryption key of a later
         * double certificate comes wrapped to it. */
        e->spec.decrypt = e->spec.type == KB_KEY_RSA;
        e->spec.unwrap = true;
        e->spec.label = e->label;
        return r;
}

static json_t *request_answer(const kb_pending *p, const enroll_req *e, X509_REQ *req) {
        char hex[2 * sizeof(p->key_id.v) + 1];
        kb_key_id_hex(&p->key_id, hex, sizeof(hex));
        return json_pack("{s:s, s:o, s:s, s:s, s:s}", "requestId", p->request_id, "csr", kb_renew_csr_pem(req),
                         "keyId", hex, "keyType", kb_renew_key_type_name(&e->spec), "subject", e->subject_text);
}

/* Under the token lock, PIN checked: the key, the request, the record. */
static int request_locked(kb_service *svc, kb_call *call, kb_token_op *op, const enroll_req *e, kb_pending *p,
                          json_t **ret) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        int r = kb_renew_new_key(svc, call, op, &e->spec, &p->key_id, &key);
        if (r < 0)
                return r;
        kb_call_progress(call, "sign-request", 75);
        r = kb_renew_csr(svc, op, key, &p->key_id, e->spec.type, e->subject, &req);
        if (r >= 0)
                r = kb_pending_save(svc->renewals, p);
        if (r >= 0 && !(*ret = request_answer(p, e, req)))
                r = -KB_E_INTERNAL;
        if (r < 0) { /* nothing of a failed request stays, on the token or here */
                (void) op->source->ops->key_destroy(op->source, op->token, &p->key_id);
                (void) kb_pending_remove(svc->renewals, p->request_id);
        }
        return r;
}

int kb_method_enrollment_request(kb_service *svc, kb_call *call, json_t **ret) {
        enroll_req e = { 0 };
        kb_token_op op;
        kb_pending p = { .new_key = true, .enrollment = true, .created = time(NULL) };
        if (!svc->renewals)
                return -KB_E_INTERNAL;
        int r = parse_enroll(call, &e);
        if (r >= 0)
                r = kb_token_op_begin_token(svc, call, "enrollment.request", &e.spec, e.subject_text, &op);
        if (r < 0) {
                enroll_req_clear(&e);
                return r;
        }
        kb_renew_random_hex(p.request_id, KB_RENEW_ID_LEN);
        memcpy(p.token, op.token->id, sizeof(p.token));
        snprintf(p.label, sizeof(p.label), "%s", e.label);
        r = request_locked(svc, call, &op, &e, &p, ret);
        kb_token_op_end(svc, &op);
        enroll_req_clear(&e);
        if (r >= 0)
                kb_call_progress(call, "done", 100);
        return r;
}

/* The certificate's subject, as the dialog names what will be written. */
static char *cert_subject_text(const kb_cert *c) {
        const unsigned char *in = c->der;
        _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &in, (long) c->der_len);
        return x ? kb_enroll_name_text(X509_get_subject_name(x)) : NULL;
}

int kb_method_enrollment_install(kb_service *svc, kb_call *call, json_t **ret) {
        kb_install_req rq = { .enrollment = true };
        kb_token_op op;
        bool token_touched = false;
        if (!svc->renewals)
                return -KB_E_INTERNAL;
        int r = kb_install_parse(svc, call, &rq);
        const char *token = json_string_value(json_object_get(call->params, "token"));
        if (r >= 0 && (!token || strcmp(rq.pending.token, token) != 0)) {
                snprintf(call->error_field, sizeof(call->error_field), "requestId");
                r = -KB_E_NOT_FOUND;
        }
        _cleanup_free_ char *subject = r >= 0 ? cert_subject_text(rq.cert) : NULL;
        if (r >= 0)
                r = kb_token_op_begin_token(svc, call, "enrollment.install", NULL, subject, &op);
        if (r >= 0) {
                token_touched = true;
                r = kb_token_gone(svc, op.source, op.token->id, kb_install_locked(svc, call, &op, &rq, ret));
                kb_token_op_end(svc, &op);
        }
        kb_install_req_clear(&rq);
        kb_install_reread_after(svc, call, r, token_touched);
        return r;
}

int kb_method_enrollment_cancel(kb_service *svc, kb_call *call, json_t **ret) {
        kb_pending p;
        kb_token_op op;
        if (!svc->renewals)
                return -KB_E_INTERNAL;
        int r = kb_pending_of_call(svc, call, true, &p);
        if (r >= 0)
                r = kb_token_op_begin_token(svc, call, "enrollment.cancel", NULL, NULL, &op);
        return r < 0 ? r : kb_renew_cancel_locked(svc, call, &op, &p, ret);
}
