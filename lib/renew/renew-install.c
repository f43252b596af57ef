/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * renewal.install and its recovery: the journaled, all-or-nothing swap of a
 * certificate on the token (the steps are in kb-renew.h).
 */
#include <string.h>
#include <time.h>

#include "kb-core.h"
#include "renew-internal.h"

#define REREAD_WAIT_MS 5000

static int step(kb_service *svc, kb_install *j, kb_install_phase next) {
        j->phase = next;
        return kb_journal_save(svc->renewals, j);
}

static bool committed(const kb_install *j) {
        return j->phase == KB_INSTALL_WRITTEN || j->phase == KB_INSTALL_OLD_REMOVED || j->phase == KB_INSTALL_DONE;
}

/* In containers (SKF) a certificate cannot go alone: a rollback leaves the
 * new container as this install left it. If the new certificate is in it
 * after all (the read-back failed, not the write), the install is past
 * its commit point: 0 with the journal at written, to go forward. */
static int roll_back_container(kb_service *svc, kb_source *src, const kb_token *t, kb_install *j) {
        size_t n = 0;
        int r = src->ops->cert_count(src, t, j->new_der, j->new_len, &n);
        if (r < 0 || n == 0)
                return r;       /* not there: nothing to undo; unknown: the journal stays */
        return step(svc, j, KB_INSTALL_WRITTEN) < 0 ? -KB_E_INTERNAL : 0;
}

/* Before the commit point, undone: what this install may have put on the
 * token goes (each removal is a no-op when it is not there), then the
 * journal. 1 when rolled back, or while an unwrapped key waits for a login;
 * 0 when it went forward instead (containers). */
static int roll_back(kb_service *svc, kb_source *src, const kb_token *t, kb_install *j) {
        int r = j->phase == KB_INSTALL_ROLLING_BACK ? 0 : step(svc, j, KB_INSTALL_ROLLING_BACK);
        if (r >= 0 && src->ops->certs_in_containers) {
                r = roll_back_container(svc, src, t, j);
                if (r < 0 || j->phase == KB_INSTALL_WRITTEN)
                        return r;
        } else if (r >= 0)
                r = src->ops->cert_remove(src, t, j->new_der, j->new_len);
        if (r >= 0)
                r = kb_enc_rollback(src, t, j);
        if (r != 0)
                return r;
        return kb_journal_close(svc->renewals, j) < 0 ? -KB_E_INTERNAL : 1;
}

/* begun: the new certificate onto the token. Recovery never writes it: with
 * the certificate already there it goes forward, without it rolls back. */
static int write_new(kb_service *svc, kb_source *src, const kb_token *t, kb_install *j, bool recovering) {
        size_t n = 0;
        int r = src->ops->cert_count(src, t, j->new_der, j->new_len, &n);
        if (r >= 0 && n == 0 && recovering)
                return roll_back(svc, src, t, j);
        if (r >= 0 && n == 0)
                r = src->ops->cert_write(src, t, j->new_der, j->new_len, &j->new_key, j->label);
        return r < 0 ? r : step(svc, j, KB_INSTALL_WRITTEN);
}

/* In containers the old certificate goes with its container, at finish;
 * an enrollment has none. */
static int remove_old(kb_service *svc, kb_source *src, const kb_token *t, kb_install *j) {
        bool none = src->ops->certs_in_containers || j->old_len == 0;
        int r = none ? 0 : src->ops->cert_remove(src, t, j->old_der, j->old_len);
        return r < 0 ? r : step(svc, j, KB_INSTALL_OLD_REMOVED);
}

/* The old key goes only for a re-key whose old key signed and nothing else
 * uses it; that needs a login, so without one the step waits (1). In
 * containers the old certificate goes with it; a container that holds an
 * encryption pair as well stays whole, old signature certificate and all. */
