/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PIN flow in front of every private-key operation: find the token and
 * certificate, take the token, reuse this origin's authorization or run the
 * PIN guard, ask for the PIN (native dialog, or the page under page_pin),
 * log in, and hand out the private key.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "kb-service.h"

#define LOCK_WAIT_MS 2000
#define LOCAL_ORIGIN KB_LOCAL_ORIGIN

/* A token seen earlier but gone now was removed; any other id is unknown. */
int kb_token_absent(kb_service *svc, const char *id) {
        return kb_cache_token_seen(svc->cache, id) ? -KB_E_TOKEN_NOT_PRESENT : -KB_E_NOT_FOUND;
}

static const char *who(const kb_call *call) {
        return call->origin ? call->origin : LOCAL_ORIGIN;
}

static void pin_details(kb_call *call, kb_pin_status st, int retries) {
        json_decref(call->error_details);
        call->error_details = json_pack("{s:s, s:o}", "pinStatus", kb_pin_status_name(st),
                                        "retriesLeft", retries >= 0 ? json_integer(retries) : json_null());
}

int kb_view_token(kb_service *svc, const kb_view *v, const char *id, kb_source **ret_source,
                  const kb_token **ret) {
        for (size_t i = 0; i < v->n; i++) {
                const kb_token *t = kb_scan_find_token(v->scans[i], id);
                if (t) {
                        *ret_source = (kb_source *) v->sources[i];
                        *ret = t;
                        return 0;
                }
        }
        return kb_token_absent(svc, id);
}

static int view_token_cert(kb_service *svc, kb_call *call, const kb_view *v, const char *field,
                           kb_source **ret_source, const kb_token **ret_token, const kb_cert **ret_cert) {
        const char *tid, *cid;
        int r = kb_param_string(call, "token", true, &tid);
        if (r >= 0)
                r = kb_param_string(call, field, true, &cid);
        if (r >= 0)
                r = kb_view_token(svc, v, tid, ret_source, ret_token);
        if (r < 0)
                return r;
        *ret_cert = kb_token_find_cert(*ret_token, cid);
        if (!*ret_cert) {
                snprintf(call->error_field, sizeof(call->error_field), "%s", field);
                return -KB_E_NOT_FOUND;
        }
        return 0;
}

int kb_view_token_cert(kb_service *svc, kb_call *call, const kb_view *v, kb_source **ret_source,
                       const kb_token **ret_token, const kb_cert **ret_cert) {
        return view_token_cert(svc, call, v, "certificate", ret_source, ret_token, ret_cert);
}

int kb_token_lock(kb_source *source) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += LOCK_WAIT_MS / 1000;
        return pthread_rwlock_timedwrlock(&source->op_lock, &until) == 0 ? 0 : -KB_E_TOKEN_BUSY;
}

int kb_token_gone(kb_service *svc, kb_source *source, const char *token_id, int r) {
        if (r == -KB_E_TOKEN_NOT_PRESENT) {
                kb_authz_revoke_token(svc->authz, token_id);
                source->ops->logout(source, token_id);
        }
        return r;
}

/* The PIN: from the page (page_pin origins only) or from the user. */
static int obtain_pin(kb_service *svc, kb_call *call, const kb_pin_prompt *prompt, kb_secret **ret) {
        json_t *page = json_object_get(call->params, "pin");
        if (page) {
                bool allowed = call->origin && svc->page_pin_allowed &&
                               svc->page_pin_allowed(svc->userdata, call->origin);
                if (!allowed) {
                        kb_param_wipe(call, "pin");
                        return kb_bad_field(call, "pin");
                }
                return kb_param_secret(call, "pin", ret);
        }
        if (!svc->ask_pin)
                return -KB_E_PIN_CANCELLED;
        return svc->ask_pin(svc->userdata, prompt, ret);
}

static int after_wrong_pin(kb_service *svc, kb_call *call, kb_token_op *op, int64_t now) {
        kb_pin_status st = KB_PIN_OK;
        int retries = -1;
        /* The login logged the token out: every origin must ask again. */
        kb_authz_revoke_token(svc->authz, op->token->id);
        kb_authz_set_cooldown(svc->authz, op->token->id, now + svc->pin_cooldown_s);
        if (op->source->ops->pin_state(op->source, op->token, &st, &retries) >= 0)
                pin_details(call, st, retries);
        kb_cache_kick(svc->cache);      /* the PIN state changed: token.changed now */
        return -KB_E_PIN_INCORRECT;
}

const char *kb_call_who(const kb_call *call) {
        return who(call);
}

