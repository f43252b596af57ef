/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* keybridged: start-up, signals, shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "approvals.h"
#include "daemon.h"
#include "events.h"
#include "kb-fs.h"
#include "kb-pkcs11.h"
#include "kb-build-config.h"
#include "kb-cleanup.h"
#include "kb-renew.h"
#include "kb-skf.h"
#include "log.h"
#include "runtime.h"
#include "trust.h"

#define SYSTEM_CONFIG KB_SYSCONFDIR "/keybridge/keybridge.conf"
/* Requests wait at most this long for the first token scan after start-up. */
#define READY_TIMEOUT_MS 3000

static const char *const features[] = { "tokens", "certificates", "sign", "authenticate", "seal", "pin", "renewal", "enrollment", "decrypt", "encrypt", "websocket", "events", NULL };

/* Secrets pass through this process: no core files. */
static void no_core_dumps(void) {
        struct rlimit rl = { 0, 0 };
        setrlimit(RLIMIT_CORE, &rl);
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* Every connection holds a socket (an HTTPS one two more while it is
 * relayed: the socketpair): take the hard limit, not the 1024 a session
 * starts with. */
static void raise_fd_limit(void) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
}

static int load_config(kb_config *c, int argc, char **argv) {
        char err[1024];
        const char *sys = getenv("KEYBRIDGE_SYSTEM_CONFIG"); /* tests point this elsewhere */
        if (kb_config_load(c, sys ? sys : SYSTEM_CONFIG, argc, argv, err, sizeof(err)) < 0) {
                fprintf(stderr, "keybridged: %s\n", err);
                kb_config_clear(c);
                return -1;
        }
        return 0;
}

static void log_problem(void *userdata, const kb_source *source, const kb_problem *p) {
        kb_log_fields f = {
                .module = source->path,
                .code = kb_error_code(p->error),
                .ckr = p->detail && strncmp(p->detail, "CKR_", 4) == 0 ? p->detail : NULL,
        };
        kb_log(LOG_WARNING, &f, "token problem in %s: %s", p->where, p->detail ? p->detail : kb_error_code(p->error));
}

/* After each scan (cache thread): token events to the WebSockets, then
 * finish the renewal installs that a crash or a pulled token interrupted, on
 * the tokens this scan saw. */
/* A recovery step that failed is tried again at every scan: said once per
 * token and error, not at each scan. A busy token is normal (an operation
 * holds it) and is not logged. */
static void on_recovery_left(void *userdata, const char *token_id, int error) {
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        static char last_token[KB_TOKEN_ID_LEN + 1];
        static int last_error;
        (void) userdata;
        if (error == 0)
                return;
        pthread_mutex_lock(&lock);
        bool repeat = last_error == error && strcmp(last_token, token_id) == 0;
        snprintf(last_token, sizeof(last_token), "%s", token_id);
        last_error = error;
        pthread_mutex_unlock(&lock);
        kb_log_fields f = { .token = token_id, .code = kb_error_code(-error) };
        if (!repeat)
                kb_log(LOG_NOTICE, &f, "an unfinished certificate install could not go on; tried again at each scan");
}

static void on_scan(void *userdata, kb_source *source, const kb_scan *prev, const kb_scan *next) {
        kb_daemon *d = userdata;
        kb_events_scan_hook(userdata, source, prev, next);
        if (atomic_load(&d->service_ready))
                kb_renew_recover_scan(&d->service, source, next, on_recovery_left, d);
}

/* PKCS#11 modules, then SKF libraries, as one list of sources. */
static int load_sources(kb_daemon *d, kb_source ***ret, size_t *ret_n) {
        kb_source **p11 = NULL, **skf = NULL;
        size_t n_p11 = 0, n_skf = 0;
        int r = kb_pkcs11_open_sources(d->config.modules.v, d->config.modules.n, &p11, &n_p11);
        if (r >= 0)
                r = kb_skf_open_sources(d->config.skf_libraries.v, d->config.skf_libraries.n,
                                        d->config.skf_profiles.v, d->config.skf_profiles.n, &skf, &n_skf);
        kb_source **all = r >= 0 ? realloc(p11, (n_p11 + n_skf + 1) * sizeof(*all)) : NULL;
        if (!all) {
                for (size_t i = 0; i < n_p11; i++)
                        kb_source_free(p11[i]);
                for (size_t i = 0; i < n_skf; i++)
                        kb_source_free(skf[i]);
                free(p11);
                free(skf);
                return r < 0 ? r : -ENOMEM;
        }
        if (n_skf)
                memcpy(all + n_p11, skf, n_skf * sizeof(*skf));
        free(skf);
        *ret = all;
        *ret_n = n_p11 + n_skf;
        return 0;
}

