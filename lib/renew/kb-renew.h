/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Certificate renewal (证书更新): a CSR from a key on the token, and an
 * all-or-nothing install that survives a crash or a pulled token.
 *
 * State, under <state_dir>/renewal/:
 *   pending/<requestId>.json   a request whose new key waits for its certificate
 *   journal/<token id>.json    an install in progress (at most one per token)
 *   backup/<token id>/<sha256>.pem   every certificate an install replaced
 *   history/<token id>-<time>[-<n>].json finished installs (n: the n-th in that second)
 *   history/<requestId>.request.json installed requests
 * Every file is replaced atomically (write, fsync, rename, fsync dir).
 *
 * The install, step by step (each step's completion is journaled before the
 * next begins):
 *   begun        old certificate backed up; for double certificates the
 *                encryption key unwrapped and its certificate written (both
 *                undone by a rollback)
 *   written      new certificate object created, read back, compared: the
 *                commit point — from here on the install goes forward
 *   old-removed  old certificate object destroyed
 *   done         old signing key destroyed (re-key only; needs a login)
 *   rolling-back an install that failed before the commit point is being
 *                undone: what it wrote goes (new certificate, encryption
 *                certificate and key), then the journal
 * Recovery (whenever a scan sees a token with a journal): begun with the new
 * certificate on the token goes forward, without it rolls back; written and
 * old-removed go forward; done (the move into history was cut short) goes
 * to history; rolling-back goes on (an unwrapped encryption key needs a
 * login to go, so that step may wait for one).
 *
 * In containers (SKF, kb-backend.h certs_in_containers) the request made a
 * new container, and nothing in a container can go alone: begun imports
 * the encryption pair into the new container; written puts the new
 * certificate in (the commit point); old-removed changes nothing; done
 * deletes the old container, certificate and key with it (kept whole when
 * it holds an encryption pair), then writes the encryption certificate. A
 * rollback leaves the new container as it is, unseen without its
 * signature certificate; one that finds that certificate there goes
 * forward instead. An install needs its request (requestId).
 */
#pragma once

#include <openssl/x509.h>

#include "kb-ops.h"

typedef struct kb_renewals kb_renewals;

/* Open (create) <state_dir>/renewal. */
int kb_renewals_open(const char *state_dir, kb_renewals **ret);
void kb_renewals_free(kb_renewals *r);

/* A token whose unfinished install a recovery pass left for a later scan:
 * error 0 when the source was busy with an operation, else why a step
 * failed (-KB_E_*). */
typedef void (*kb_recover_left_fn)(void *userdata, const char *token_id, int error);

/* Finish or roll back unfinished installs on the tokens of a scan (the
 * cache's scan hook, on the source's scan thread). A source busy with an
 * operation, or a step that fails, is left for its next scan; left (may be
 * NULL) hears of each. */
void kb_renew_recover_scan(kb_service *svc, kb_source *source, const kb_scan *scan, kb_recover_left_fn left,
                           void *userdata);

/* Methods (renew.c, renew-install.c). */
int kb_method_renewal_request(kb_service *svc, kb_call *call, json_t **ret);
int kb_method_renewal_install(kb_service *svc, kb_call *call, json_t **ret);
int kb_method_renewal_cancel(kb_service *svc, kb_call *call, json_t **ret);
/* Enrollment (enroll.c): a first key and certificate, on the same install. */
int kb_method_enrollment_request(kb_service *svc, kb_call *call, json_t **ret);
int kb_method_enrollment_install(kb_service *svc, kb_call *call, json_t **ret);
int kb_method_enrollment_cancel(kb_service *svc, kb_call *call, json_t **ret);
