/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The TLS front's thread (tls-front.h): accepting, handshakes under their
 * deadline, the relays' lifetimes, detaching upgraded connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kb-clock.h"
#include "tls-front.h"
#include "tls-relay.h"

#define EVENTS_PER_WAIT 64
#define ACCEPTS_PER_WAKE 64             /* fairness between listeners and relays */
#define ACCEPT_PAUSE_MS 100             /* out of file descriptors: try again then */
#define DRAIN_MS 10000                  /* a client that reads nothing more is dropped then */
#define LINGER_MS 2000                  /* for a client still sending after our answer */
#define MAX_WAIT_MS 1000

typedef struct detach_request {
        struct detach_request *next;
        int fd;
        kb_tls_stream *stream;
        int result;
        bool done;
} detach_request;

struct kb_tls_front {
        int epfd, wakefd;
        pthread_t thread;
        const kb_listener *listeners;
        size_t n_listeners;
        endpoint *listener_eps;
        endpoint *http_eps;
        endpoint wake_ep;
        kb_tls_front_hooks hooks;
        kb_tls_front_limits limits;

        pthread_mutex_t lock;   /* guards ctx, requests, stop */
        pthread_cond_t answered;
        SSL_CTX *ctx;
        detach_request *requests;
        bool stop;

        relay *handshakes;      /* oldest first: deadlines in order */
        relay *handshakes_tail;
        relay *open;            /* relaying, and draining */
        relay *dead;            /* ended this round */
        unsigned n_draining;
        int64_t accept_paused_until; /* out of file descriptors: retry then */
        unsigned n_handshakes;
        size_t n_relays;        /* handshaking and open */
        uint8_t chunk[KB_RELAY_CHUNK];
};

/* ---- lists: handshakes (FIFO, oldest first), open, dead ---- */

static void unlink_relay(kb_tls_front *f, relay *r) {
        relay **head = r->state == RELAY_HANDSHAKE ? &f->handshakes : r->state == RELAY_DEAD ? &f->dead : &f->open;
        if (r->state == RELAY_HANDSHAKE && f->handshakes_tail == r)
                f->handshakes_tail = r->prev;
        if (r->prev)
                r->prev->next = r->next;
        else
                *head = r->next;
        if (r->next)
                r->next->prev = r->prev;
        r->prev = r->next = NULL;
}

static void push_front(relay **head, relay *r) {
        r->prev = NULL;
        r->next = *head;
        if (*head)
                (*head)->prev = r;
        *head = r;
}

static void append_handshake(kb_tls_front *f, relay *r) {
        r->prev = f->handshakes_tail;
        r->next = NULL;
        if (f->handshakes_tail)
                f->handshakes_tail->next = r;
        else
                f->handshakes = r;
        f->handshakes_tail = r;
        f->n_handshakes++;
}

/* Close both sockets and the session now; the struct goes after this round
 * of events (a later event of the same round may point to it). */
static void end_relay(kb_tls_front *f, relay *r) {
        if (r->state == RELAY_DEAD)
                return;
        if (r->state == RELAY_HANDSHAKE)
                f->n_handshakes--;
        if (r->state == RELAY_DRAIN || r->state == RELAY_LINGER)
                f->n_draining--;
        unlink_relay(f, r);
        if (r->client >= 0)
                close(r->client);
        if (r->server >= 0)
                close(r->server);
        SSL_free(r->ssl);
        r->ssl = NULL;
        r->client = r->server = -1;
        kb_pending_clear(&r->to_server);
        kb_pending_clear(&r->to_client);
        r->state = RELAY_DEAD;
        push_front(&f->dead, r);
        f->n_relays--;
}

static void free_dead(kb_tls_front *f) {
        for (relay *r = f->dead, *next; r; r = next) {
                next = r->next;
                free(r);
        }
        f->dead = NULL;
}

static void run_server(kb_tls_front *f, size_t listener) {
        f->hooks.server_run(f->hooks.cls, listener);
}

/* Move what can move, both ways. When bytes went to the server, it answers
 * now, on this thread, and the answer goes out below: no round through
 * epoll, no other thread. */
static pump_result pump(kb_tls_front *f, relay *r) {
        r->fed = false;
        if (!r->server_eof && !kb_relay_pump_in(r, f->chunk))
                return PUMP_DONE;
        if (r->fed) {
                run_server(f, r->listener);
                if (r->state == RELAY_DEAD)
                        return PUMP_DONE; /* upgraded and detached meanwhile */
        }
        if (!kb_relay_pump_out(r, f->chunk))
                return PUMP_DONE;
        return kb_relay_verdict(r);
}

