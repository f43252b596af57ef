/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The token cache: one thread per source rescans it (every poll interval) and
 * publishes an immutable kb_scan; readers take references and never wait for a
 * token.
 */
#pragma once

#include <stdbool.h>

#include "kb-backend.h"

typedef struct kb_cache kb_cache;

/* Takes ownership of the sources array and the sources. */
kb_cache *kb_cache_new(kb_source **sources, size_t n_sources, unsigned poll_ms);
/* Called from a cache thread for each problem a scan reports that the
 * previous scan of that source did not (lib/ does not log; the daemon does). */
typedef void (*kb_problem_hook)(void *userdata, const kb_source *source, const kb_problem *problem);
void kb_cache_set_problem_hook(kb_cache *c, kb_problem_hook hook, void *userdata);

/* Called from a cache thread after each scan of a source is published, with
 * the previous scan (NULL for the first) and the new one: the daemon derives
 * token inserted/removed/changed events from the two, and finishes renewal
 * installs on tokens that came back. Keep it short: the source's next scan
 * waits for it. Set before kb_cache_start. */
typedef void (*kb_scan_hook)(void *userdata, kb_source *source, const kb_scan *prev, const kb_scan *next);
void kb_cache_set_scan_hook(kb_cache *c, kb_scan_hook hook, void *userdata);

int kb_cache_start(kb_cache *c);
void kb_cache_free(kb_cache *c);

/* Wait until every source finished its first scan, at most timeout_ms.
 * Returns true when all are ready. */
bool kb_cache_wait_ready(kb_cache *c, unsigned timeout_ms);

/* Ask every source thread to rescan now (e.g. after a write). */
void kb_cache_kick(kb_cache *c);
/* Rescan now and read every token afresh, certificates included (after a
 * write that changed them: an unchanged-looking token's certificates are
 * otherwise reused from the last scan). */
void kb_cache_reread(kb_cache *c);
/* The same, then wait (at most timeout_ms) until every source published a
 * scan begun after this call, so that a read that follows a write sees it.
 * Never call it from a scan hook. True when they all did. */
bool kb_cache_reread_wait(kb_cache *c, unsigned timeout_ms);

/* Was a token with this id present at some point since start-up? */
bool kb_cache_token_seen(kb_cache *c, const char *id);

typedef struct kb_view {
        size_t n;
        const kb_source **sources;
        kb_scan **scans;        /* NULL where a source has not finished a scan */
} kb_view;

/* A consistent set of references to the latest scans; free with kb_view_free. */
kb_view *kb_cache_view(kb_cache *c);
void kb_view_free(kb_view *v);
const kb_token *kb_view_find_token(const kb_view *v, const char *id);
