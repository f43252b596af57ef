/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the files of lib/renew/ (not offered to the folders above):
 * pending requests, the install journal and its steps, double certificates. */
#pragma once

#include <openssl/x509.h>

#include "kb-renew.h"


#define KB_RENEW_ID_LEN 32      /* hex digits of a request id */
#define KB_ENROLL_LABEL_MAX 64  /* bytes of an enrollment's label */

typedef struct kb_pending {
        char request_id[KB_RENEW_ID_LEN + 1];
        char token[KB_TOKEN_ID_LEN + 1];
        char certificate[KB_CERT_ID_LEN + 1];   /* the certificate being renewed */
        bool new_key;
        kb_key_id key_id;                       /* the key the CSR is for */
        int64_t created;
        /* Enrollment: a first key on the token (certificate ""), and the
         * label its certificate object gets. */
        bool enrollment;
        char label[KB_ENROLL_LABEL_MAX + 1];
} kb_pending;

typedef enum kb_install_phase {
        KB_INSTALL_BEGUN,
        KB_INSTALL_WRITTEN,
        KB_INSTALL_OLD_REMOVED,
        KB_INSTALL_DONE,
        KB_INSTALL_ROLLING_BACK,        /* before the commit point, being undone */
} kb_install_phase;

typedef struct kb_install {
        char token[KB_TOKEN_ID_LEN + 1];
        char request_id[KB_RENEW_ID_LEN + 1];   /* "" when installed without a request */
        kb_install_phase phase;
        char *label;                            /* the old certificate's label, kept */
        unsigned char *new_der, *old_der;
        size_t new_len, old_len;
        kb_key_id new_key, old_key;
        bool destroy_old_key;                   /* a re-key whose old key only signed */
        int64_t started;
        /* Double certificates: the encryption certificate installed with the
         * new one (enc_der NULL: none), the CKA_ID of its key, and which of
         * the two this install puts on the token: only those are undone by a
         * rollback. Both are written before the commit point (in containers
         * the certificate after it). */
        unsigned char *enc_der;
        size_t enc_len;
        kb_key_id enc_key;
        bool enc_key_ours, enc_cert_ours;
        int enc_refused;                        /* containers: times the token refused its certificate */
} kb_install;

void kb_install_clear(kb_install *j);
const char *kb_install_phase_name(kb_install_phase p);

int kb_pending_save(kb_renewals *r, const kb_pending *p);
/* NOT_FOUND when there is no such request; installed ones (retired to
 * history) only with retired_too. */
int kb_pending_load(kb_renewals *r, const char *request_id, bool retired_too, kb_pending *ret);
int kb_pending_remove(kb_renewals *r, const char *request_id);
/* The pending requests of token whose key is key_id were installed: they
 * move to history/<requestId>.request.json. */
void kb_pending_retire_key(kb_renewals *r, const char *token, const kb_key_id *key_id);

/* The token's unfinished install: NOT_FOUND when there is none. */
int kb_journal_load(kb_renewals *r, const char *token, kb_install *ret);
int kb_journal_save(kb_renewals *r, const kb_install *j);
/* The install is over (done, or rolled back): its journal goes to history
 * (done) or away (rolled back). */
int kb_journal_close(kb_renewals *r, const kb_install *j);
bool kb_journal_exists(kb_renewals *r, const char *token);
/* Keep a replaced certificate: backup/<token>/<sha256>.pem. */
int kb_backup_save(kb_renewals *r, const char *token, const unsigned char *der, size_t len);

/* Hex of a key id into buf (2 * len + 1). */
void kb_key_id_hex(const kb_key_id *id, char *buf, size_t size);


/* SM2 requests (renew-sm2.c), keys signing through the backend's sm2_sign:
 * the CSR for subject by the new key pair key (public half pub), the proof
 * by the current certificate's key, both with the GM/T default ID. */
int kb_renew_sm2_csr(kb_token_op *op, const kb_key_id *key, EVP_PKEY *pub, const X509_NAME *subject,
                     X509_REQ **ret);
int kb_renew_sm2_proof(kb_token_op *op, const unsigned char *csr, size_t len, json_t **ret);

/* Requests (renew.c), shared by renewal and enrollment. */
/* The spec of a keyType name (RSA-2048 … SM2); UNSUPPORTED_ALGORITHM. */
int kb_renew_key_type(const char *name, kb_keygen *spec);
const char *kb_renew_key_type_name(const kb_keygen *spec);
void kb_renew_random_hex(char *buf, size_t digits);
/* Generate a key pair on the token, with progress while the token works. */
int kb_renew_generate(kb_call *call, kb_token_op *op, const kb_keygen *spec, kb_key_id *ret);
/* Generate, then the new key as the CSR signs with it: the EVP_PKEY on the
 * token, or for SM2 its public half. Nothing stays on a failure. */
int kb_renew_new_key(kb_service *svc, kb_call *call, kb_token_op *op, const kb_keygen *spec, kb_key_id *id,
                     EVP_PKEY **ret);
/* A PKCS#10 request for subject, signed by the new key (key, or for SM2 the
 * pair id with public half key); errors as the token gave them. */
