/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kb_peer_uid: real loopback connections, looked up by socket diagnostics and
 * by the /proc/net/tcp{,6} fallback. */
#include <arpa/inet.h>
#include <check.h>

#include "kb-check.h"
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer.h"

#define NOBODY_UID 65534

typedef int (*lookup_fn)(const struct sockaddr *, socklen_t,
                         const struct sockaddr *, socklen_t, uid_t *);

/* One accepted loopback connection: our end is `server`. */
typedef struct conn {
        int listener, client, server;
        struct sockaddr_storage peer, local;
        socklen_t peer_len, local_len;
} conn;

static socklen_t sockaddr_fill(struct sockaddr_storage *ss, int family, const char *addr,
                               uint16_t port) {
        memset(ss, 0, sizeof(*ss));
        if (family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *) ss;
                in->sin_family = AF_INET;
                in->sin_port = htons(port);
                ck_assert_int_eq(inet_pton(AF_INET, addr, &in->sin_addr), 1);
                return sizeof(*in);
        }
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        ck_assert_int_eq(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
        return sizeof(*in6);
}

static uint16_t sockaddr_port(const struct sockaddr_storage *ss) {
        if (ss->ss_family == AF_INET)
                return ntohs(((const struct sockaddr_in *) ss)->sin_port);
        return ntohs(((const struct sockaddr_in6 *) ss)->sin6_port);
}

/* A listener on addr, port 0; -1 when the address cannot be bound (no IPv6). */
static int listen_on(int family, const char *addr, bool v6only) {
        struct sockaddr_storage ss;
        socklen_t len = sockaddr_fill(&ss, family, addr, 0);
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int on = v6only;

        if (fd < 0)
                return -1;
        if (family == AF_INET6)
                ck_assert_int_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)), 0);
        if (bind(fd, (struct sockaddr *) &ss, len) < 0) {
                close(fd);
                return -1;
        }
        ck_assert_int_eq(listen(fd, 8), 0);
        return fd;
}

static int connect_to(int family, const char *addr, uint16_t port) {
        struct sockaddr_storage ss;
        socklen_t len = sockaddr_fill(&ss, family, addr, port);
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || connect(fd, (struct sockaddr *) &ss, len) < 0)
                return -1;
        return fd;
}

static uint16_t listener_port(int listener) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        ck_assert_int_eq(getsockname(listener, (struct sockaddr *) &ss, &len), 0);
        return sockaddr_port(&ss);
}

/* Accepts one connection, as the daemon would, with a bound on the wait. */
static void conn_accept(conn *c) {
        struct pollfd p = { .fd = c->listener, .events = POLLIN };

        ck_assert_int_eq(poll(&p, 1, 10000), 1);
        c->peer_len = sizeof(c->peer);
        c->server = accept4(c->listener, (struct sockaddr *) &c->peer, &c->peer_len, SOCK_CLOEXEC);
        ck_assert_int_ge(c->server, 0);
        c->local_len = sizeof(c->local);
        ck_assert_int_eq(getsockname(c->server, (struct sockaddr *) &c->local, &c->local_len), 0);
}

/* Listener on listen_addr, client of client_family to connect_addr. */
static bool conn_open(conn *c, int listen_family, const char *listen_addr, bool v6only,
                      int client_family, const char *connect_addr) {
        *c = (conn) { .listener = -1, .client = -1, .server = -1 };
        c->listener = listen_on(listen_family, listen_addr, v6only);
        if (c->listener < 0)
                return false;
        c->client = connect_to(client_family, connect_addr, listener_port(c->listener));
        ck_assert_int_ge(c->client, 0);
        conn_accept(c);
        return true;
}

static void conn_close(conn *c) {
        if (c->server >= 0)
                close(c->server);
        if (c->client >= 0)
                close(c->client);
        if (c->listener >= 0)
                close(c->listener);
}