/* The answer and our FIN are out. Closing now, while the client is still
 * sending (a body we refused, say), would reset the connection, and a reset
 * can make the client's side drop the answer it has not read yet. */
static void linger(kb_tls_front *f, relay *r) {
        if (r->server >= 0)
                close(r->server); /* leaves our epoll set with it */
        r->server = -1;
        r->server_watched = false;
        SSL_free(r->ssl);
        r->ssl = NULL;
        kb_pending_clear(&r->to_server);
        shutdown(r->client, SHUT_WR);
        if (r->state != RELAY_DRAIN)
                f->n_draining++;
        r->state = RELAY_LINGER;
        r->deadline_ms = kb_now_ms() + LINGER_MS;
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = &r->client_ep };
        if (epoll_ctl(f->epfd, EPOLL_CTL_MOD, r->client, &ev) < 0)
                end_relay(f, r);
}

/* Lingering: drop what the client still sends; its end (or an error) ends it. */
static void linger_read(kb_tls_front *f, relay *r) {
        for (;;) {
                ssize_t n = recv(r->client, f->chunk, sizeof(f->chunk), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;
                if (n <= 0) {
                        end_relay(f, r);
                        return;
                }
        }
}

static void after_pump(kb_tls_front *f, relay *r, pump_result pr) {
        if (pr == PUMP_DONE) {
                end_relay(f, r);
                return;
        }
        if (pr == PUMP_FINISHED) {
                linger(f, r);
                return;
        }
        /* The server hung up and the client has yet to take its answer: a
         * deadline from now on, as the server end is no longer watched. */
        if ((pr == PUMP_DRAINING || r->server_hup) && r->state == RELAY_OPEN) {
                r->state = RELAY_DRAIN;
                r->deadline_ms = kb_now_ms() + DRAIN_MS;
                f->n_draining++;
        }
        kb_relay_watch(f->epfd, r);
}

/* ---- handshakes ---- */

static int add_watch(kb_tls_front *f, int fd, endpoint *ep, uint32_t events) {
        struct epoll_event ev = { .events = events, .data.ptr = ep };
        return epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* The handshake is done: give the HTTP server its plain end. */
static void established(kb_tls_front *f, relay *r) {
        int one = 1, pair[2];
        struct stat st;

        unlink_relay(f, r);
        f->n_handshakes--;
        r->state = RELAY_OPEN;
        push_front(&f->open, r);
        (void) setsockopt(r->client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0) {
                end_relay(f, r);
                return;
        }
        r->server = pair[0];
        r->delivered = pair[1];
        r->delivered_ino = fstat(pair[1], &st) == 0 ? st.st_ino : 0;
        if (add_watch(f, r->server, &r->server_ep, 0) < 0) {
                close(pair[1]);
                end_relay(f, r);
                return;
        }
        r->server_watched = true;
        if (f->hooks.deliver(f->hooks.cls, r->listener, pair[1], (struct sockaddr *) &r->peer, r->peer_len) < 0) {
                end_relay(f, r);
                return;
        }
        /* The client's first request may have come with its Finished. */
        after_pump(f, r, pump(f, r));
}

static void step_handshake(kb_tls_front *f, relay *r) {
        ERR_clear_error();
        int rc = SSL_do_handshake(r->ssl);
        if (rc == 1) {
                established(f, r);
                return;
        }
        int err = SSL_get_error(r->ssl, rc);
        uint32_t want = err == SSL_ERROR_WANT_READ ? EPOLLIN : err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : 0;
        if (!want) {
                ERR_clear_error(); /* not TLS, a version or suite we refuse, or the client gave up */
                end_relay(f, r);
                return;
        }
        if (want != r->client_events) {
                struct epoll_event ev = { .events = want, .data.ptr = &r->client_ep };
                if (epoll_ctl(f->epfd, EPOLL_CTL_MOD, r->client, &ev) == 0)
                        r->client_events = want;
        }
}

static SSL *new_session(kb_tls_front *f, int fd) {
        pthread_mutex_lock(&f->lock);
        SSL *ssl = SSL_new(f->ctx);
        pthread_mutex_unlock(&f->lock);
        if (ssl && SSL_set_fd(ssl, fd) != 1) {
                SSL_free(ssl);
                return NULL;
        }
        if (ssl)
                SSL_set_accept_state(ssl);
        return ssl;
}

static void start_handshake(kb_tls_front *f, size_t listener, int fd, const struct sockaddr_storage *peer,
                            socklen_t peer_len) {
        relay *r = calloc(1, sizeof(*r));
        SSL *ssl = r ? new_session(f, fd) : NULL;
        if (!ssl) {
                free(r);
                close(fd);
                return;
        }
        *r = (relay) {
                .state = RELAY_HANDSHAKE, .listener = listener, .client = fd, .server = -1, .delivered = -1,
                .ssl = ssl, .client_ep = { .kind = EP_CLIENT, .relay = r }, .server_ep = { .kind = EP_SERVER, .relay = r },
                .client_events = EPOLLIN, .deadline_ms = kb_now_ms() + f->limits.handshake_ms,
                .peer = *peer, .peer_len = peer_len,
        };
        if (add_watch(f, fd, &r->client_ep, EPOLLIN) < 0) {
                SSL_free(ssl);
                close(fd);
                free(r);
                return;
        }
        append_handshake(f, r);
        f->n_relays++;
}

/* ---- accepting ---- */

static size_t held(kb_tls_front *f) {
        return f->n_relays + (f->hooks.held_elsewhere ? f->hooks.held_elsewhere(f->hooks.cls) : 0);
}

/* Room for one more? The oldest unfinished handshake gives way to it. */
static bool make_room(kb_tls_front *f) {
        if (f->n_handshakes >= f->limits.max_handshakes || held(f) >= f->limits.max_connections) {
                if (!f->handshakes)
                        return false;
                end_relay(f, f->handshakes);
        }
        return true;
}

static void pause_accepting(kb_tls_front *f, bool paused) {
        for (size_t i = 0; i < f->n_listeners; i++) {
                struct epoll_event ev = { .events = paused ? 0 : EPOLLIN, .data.ptr = &f->listener_eps[i] };
                epoll_ctl(f->epfd, EPOLL_CTL_MOD, f->listeners[i].fd, &ev);
        }
        f->accept_paused_until = paused ? kb_now_ms() + ACCEPT_PAUSE_MS : 0;
}

static void accept_clients(kb_tls_front *f, size_t i) {
        for (int k = 0; k < ACCEPTS_PER_WAKE; k++) {
                struct sockaddr_storage peer;
                socklen_t len = sizeof(peer);
                int fd = accept4(f->listeners[i].fd, (struct sockaddr *) &peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                                pause_accepting(f, true);
                        return; /* EAGAIN: all taken; ECONNABORTED and the like: next round */
                }
                if (!f->hooks.admit(f->hooks.cls, i, (struct sockaddr *) &peer, len) || !make_room(f)) {
                        close(fd);
                        continue;
                }
                start_handshake(f, i, fd, &peer, len);
        }
}

/* ---- deadlines ---- */

static void expire(kb_tls_front *f, int64_t now) {
        while (f->handshakes && f->handshakes->deadline_ms <= now)
                end_relay(f, f->handshakes);
        for (relay *r = f->n_draining ? f->open : NULL, *next; r; r = next) {
                next = r->next;
                if ((r->state == RELAY_DRAIN || r->state == RELAY_LINGER) && r->deadline_ms <= now)
                        end_relay(f, r);
        }
        if (f->accept_paused_until && f->accept_paused_until <= now)
                pause_accepting(f, false);
}

static int wait_ms(kb_tls_front *f, int64_t now) {
        int64_t until = now + MAX_WAIT_MS;
        int64_t server = f->hooks.server_timeout_ms(f->hooks.cls);
        if (server >= 0 && now + server < until)
                until = now + server;
        if (f->handshakes && f->handshakes->deadline_ms < until)
                until = f->handshakes->deadline_ms;
        if (f->accept_paused_until && f->accept_paused_until < until)
                until = f->accept_paused_until;
        return until > now ? (int) (until - now) : 0;
}

/* ---- detaching ---- */

static relay *find_delivered(kb_tls_front *f, int fd) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return NULL;
        for (relay *r = f->open; r; r = r->next)
                if (r->state == RELAY_OPEN && r->delivered == fd && r->delivered_ino == st.st_ino)
                        return r;
        return NULL;
}

/* Each HTTP server whose timeout passed runs (idle connections close). */
static void run_due_servers(kb_tls_front *f) {
        if (f->hooks.server_timeout_ms(f->hooks.cls) != 0)
                return;
        for (size_t i = 0; i < f->n_listeners; i++)
                run_server(f, i);
}

static int detach(kb_tls_front *f, int fd, kb_tls_stream *ret) {
        relay *r = find_delivered(f, fd);
        if (!r)
                return -ENOENT;
        /* What the server wrote (the 101 response) goes out first; what the
         * client socket does not take now, the WebSocket thread writes. */
        if (!kb_relay_pump_out(r, f->chunk) || !kb_relay_take_server_output(r, f->chunk)) {
                end_relay(f, r);
                return -EPIPE;
        }
        *ret = (kb_tls_stream) { .fd = r->client, .ssl = r->ssl };
        if (kb_pending_take(&r->to_server, &ret->in, &ret->in_len) < 0 ||
            kb_pending_take(&r->to_client, &ret->out, &ret->out_len) < 0) {
                kb_tls_stream_clear(&(kb_tls_stream) { .fd = -1, .in = ret->in, .in_len = ret->in_len });
                end_relay(f, r);
                return -ENOMEM;
        }
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, r->client, NULL);
        if (r->server_watched)
                epoll_ctl(f->epfd, EPOLL_CTL_DEL, r->server, NULL);
        r->client = -1;
        r->ssl = NULL;
        end_relay(f, r); /* closes our end of the socketpair: the server's end reads EOF after the rest */
        return 0;
}

