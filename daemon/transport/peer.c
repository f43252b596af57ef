/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The uid owning the client's end of a loopback TCP connection.
 *
 * The client's socket is the one whose local side is the peer address we got
 * from accept() and whose remote side is our address. We ask the kernel for
 * exactly that socket with a NETLINK_SOCK_DIAG exact lookup; where netlink is
 * unavailable (sandboxes answer EPERM or EPROTONOSUPPORT) we read the same
 * table from /proc/net/tcp{,6}. IPv4-mapped IPv6 addresses are compared as
 * IPv4 throughout, since a dual-stack listener sees an AF_INET client that way.
 *
 * Sockets without an owner (TIME_WAIT mini-sockets, request sockets) are
 * reported by the kernel with uid 0; they count as not found.
 */
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "kb-cleanup.h"

#define PROC_LINE_MAX 512
#define DIAG_RECV_SIZE 8192
#define TCP_NEW_SYN_RECV_STATE 12   /* kernel-internal, not in <netinet/tcp.h> */

/* One side of a connection, normalized: IPv4-mapped IPv6 becomes AF_INET. */
typedef struct endpoint {
        int family;           /* AF_INET or AF_INET6 */
        uint8_t addr[16];     /* network order; the first 4 bytes for AF_INET */
        uint16_t port;        /* host order */
        uint32_t scope_id;
} endpoint;

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static size_t addr_size(int family) {
        return family == AF_INET ? 4 : 16;
}

/* Turn an IPv4-mapped AF_INET6 endpoint into AF_INET. */
static void endpoint_unmap(endpoint *e) {
        if (e->family != AF_INET6 || memcmp(e->addr, v4mapped_prefix, 12) != 0)
                return;
        memmove(e->addr, e->addr + 12, 4);
        memset(e->addr + 4, 0, 12);
        e->family = AF_INET;
        e->scope_id = 0;
}

static int endpoint_from_sockaddr(const struct sockaddr *sa, socklen_t len, endpoint *ret) {
        endpoint e = { 0 };

        if (!sa || len < (socklen_t) sizeof(sa_family_t))
                return -EINVAL;
        if (sa->sa_family == AF_INET) {
                struct sockaddr_in in;
                if (len < (socklen_t) sizeof(in))
                        return -EINVAL;
                memcpy(&in, sa, sizeof(in));
                e.family = AF_INET;
                memcpy(e.addr, &in.sin_addr, 4);
                e.port = ntohs(in.sin_port);
        } else if (sa->sa_family == AF_INET6) {
                struct sockaddr_in6 in6;
                if (len < (socklen_t) sizeof(in6))
                        return -EINVAL;
                memcpy(&in6, sa, sizeof(in6));
                e.family = AF_INET6;
                memcpy(e.addr, &in6.sin6_addr, 16);
                e.port = ntohs(in6.sin6_port);
                e.scope_id = in6.sin6_scope_id;
        } else
                return -EAFNOSUPPORT;

        endpoint_unmap(&e);
        *ret = e;
        return 0;
}

static bool endpoint_equal(const endpoint *a, const endpoint *b) {
        return a->family == b->family && a->port == b->port &&
                memcmp(a->addr, b->addr, addr_size(a->family)) == 0;
}

/* Sockets that have no owning process: the kernel reports uid 0 for them. */
static bool state_has_owner(unsigned state) {
        return state != TCP_TIME_WAIT && state != TCP_LISTEN &&
                state != TCP_SYN_RECV && state != TCP_NEW_SYN_RECV_STATE;
}

static int normalize_pair(const struct sockaddr *peer, socklen_t peer_len,
                          const struct sockaddr *local, socklen_t local_len,
                          endpoint *ret_client, endpoint *ret_server) {
        endpoint c, s;
        int r;

        r = endpoint_from_sockaddr(peer, peer_len, &c);
        if (r < 0)
                return r;
        r = endpoint_from_sockaddr(local, local_len, &s);
        if (r < 0)
                return r;
        if (c.family != s.family)
                return -EINVAL;
        *ret_client = c;
        *ret_server = s;
        return 0;
}

/* ---- NETLINK_SOCK_DIAG ---- */

typedef struct diag_request {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
} diag_request;