static void assert_owner_is_us(lookup_fn fn, int listen_family, const char *listen_addr,
                               bool v6only, int client_family, const char *connect_addr) {
        conn c;
        uid_t uid = (uid_t) -1;

        if (!conn_open(&c, listen_family, listen_addr, v6only, client_family, connect_addr)) {
                fprintf(stderr, "# skipped: cannot listen on %s\n", listen_addr);
                return;
        }
        ck_assert_int_eq(fn((struct sockaddr *) &c.peer, c.peer_len,
                            (struct sockaddr *) &c.local, c.local_len, &uid), 0);
        ck_assert_uint_eq(uid, getuid());
        conn_close(&c);
}

START_TEST(test_ipv4_loopback_client_is_owned_by_us) {
        assert_owner_is_us(kb_peer_uid, AF_INET, "127.0.0.1", true, AF_INET, "127.0.0.1");
}
END_TEST

START_TEST(test_ipv6_loopback_client_is_owned_by_us) {
        assert_owner_is_us(kb_peer_uid, AF_INET6, "::1", true, AF_INET6, "::1");
}
END_TEST

START_TEST(test_ipv4_client_of_mapped_listener_is_found_through_mapped_address) {
        assert_owner_is_us(kb_peer_uid, AF_INET6, "::ffff:127.0.0.1", false, AF_INET, "127.0.0.1");
}
END_TEST

START_TEST(test_ipv6_socket_on_mapped_address_is_found) {
        assert_owner_is_us(kb_peer_uid, AF_INET6, "::ffff:127.0.0.1", false,
                           AF_INET6, "::ffff:127.0.0.1");
}
END_TEST

START_TEST(test_procfs_finds_ipv4_client) {
        assert_owner_is_us(kb_peer_uid_procfs, AF_INET, "127.0.0.1", true, AF_INET, "127.0.0.1");
}
END_TEST

START_TEST(test_procfs_finds_ipv6_client) {
        assert_owner_is_us(kb_peer_uid_procfs, AF_INET6, "::1", true, AF_INET6, "::1");
}
END_TEST

START_TEST(test_procfs_finds_ipv4_client_of_mapped_listener) {
        assert_owner_is_us(kb_peer_uid_procfs, AF_INET6, "::ffff:127.0.0.1", false,
                           AF_INET, "127.0.0.1");
}
END_TEST

START_TEST(test_procfs_finds_ipv6_socket_on_mapped_address) {
        assert_owner_is_us(kb_peer_uid_procfs, AF_INET6, "::ffff:127.0.0.1", false,
                           AF_INET6, "::ffff:127.0.0.1");
}
END_TEST

static void assert_not_found(lookup_fn fn, int family, const char *addr) {
        struct sockaddr_storage peer, local;
        socklen_t pl = sockaddr_fill(&peer, family, addr, 1);
        socklen_t ll = sockaddr_fill(&local, family, addr, 2);
        uid_t uid = 4242;

        ck_assert_int_eq(fn((struct sockaddr *) &peer, pl, (struct sockaddr *) &local, ll, &uid),
                         -ENOENT);
        ck_assert_uint_eq(uid, 4242);   /* untouched on failure */
}

START_TEST(test_made_up_port_pair_is_not_found) {
        assert_not_found(kb_peer_uid, AF_INET, "127.0.0.1");
        assert_not_found(kb_peer_uid, AF_INET6, "::1");
        assert_not_found(kb_peer_uid_procfs, AF_INET, "127.0.0.1");
        assert_not_found(kb_peer_uid_procfs, AF_INET6, "::1");
}
END_TEST

START_TEST(test_listening_socket_is_not_mistaken_for_a_client) {
        /* The "client" address is our own listener: a lookup must not return it. */
        int l = listen_on(AF_INET, "127.0.0.1", true);
        struct sockaddr_storage peer, local;
        socklen_t pl, ll;
        uid_t uid = 4242;

        ck_assert_int_ge(l, 0);
        pl = sockaddr_fill(&peer, AF_INET, "127.0.0.1", listener_port(l));
        ll = sockaddr_fill(&local, AF_INET, "127.0.0.1", 2);
        ck_assert_int_eq(kb_peer_uid((struct sockaddr *) &peer, pl,
                                     (struct sockaddr *) &local, ll, &uid), -ENOENT);
        ck_assert_int_eq(kb_peer_uid_procfs((struct sockaddr *) &peer, pl,
                                            (struct sockaddr *) &local, ll, &uid), -ENOENT);
        close(l);
}
END_TEST