static void answer_requests(kb_tls_front *f, bool stopping) {
        pthread_mutex_lock(&f->lock);
        detach_request *list = f->requests;
        f->requests = NULL;
        pthread_mutex_unlock(&f->lock);
        for (detach_request *q = list, *next; q; q = next) {
                next = q->next;
                int result = stopping ? -ESHUTDOWN : detach(f, q->fd, q->stream);
                pthread_mutex_lock(&f->lock);
                q->result = result;
                q->done = true;
                pthread_cond_broadcast(&f->answered);
                pthread_mutex_unlock(&f->lock);
        }
}

/* ---- the thread ---- */

static bool on_wake(kb_tls_front *f) {
        uint64_t n;
        if (read(f->wakefd, &n, sizeof(n)) < 0) {
                /* spurious: nothing to read */
        }
        pthread_mutex_lock(&f->lock);
        bool stop = f->stop;
        pthread_mutex_unlock(&f->lock);
        answer_requests(f, stop);
        for (size_t i = 0; i < f->n_listeners && !stop; i++)
                run_server(f, i); /* kicked: a resumed connection */
        return !stop;
}

static void on_relay_event(kb_tls_front *f, const endpoint *ep, uint32_t events) {
        relay *r = ep->relay;
        if (r->state == RELAY_DEAD)
                return;
        if (ep->kind == EP_CLIENT && (events & (EPOLLHUP | EPOLLERR))) {
                end_relay(f, r); /* the client is gone both ways: nothing can reach it */
                return;
        }
        if (r->state == RELAY_LINGER) {
                linger_read(f, r);
                return;
        }
        if (ep->kind == EP_SERVER && (events & (EPOLLHUP | EPOLLERR)))
                r->server_hup = true;
        if (r->state == RELAY_HANDSHAKE)
                step_handshake(f, r);
        else
                after_pump(f, r, pump(f, r));
}

