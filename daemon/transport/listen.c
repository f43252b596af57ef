/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "kb-cleanup.h"
#include "listen.h"

#define BACKLOG 128

static void describe(kb_listener *l) {
        char host[INET6_ADDRSTRLEN] = "?";
        if (l->addr.ss_family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *) &l->addr;
                inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
                l->port = ntohs(a->sin_port);
                snprintf(l->name, sizeof(l->name), "%s:%u", host, l->port);
        } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) &l->addr;
                inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
                l->port = ntohs(a->sin6_port);
                snprintf(l->name, sizeof(l->name), "[%s]:%u", host, l->port);
        }
}

static bool is_loopback(const struct sockaddr_storage *ss) {
        if (ss->ss_family == AF_INET)
                return ((const struct sockaddr_in *) ss)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
        if (ss->ss_family == AF_INET6)
                return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *) ss)->sin6_addr);
        return false;
}

/* Sockets from the unit: each must be a listening TCP socket on loopback. */
static int from_systemd(int n, kb_listener *ret, size_t max, char *err, size_t errlen) {
        if ((size_t) n > max)
                return snprintf(err, errlen, "too many sockets passed by systemd (%d)", n), -EINVAL;
        for (int i = 0; i < n; i++) {
                kb_listener *l = &ret[i];
                *l = (kb_listener) { .fd = SD_LISTEN_FDS_START + i, .addr_len = sizeof(l->addr), .activated = true };
                if (sd_is_socket_inet(l->fd, 0, SOCK_STREAM, 1, 0) <= 0 ||
                    getsockname(l->fd, (struct sockaddr *) &l->addr, &l->addr_len) < 0 || !is_loopback(&l->addr)) {
                        snprintf(err, errlen, "socket %d from systemd is not a listening loopback TCP socket", l->fd);
                        return -EINVAL;
                }
                describe(l);
        }
        return n;
}

static int bind_one(const char *spec, kb_listener *l, char *err, size_t errlen) {
        int family;
        unsigned port;
        char host[16];
        int one = 1;

        if (kb_listen_parse(spec, &family, host, sizeof(host), &port) < 0)
                return snprintf(err, errlen, "refusing to listen on '%s': loopback only", spec), -EINVAL;
        *l = (kb_listener) { .fd = -1 };
        if (family == 4) {
                struct sockaddr_in *a = (struct sockaddr_in *) &l->addr;
                *a = (struct sockaddr_in) { .sin_family = AF_INET, .sin_port = htons(port) };
                a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                l->addr_len = sizeof(*a);
        } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) &l->addr;
                *a = (struct sockaddr_in6) { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_LOOPBACK_INIT };
                l->addr_len = sizeof(*a);
        }
        _cleanup_close_ int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (family == 6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *) &l->addr, l->addr_len) < 0 || listen(fd, BACKLOG) < 0) {
                int r = -errno;
                if (r == -EADDRINUSE)
                        snprintf(err, errlen, "%s is already in use (is another keybridged running?)", spec);
                else
                        snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(-r));
                return r;
        }
        l->fd = TAKE_FD(fd);
        describe(l);
        return 0;
}

static bool ipv6_absent(int r) {
        return r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT;
}

int kb_listen_open(const kb_config *c, kb_listener *ret, size_t max, char *err, size_t errlen) {
        int n = sd_listen_fds(1);
        if (n > 0)
                return from_systemd(n, ret, max, err, errlen);
        size_t count = 0;
        for (size_t i = 0; i < c->listen.n && count < max; i++) {
                int r = bind_one(c->listen.v[i], &ret[count], err, errlen);
                /* The default [::1] is optional: skip it where IPv6 loopback is absent. */
                if (r < 0 && c->listen_is_default && ipv6_absent(r) && strncmp(c->listen.v[i], "[::1]", 5) == 0)
                        continue;
                if (r < 0) {
                        kb_listen_close(ret, count);
                        return r;
                }
                count++;
        }
        return (int) count;
}

void kb_listen_close(kb_listener *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (l[i].fd >= 0 && !l[i].activated) {
                        close(l[i].fd);
                        l[i].fd = -1;
                }
}
