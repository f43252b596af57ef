/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Token hot-plug events: the cache's scan hook compares each new scan of a
 * source with the previous one and turns the difference into token.inserted,
 * token.removed and token.changed notifications for the WebSockets. A token
 * that went away also loses its authorizations and our session on it.
 */
#pragma once

#include "kb-cache.h"

/* A kb_scan_hook; userdata is the kb_daemon. */
void kb_events_scan_hook(void *userdata, kb_source *source, const kb_scan *prev, const kb_scan *next);