static int finish(kb_service *svc, kb_source *src, const kb_token *t, kb_install *j, kb_call *call) {
        if (j->destroy_old_key) {
                if (!src->ops->logged_in(src, t))
                        return 1;
                int r = src->ops->key_destroy(src, t, &j->old_key);
                if (r < 0)
                        return r;
        }
        /* after the old container went: the token has the most room then */
        int r = kb_enc_after_commit(call, src, t, j);
        if (r < 0 && j->enc_refused > 0)
                (void) kb_journal_save(svc->renewals, j);     /* the refusal counts across runs */
        if (r != 0)
                return r;
        j->phase = KB_INSTALL_DONE;
        return kb_journal_close(svc->renewals, j);
}

/* enc: the double certificate's part of a first run; NULL in recovery,
 * which never writes anything before the commit point. */
static int run(kb_service *svc, kb_source *src, const kb_token *t, kb_install *j, kb_call *call,
               const kb_enc_req *enc) {
        bool recovering = !enc;
        int r = 0;
        if (j->phase == KB_INSTALL_ROLLING_BACK) {
                r = roll_back(svc, src, t, j);
                if (!committed(j))
                        return r;
        }
        if (j->phase == KB_INSTALL_BEGUN && enc) {
                r = kb_enc_install(call, src, t, j, enc);
                if (r < 0)
                        return r;
        }
        if (j->phase == KB_INSTALL_BEGUN) {
                kb_call_progress(call, "write-certificate", 40);
                r = write_new(svc, src, t, j, recovering);
                if (r != 0)
                        return r;
        }
        /* Past the commit point the request is installed. Every run from here
         * retires it (again is a no-op), so that a crash anywhere up to the
         * journal's close leaves it to recovery, not pending for good. */
        kb_pending_retire_key(svc->renewals, j->token, &j->new_key);
        /* Finished, but the move into history was cut short: only that is left. */
        if (j->phase == KB_INSTALL_DONE)
                return kb_journal_close(svc->renewals, j);
        if (j->phase == KB_INSTALL_WRITTEN) {
                if (j->old_len > 0)     /* an enrollment replaces nothing */
                        kb_call_progress(call, "remove-old-certificate", 70);
                r = remove_old(svc, src, t, j);
                if (r < 0)
                        return r;
        }
        if (j->phase == KB_INSTALL_OLD_REMOVED) {
                if (j->destroy_old_key)
                        kb_call_progress(call, "remove-old-key", 85);
                r = finish(svc, src, t, j, call);
        }
        return r;
}

int kb_install_run(kb_service *svc, kb_source *source, const kb_token *t, kb_install *j, kb_call *call,
                   const kb_enc_req *enc) {
        static const kb_enc_req none = { 0 };
        return run(svc, source, t, j, call, enc ? enc : &none);
}

/* ---- recovery ---- */

/* Take the token's unfinished install on from its journal: 0 when it is
 * over or a step waits for a login, -KB_E_* when the journal cannot be read
 * or a step failed. *changed: the journal moved on (or went). */
static int recover_token(kb_service *svc, kb_source *src, const kb_token *t, bool *changed) {
        kb_install j;
        *changed = false;
        int r = kb_journal_load(svc->renewals, t->id, &j);
        if (r < 0)
                return r == -KB_E_NOT_FOUND ? 0 : r;
        kb_install_phase before = j.phase;
        r = run(svc, src, t, &j, NULL, NULL);
        *changed = j.phase != before || !kb_journal_exists(svc->renewals, t->id);
        kb_install_clear(&j);
        return r < 0 ? r : 0;
}

void kb_renew_recover_scan(kb_service *svc, kb_source *source, const kb_scan *scan, kb_recover_left_fn left,
                           void *userdata) {
        bool changed = false;
        if (!svc->renewals || !scan)
                return;
        for (size_t i = 0; i < scan->n_tokens; i++) {
                const kb_token *t = scan->tokens[i];
                if (!kb_journal_exists(svc->renewals, t->id))
                        continue;
                if (pthread_rwlock_trywrlock(&source->op_lock) != 0) {
                        if (left)
                                left(userdata, t->id, 0);
                        continue;
                }
                bool moved = false;
                int r = recover_token(svc, source, t, &moved); /* a failed step is tried again at the next scan */
                changed |= moved;
                pthread_rwlock_unlock(&source->op_lock);
                if (r < 0 && left)
                        left(userdata, t->id, r);
        }
        if (changed)
                kb_cache_reread(svc->cache);
}