void kb_call_pin_details(kb_call *call, kb_pin_status st, int retries) {
        pin_details(call, st, retries);
}

int kb_token_op_wrong_pin(kb_service *svc, kb_call *call, kb_token_op *op, int64_t now) {
        return after_wrong_pin(svc, call, op, now);
}

/* always_ask: no reuse of an earlier authorization; the dialog (or the
 * page PIN) every time, for what writes keys and certificates. */
static int authorize(kb_service *svc, kb_call *call, const char *operation, const char *subject, bool always_ask,
                     kb_token_op *op) {
        const kb_source_ops *ops = op->source->ops;
        int64_t now = time(NULL);
        kb_pin_prompt prompt = { .origin = call->origin, .operation = operation, .token = op->token, .cert = op->cert,
                                 .subject = subject, .items = call->batch_items };
        bool confirm = false;
        kb_secret *pin = NULL;

        int r = kb_pin_check_usable(svc, call, op->token, KB_PIN_OK);
        if (r < 0)
                return r;
        if (!always_ask && kb_authz_check(svc->authz, op->token->id, who(call), now) &&
            ops->logged_in(op->source, op->token))
                return 0;
        r = kb_param_bool(call, "confirmFinalTry", &confirm);
        if (r >= 0)
                r = ops->pin_state(op->source, op->token, &prompt.status, &prompt.retries_left);
        if (r >= 0)
                r = kb_pin_check_usable(svc, call, op->token, prompt.status);
        if (r < 0)
                return r;
        kb_error guard = kb_pin_guard(prompt.status, confirm, now, kb_authz_cooldown(svc->authz, op->token->id));
        if (guard != KB_E_OK) {
                pin_details(call, prompt.status, prompt.retries_left);
                return -(int) guard;
        }
        r = obtain_pin(svc, call, &prompt, &pin);
        if (r >= 0 && pin->len == 0)
                r = -KB_E_PIN_CANCELLED; /* OK on an empty field: do not spend a try on it */
        if (r < 0) {
                kb_secret_free(pin);
                return r;
        }
        r = ops->login(op->source, op->token, pin);
        kb_secret_free(pin);
        if (r == -KB_E_PIN_INCORRECT)
                return after_wrong_pin(svc, call, op, now);
        if (r < 0) {
                kb_authz_revoke_token(svc->authz, op->token->id);
                if (r == -KB_E_PIN_LOCKED)
                        kb_cache_kick(svc->cache);      /* the try that locked it: token.changed now */
                return r;
        }
        return kb_authz_grant(svc->authz, op->token->id, who(call), now);
}

typedef enum begin_flags {
        BEGIN_SHARE = 1 << 0,   /* sign, decrypt: the read lock when authorized and the key known */
        BEGIN_RENEWAL = 1 << 1, /* the backend's renewal calls, on an OpenSSL key */
        BEGIN_DECRYPT = 1 << 2, /* SM2 keys through the backend's sm2_decrypt */
} begin_flags;

/* Renewal generates, finds and writes keys and certificates through the
 * backend's renewal calls. RSA and EC keys sign the CSR as an EVP_PKEY on
 * the token; SM2 keys through sm2_sign, with their public half read from
 * the token; a backend that keeps certificates in containers removes them
 * with their container (kb-backend.h). */
static bool renewal_usable(const kb_token_op *op) {
        const kb_source_ops *ops = op->source->ops;
        bool keys = op->cert->key_type == KB_KEY_SM2 ? ops->sm2_sign && ops->key_public : ops->key_load != NULL;
        return keys && ops->key_generate && ops->key_find && ops->key_destroy && ops->cert_count &&
               ops->cert_write && (ops->cert_remove || ops->certs_in_containers);
}

static int check_certificate(kb_call *call, const kb_token_op *op, unsigned usage, kb_key_type key,
                             unsigned flags) {
        /* The key's usage must fit the operation, and the key must be there. */
        if (!(op->cert->usage & usage))
                return kb_call_refuse(call, -KB_E_BAD_REQUEST, "certificate", "usage");
        if (!op->cert->has_private_key)
                return kb_bad_field(call, "certificate");
        /* RSA and EC keys work through OpenSSL (p11-pkey.c), SM2 keys through
         * the backend's sm2_sign (kb-sm2.h) or sm2_decrypt: each where the
         * backend has it. */
        const kb_source_ops *ops = op->source->ops;
        kb_key_type type = op->cert->key_type;
        bool sm2 = (flags & BEGIN_DECRYPT) ? ops->sm2_decrypt != NULL : ops->sm2_sign != NULL;
        bool usable = (type == KB_KEY_SM2 && sm2) ||
                      ((type == KB_KEY_RSA || type == KB_KEY_EC) && ops->private_key);
        if ((flags & BEGIN_RENEWAL) && !renewal_usable(op))
                usable = false;
        if (!usable || (key != KB_KEY_UNKNOWN && type != key)) {
                snprintf(call->error_field, sizeof(call->error_field), "algorithm");
                return -KB_E_UNSUPPORTED_ALGORITHM;
        }
        return 0;
}

