/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Double certificates (双证) in renewal.install: the encryption certificate
 * and its key, delivered wrapped to the new signing key, go onto the token
 * before the commit point and are undone by a rollback (kb-renew.h).
 */
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <string.h>
#include <time.h>

#include "kb-core.h"
#include "renew-internal.h"

#define ENC_ID_LEN 16
#define MAX_WRAPPED 16384       /* an RSA-16384 key, wrapped, with room to spare */
#define KWP_BLOCK 8             /* RFC 5649: whole 64-bit blocks, at least two */


void kb_enc_req_clear(kb_enc_req *e) {
        kb_cert_free(e->cert);
        free(e->wrapped);
        *e = (kb_enc_req) { 0 };
}

/* "encryption": {"certificate", "envelopedKey"}: absent is fine. */
int kb_enc_parse(kb_call *call, kb_enc_req *ret) {
        json_t *enc = json_object_get(call->params, "encryption");
        *ret = (kb_enc_req) { 0 };
        if (!enc)
                return 0;
        if (!json_is_object(enc))
                return kb_bad_field(call, "encryption");
        int r = kb_param_cert(call, "encryption.certificate", json_object_get(enc, "certificate"), &ret->cert);
        if (r < 0)
                return r;
        json_t *wrapped = json_object_get(enc, "envelopedKey");
        if (!wrapped)
                return kb_bad_field(call, "encryption.envelopedKey");
        r = kb_param_base64(call, "encryption.envelopedKey", wrapped, &ret->wrapped, &ret->wrapped_len);
        if (r < 0)
                return r;
        if (ret->wrapped_len > MAX_WRAPPED)
                return kb_bad_field(call, "encryption.envelopedKey");
        if (ret->cert->not_after < time(NULL))
                return kb_call_refuse(call, -KB_E_BAD_REQUEST, "encryption.certificate", "expired");
        if (!(ret->cert->usage & KB_USAGE_ENCRYPT))
                return kb_call_refuse(call, -KB_E_BAD_REQUEST, "encryption.certificate", "not-for-encryption");
        if (ret->cert->key_type != KB_KEY_RSA && ret->cert->key_type != KB_KEY_SM2)
                return kb_call_refuse(call, -KB_E_UNSUPPORTED_ALGORITHM, "encryption.certificate", "key-type");
        return 0;
}

static EVP_PKEY *public_key(const kb_cert *c) {
        const unsigned char *in = c->der;
        _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &in, (long) c->der_len);
        EVP_PKEY *k = x ? X509_get_pubkey(x) : NULL;
        return k;
}

static int keep_enc_cert(kb_install *j, const kb_enc_req *e) {
        if (!(j->enc_der = malloc(e->cert->der_len)))
                return -KB_E_INTERNAL;
        memcpy(j->enc_der, e->cert->der, j->enc_len = e->cert->der_len);
        return 0;
}

/* In containers (SKF) the encryption pair goes into the new signature key
 * pair's container, an SM2 pair in an ENVELOPEDKEYBLOB sent to that key,
 * unless that container holds it already (a repeated install: importing
 * another envelope then would replace a key in use). */
static int plan_in_container(kb_call *call, kb_token_op *op, const kb_enc_req *e, const kb_cert *sign,
                             kb_install *j) {
        if (sign->key_type != KB_KEY_SM2 || e->cert->key_type != KB_KEY_SM2)
                return kb_call_refuse(call, -KB_E_UNSUPPORTED_ALGORITHM, "encryption", "key-type");
        /* the certificate goes into the new container even when another
         * holds it: writing it again into its slot changes nothing */
        j->enc_cert_ours = true;
        j->enc_key = j->new_key;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *want = public_key(e->cert), *signs = public_key(sign), *held = NULL;
        if (!want || !signs)
                return -KB_E_INTERNAL;
        /* one key pair for both slots would put the encryption certificate
         * over the signature certificate */
        if (EVP_PKEY_eq(want, signs) == 1)
                return kb_call_refuse(call, -KB_E_CERTIFICATE_MISMATCH, "encryption.certificate", "signature-key");
        int r = op->source->ops->key_public(op->source, op->token, &j->new_key, false, &held);
        if (r < 0 && r != -KB_E_NOT_FOUND)
                return r;
        j->enc_key_ours = !held || EVP_PKEY_eq(held, want) != 1;
        return keep_enc_cert(j, e);
}

/* What of the pair the token holds already: only the rest is ours to write,
 * and to undo. The key gets a fresh random CKA_ID. */