/* ---- the method ---- */

void kb_install_req_clear(kb_install_req *rq) {
        kb_cert_free(rq->cert);
        kb_enc_req_clear(&rq->enc);
        for (size_t i = 0; i < rq->n_chain; i++)
                kb_cert_free(rq->chain[i]);
}

static int parse_chain(kb_call *call, kb_install_req *rq) {
        json_t *chain = json_object_get(call->params, "chain");
        size_t i;
        json_t *v;
        if (!chain)
                return 0;
        if (!json_is_array(chain) || json_array_size(chain) > KB_INSTALL_MAX_CHAIN)
                return kb_bad_field(call, "chain");
        json_array_foreach(chain, i, v) {
                int r = kb_param_cert(call, "chain", v, &rq->chain[rq->n_chain]);
                if (r < 0)
                        return r;
                rq->n_chain++;
        }
        return 0;
}

int kb_install_parse(kb_service *svc, kb_call *call, kb_install_req *rq) {
        int r = kb_param_cert(call, "certificate", json_object_get(call->params, "certificate"), &rq->cert);
        if (r >= 0)
                r = parse_chain(call, rq);
        if (r >= 0)
                r = kb_enc_parse(call, &rq->enc);
        if (r >= 0)
                r = kb_param_string(call, "requestId", false, &rq->request_id);
        if (r < 0)
                return r;
        if (rq->cert->not_after < time(NULL))
                return kb_call_refuse(call, -KB_E_BAD_REQUEST, "certificate", "expired");
        /* An installed request is still known: a repeated install answers the
         * same. An enrollment installs only its own kind of request. */
        bool known = rq->request_id && kb_pending_load(svc->renewals, rq->request_id, true, &rq->pending) >= 0;
        if ((rq->request_id || rq->enrollment) && (!known || rq->pending.enrollment != rq->enrollment)) {
                snprintf(call->error_field, sizeof(call->error_field), "requestId");
                return rq->request_id ? -KB_E_NOT_FOUND : kb_bad_field(call, "requestId");
        }
        return 0;
}

static bool same_key(const kb_key_id *id, const unsigned char *v, size_t len) {
        return id->len == len && memcmp(id->v, v, len) == 0;
}

/* Is the old key used by a certificate other than old, or an encryption key
 * (whose holder still needs it for what was encrypted to it)? */
static bool keep_old_key(const kb_token *t, const kb_cert *old) {
        if (old->usage & KB_USAGE_ENCRYPT)
                return true;
        for (size_t i = 0; i < t->n_certs; i++)
                if (t->certs[i] != old && t->certs[i]->key_id_len == old->key_id_len &&
                    memcmp(t->certs[i]->key_id, old->key_id, old->key_id_len) == 0)
                        return true;
        return false;
}

/* Does the container hold an encryption key pair, its certificate listed
 * or not? 1 or 0, or -KB_E_* when the token cannot say. */
static int holds_encryption_pair(kb_token_op *op, const kb_key_id *container) {
        EVP_PKEY *pub = NULL;
        int r = op->source->ops->key_public(op->source, op->token, container, false, &pub);
        EVP_PKEY_free(pub);
        return r >= 0 ? 1 : r == -KB_E_NOT_FOUND ? 0 : r;
}

/* An enrollment's: nothing old to replace, the label its request chose
 * (in containers the container's name). */
static int journal_first(kb_token_op *op, const kb_install_req *rq, const kb_key_id *key, kb_install *j) {
        if (op->source->ops->certs_in_containers)
                j->label = strndup((const char *) key->v, key->len);
        else
                j->label = strdup(rq->pending.label);
        j->new_der = malloc(rq->cert->der_len);
        if (!j->label || !j->new_der)
                return -KB_E_INTERNAL;
        memcpy(j->new_der, rq->cert->der, j->new_len = rq->cert->der_len);
        return 0;
}