static int open_sources(kb_daemon *d) {
        kb_source **sources = NULL;
        size_t n = 0;
        int r = load_sources(d, &sources, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (sources[i]->load_error) {
                        kb_log_fields f = { .module = sources[i]->path };
                        kb_log(LOG_WARNING, &f, "%s library %s did not load: %s",
                               strcmp(sources[i]->ops->backend, "skf") == 0 ? "SKF" : "PKCS#11 module",
                               sources[i]->path, sources[i]->load_detail);
                }
        d->service.cache = kb_cache_new(sources, n, d->config.poll_ms);
        if (!d->service.cache)
                return -ENOMEM;
        kb_cache_set_problem_hook(d->service.cache, log_problem, d);
        kb_cache_set_scan_hook(d->service.cache, on_scan, d);
        return kb_cache_start(d->service.cache);
}

static int prepare_tls(kb_daemon *d) {
        char err[512];
        if (!d->config.tls)
                return 0;
        if (kb_tls_ensure(d->config.state_dir, time(NULL), &d->tls, err, sizeof(err)) < 0) {
                kb_log_error("TLS set-up failed: %s", err);
                return -1;
        }
        if (d->tls.issued) {
                kb_log_fields f = { .message_id = KB_MSGID_TLS_ISSUED };
                kb_log(LOG_NOTICE, &f, "issued a new local root and server certificate; run 'keybridged trust install' "
                       "so browsers accept it");
        }
        return 0;
}

static int build_policy(kb_daemon *d, const kb_config *c, const char *api_token) {
        kb_gate_policy *p = NULL;
        int r = kb_policy_build(c, api_token, &p);
        if (r < 0)
                return r;
        pthread_rwlock_wrlock(&d->policy_lock);
        kb_gate_policy *old = d->policy;
        d->policy = p;
        pthread_rwlock_unlock(&d->policy_lock);
        kb_gate_policy_free(old);
        return 0;
}

/* SIGHUP: allowed origins, the user's approvals and the warning window take
 * effect now; listen addresses, modules and TLS need a restart, so the
 * start-up configuration stays in d->config (HTTP threads read it unlocked). */
static void reload(kb_daemon *d, int argc, char **argv) {
        kb_config fresh;
        char token[KB_API_TOKEN_HEX + 1];

        sd_notify(0, "RELOADING=1");
        if (load_config(&fresh, argc, argv) < 0) {
                kb_log_error("reload: configuration rejected, keeping the old one");
                sd_notify(0, "READY=1");
                return;
        }
        pthread_rwlock_rdlock(&d->policy_lock);
        memcpy(token, d->policy->api_token, sizeof(token));
        pthread_rwlock_unlock(&d->policy_lock);
        int r = build_policy(d, &fresh, token);
        explicit_bzero(token, sizeof(token));
        if (r < 0)
                kb_log_error("reload: could not rebuild the origin policy");
        d->service.warning_days = fresh.expiry_warning_days;
        kb_config_clear(&fresh);
        kb_log_info("configuration reloaded (listen addresses, modules and TLS change on restart)");
        sd_notify(0, "READY=1");
}

/* Detach unless --foreground or run by systemd; the parent exits only when
 * the child is serving (or reports why it is not). */
static int detach(int *ret_ready_fd) {
        int p[2];
        char c = 0;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid > 0) {
                close(p[1]);
                ssize_t n = read(p[0], &c, 1);
                _exit(n == 1 && c == '1' ? 0 : 1);
        }
        close(p[0]);
        setsid();
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
                dup2(null, STDIN_FILENO);
                dup2(null, STDOUT_FILENO);
                close(null);
        }
        *ret_ready_fd = p[1];
        return 0;
}

static void report_ready(int fd, bool ok) {
        if (fd < 0)
                return;
        if (write(fd, ok ? "1" : "0", 1) < 0) {
                /* the parent is gone; nothing to tell */
        }
        close(fd);
        /* Detached and serving: from here on the journal has the logs. */
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
                dup2(null, STDERR_FILENO);
                close(null);
        }
}

/* A daemon that runs for months must replace its leaf before it expires:
 * re-issue (a new root and leaf) once inside the renewal window. */
static void renew_tls_if_due(kb_daemon *d) {
        char err[512];
        kb_tls_material fresh = { 0 };
        int64_t now = time(NULL);

        if (!d->config.tls || d->tls.leaf_not_after - now > (int64_t) KB_TLS_RENEW_BEFORE_DAYS * 86400)
                return;
        if (kb_tls_ensure(d->config.state_dir, now, &fresh, err, sizeof(err)) < 0) {
                kb_log_error("TLS renewal failed, serving the old certificate: %s", err);
                return;
        }
        kb_tls_material old = d->tls;
        d->tls = fresh;
        if (kb_http_new_leaf(d, err, sizeof(err)) < 0)
                kb_log_error("%s", err);
        kb_tls_material_clear(&old);
        kb_log_fields f = { .message_id = KB_MSGID_TLS_ISSUED };
        kb_log(LOG_NOTICE, &f, "the server certificate was due: issued a new local root and leaf; "
               "run 'keybridged trust install' again so browsers accept it");
}