int kb_enc_plan(kb_call *call, kb_token_op *op, kb_enc_req *e, const kb_cert *sign, kb_install *j) {
        kb_source *src = op->source;
        size_t n = 0, rsa_len = ((size_t) sign->key_bits + 7) / 8;
        if (!e->cert)
                return 0;
        if (src->ops->certs_in_containers)
                return plan_in_container(call, op, e, sign, j);
        if (e->cert->key_type != KB_KEY_RSA)
                return kb_call_refuse(call, -KB_E_UNSUPPORTED_ALGORITHM, "encryption.certificate", "key-type");
        e->rsa_len = rsa_len;
        /* The envelope is opened by the signing key: RSA-OAEP needs RSA. */
        if (sign->key_type != KB_KEY_RSA)
                return kb_call_refuse(call, -KB_E_UNSUPPORTED_ALGORITHM, "encryption", "signature-key-type");
        if (e->wrapped_len <= rsa_len || (e->wrapped_len - rsa_len) % KWP_BLOCK ||
            e->wrapped_len - rsa_len < 2 * KWP_BLOCK)
                return kb_bad_field(call, "encryption.envelopedKey");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = public_key(e->cert);
        if (!pub)
                return -KB_E_INTERNAL;
        int r = src->ops->cert_count(src, op->token, e->cert->der, e->cert->der_len, &n);
        if (r < 0)
                return r;
        j->enc_cert_ours = n == 0;
        r = src->ops->key_find(src, op->token, pub, &j->enc_key);
        if (r == -KB_E_NOT_FOUND) {
                if (RAND_bytes(j->enc_key.v, ENC_ID_LEN) != 1)
                        return -KB_E_INTERNAL;
                j->enc_key.len = ENC_ID_LEN;
                j->enc_key_ours = true;
                r = 0;
        }
        if (r < 0)
                return r;
        return keep_enc_cert(j, e);
}

static bool same_id(const kb_key_id *a, const kb_key_id *b) {
        return a->len == b->len && memcmp(a->v, b->v, a->len) == 0;
}

/* The unwrapped key must be the encryption certificate's: the token finds it
 * by that public key, under the id it was given (in containers the backend
 * checks the slot, and a key there cannot go alone). */
static int unwrap(kb_call *call, kb_source *src, const kb_token *t, const kb_install *j, const kb_enc_req *e) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = public_key(e->cert);
        kb_key_unwrap spec = {
                .unwrapping = &j->new_key,
                .wrapped = e->wrapped,
                .wrapped_len = e->wrapped_len,
                .rsa_len = e->rsa_len,
                .type = e->cert->key_type,
                .id = &j->enc_key,
                .label = j->label,
                .pub = pub,
        };
        kb_key_id found;
        if (!pub)
                return -KB_E_INTERNAL;
        int r = src->ops->key_unwrap(src, t, &spec);
        if (r == -KB_E_BAD_REQUEST)
                return kb_call_refuse(call, r, "encryption.envelopedKey", "does-not-unwrap");
        if (r == -KB_E_UNSUPPORTED_ALGORITHM)
                return kb_call_refuse(call, r, "encryption", "token-cannot-unwrap");
        if (r == -KB_E_CERTIFICATE_MISMATCH)
                return kb_call_refuse(call, r, "encryption.certificate", NULL);
        if (r < 0 || src->ops->certs_in_containers)
                return r;
        r = src->ops->key_find(src, t, pub, &found);
        if (r == -KB_E_NOT_FOUND || (r >= 0 && !same_id(&found, &j->enc_key)))
                r = kb_call_refuse(call, -KB_E_CERTIFICATE_MISMATCH, "encryption.certificate", NULL);
        if (r < 0)
                (void) src->ops->key_destroy(src, t, &j->enc_key);
        return r;
}

int kb_enc_install(kb_call *call, kb_source *src, const kb_token *t, const kb_install *j, const kb_enc_req *e) {
        int r = 0;
        if (!j->enc_der)
                return 0;
        if (j->enc_key_ours) {
                kb_call_progress(call, "unwrap-encryption-key", 20);
                r = unwrap(call, src, t, j, e);
        }
        /* in containers the certificate waits for the commit point: it
         * could not go again (kb_enc_after_commit) */
        if (r >= 0 && j->enc_cert_ours && !src->ops->certs_in_containers) {
                kb_call_progress(call, "write-encryption-certificate", 30);
                r = src->ops->cert_write(src, t, j->enc_der, j->enc_len, &j->enc_key, j->label);
        }
        return r;
}

int kb_enc_rollback(kb_source *src, const kb_token *t, const kb_install *j) {
        int r = 0;
        if (!j->enc_der || src->ops->certs_in_containers)
                return 0;       /* the imported pair stays in the new container, unseen without its certificate */
        if (j->enc_cert_ours)
                r = src->ops->cert_remove(src, t, j->enc_der, j->enc_len);
        if (r >= 0 && j->enc_key_ours) {
                if (!src->ops->logged_in(src, t))
                        return 1;
                r = src->ops->key_destroy(src, t, &j->enc_key);
        }
        return r;
}

int kb_enc_after_commit(kb_call *call, kb_source *src, const kb_token *t, kb_install *j) {
        size_t n_sign = 0;
        if (!src->ops->certs_in_containers || !j->enc_der || !j->enc_cert_ours)
                return 0;
        int r = src->ops->cert_count(src, t, j->new_der, j->new_len, &n_sign);
        if (r < 0 || n_sign == 0)
                return r;       /* the new container went (another program): nothing to complete */
        if (!src->ops->logged_in(src, t))
                return 1;       /* SKF writes need the user's login */
        kb_call_progress(call, "write-encryption-certificate", 90);
        r = src->ops->cert_write(src, t, j->enc_der, j->enc_len, &j->enc_key, j->label);
        if (r >= 0 || r == -KB_E_TOKEN_NOT_PRESENT)
                return r;
        if (!src->ops->logged_in(src, t))
                return 1;       /* our login went: at the next one */
        return ++j->enc_refused < KB_ENC_REFUSALS ? r : 0;
}