static void diag_request_fill(diag_request *m, const endpoint *client, const endpoint *server) {
        *m = (diag_request) {
                .nlh.nlmsg_len = sizeof(*m),
                .nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY,
                .nlh.nlmsg_flags = NLM_F_REQUEST,
                .nlh.nlmsg_seq = 1,
                .req.sdiag_family = (uint8_t) client->family,
                .req.sdiag_protocol = IPPROTO_TCP,
                .req.idiag_states = ~0U,
                .req.id.idiag_sport = htons(client->port),
                .req.id.idiag_dport = htons(server->port),
                .req.id.idiag_if = client->scope_id,
                .req.id.idiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE },
        };
        memcpy(m->req.id.idiag_src, client->addr, addr_size(client->family));
        memcpy(m->req.id.idiag_dst, server->addr, addr_size(server->family));
}

/* The kernel's answer must be the socket we asked for, and a full one. */
static bool diag_msg_matches(const struct inet_diag_msg *msg,
                             const endpoint *client, const endpoint *server) {
        endpoint src = { .family = msg->idiag_family, .port = ntohs(msg->id.idiag_sport) };
        endpoint dst = { .family = msg->idiag_family, .port = ntohs(msg->id.idiag_dport) };

        if (msg->idiag_family != AF_INET && msg->idiag_family != AF_INET6)
                return false;
        memcpy(src.addr, msg->id.idiag_src, addr_size(src.family));
        memcpy(dst.addr, msg->id.idiag_dst, addr_size(dst.family));
        endpoint_unmap(&src);
        endpoint_unmap(&dst);
        return endpoint_equal(&src, client) && endpoint_equal(&dst, server) &&
                state_has_owner(msg->idiag_state);
}

/* One reply message: 1 to read on, 0 with *ret_uid set, or a negative errno. */
static int diag_handle(const struct nlmsghdr *h,
                       const endpoint *client, const endpoint *server, uid_t *ret_uid) {
        if (h->nlmsg_seq != 1)
                return 1;
        if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
                        return -EBADMSG;
                return e->error < 0 ? e->error : -ENOENT;
        }
        if (h->nlmsg_type == NLMSG_DONE)
                return -ENOENT;
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
                return 1;
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                return -EBADMSG;

        const struct inet_diag_msg *msg = NLMSG_DATA(h);
        if (!diag_msg_matches(msg, client, server))
                return -ENOENT;
        *ret_uid = (uid_t) msg->idiag_uid;
        return 0;
}

/* Walks the reply without NLMSG_NEXT, whose unsigned arithmetic can step past
 * the end of a short buffer. */
static int diag_parse(const uint8_t *buf, size_t len,
                      const endpoint *client, const endpoint *server, uid_t *ret_uid) {
        size_t off = 0;

        while (off < len && len - off >= sizeof(struct nlmsghdr)) {
                struct nlmsghdr h;
                int r;

                memcpy(&h, buf + off, sizeof(h));
                if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len - off)
                        return -EBADMSG;
                r = diag_handle((const struct nlmsghdr *) (const void *) (buf + off),
                                client, server, ret_uid);
                if (r <= 0)
                        return r;
                off += NLMSG_ALIGN(h.nlmsg_len);
        }
        return -EBADMSG;
}

static int diag_lookup(const endpoint *client, const endpoint *server, uid_t *ret_uid) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        struct timeval tv = { .tv_sec = 1 };
        diag_request m;
        /* nlmsghdr alignment for the reply */
        uint32_t buf[DIAG_RECV_SIZE / sizeof(uint32_t)];
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr mh = { .msg_name = &kernel, .msg_namelen = sizeof(kernel),
                             .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
                return -errno;

        diag_request_fill(&m, client, server);
        if (sendto(fd, &m, sizeof(m), 0, (struct sockaddr *) &kernel, sizeof(kernel)) < 0)
                return -errno;

        n = recvmsg(fd, &mh, 0);
        if (n < 0)
                return -errno;
        if (mh.msg_flags & MSG_TRUNC || kernel.nl_pid != 0)
                return -EBADMSG;
        return diag_parse((const uint8_t *) buf, (size_t) n, client, server, ret_uid);
}

/* ---- /proc/net/tcp{,6} ---- */

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

/* "0100007F:1F90" (tcp) or 32 hex digits ":" port (tcp6). The kernel prints
 * each 32-bit word of the address as it sits in memory, so the word is copied
 * back in host order to recover the network-order bytes. */