/* An SM2 key has no EVP_PKEY on the token side: op->key stays NULL. */
static int load_key(kb_token_op *op) {
        if (op->cert->key_type == KB_KEY_SM2)
                return 0;
        return op->source->ops->private_key(op->source, op->token, op->cert, &op->key);
}

/* The fast path of a signature: this origin is authorized on the token and
 * its key was found before, so nothing about the token or our sessions
 * changes. Then the lock is taken for reading only, and signatures of any
 * number of requests run side by side (each on a session of the login's
 * pool). Anything else, including a writer holding or waiting for the lock,
 * takes the ordinary path. True with the read lock held and op->key set. */
static bool begin_shared(kb_service *svc, kb_call *call, kb_token_op *op) {
        kb_source *src = op->source;
        if (!src->ops->shared_key || pthread_rwlock_tryrdlock(&src->op_lock) != 0)
                return false;
        bool ok = kb_pin_check_usable(svc, call, op->token, KB_PIN_OK) >= 0 &&
                  kb_authz_check(svc->authz, op->token->id, who(call), time(NULL)) &&
                  src->ops->shared_key(src, op->token, op->cert, &op->key) >= 0;
        if (!ok)
                pthread_rwlock_unlock(&src->op_lock);
        op->shared = ok;
        return ok;
}

static int begin(kb_service *svc, kb_call *call, const char *cert_field, const char *operation, unsigned usage,
                 kb_key_type key, unsigned flags, kb_token_op *op) {
        *op = (kb_token_op) { .view = kb_cache_view(svc->cache) };
        if (!op->view)
                return -KB_E_INTERNAL;
        int r = view_token_cert(svc, call, op->view, cert_field, &op->source, &op->token, &op->cert);
        if (r >= 0)
                r = check_certificate(call, op, usage, key, flags);
        if (r >= 0 && (flags & BEGIN_SHARE) && begin_shared(svc, call, op))
                return 0;
        if (r >= 0)
                r = kb_token_lock(op->source);
        if (r < 0) {
                kb_view_free(op->view);
                *op = (kb_token_op) { 0 };
                return r;
        }
        r = authorize(svc, call, operation, NULL, flags & BEGIN_RENEWAL, op);
        if (r >= 0)
                r = load_key(op);
        if (r < 0) {
                /* gone since the scan: our session on it goes too, or the
                 * next login after re-insertion would use it */
                r = kb_token_gone(svc, op->source, op->token->id, r);
                kb_token_op_end(svc, op);
        }
        return r;
}

/* A certificate with its key on the token: a user's identity. */
static bool holds_identity(const kb_token *t) {
        for (size_t i = 0; i < t->n_certs; i++)
                if (t->certs[i]->has_private_key)
                        return true;
        return false;
}

/* Enrollment writes a first key and certificate through the renewal calls.
 * With spec (a request): the token must generate it, be formatted, and hold
 * no identity yet (one that does is renewed instead). */
static int check_token(kb_call *call, const kb_token_op *op, const kb_keygen *spec) {
        const kb_source_ops *ops = op->source->ops;
        bool keys = ops->key_generate && ops->key_find && ops->key_destroy && ops->cert_count && ops->cert_write &&
                    (ops->cert_remove || ops->certs_in_containers);
        int r = !keys ? -KB_E_UNSUPPORTED_ALGORITHM
                : spec && ops->key_supported ? ops->key_supported(op->source, op->token, spec)
                                            : 0;
        if (r == -KB_E_UNSUPPORTED_ALGORITHM)
                return kb_call_refuse(call, r, "keyType", "token-cannot-generate");
        if (r >= 0 && !op->token->initialized)
                return kb_call_refuse(call, -KB_E_TOKEN_NOT_INITIALIZED, "token", "not-formatted");
        if (r >= 0 && spec && holds_identity(op->token))
                return kb_call_refuse(call, -KB_E_BAD_REQUEST, "token", "token-not-blank");
        return r;
}