/* The main thread also keeps time: PIN authorizations expire (and tokens are
 * logged out) to the second while any exist; the TLS leaf is checked hourly. */
static int wait_for_signals(kb_daemon *d, const sigset_t *set, int argc, char **argv) {
        int64_t tls_checked = time(NULL);
        for (;;) {
                int64_t now = time(NULL);
                atomic_store(&d->main_ticks_fast, false); /* see kb_jobs_ended */
                bool authorized = kb_service_expire(&d->service, now) != 0;
                atomic_store(&d->main_ticks_fast, authorized);
                const struct timespec tick = { .tv_sec = authorized ? 1 : 3600 };
                if (now - tls_checked >= 3600) {
                        renew_tls_if_due(d);
                        tls_checked = now;
                }
                int sig = sigtimedwait(set, NULL, &tick);
                if (sig < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (sig < 0)
                        return -1;
                if (sig == SIGUSR1)
                        continue; /* a token operation ended: recompute the tick */
                if (sig == SIGHUP) {
                        reload(d, argc, argv);
                        renew_tls_if_due(d);
                        continue;
                }
                kb_log_info("stopping on signal %d", sig);
                return 0;
        }
}

/* keybridged trust ACTION | origins ACTION [ORIGIN] [daemon options, e.g.
 * --state-dir DIR]: the words go to the subcommand, the options configure. */
static int run_subcommand(int argc, char **argv) {
        kb_config c;
        char *rest[64] = { argv[0] }, *words[4] = { argv[1] };
        int n = 1, w = 1;
        for (int i = 2; i < argc; i++) {
                if (argv[i][0] != '-' && w < 3 && n == 1)
                        words[w++] = argv[i];
                else if (n < 63)
                        rest[n++] = argv[i];
        }
        if (load_config(&c, n, rest) < 0)
                return 2;
        int r = strcmp(argv[1], "trust") == 0 ? kb_trust_main(w, words, c.state_dir) : kb_origins_main(w, words, &c);
        kb_config_clear(&c);
        return r;
}

static void announce(const kb_daemon *d) {
        for (size_t i = 0; i < d->n_listeners; i++)
                kb_log_info("serving %s://%s/v1/ (%s)", d->config.tls ? "https" : "http",
                            d->listeners[i].name, d->listeners[i].activated ? "socket-activated" : "bound");
}

static int start(kb_daemon *d, int *ready_fd) {
        char err[512], token[KB_API_TOKEN_HEX + 1];
        int n = kb_listen_open(&d->config, d->listeners, KB_MAX_LISTENERS, err, sizeof(err));
        if (n <= 0) {
                kb_log_error("%s", n == 0 ? "no address to listen on" : err);
                return -1;
        }
        d->n_listeners = (size_t) n;
        if (!d->config.foreground && !getenv("NOTIFY_SOCKET") && detach(ready_fd) < 0)
                return -1;
        if (!d->config.runtime_dir) {
                kb_log_error("XDG_RUNTIME_DIR is not set: pass --runtime-dir");
                return -1;
        }
        int r = kb_mkdir_p(d->config.state_dir, 0700);
        if (r < 0) {
                kb_log_error("cannot create %s: %s", d->config.state_dir, strerror(-r));
                return -1;
        }
        r = kb_must_change_init(&d->must_change, d->config.state_dir);
        if (r < 0)
                kb_log_warning("cannot read %s/must-change: %s", d->config.state_dir, strerror(-r));
        if (prepare_tls(d) < 0)
                return -1;
        r = kb_api_token_create(d->config.runtime_dir, token, sizeof(token));
        if (r < 0) {
                kb_log_error("cannot write %s/api-token: %s", d->config.runtime_dir, strerror(-r));
                return -1;
        }
        r = build_policy(d, &d->config, token);
        explicit_bzero(token, sizeof(token));
        if (r < 0 || open_sources(d) < 0) {
                kb_log_error("start-up failed: %s", strerror(r < 0 ? -r : ENOMEM));
                return -1;
        }
        d->service = (kb_service) {
                .cache = d->service.cache,
                .warning_days = d->config.expiry_warning_days,
                .version = KB_VERSION,
                .ready_timeout_ms = 0, /* the HTTP layer parks requests instead */
                .features = features,
                .skf_libraries = (const char *const *) d->config.skf_libraries.v,
                .authz = kb_authz_new((int) d->config.pin_idle_timeout),
                .pin_cooldown_s = (int) d->config.pin_cooldown,
                .max_seal_bytes = d->config.max_seal < d->config.max_body ? d->config.max_seal : d->config.max_body,
                .seal_hidden = d->config.seal_hidden,
                .page_pin_allowed = kb_consent_page_pin_allowed,
                .ask_pin = kb_consent_ask_pin,
                .ask_new_pin = kb_consent_ask_new_pin,
                .must_change_after_unblock = d->config.pin_must_change_after_unblock,
                .pin_must_change = kb_daemon_pin_must_change,
                .set_pin_must_change = kb_daemon_set_pin_must_change,
                .approve_origin = kb_consent_approve_origin,
                .userdata = d,
        };
        if (!d->service.authz)
                return -1;
        r = kb_renewals_open(d->config.state_dir, &d->service.renewals);
        if (r < 0)
                kb_log_warning("cannot open %s/renewal: %s; renewal is unavailable", d->config.state_dir, strerror(-r));
        atomic_store(&d->service_ready, true);
        kb_cache_reread(d->service.cache); /* a scan now finishes interrupted installs */
        if (kb_http_start(d, err, sizeof(err)) < 0) {
                kb_log_error("%s", err);
                return -1;
        }
        return 0;
}

static void *watch_first_scan(void *arg) {
        kb_daemon *d = arg;
        kb_cache_wait_ready(d->service.cache, READY_TIMEOUT_MS);
        kb_http_mark_ready(d);
        return NULL;
}

static void stop(kb_daemon *d, pthread_t *watcher) {
        sd_notify(0, "STOPPING=1");
        if (watcher)
                pthread_join(*watcher, NULL);
        kb_http_stop(d);        /* closes the listening sockets */
        if (d->policy && d->config.runtime_dir) {
                kb_pidfile_remove(d->config.runtime_dir);
                /* The token is only good while we run; do not leave it behind. */
                _cleanup_free_ char *token = kb_path_join(d->config.runtime_dir, "api-token");
                if (token)
                        (void) unlink(token);
        }
        kb_cache_free(d->service.cache);        /* logs out of every token */
        kb_authz_free(d->service.authz);
        kb_renewals_free(d->service.renewals);
        kb_tls_material_clear(&d->tls);
        kb_gate_policy_free(d->policy);
        kb_config_clear(&d->config);
        pthread_rwlock_destroy(&d->policy_lock);
        pthread_mutex_destroy(&d->park_lock);
        pthread_mutex_destroy(&d->refusal_lock);
        pthread_mutex_destroy(&d->jobs_lock);
        pthread_mutex_destroy(&d->ws_lock);
        kb_consent_destroy(&d->consent);
        kb_must_change_destroy(&d->must_change);
        pthread_cond_destroy(&d->jobs_idle);
        pthread_cond_destroy(&d->jobs_work);
}

int main(int argc, char **argv) {
        kb_daemon d = { .uid = getuid(), .main_thread = pthread_self() };
        sigset_t set;
        int ready_fd = -1;

        if (argc > 1 && (strcmp(argv[1], "trust") == 0 || strcmp(argv[1], "origins") == 0))
                return run_subcommand(argc, argv);
        if (load_config(&d.config, argc, argv) < 0)
                return 2;
        if (d.config.help || d.config.version) {
                if (d.config.help)
                        kb_config_usage(argv[0]);
                else
                        printf("keybridged %s\n", KB_VERSION);
                kb_config_clear(&d.config);
                return 0;
        }
        /* stderr unless it is the journal already; a detached daemon points
         * stderr at /dev/null once it serves, so start-up errors still show. */
        kb_log_init(!getenv("JOURNAL_STREAM"), LOG_INFO);
        no_core_dumps();
        raise_fd_limit();
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        sigaddset(&set, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */
        signal(SIGPIPE, SIG_IGN);
        pthread_rwlock_init(&d.policy_lock, NULL);
        pthread_mutex_init(&d.park_lock, NULL);
        pthread_mutex_init(&d.refusal_lock, NULL);
        pthread_mutex_init(&d.jobs_lock, NULL);
        pthread_mutex_init(&d.ws_lock, NULL);
        kb_consent_init(&d.consent);
        pthread_cond_init(&d.jobs_idle, NULL);
        pthread_cond_init(&d.jobs_work, NULL);
        d.job_tail = &d.job_queue;
        pthread_t watcher;
        if (start(&d, &ready_fd) < 0 || pthread_create(&watcher, NULL, watch_first_scan, &d) != 0) {
                report_ready(ready_fd, false);
                stop(&d, NULL);
                return 1;
        }
        announce(&d);
        if (kb_pidfile_write(d.config.runtime_dir) < 0)
                kb_log_warning("cannot write the pid file in %s", d.config.runtime_dir);
        sd_notify(0, "READY=1");
        report_ready(ready_fd, true);
        int r = wait_for_signals(&d, &set, argc, argv);
        stop(&d, &watcher);
        return r < 0 ? 1 : 0;
}