static void *run(void *arg) {
        kb_tls_front *f = arg;
        struct epoll_event evs[EVENTS_PER_WAIT];
        bool going = true;

        while (going) {
                int n = epoll_wait(f->epfd, evs, EVENTS_PER_WAIT, wait_ms(f, kb_now_ms()));
                for (int i = 0; i < n && going; i++) {
                        endpoint *ep = evs[i].data.ptr;
                        if (ep->kind == EP_LISTENER)
                                accept_clients(f, ep->index);
                        else if (ep->kind == EP_WAKE)
                                going = on_wake(f);
                        else if (ep->kind == EP_HTTP)
                                run_server(f, ep->index);
                        else
                                on_relay_event(f, ep, evs[i].events);
                }
                expire(f, kb_now_ms());
                run_due_servers(f);
                free_dead(f);
        }
        while (f->handshakes)
                end_relay(f, f->handshakes);
        while (f->open)
                end_relay(f, f->open);
        free_dead(f);
        answer_requests(f, true);
        return NULL;
}

static void wake(kb_tls_front *f) {
        uint64_t one = 1;
        if (write(f->wakefd, &one, sizeof(one)) < 0) {
                /* the counter is full: the thread is awake anyway */
        }
}

static int setup(kb_tls_front *f) {
        f->epfd = epoll_create1(EPOLL_CLOEXEC);
        f->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        f->listener_eps = calloc(f->n_listeners, sizeof(*f->listener_eps));
        f->http_eps = calloc(f->n_listeners, sizeof(*f->http_eps));
        if (f->epfd < 0 || f->wakefd < 0 || !f->listener_eps || !f->http_eps)
                return -ENOMEM;
        f->wake_ep.kind = EP_WAKE;
        if (add_watch(f, f->wakefd, &f->wake_ep, EPOLLIN) < 0)
                return -errno;
        for (size_t i = 0; i < f->n_listeners; i++) {
                f->listener_eps[i] = (endpoint) { .kind = EP_LISTENER, .index = i };
                int fl = fcntl(f->listeners[i].fd, F_GETFL);
                if (fl < 0 || fcntl(f->listeners[i].fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
                    add_watch(f, f->listeners[i].fd, &f->listener_eps[i], EPOLLIN) < 0)
                        return -errno;
                f->http_eps[i] = (endpoint) { .kind = EP_HTTP, .index = i };
                if (add_watch(f, f->hooks.server_fd(f->hooks.cls, i), &f->http_eps[i], EPOLLIN) < 0)
                        return -errno;
        }
        return 0;
}

static void release(kb_tls_front *f) {
        if (f->epfd >= 0)
                close(f->epfd);
        if (f->wakefd >= 0)
                close(f->wakefd);
        free(f->listener_eps);
        free(f->http_eps);
        SSL_CTX_free(f->ctx);
        pthread_cond_destroy(&f->answered);
        pthread_mutex_destroy(&f->lock);
        free(f);
}

int kb_tls_front_start(const kb_listener *listeners, size_t n, SSL_CTX *ctx, const kb_tls_front_hooks *hooks,
                       const kb_tls_front_limits *limits, kb_tls_front **ret) {
        kb_tls_front *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        *f = (kb_tls_front) { .epfd = -1, .wakefd = -1, .listeners = listeners, .n_listeners = n,
                              .hooks = *hooks, .limits = *limits };
        pthread_mutex_init(&f->lock, NULL);
        pthread_cond_init(&f->answered, NULL);
        SSL_CTX_up_ref(ctx);
        f->ctx = ctx;
        int r = setup(f);
        *ret = f; /* before the thread starts: the servers it runs read it */
        if (r >= 0)
                r = -pthread_create(&f->thread, NULL, run, f);
        if (r < 0) {
                *ret = NULL;
                release(f);
                return r;
        }
        return 0;
}

void kb_tls_front_set_context(kb_tls_front *f, SSL_CTX *ctx) {
        SSL_CTX_up_ref(ctx);
        pthread_mutex_lock(&f->lock);
        SSL_CTX *old = f->ctx;
        f->ctx = ctx;
        pthread_mutex_unlock(&f->lock);
        SSL_CTX_free(old); /* open sessions hold their own reference */
}

void kb_tls_front_kick(kb_tls_front *f) {
        wake(f);
}

void kb_tls_front_stop(kb_tls_front *f) {
        if (!f)
                return;
        pthread_mutex_lock(&f->lock);
        f->stop = true;
        pthread_mutex_unlock(&f->lock);
        wake(f);
        pthread_join(f->thread, NULL);
        /* Listeners go back to blocking mode for whoever serves them next. */
        for (size_t i = 0; i < f->n_listeners; i++) {
                int fl = fcntl(f->listeners[i].fd, F_GETFL);
                if (fl >= 0)
                        fcntl(f->listeners[i].fd, F_SETFL, fl & ~O_NONBLOCK);
        }
        release(f);
}

int kb_tls_front_detach(kb_tls_front *f, int delivered_fd, kb_tls_stream *ret) {
        if (pthread_equal(pthread_self(), f->thread))
                return detach(f, delivered_fd, ret); /* an HTTP server running on our thread */
        detach_request q = { .fd = delivered_fd, .stream = ret };
        pthread_mutex_lock(&f->lock);
        if (f->stop) {
                pthread_mutex_unlock(&f->lock);
                return -ESHUTDOWN;
        }
        q.next = f->requests;
        f->requests = &q;
        pthread_mutex_unlock(&f->lock);
        wake(f);
        pthread_mutex_lock(&f->lock);
        while (!q.done)
                pthread_cond_wait(&f->answered, &f->lock);
        pthread_mutex_unlock(&f->lock);
        return q.result;
}

void kb_tls_stream_clear(kb_tls_stream *s) {
        pending in = { .data = s->in, .len = s->in_len }, out = { .data = s->out, .len = s->out_len };
        kb_pending_clear(&in);
        kb_pending_clear(&out);
        SSL_free(s->ssl);
        if (s->fd >= 0)
                close(s->fd);
        *s = (kb_tls_stream) { .fd = -1 };
}