static int journal_new(kb_token_op *op, const kb_install_req *rq, const kb_key_id *key, kb_install *j) {
        *j = (kb_install) { .phase = KB_INSTALL_BEGUN, .new_key = *key, .started = time(NULL) };
        memcpy(j->token, op->token->id, sizeof(j->token));
        if (rq->request_id)
                snprintf(j->request_id, sizeof(j->request_id), "%s", rq->request_id);
        if (!op->cert)
                return journal_first(op, rq, key, j);
        if (op->cert->key_id_len > sizeof(j->old_key.v))
                return -KB_E_INTERNAL;
        memcpy(j->old_key.v, op->cert->key_id, op->cert->key_id_len);
        j->old_key.len = op->cert->key_id_len;
        j->destroy_old_key = !same_key(key, op->cert->key_id, op->cert->key_id_len) && !keep_old_key(op->token, op->cert);
        if (j->destroy_old_key && op->source->ops->certs_in_containers) {
                int r = holds_encryption_pair(op, &j->old_key);
                if (r < 0)
                        return r;
                j->destroy_old_key = r == 0;
        }
        /* in containers a certificate's label is its container's name */
        if (op->source->ops->certs_in_containers)
                j->label = strndup((const char *) key->v, key->len);
        else
                j->label = strdup(op->cert->label ? op->cert->label : "");
        j->new_der = malloc(rq->cert->der_len);
        j->old_der = malloc(op->cert->der_len);
        if (!j->label || !j->new_der || !j->old_der)
                return -KB_E_INTERNAL;
        memcpy(j->new_der, rq->cert->der, j->new_len = rq->cert->der_len);
        memcpy(j->old_der, op->cert->der, j->old_len = op->cert->der_len);
        return 0;
}

/* The key the new certificate is for must be on the token (and be the
 * request's key when a request is named). */
static int find_key(kb_call *call, kb_token_op *op, const kb_install_req *rq, kb_key_id *ret) {
        /* In containers only a request's own new container may take the
         * certificate: another container's pairs and certificates would be
         * replaced, before the commit point, beyond any rollback. */
        if (op->source->ops->certs_in_containers && !rq->request_id)
                return kb_call_refuse(call, -KB_E_BAD_REQUEST, "requestId", "request-required");
        const unsigned char *in = rq->cert->der;
        _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &in, (long) rq->cert->der_len);
        if (!x)
                return -KB_E_INTERNAL;
        int r = op->source->ops->key_find(op->source, op->token, X509_get0_pubkey(x), ret);
        if (r >= 0 && rq->request_id &&
            (strcmp(rq->pending.token, op->token->id) != 0 || !same_key(ret, rq->pending.key_id.v, rq->pending.key_id.len)))
                r = -KB_E_NOT_FOUND;
        if (r == -KB_E_NOT_FOUND) {
                snprintf(call->error_field, sizeof(call->error_field), "certificate");
                return -KB_E_CERTIFICATE_MISMATCH;
        }
        return r;
}

/* Issuer certificates the token does not hold yet, best-effort: the install
 * does not depend on them, and a token without room keeps going. */
static size_t store_chain(kb_token_op *op, const kb_install_req *rq) {
        size_t stored = 0;
        for (size_t i = 0; i < rq->n_chain; i++) {
                const kb_cert *c = rq->chain[i];
                size_t n = 0;
                if (op->source->ops->cert_count(op->source, op->token, c->der, c->der_len, &n) < 0 || n > 0)
                        continue;
                const char *cn = NULL;
                for (size_t k = 0; k < c->n_subject_fields; k++)
                        if (strcmp(c->subject_fields[k].key, "CN") == 0)
                                cn = c->subject_fields[k].value;
                if (op->source->ops->cert_write(op->source, op->token, c->der, c->der_len, NULL, cn ? cn : c->subject) >= 0)
                        stored++;
        }
        return stored;
}