int kb_renew_csr(kb_service *svc, kb_token_op *op, EVP_PKEY *key, const kb_key_id *id, kb_key_type type,
                 const X509_NAME *subject, X509_REQ **ret);
json_t *kb_renew_csr_pem(X509_REQ *req);
/* params.requestId of params.token, pending (not installed), of the kind
 * asked; NOT_FOUND naming requestId otherwise. */
int kb_pending_of_call(kb_service *svc, kb_call *call, bool enrollment, kb_pending *ret);
/* Cancel the pending request p under op (which this ends): its key is
 * destroyed unless a certificate uses it or its install is under way
 * (BAD_REQUEST requestId), then the request goes. */
int kb_renew_cancel_locked(kb_service *svc, kb_call *call, kb_token_op *op, const kb_pending *p, json_t **ret);

/* Double certificates (renew-encryption.c). */
typedef struct kb_enc_req {
        kb_cert *cert;                  /* NULL: the install has no encryption member */
        unsigned char *wrapped;         /* envelopedKey */
        size_t wrapped_len;
        size_t rsa_len;                 /* its RSA part (kb_enc_plan) */
} kb_enc_req;

int kb_enc_parse(kb_call *call, kb_enc_req *ret);
void kb_enc_req_clear(kb_enc_req *e);
/* Fill j's encryption part for an install of sign (the new signing
 * certificate): what the token holds already stays, the rest is ours. */
int kb_enc_plan(kb_call *call, kb_token_op *op, kb_enc_req *e, const kb_cert *sign, kb_install *j);
/* Before the commit point: unwrap the key and write the certificate (the
 * ours parts). A key that turns out not to be the certificate's is destroyed
 * again (CERTIFICATE_MISMATCH). */
int kb_enc_install(kb_call *call, kb_source *src, const kb_token *t, const kb_install *j, const kb_enc_req *e);
/* Undo the ours parts: 0 done, 1 when the key waits for a login, -KB_E_*.
 * In containers (SKF) nothing can go: 0. */
int kb_enc_rollback(kb_source *src, const kb_token *t, const kb_install *j);
/* In containers (SKF), past the commit point, after the old container
 * went: the encryption certificate into the new container (its key went
 * in before the commit point; writing it again changes nothing). 0 when
 * written or nothing to do; 1 while it waits for a login; -KB_E_* to try
 * again. A token that refuses it (anything but a removal or a lost login)
 * KB_ENC_REFUSALS times, counted in j->enc_refused, is taken at its word:
 * the certificate is left out (0) rather than the journal held open for
 * good. */
#define KB_ENC_REFUSALS 3
int kb_enc_after_commit(kb_call *call, kb_source *src, const kb_token *t, kb_install *j);

/* Run a new install from its journal's first phase to done, journaling each
 * step (renew-install.c); enc, when not NULL, is the request's double
 * certificate (planned into j by kb_enc_plan). op_lock held. Past the commit
 * point the pending requests for the new key are retired (as in recovery).
 * Returns 0 when done; -KB_E_* when a step failed: the journal says where it
 * stands. Destroying the old key needs the user logged in; without a login
 * that last step waits (the journal stays at old-removed). */
int kb_install_run(kb_service *svc, kb_source *source, const kb_token *t, kb_install *j, kb_call *call,
                   const kb_enc_req *enc);

/* An install's request (renewal.install, enrollment.install). */
#define KB_INSTALL_MAX_CHAIN 8
typedef struct kb_install_req {
        bool enrollment;                /* set by the caller: which method installs */
        kb_cert *cert;
        kb_cert *chain[KB_INSTALL_MAX_CHAIN];
        size_t n_chain;
        const char *request_id;
        kb_pending pending;             /* loaded when request_id is set */
        kb_enc_req enc;
} kb_install_req;

/* Parse certificate, chain, encryption and requestId, and load the request
 * (required for an enrollment, and of the method's kind). */
int kb_install_parse(kb_service *svc, kb_call *call, kb_install_req *rq);
void kb_install_req_clear(kb_install_req *rq);
/* The install under the token lock, PIN checked: op->cert is the
 * certificate replaced, NULL for an enrollment. */
int kb_install_locked(kb_service *svc, kb_call *call, kb_token_op *op, kb_install_req *rq, json_t **ret);
/* An earlier install on op's token is finished or rolled back first, with
 * op's login (a rollback may wait for one); TOKEN_BUSY
 * (reason install-unfinished) when its journal stays. */
int kb_install_recover_first(kb_service *svc, kb_call *call, kb_token_op *op);
/* After the token lock is given back: read the token again (the page's
 * next read shows the new certificate), or only ask for a read. */
void kb_install_reread_after(kb_service *svc, kb_call *call, int r, bool token_touched);

/* Enrollment (enroll-subject.c): params.subject as an X.509 name and its
 * one-line text ("CN=…, O=…"); BAD_REQUEST naming subject.<field>. */
int kb_enroll_subject(kb_call *call, X509_NAME **ret_name, char **ret_text);
/* A name on one line, most specific first, UTF-8 unescaped. */
char *kb_enroll_name_text(const X509_NAME *name);
