/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What renewal and enrollment requests share: the key types a page may ask
 * for, a key pair generated on the token with progress while it works, and
 * a PKCS#10 request signed by it (RSA and EC keys through the OpenSSL
 * provider, SM2 keys through the backend: renew-sm2.c).
 */
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "kb-core.h"
#include "kb-pkcs11.h"
#include "renew-internal.h"

KB_DEFINE_POINTER_CLEANUP(X509_REQ, X509_REQ_free)

/* Hardware tokens take 30–90 s for an RSA key; the bar moves by this guess
 * and waits at 90% until the token answers. */
#define KEYGEN_EXPECTED_S_RSA 60
#define KEYGEN_EXPECTED_S_EC 10

static const struct {
        const char *name;
        kb_key_type type;
        int bits, nid;
} key_types[] = {
        { "RSA-2048", KB_KEY_RSA, 2048, 0 },
        { "RSA-3072", KB_KEY_RSA, 3072, 0 },
        { "EC-P256", KB_KEY_EC, 256, NID_X9_62_prime256v1 },
        { "EC-P384", KB_KEY_EC, 384, NID_secp384r1 },
        { "SM2", KB_KEY_SM2, 256, NID_sm2 },
};

int kb_renew_key_type(const char *name, kb_keygen *spec) {
        for (size_t i = 0; i < KB_ELEMENTSOF(key_types); i++)
                if (strcmp(name, key_types[i].name) == 0) {
                        spec->type = key_types[i].type;
                        spec->bits = key_types[i].bits;
                        spec->curve_nid = key_types[i].nid;
                        return 0;
                }
        return -KB_E_UNSUPPORTED_ALGORITHM;
}

const char *kb_renew_key_type_name(const kb_keygen *spec) {
        for (size_t i = 0; i < KB_ELEMENTSOF(key_types); i++)
                if (spec->type == key_types[i].type && spec->bits == key_types[i].bits)
                        return key_types[i].name;
        return NULL;
}

void kb_renew_random_hex(char *buf, size_t digits) {
        unsigned char raw[KB_RENEW_ID_LEN / 2];
        if (RAND_bytes(raw, (int) (digits / 2)) != 1)
                memset(raw, 0, sizeof(raw)); /* never: the default RNG does not fail */
        for (size_t i = 0; i < digits / 2; i++)
                snprintf(buf + 2 * i, 3, "%02x", raw[i]);
}

/* ---- progress while the token generates the key ---- */

typedef struct ticker {
        kb_call *call;
        int expected_s;
        bool done;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        pthread_t thread;
} ticker;

static void *tick(void *arg) {
        ticker *t = arg;
        struct timespec start, until;
        clock_gettime(CLOCK_REALTIME, &start);
        pthread_mutex_lock(&t->lock);
        for (int s = 1; !t->done; s++) {
                until = start;
                until.tv_sec += s;
                if (pthread_cond_timedwait(&t->cond, &t->lock, &until) == 0 || t->done)
                        continue;
                int percent = s * 70 / t->expected_s;
                kb_call_progress(t->call, "generate-key", percent < 63 ? percent : 63);
        }
        pthread_mutex_unlock(&t->lock);
        return NULL;
}

static bool ticker_start(ticker *t) {
        pthread_mutex_init(&t->lock, NULL);
        pthread_cond_init(&t->cond, NULL);
        if (pthread_create(&t->thread, NULL, tick, t) == 0)
                return true;
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
        return false;
}

static void ticker_stop(ticker *t) {
        pthread_mutex_lock(&t->lock);
        t->done = true;
        pthread_cond_signal(&t->cond);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
}

int kb_renew_generate(kb_call *call, kb_token_op *op, const kb_keygen *spec, kb_key_id *ret) {
        ticker t = { .call = call,
                     .expected_s = spec->type == KB_KEY_RSA ? KEYGEN_EXPECTED_S_RSA : KEYGEN_EXPECTED_S_EC };
        bool ticking = call->progress && ticker_start(&t);
        kb_call_progress(call, "generate-key", 0);
        int r = op->source->ops->key_generate(op->source, op->token, spec, ret);
        if (ticking)
                ticker_stop(&t);
        return r;
}

/* ---- the request and its proof ---- */

static int make_csr(EVP_PKEY *key, const X509_NAME *subject, X509_REQ **ret) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = X509_REQ_new_ex(kb_p11_libctx(), kb_p11_propq());
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        if (!req || !mctx || !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
            !X509_REQ_set_subject_name(req, subject) || !X509_REQ_set_pubkey(req, key))
                return -KB_E_INTERNAL;
        if (EVP_DigestSignInit_ex(mctx, NULL, "SHA256", kb_p11_libctx(), kb_p11_propq(), key, NULL) != 1 ||
            X509_REQ_sign_ctx(req, mctx) <= 0)
                return -KB_E_UNSUPPORTED_ALGORITHM; /* or the token failed: see key_error */
        *ret = TAKE_PTR(req);
        return 0;
}

int kb_renew_csr(kb_service *svc, kb_token_op *op, EVP_PKEY *key, const kb_key_id *id, kb_key_type type,
                 const X509_NAME *subject, X509_REQ **ret) {
        bool sm2 = type == KB_KEY_SM2;
        int r = sm2 ? kb_renew_sm2_csr(op, id, key, subject, ret) : make_csr(key, subject, ret);
        if (r < 0 && sm2)
                return kb_token_gone(svc, op->source, op->token->id, r); /* the backend's own error */
        if (r < 0) {
                ERR_clear_error();
                int e = op->source->ops->key_error(op->source, key);
                return kb_token_gone(svc, op->source, op->token->id, e == -KB_E_INTERNAL ? r : e);
        }
        return 0;
}

json_t *kb_renew_csr_pem(X509_REQ *req) {
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        char *text = NULL;
        if (!b || !PEM_write_bio_X509_REQ(b, req))
                return NULL;
        long len = BIO_get_mem_data(b, &text);
        return json_stringn(text, (size_t) len);
}

/* CSR and proof into *ret (csr, proof); key signs the CSR: an EVP_PKEY on
 * the token, or for SM2 the key pair id, whose public half key is. */