int kb_token_op_begin_token(kb_service *svc, kb_call *call, const char *operation, const kb_keygen *spec,
                            const char *subject, kb_token_op *op) {
        const char *tid;
        *op = (kb_token_op) { .view = kb_cache_view(svc->cache) };
        if (!op->view)
                return -KB_E_INTERNAL;
        int r = kb_param_string(call, "token", true, &tid);
        if (r >= 0)
                r = kb_view_token(svc, op->view, tid, &op->source, &op->token);
        if (r >= 0)
                r = kb_token_lock(op->source);
        if (r < 0) {
                kb_view_free(op->view);
                *op = (kb_token_op) { 0 };
                return r;
        }
        r = check_token(call, op, spec);
        if (r >= 0)
                r = authorize(svc, call, operation, subject, true, op);
        if (r < 0) {
                r = kb_token_gone(svc, op->source, op->token->id, r);
                kb_token_op_end(svc, op);
        }
        return r;
}

int kb_token_op_begin_renewal(kb_service *svc, kb_call *call, const char *cert_field, const char *operation,
                              kb_token_op *op) {
        return begin(svc, call, cert_field, operation, KB_USAGE_BOTH, KB_KEY_UNKNOWN, BEGIN_RENEWAL, op);
}

int kb_token_op_begin(kb_service *svc, kb_call *call, const char *operation, unsigned usage, kb_key_type key,
                      kb_token_op *op) {
        return begin(svc, call, "certificate", operation, usage, key, 0, op);
}

int kb_token_op_begin_decrypting(kb_service *svc, kb_call *call, kb_token_op *op) {
        return begin(svc, call, "certificate", "decrypt", KB_USAGE_ENCRYPT, KB_KEY_UNKNOWN, BEGIN_DECRYPT | BEGIN_SHARE,
                     op);
}

int kb_token_op_begin_signing(kb_service *svc, kb_call *call, const char *operation, kb_key_type key,
                              kb_token_op *op) {
        return begin(svc, call, "certificate", operation, KB_USAGE_SIGN, key, BEGIN_SHARE, op);
}

/* Under the read lock the logout a removal calls for must wait for the
 * write lock: kb_token_op_end does it. */
int kb_token_op_failed(kb_service *svc, kb_token_op *op, int r) {
        if (!op->shared)
                return kb_token_gone(svc, op->source, op->token->id, r);
        if (r == -KB_E_TOKEN_NOT_PRESENT) {
                kb_authz_revoke_token(svc->authz, op->token->id);
                op->logout_after = true;
        }
        return r;
}

int kb_token_op_key_error(kb_service *svc, kb_token_op *op) {
        return kb_token_op_failed(svc, op, op->source->ops->key_error(op->source, op->key));
}

void kb_token_op_end(kb_service *svc, kb_token_op *op) {
        if (!op->view)
                return;
        EVP_PKEY_free(op->key);
        if (op->source)
                pthread_rwlock_unlock(&op->source->op_lock);
        if (op->logout_after && kb_token_lock(op->source) >= 0) {
                op->source->ops->logout(op->source, op->token->id);
                pthread_rwlock_unlock(&op->source->op_lock);
        }
        kb_view_free(op->view);
        *op = (kb_token_op) { 0 };
}

static bool present(const kb_view *v, size_t i, const char *id) {
        return kb_scan_find_token(v->scans[i], id) != NULL;
}

/* Log out of this source's tokens that nobody is authorized on, or that are
 * gone. A source busy with an operation is left for the next round. */
static void expire_source(kb_service *svc, const kb_view *v, size_t i, int64_t now) {
        kb_source *src = (kb_source *) v->sources[i];
        char ids[16][KB_TOKEN_ID_LEN + 1];

        if (!src->ops->sessions || pthread_rwlock_trywrlock(&src->op_lock) != 0)
                return;
        size_t n = src->ops->sessions(src, ids, 16);
        for (size_t j = 0; j < n; j++) {
                bool gone = !present(v, i, ids[j]);
                if (gone)
                        kb_authz_revoke_token(svc->authz, ids[j]);
                if (gone || !kb_authz_token_in_use(svc->authz, ids[j], now))
                        src->ops->logout(src, ids[j]);
        }
        pthread_rwlock_unlock(&src->op_lock);
}

int64_t kb_service_expire(kb_service *svc, int64_t now) {
        kb_view *v = kb_cache_view(svc->cache);
        for (size_t i = 0; v && i < v->n; i++)
                expire_source(svc, v, i, now);
        kb_view_free(v);
        return kb_authz_expire(svc->authz, now);
}