/* A certificate as the token now holds it: with its label and key. */
static json_t *held_json(kb_service *svc, const kb_cert *from, const char *label, const unsigned char *key,
                         size_t key_len) {
        kb_cert *c = NULL;
        if (kb_cert_from_der(from->der, from->der_len, label, key, key_len, &c) < 0)
                return NULL;
        c->has_private_key = true;
        json_t *out = kb_cert_to_json(c, time(NULL), svc->warning_days, true);
        kb_cert_free(c);
        return out;
}

/* The double certificate's part of the answer: from what this install wrote
 * (enc_key), or as the token shows it (t, a repeated install). */
static int add_encryption(kb_service *svc, json_t *out, const kb_install_req *rq, const char *label,
                          const kb_key_id *enc_key, const kb_token *t) {
        const kb_cert *held = NULL;
        if (!rq->enc.cert)
                return 0;
        if (!enc_key && !(held = t ? kb_token_find_cert(t, rq->enc.cert->id) : NULL))
                return 0; /* not on the token (yet): nothing to show */
        json_t *c = held ? held_json(svc, held, held->label, held->key_id, held->key_id_len)
                         : held_json(svc, rq->enc.cert, label, enc_key->v, enc_key->len);
        return json_object_set_new(out, "encryption", json_pack("{s:o}", "certificate", c));
}

typedef struct answer {
        const char *replaced;
        bool finished, already;
        size_t chain_stored;
        const kb_key_id *enc_key;       /* the encryption key this install wrote */
        const kb_token *token;          /* or the token as the cache shows it */
} answer;

/* The answer: the installed certificate as the token now holds it. */
static json_t *result(kb_service *svc, const kb_install_req *rq, const char *label, const kb_key_id *key,
                      const answer *a) {
        json_t *out = json_pack("{s:o, s:s?, s:b, s:b, s:I}", "certificate",
                                held_json(svc, rq->cert, label, key->v, key->len), "replaced", a->replaced,
                                "finished", a->finished, "alreadyInstalled", a->already, "chainStored",
                                (json_int_t) a->chain_stored);
        if (out && add_encryption(svc, out, rq, label, a->enc_key, a->token) < 0) {
                json_decref(out);
                return NULL;
        }
        return out;
}

/* On the token already, and the old certificate gone: a retried install
 * (the first answer was lost) gets the same answer, and nothing changes. */
/* The new certificate is on the token and the old one gone, or (in
 * containers) staying with the encryption pair it shares a container with. */
static int already_installed(kb_token_op *op, const kb_install_req *rq, bool *ret) {
        size_t n_new = 0, n_old = 0;
        int r = op->source->ops->cert_count(op->source, op->token, rq->cert->der, rq->cert->der_len, &n_new);
        if (r >= 0 && op->cert)     /* an enrollment replaces nothing */
                r = op->source->ops->cert_count(op->source, op->token, op->cert->der, op->cert->der_len, &n_old);
        int stays = 0;
        kb_key_id old;
        if (r >= 0 && n_new > 0 && n_old > 0 && op->source->ops->certs_in_containers)
                stays = keep_old_key(op->token, op->cert)  ? 1
                        : kb_key_id_of(op->cert, &old) < 0 ? -KB_E_INTERNAL
                                                           : holds_encryption_pair(op, &old);
        *ret = r >= 0 && stays >= 0 && n_new > 0 && (n_old == 0 || stays == 1);
        return stays < 0 ? stays : r;
}

/* An earlier install on the token is finished or rolled back first. One
 * that recovery cannot take on now keeps its journal, the only record of
 * what it left half done, which a new install must not replace. */
int kb_install_recover_first(kb_service *svc, kb_call *call, kb_token_op *op) {
        bool changed;
        if (!kb_journal_exists(svc->renewals, op->token->id))
                return 0;
        int r = recover_token(svc, op->source, op->token, &changed);
        if (!kb_journal_exists(svc->renewals, op->token->id))
                return 0;
        if (r == -KB_E_TOKEN_NOT_PRESENT)
                return r;
        return kb_call_refuse(call, -KB_E_TOKEN_BUSY, NULL, "install-unfinished");
}