START_TEST(test_bad_addresses_are_rejected) {
        struct sockaddr_storage v4, v6;
        socklen_t l4 = sockaddr_fill(&v4, AF_INET, "127.0.0.1", 1);
        socklen_t l6 = sockaddr_fill(&v6, AF_INET6, "::1", 2);
        struct sockaddr unix_sa = { .sa_family = AF_UNIX };
        uid_t uid;

        ck_assert_int_eq(kb_peer_uid((struct sockaddr *) &v4, l4, (struct sockaddr *) &v6, l6, &uid),
                         -EINVAL);
        ck_assert_int_eq(kb_peer_uid((struct sockaddr *) &v4, l4 - 1,
                                     (struct sockaddr *) &v4, l4, &uid), -EINVAL);
        ck_assert_int_eq(kb_peer_uid(&unix_sa, sizeof(unix_sa), (struct sockaddr *) &v4, l4, &uid),
                         -EAFNOSUPPORT);
        ck_assert_int_eq(kb_peer_uid(NULL, 0, (struct sockaddr *) &v4, l4, &uid), -EINVAL);
}
END_TEST

/* Child: become nobody, then open the client socket (its owner is fixed at
 * creation) and hold it until the parent closes its end. */
static _Noreturn void connect_as_nobody(uint16_t port) {
        char b;
        int fd;

        if (setresgid(NOBODY_UID, NOBODY_UID, NOBODY_UID) < 0 ||
            setresuid(NOBODY_UID, NOBODY_UID, NOBODY_UID) < 0)
                _exit(2);
        fd = connect_to(AF_INET, "127.0.0.1", port);
        if (fd < 0)
                _exit(3);
        while (read(fd, &b, 1) > 0)
                ;
        _exit(0);
}

static void assert_owner_is_nobody(lookup_fn fn) {
        conn c = { .client = -1, .server = -1 };
        uid_t uid = (uid_t) -1;
        int status;
        pid_t pid;

        c.listener = listen_on(AF_INET, "127.0.0.1", true);
        ck_assert_int_ge(c.listener, 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
                connect_as_nobody(listener_port(c.listener));

        conn_accept(&c);
        ck_assert_int_eq(fn((struct sockaddr *) &c.peer, c.peer_len,
                            (struct sockaddr *) &c.local, c.local_len, &uid), 0);
        ck_assert_uint_eq(uid, NOBODY_UID);
        conn_close(&c);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

START_TEST(test_client_of_another_user_is_seen_as_that_user) {
        if (geteuid() != 0) {
                fprintf(stderr, "# skipped: changing uid needs root\n");
                return;
        }
        assert_owner_is_nobody(kb_peer_uid);
        assert_owner_is_nobody(kb_peer_uid_procfs);
}
END_TEST

int main(void) {
        Suite *s = suite_create("peer");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_ipv4_loopback_client_is_owned_by_us);
        tcase_add_test(tc, test_ipv6_loopback_client_is_owned_by_us);
        tcase_add_test(tc, test_ipv4_client_of_mapped_listener_is_found_through_mapped_address);
        tcase_add_test(tc, test_ipv6_socket_on_mapped_address_is_found);
        tcase_add_test(tc, test_procfs_finds_ipv4_client);
        tcase_add_test(tc, test_procfs_finds_ipv6_client);
        tcase_add_test(tc, test_procfs_finds_ipv4_client_of_mapped_listener);
        tcase_add_test(tc, test_procfs_finds_ipv6_socket_on_mapped_address);
        tcase_add_test(tc, test_made_up_port_pair_is_not_found);
        tcase_add_test(tc, test_listening_socket_is_not_mistaken_for_a_client);
        tcase_add_test(tc, test_bad_addresses_are_rejected);
        tcase_add_test(tc, test_client_of_another_user_is_seen_as_that_user);
        suite_add_tcase(s, tc);

        return kb_check_run(s);
}
