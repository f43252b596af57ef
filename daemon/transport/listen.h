/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Listening sockets: from systemd socket activation, or bound here. Loopback only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

#define KB_MAX_LISTENERS 8

typedef struct kb_listener {
        int fd;
        struct sockaddr_storage addr;   /* the bound address */
        socklen_t addr_len;
        unsigned port;
        char name[64];                  /* "127.0.0.1:27182", "[::1]:27182" */
        bool activated;                 /* passed in by systemd */
} kb_listener;

/* Returns the number of listeners (> 0) or a negative errno with a reason. */
int kb_listen_open(const kb_config *c, kb_listener *ret, size_t max, char *err, size_t errlen);
void kb_listen_close(kb_listener *l, size_t n);
