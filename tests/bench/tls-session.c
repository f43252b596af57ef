/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What one GnuTLS server session costs once its handshake is done and a
 * record has come in: the floor under the memory of an idle WSS connection,
 * since libmicrohttpd 0.9.75 (Debian 12) does TLS only with GnuTLS and keeps
 * the session for as long as the upgraded connection lives.
 *
 *   tls-session CERT.pem KEY.pem [SESSIONS]
 *
 * Heap in use (mallinfo2) before and after SESSIONS sessions, each
 * handshaken with a client thread over a socketpair with the daemon's
 * priority string, the client sides freed before the count.
 */
#include <gnutls/gnutls.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" /* daemon/server/http.c */
#define MAX_SESSIONS 2000

typedef struct end {
        int fd;
        gnutls_session_t s;
        gnutls_certificate_credentials_t cred;
        unsigned flags;
} end;

static size_t heap_in_use(void) {
        struct mallinfo2 m = mallinfo2();
        return m.uordblks + m.hblkhd;
}

static int handshake(end *e) {
        int r;
        if (gnutls_init(&e->s, e->flags) < 0 || gnutls_priority_set_direct(e->s, PRIORITY, NULL) < 0 ||
            gnutls_credentials_set(e->s, GNUTLS_CRD_CERTIFICATE, e->cred) < 0)
                return -1;
        gnutls_transport_set_int(e->s, e->fd);
        do
                r = gnutls_handshake(e->s);
        while (r < 0 && !gnutls_error_is_fatal(r));
        return r;
}

static void *client(void *arg) {
        end *c = arg;
        if (handshake(c) < 0 || gnutls_record_send(c->s, "ping", 4) != 4)
                fprintf(stderr, "tls-session: the client's handshake failed\n");
        return NULL;
}

/* One session pair; the server end is kept, the client's freed. */
static int one(end *srv, end *cli) {
        int sv[2];
        char buf[16];
        pthread_t t;
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
                return -1;
        srv->fd = sv[0];
        cli->fd = sv[1];
        if (pthread_create(&t, NULL, client, cli) != 0)
                return -1;
        int ok = handshake(srv) >= 0 && gnutls_record_recv(srv->s, buf, sizeof(buf)) == 4;
        pthread_join(t, NULL);
        gnutls_deinit(cli->s);
        close(cli->fd);
        return ok ? 0 : -1;
}

int main(int argc, char **argv) {
        static end srv[MAX_SESSIONS], cli[MAX_SESSIONS];
        gnutls_certificate_credentials_t scred, ccred;
        int n = argc > 3 ? atoi(argv[3]) : 500;
        if (argc < 3 || n < 1 || n > MAX_SESSIONS) {
                fprintf(stderr, "usage: tls-session CERT.pem KEY.pem [SESSIONS (1-%d)]\n", MAX_SESSIONS);
                return 2;
        }
        if (gnutls_global_init() < 0 || gnutls_certificate_allocate_credentials(&scred) < 0 ||
            gnutls_certificate_allocate_credentials(&ccred) < 0 ||
            gnutls_certificate_set_x509_key_file(scred, argv[1], argv[2], GNUTLS_X509_FMT_PEM) < 0) {
                fprintf(stderr, "tls-session: cannot load %s and %s\n", argv[1], argv[2]);
                return 1;
        }
        size_t before = heap_in_use();
        for (int i = 0; i < n; i++) {
                srv[i] = (end) { .cred = scred, .flags = GNUTLS_SERVER };
                cli[i] = (end) { .cred = ccred, .flags = GNUTLS_CLIENT };
                if (one(&srv[i], &cli[i]) < 0) {
                        fprintf(stderr, "tls-session: session %d failed\n", i);
                        return 1;
                }
        }
        size_t after = heap_in_use();
        printf("GnuTLS %s: %d server sessions after the handshake and one record: %.1f KiB of heap each\n",
               gnutls_check_version(NULL), n, (double) (after - before) / 1024.0 / n);
        for (int i = 0; i < n; i++) {
                gnutls_deinit(srv[i].s);
                close(srv[i].fd);
        }
        gnutls_certificate_free_credentials(scred);
        gnutls_certificate_free_credentials(ccred);
        gnutls_global_deinit();
        return 0;
}