/* Is the install's encryption certificate on the token (in containers it
 * may have been left out past the commit point: kb_enc_after_commit)? */
static bool enc_on_token(kb_token_op *op, const kb_install *j) {
        size_t n = 0;
        if (!j->enc_der || !op->source->ops->certs_in_containers)
                return j->enc_der != NULL;
        return op->source->ops->cert_count(op->source, op->token, j->enc_der, j->enc_len, &n) >= 0 && n > 0;
}

/* The label of the installed certificate as the token shows it: the
 * replaced one's, or for an enrollment the one the request chose. */
static const char *label_on_token(const kb_token_op *op, const kb_install_req *rq) {
        const kb_cert *c = op->cert ? NULL : kb_token_find_cert(op->token, rq->cert->id);
        return op->cert ? op->cert->label : c && c->label ? c->label : rq->pending.label;
}

/* The install under the token lock, PIN checked. */
int kb_install_locked(kb_service *svc, kb_call *call, kb_token_op *op, kb_install_req *rq, json_t **ret) {
        kb_install j = { 0 };
        kb_key_id key;
        bool already = false;
        int r = 0;

        r = kb_install_recover_first(svc, call, op);
        if (r < 0)
                return r;
        kb_call_progress(call, "verify", 10);
        r = find_key(call, op, rq, &key);
        if (r >= 0)
                r = already_installed(op, rq, &already);
        if (r >= 0 && already) {
                answer a = { .replaced = op->cert ? op->cert->id : NULL, .finished = true, .already = true,
                             .token = op->token };
                *ret = result(svc, rq, label_on_token(op, rq), &key, &a);
                return *ret ? 0 : -KB_E_INTERNAL;
        }
        if (r >= 0)
                r = journal_new(op, rq, &key, &j);
        if (r >= 0)
                r = kb_enc_plan(call, op, &rq->enc, rq->cert, &j);
        if (r >= 0 && op->cert)
                r = kb_backup_save(svc->renewals, op->token->id, op->cert->der, op->cert->der_len);
        if (r >= 0)
                r = kb_journal_save(svc->renewals, &j);
        if (r < 0) {
                kb_install_clear(&j);
                return r;
        }
        r = kb_install_run(svc, op->source, op->token, &j, call, &rq->enc);
        if (!committed(&j)) {
                /* Before the commit point: undo, and say why. If the token
                 * cannot be asked now, the journal stays for recovery. */
                (void) roll_back(svc, op->source, op->token, &j);
                if (committed(&j))      /* in containers: written after all, so on */
                        r = kb_install_run(svc, op->source, op->token, &j, call, NULL);
        }
        if (!committed(&j)) {
                kb_install_clear(&j);
                return kb_token_gone(svc, op->source, op->token->id, r);
        }
        size_t stored = store_chain(op, rq);
        answer a = { .replaced = op->cert ? op->cert->id : NULL, .finished = r == 0, .chain_stored = stored,
                     .enc_key = enc_on_token(op, &j) ? &j.enc_key : NULL };
        *ret = result(svc, rq, j.label, &j.new_key, &a);
        kb_install_clear(&j);
        if (r < 0)
                (void) kb_token_gone(svc, op->source, op->token->id, r);
        return *ret ? 0 : -KB_E_INTERNAL;
}

typedef enum view_state {
        VIEW_NOT_INSTALLED,
        VIEW_INSTALLED,                 /* answered from the cache */
        VIEW_UNFINISHED,                /* installed, its journal still open */
} view_state;

/* A repeated call: the cache shows the certificate on the token in place of
 * replaces. Finished, the answer comes from the cache without touching the
 * token (*ret; NULL on OOM). Unfinished (the old key waits for a login), the
 * PIN flow runs on the new certificate (params.installed) and the recovery
 * finishes it. */
