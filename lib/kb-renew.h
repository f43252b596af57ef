/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Certificate renewal (证书更新): a CSR from a key on the token, and an
 * all-or-nothing install that survives a crash or a pulled token.
 *
 * State, under <state_dir>/renewal/:
 *   pending/<requestId>.json   a request whose new key waits for its certificate
 *   journal/<token id>.json    an install in progress (at most one per token)
 *   backup/<token id>/<sha256>.pem   every certificate an install replaced
 *   history/<token id>-<time>.json   finished installs
 *   history/<requestId>.request.json installed requests
 * Every file is replaced atomically (write, fsync, rename, fsync dir).
 *
 * The install, step by step (each step's completion is journaled before the
 * next begins):
 *   begun        old certificate backed up; nothing on the token changed yet
 *   written      new certificate object created, read back, compared: the
 *                commit point — from here on the install goes forward
 *   old-removed  old certificate object destroyed
 *   done         old signing key destroyed (re-key only; needs a login)
 * Recovery (whenever a scan sees a token with a journal): begun with the new
 * certificate on the token goes forward, without it rolls back (the journal
 * goes); written and old-removed go forward.
 */
#pragma once

#include "kb-service.h"

typedef struct kb_renewals kb_renewals;

/* Open (create) <state_dir>/renewal. */
int kb_renewals_open(const char *state_dir, kb_renewals **ret);
void kb_renewals_free(kb_renewals *r);

/* Finish or roll back unfinished installs on the tokens of a scan (the
 * cache's scan hook, on the source's scan thread). A source busy with an
 * operation is left for its next scan. */
void kb_renew_recover_scan(kb_service *svc, kb_source *source, const kb_scan *scan);

/* Methods (renew.c, renew-install.c). */
int kb_method_renewal_request(kb_service *svc, kb_call *call, json_t **ret);
int kb_method_renewal_install(kb_service *svc, kb_call *call, json_t **ret);
int kb_method_renewal_cancel(kb_service *svc, kb_call *call, json_t **ret);

/* ---- internal to lib/renew*.c ---- */

#define KB_RENEW_ID_LEN 32      /* hex digits of a request id */

typedef struct kb_pending {
        char request_id[KB_RENEW_ID_LEN + 1];
        char token[KB_TOKEN_ID_LEN + 1];
        char certificate[KB_CERT_ID_LEN + 1];   /* the certificate being renewed */
        bool new_key;
        kb_key_id key_id;                       /* the key the CSR is for */
        int64_t created;
} kb_pending;

typedef enum kb_install_phase {
        KB_INSTALL_BEGUN,
        KB_INSTALL_WRITTEN,
        KB_INSTALL_OLD_REMOVED,
        KB_INSTALL_DONE,
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

/* Run an install from its journal's phase to done, journaling each step
 * (renew-install.c). op_lock held; call may be NULL (recovery). Returns 0
 * when done; -KB_E_* when a step failed: the journal says where it stands.
 * Destroying the old key needs the user logged in; without a login that last
 * step waits (the journal stays at old-removed). */
int kb_install_run(kb_service *svc, kb_source *source, const kb_token *t, kb_install *j, kb_call *call);
