/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A minimal sequential client for the TLS benchmark (tests/bench/bench_tls.py),
 * in C so that the client's own cost does not hide the daemon's:
 *
 *   ws-rtt ws    PORT ORIGIN CALLS [tls]   one WebSocket, CALLS JSON-RPC
 *                                          "info" calls one after another
 *   ws-rtt first PORT ORIGIN CONNS [tls]   CONNS new connections, each one
 *                                          GET /v1/info (handshake included)
 *
 * Prints "calls=N seconds=S p50_us=A p99_us=B". Certificates are not
 * verified: the benchmark measures, the integration tests verify.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
        int fd;
        SSL *ssl;
} conn;

static double now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static int io_write(conn *c, const void *buf, size_t len) {
        if (c->ssl)
                return SSL_write(c->ssl, buf, (int) len) == (int) len ? 0 : -1;
        return send(c->fd, buf, len, MSG_NOSIGNAL) == (ssize_t) len ? 0 : -1;
}

static ssize_t io_read(conn *c, void *buf, size_t len) {
        if (c->ssl)
                return SSL_read(c->ssl, buf, (int) len);
        return recv(c->fd, buf, len, 0);
}

static int open_conn(SSL_CTX *ctx, int port, conn *c) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int one = 1;
        c->ssl = NULL;
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *) &a, sizeof(a)) < 0)
                return -1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (!ctx)
                return 0;
        c->ssl = SSL_new(ctx);
        SSL_set_fd(c->ssl, c->fd);
        SSL_set_tlsext_host_name(c->ssl, "localhost");
        return SSL_connect(c->ssl) == 1 ? 0 : -1;
}

static void close_conn(conn *c) {
        if (c->ssl) {
                SSL_shutdown(c->ssl);
                SSL_free(c->ssl);
        }
        close(c->fd);
}

/* Read until the end of the HTTP headers and Content-Length bytes of body. */
static int read_http(conn *c) {
        char buf[16384];
        size_t have = 0;
        for (;;) {
                ssize_t n = io_read(c, buf + have, sizeof(buf) - 1 - have);
                if (n <= 0)
                        return -1;
                have += (size_t) n;
                buf[have] = 0;
                char *end = strstr(buf, "\r\n\r\n");
                if (!end)
                        continue;
                if (strncmp(buf, "HTTP/1.1 101", 12) == 0)
                        return (size_t) (end + 4 - buf) == have ? 0 : -1;
                char *cl = strcasestr(buf, "Content-Length:");
                size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
                if (have >= (size_t) (end + 4 - buf) + body)
                        return strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
        }
}

static int ws_upgrade(conn *c, int port, const char *origin) {
        char req[1024];
        snprintf(req, sizeof(req),
                 "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: %s\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n", port, origin);
        return io_write(c, req, strlen(req)) < 0 ? -1 : read_http(c);
}

/* One masked text frame out, one text frame back (whole, small). */
static int ws_call(conn *c, unsigned id) {
        char msg[128];
        int len = snprintf(msg, sizeof(msg), "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"info\"}", id);
        uint8_t frame[160] = { 0x81, (uint8_t) (0x80 | len), 1, 2, 3, 4 };
        for (int i = 0; i < len; i++)
                frame[6 + i] = (uint8_t) msg[i] ^ frame[2 + (i & 3)];
        if (io_write(c, frame, (size_t) len + 6) < 0)
                return -1;
        uint8_t in[8192];
        size_t have = 0, need = 2;
        while (have < need) {
                ssize_t n = io_read(c, in + have, sizeof(in) - have);
                if (n <= 0)
                        return -1;
                have += (size_t) n;
                if (have >= 2) {
                        size_t plen = in[1] & 0x7f, hl = 2;
                        if (plen == 126 && have >= 4) {
                                plen = (size_t) in[2] << 8 | in[3];
                                hl = 4;
                        }
                        need = hl + plen;
                }
        }
        return 0;
}

static int first_request(SSL_CTX *ctx, int port, const char *origin) {
        conn c;
        char req[512];
        if (open_conn(ctx, port, &c) < 0)
                return -1;
        snprintf(req, sizeof(req), "GET /v1/info HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: %s\r\n\r\n", port, origin);
        int r = io_write(&c, req, strlen(req)) < 0 ? -1 : read_http(&c);
        close_conn(&c);
        return r;
}

int main(int argc, char **argv) {
        if (argc < 5) {
                fprintf(stderr, "usage: ws-rtt ws|first PORT ORIGIN COUNT [tls]\n");
                return 2;
        }
        int port = atoi(argv[2]);
        const char *origin = argv[3];
        unsigned count = (unsigned) strtoul(argv[4], NULL, 10);
        SSL_CTX *ctx = argc > 5 && strcmp(argv[5], "tls") == 0 ? SSL_CTX_new(TLS_client_method()) : NULL;
        double *lat = calloc(count, sizeof(*lat));
        conn c = { .fd = -1 };
        bool ws = strcmp(argv[1], "ws") == 0;

        if (!lat || (ws && (open_conn(ctx, port, &c) < 0 || ws_upgrade(&c, port, origin) < 0))) {
                fprintf(stderr, "ws-rtt: cannot connect\n");
                return 1;
        }
        double t0 = now_us();
        for (unsigned i = 0; i < count; i++) {
                double t = now_us();
                if ((ws ? ws_call(&c, i + 1) : first_request(ctx, port, origin)) < 0) {
                        fprintf(stderr, "ws-rtt: call %u failed\n", i);
                        return 1;
                }
                lat[i] = now_us() - t;
        }
        double secs = (now_us() - t0) / 1e6;
        if (ws)
                close_conn(&c);
        qsort(lat, count, sizeof(*lat), cmp_double);
        printf("calls=%u seconds=%.3f p50_us=%.1f p99_us=%.1f\n", count, secs, lat[count / 2],
               lat[(size_t) ((double) count * 0.99)]);
        free(lat);
        SSL_CTX_free(ctx);
        return 0;
}