static int proc_parse_endpoint(const char *s, int family, endpoint *ret) {
        endpoint e = { .family = family };
        size_t words = addr_size(family) / 4;
        unsigned port;
        int n = 0;

        for (size_t i = 0; i < words; i++) {
                char hex[9];
                uint32_t w;
                for (size_t j = 0; j < 8; j++) {
                        char c = s[i * 8 + j];
                        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') ||
                              (c >= 'a' && c <= 'f')))
                                return -EBADMSG;
                        hex[j] = c;
                }
                hex[8] = '\0';
                w = (uint32_t) strtoul(hex, NULL, 16);
                memcpy(e.addr + i * 4, &w, 4);
        }
        s += words * 8;
        if (*s != ':' || sscanf(s + 1, "%4x%n", &port, &n) != 1 || s[1 + n] != '\0')
                return -EBADMSG;
        e.port = (uint16_t) port;
        endpoint_unmap(&e);
        *ret = e;
        return 0;
}

/* One table row: "sl local rem st tx:rx tr:when retrnsmt uid ...". */
static int proc_parse_row(const char *line, int family,
                          endpoint *ret_local, endpoint *ret_remote,
                          unsigned *ret_state, uid_t *ret_uid) {
        char local[48], remote[48];
        unsigned state, uid;
        int r;

        if (sscanf(line, " %*s %47s %47s %x %*s %*s %*s %u", local, remote, &state, &uid) != 4)
                return -EBADMSG;
        r = proc_parse_endpoint(local, family, ret_local);
        if (r < 0)
                return r;
        r = proc_parse_endpoint(remote, family, ret_remote);
        if (r < 0)
                return r;
        *ret_state = state;
        *ret_uid = (uid_t) uid;
        return 0;
}

/* Reads the rest of an over-long line so the next fgets starts a new row. */
static void proc_skip_line(FILE *f, const char *line) {
        int c;

        if (strchr(line, '\n'))
                return;
        while ((c = fgetc(f)) != EOF && c != '\n')
                ;
}

static int proc_lookup_file(const char *path, int family,
                            const endpoint *client, const endpoint *server, uid_t *ret_uid) {
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        char line[PROC_LINE_MAX];

        if (!f)
                return -errno;
        if (!fgets(line, sizeof(line), f))   /* header */
                return -ENOENT;
        proc_skip_line(f, line);

        while (fgets(line, sizeof(line), f)) {
                endpoint l, rem;
                unsigned state;
                uid_t uid;

                proc_skip_line(f, line);
                if (proc_parse_row(line, family, &l, &rem, &state, &uid) < 0)
                        continue;
                if (endpoint_equal(&l, client) && endpoint_equal(&rem, server) &&
                    state_has_owner(state)) {
                        *ret_uid = uid;
                        return 0;
                }
        }
        return -ENOENT;
}

static int proc_lookup(const endpoint *client, const endpoint *server, uid_t *ret_uid) {
        int r;

        /* An IPv4 client may also be an AF_INET6 socket talking through a
         * mapped address; such sockets are listed in tcp6 only. */
        if (client->family == AF_INET) {
                r = proc_lookup_file("/proc/net/tcp", AF_INET, client, server, ret_uid);
                if (r != -ENOENT)
                        return r;
        }
        /* No tcp6 table (IPv6 disabled) leaves -ENOENT: nothing to find. */
        return proc_lookup_file("/proc/net/tcp6", AF_INET6, client, server, ret_uid);
}

static int peer_uid(const struct sockaddr *peer, socklen_t peer_len, const struct sockaddr *local,
                    socklen_t local_len, bool use_netlink, uid_t *ret_uid) {
        endpoint client, server;
        uid_t uid;
        int r;

        r = normalize_pair(peer, peer_len, local, local_len, &client, &server);
        if (r < 0)
                return r;
        /* Any netlink failure, -ENOENT included (a kernel without tcp_diag
         * answers that too), is checked against /proc before giving up. */
        r = use_netlink ? diag_lookup(&client, &server, &uid) : -ENOENT;
        if (r < 0)
                r = proc_lookup(&client, &server, &uid);
        if (r < 0)
                return r;
        *ret_uid = uid;
        return 0;
}

int kb_peer_uid_procfs(const struct sockaddr *peer, socklen_t peer_len,
                       const struct sockaddr *local, socklen_t local_len, uid_t *ret_uid) {
        return peer_uid(peer, peer_len, local, local_len, false, ret_uid);
}

int kb_peer_uid(const struct sockaddr *peer, socklen_t peer_len,
                const struct sockaddr *local, socklen_t local_len, uid_t *ret_uid) {
        return peer_uid(peer, peer_len, local, local_len, true, ret_uid);
}
