/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* HTTPS and WSS through the TLS front (https.c); http.c calls these. */
#pragma once

#include "daemon.h"

/* After the libmicrohttpd servers started (they take connections from it). */
int kb_https_start(kb_daemon *d, char *err, size_t errlen);
/* d->tls changed: new connections get the new leaf. */
int kb_https_rotate(kb_daemon *d, char *err, size_t errlen);
/* Before the libmicrohttpd servers stop. */
void kb_https_stop(kb_daemon *d);
