/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the front ends share about the running daemon (daemon.h): who may
 * connect, for the plain servers (http.c) and the TLS front (https.c), and
 * waking the TLS front. */
#include <stdio.h>

#include "daemon.h"
#include "log.h"
#include "peer.h"
#include "tls-front.h"

/* Only our own user's processes may talk to us (another local user could
 * otherwise reach 127.0.0.1 too). In TLS mode the front asks, on the real
 * client socket, before the handshake. */
bool kb_http_peer_allowed(kb_server *s, const struct sockaddr *addr, socklen_t addrlen) {
        uid_t uid;
        int r = kb_peer_uid(addr, addrlen, (const struct sockaddr *) &s->listener->addr, s->listener->addr_len, &uid);
        if (r >= 0 && uid == s->daemon->uid)
                return true;
        char who[32];
        snprintf(who, sizeof(who), "%d", r < 0 ? -1 : (int) uid);
        kb_log_fields f = { .message_id = KB_MSGID_PEER_REFUSED, .code = "PEER_UID" };
        kb_log(LOG_WARNING, &f, "refused a connection from uid %s on %s", who, s->listener->name);
        return false;
}

void kb_daemon_kick(kb_daemon *d) {
        if (d->front)
                kb_tls_front_kick(d->front);
}