static view_state installed_in_view(kb_service *svc, kb_call *call, const kb_install_req *rq, json_t **ret) {
        const char *tid, *old;
        kb_source *src;
        const kb_token *t;
        const kb_cert *c = NULL;
        view_state state = VIEW_NOT_INSTALLED;
        if (kb_param_string(call, "token", true, &tid) < 0 || kb_param_string(call, "replaces", true, &old) < 0)
                return state; /* the lookup proper names the field */
        kb_view *v = kb_cache_view(svc->cache);
        if (v && kb_view_token(svc, v, tid, &src, &t) >= 0 && !kb_token_find_cert(t, old))
                c = kb_token_find_cert(t, rq->cert->id);
        if (c && kb_journal_exists(svc->renewals, tid)) {
                json_object_set_new(call->params, "installed", json_string(rq->cert->id));
                state = VIEW_UNFINISHED;
        } else if (c && c->has_private_key && c->key_id_len <= sizeof(((kb_key_id *) 0)->v)) {
                kb_key_id key = { .len = c->key_id_len };
                memcpy(key.v, c->key_id, key.len);
                answer a = { .replaced = old, .finished = true, .already = true, .token = t };
                *ret = result(svc, rq, c->label, &key, &a);
                state = VIEW_INSTALLED;
        }
        kb_view_free(v);
        return state;
}

static int finish_installed(kb_service *svc, kb_call *call, kb_token_op *op, const kb_install_req *rq, json_t **ret) {
        const char *old = NULL;
        kb_key_id key = { .len = op->cert->key_id_len };
        if (key.len > sizeof(key.v) || kb_param_string(call, "replaces", true, &old) < 0)
                return -KB_E_INTERNAL;
        memcpy(key.v, op->cert->key_id, key.len);
        bool changed;
        (void) recover_token(svc, op->source, op->token, &changed);
        bool finished = !kb_journal_exists(svc->renewals, op->token->id);
        answer a = { .replaced = old, .finished = finished, .already = true, .token = op->token };
        *ret = result(svc, rq, op->cert->label, &key, &a);
        return *ret ? 0 : -KB_E_INTERNAL;
}

/* Read the token again once, after the token lock is given back: a scan
 * while the install still held it could see it half-written (and read it
 * again). Done, the page's next read shows the new certificate. */
void kb_install_reread_after(kb_service *svc, kb_call *call, int r, bool token_touched) {
        if (r >= 0) {
                (void) kb_cache_reread_wait(svc->cache, REREAD_WAIT_MS);
                kb_call_progress(call, "done", 100);
        } else if (token_touched) {
                kb_cache_reread(svc->cache);    /* a roll-back or a recovery may have changed it */
        }
}

int kb_method_renewal_install(kb_service *svc, kb_call *call, json_t **ret) {
        kb_install_req rq = { 0 };
        kb_token_op op;
        bool token_touched = false;
        if (!svc->renewals)
                return -KB_E_INTERNAL;
        int r = kb_install_parse(svc, call, &rq);
        view_state state = r >= 0 ? installed_in_view(svc, call, &rq, ret) : VIEW_NOT_INSTALLED;
        if (state == VIEW_INSTALLED) {
                kb_install_req_clear(&rq);
                return *ret ? 0 : -KB_E_INTERNAL;
        }
        bool finishing = state == VIEW_UNFINISHED;
        if (r >= 0)
                r = kb_token_op_begin_renewal(svc, call, finishing ? "installed" : "replaces", "renewal.install",
                                              &op);
        if (r >= 0) {
                token_touched = true;
                bool same = strcmp(op.cert->fingerprint_sha256, rq.cert->fingerprint_sha256) == 0;
                if (same && finishing)
                        r = finish_installed(svc, call, &op, &rq, ret);
                else if (same)
                        r = kb_bad_field(call, "replaces");
                else
                        r = kb_token_gone(svc, op.source, op.token->id, kb_install_locked(svc, call, &op, &rq, ret));
                kb_token_op_end(svc, &op);
        }
        kb_install_req_clear(&rq);
        kb_install_reread_after(svc, call, r, token_touched);
        return r;
}
