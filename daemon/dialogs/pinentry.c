/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An Assuan pinentry client (see pinentry.h, and "Assuan" and "pinentry" in the
 * GnuPG documentation).
 *
 * A session: spawn the program with two pipes; read its greeting; send OPTION
 * and SET* lines (each answered by OK, or by an ERR we tolerate: old pinentries
 * lack some commands); send GETPIN or CONFIRM and read the answer; send BYE;
 * reap the child. Every read and write waits on one monotonic deadline,
 * timeout_s + KB_PINENTRY_KILL_GRACE (or the dialog's kill_grace_ms) after the
 * start; past it the child is terminated, then killed.
 *
 * Answers are lines of at most KB_PINENTRY_LINE_MAX bytes: "OK [text]",
 * "ERR <gpg-error code> <text>", "D <percent-escaped data>" (possibly several,
 * concatenated), "S <status>", "# comment", "INQUIRE <keyword>" (we answer
 * CAN). D data is decoded byte by byte into a kb_secret; the read buffer and
 * the line buffer are wiped as soon as a line is handled and again at the end.
 */
#include "pinentry.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kb-cleanup.h"
#include "kb-clock.h"
#include "kb-error.h"

#define LINE_CAP (KB_PINENTRY_LINE_MAX + 24)  /* longest line accepted, LF excluded */
#define READ_BUF (2 * LINE_CAP)
#define BYE_WAIT_MS 1000                      /* for the answer to BYE and the exit */
#define TERM_WAIT_MS 500                      /* between SIGTERM and SIGKILL */
#define ENV_MAX 32
#define ELLIPSIS "\xe2\x80\xa6"               /* U+2026, marks a truncated text */
#define ELLIPSIS_LEN (sizeof(ELLIPSIS) - 1)
#define TEST_ENV_PREFIX "KB_TEST_PINENTRY_"   /* passed through for the test fixture */

/* gpg-error codes, compared without the source in the top byte. */
#define GPG_ERR_TIMEOUT 62
#define GPG_ERR_CANCELED 99
#define GPG_ERR_NOT_CONFIRMED 114
#define GPG_ERR_FULLY_CANCELED 198

enum { REPLY_OK, REPLY_ERR, REPLY_MORE };

extern char **environ;

/* What a graphical pinentry needs from the session, and the locale. */
static const char *const pass_env[] = {
        "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "DBUS_SESSION_BUS_ADDRESS",
        "XDG_RUNTIME_DIR", "XDG_SESSION_TYPE", "HOME", "PATH", "TERM",
        "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES",
};

typedef struct session {
        const char *program;
        pid_t pid;
        int to_child, from_child;
        int64_t deadline;             /* CLOCK_MONOTONIC, ms */
        bool have_tty, timed_out, mask_saved, sigpipe_was_pending;
        char tty[256];                /* our terminal, when have_tty */
        sigset_t old_mask;
        char *err;
        size_t errlen;
        unsigned long err_code;       /* of the last ERR line */
        char err_text[128];           /* the last ERR text, printable ASCII only */
        char status[128];             /* the last "S ERROR …" line, likewise */
        size_t len;                   /* bytes in buf */
        unsigned char buf[READ_BUF];  /* unparsed input: may hold PIN bytes */
        char line[LINE_CAP + 1];      /* the line being handled: likewise */
} session;

static int fail(session *s, kb_error e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(session *s, kb_error e, const char *fmt, ...) {
        va_list ap;

        if (s->err && s->errlen > 0) {
                va_start(ap, fmt);
                vsnprintf(s->err, s->errlen, fmt, ap);
                va_end(ap);
        }
        return -(int) e;
}

/* Copy text meant for a log line: printable ASCII only, bounded. */
static void copy_printable(char *dst, size_t cap, const char *src) {
        size_t n = 0;

        for (; *src && n + 1 < cap; src++)
                dst[n++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
        while (n > 0 && dst[n - 1] == ' ')
                n--;
        dst[n] = '\0';
}

/* ---- escaping (what we send) ---- */

static bool needs_escape(unsigned char c) {
        return c < 0x20 || c == 0x7f || c == '%';
}

/* Bytes in the UTF-8 sequence at p; 1 for a byte that starts none. */
static size_t unit_len(const unsigned char *p) {
        size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 :
                   (p[0] & 0xf8) == 0xf0 ? 4 : 1;

        for (size_t i = 1; i < n; i++)
                if ((p[i] & 0xc0) != 0x80)   /* also stops at the NUL */
                        return 1;
        return n;
}

static size_t unit_cost(const unsigned char *p, size_t n) {
        return n == 1 && needs_escape(p[0]) ? 3 : n;
}

static size_t put_unit(char *dst, const unsigned char *p, size_t n) {
        static const char hex[] = "0123456789ABCDEF";

        if (unit_cost(p, n) == n) {
                memcpy(dst, p, n);
                return n;
        }
        dst[0] = '%';
        dst[1] = hex[p[0] >> 4];
        dst[2] = hex[p[0] & 0xf];
        return 3;
}

static size_t escaped_len(const unsigned char *p) {
        size_t total = 0;

        for (size_t n; *p; p += n) {
                n = unit_len(p);
                total += unit_cost(p, n);
        }
        return total;
}

/* Percent-escape src into at most budget bytes (budget > ELLIPSIS_LEN); a text
 * that does not fit is cut before a whole UTF-8 sequence and gets "…". */
static size_t escape_fit(char *dst, size_t budget, const char *src) {
        const unsigned char *p = (const unsigned char *) src;
        bool cut = escaped_len(p) > budget;
        size_t limit = cut ? budget - ELLIPSIS_LEN : budget, w = 0;

        for (size_t n; *p; p += n) {
                n = unit_len(p);
                if (unit_cost(p, n) > limit - w)
                        break;
                w += put_unit(dst + w, p, n);
        }
        if (cut) {
                memcpy(dst + w, ELLIPSIS, ELLIPSIS_LEN);
                w += ELLIPSIS_LEN;
        }
        return w;
}

/* "CMD", "CMD arg" or "CMD keyarg" (key unescaped, e.g. "lc-ctype="), with "\n". */
static size_t build_line(char *line, const char *cmd, const char *key, const char *arg) {
        size_t n = strlen(cmd);

        memcpy(line, cmd, n);
        if (key || arg)
                line[n++] = ' ';
        if (key) {
                memcpy(line + n, key, strlen(key));
                n += strlen(key);
        }
        if (arg)
                n += escape_fit(line + n, KB_PINENTRY_LINE_MAX - 1 - n, arg);
        line[n++] = '\n';
        return n;
}

/* ---- I/O on the deadline ---- */

static int wait_fd(session *s, int fd, short events) {
        for (;;) {
                int64_t left = s->deadline - kb_now_ms();
                if (left <= 0) {
                        s->timed_out = true;
                        return -ETIMEDOUT;
                }
                struct pollfd p = { .fd = fd, .events = events };
                int r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int) left);
                if (r > 0)
                        return 0;
                if (r < 0 && errno != EINTR)
                        return -errno;
        }
}

static int write_all(session *s, const char *data, size_t len) {
        while (len > 0) {
                int r = wait_fd(s, s->to_child, POLLOUT);
                if (r < 0)
                        return r;
                ssize_t k = write(s->to_child, data, len);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                data += k;
                len -= (size_t) k;
        }
        return 0;
}

static int send_command(session *s, const char *cmd, const char *key, const char *arg) {
        char line[KB_PINENTRY_LINE_MAX + 1];
        size_t n = build_line(line, cmd, key, arg);

        return write_all(s, line, n);
}

static int fill(session *s) {
        int r = wait_fd(s, s->from_child, POLLIN);
        if (r < 0)
                return r;
        ssize_t k = read(s->from_child, s->buf + s->len, sizeof(s->buf) - s->len);
        if (k < 0)
                return errno == EINTR || errno == EAGAIN ? 0 : -errno;
        if (k == 0)
                return -EPIPE;
        s->len += (size_t) k;
        return 0;
}

/* Move the first n bytes of buf (and its LF) into line, wiping what moved. */
static int take_line(session *s, size_t n) {
        size_t m = n > 0 && s->buf[n - 1] == '\r' ? n - 1 : n;

        if (n > LINE_CAP || memchr(s->buf, '\0', m))
                return -EPROTO;
        memcpy(s->line, s->buf, m);
        s->line[m] = '\0';
        memmove(s->buf, s->buf + n + 1, s->len - n - 1);
        OPENSSL_cleanse(s->buf + s->len - n - 1, n + 1);
        s->len -= n + 1;
        return 0;
}

static int read_line(session *s) {
        for (;;) {
                unsigned char *lf = memchr(s->buf, '\n', s->len);
                if (lf)
                        return take_line(s, (size_t) (lf - s->buf));
                if (s->len > LINE_CAP)
                        return -EPROTO;
                int r = fill(s);
                if (r < 0)
                        return r;
        }
}

/* ---- parsing (what we receive) ---- */

static bool is_word(const char *line, const char *word) {
        size_t n = strlen(word);
        return strncmp(line, word, n) == 0 && (line[n] == ' ' || line[n] == '\0');
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* Percent-decode one D line's data onto the end of the secret. */
static int decode_into(kb_secret *data, const char *p) {
        for (; *p; p++) {
                int c = (unsigned char) *p;
                if (c == '%') {
                        int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
                        if (lo < 0)
                                return -EPROTO;
                        c = hi << 4 | lo;
                        p += 2;
                }
                if (kb_secret_push(data, (unsigned char) c) < 0)
                        return -ENOSPC;
        }
        return REPLY_MORE;
}

static void remember_err(session *s, const char *p) {
        char *end;

        s->err_code = strtoul(p, &end, 10);
        copy_printable(s->err_text, sizeof(s->err_text), *end == ' ' ? end + 1 : end);
}

static int handle_line(session *s, kb_secret *data) {
        const char *l = s->line;

        if (is_word(l, "OK"))
                return REPLY_OK;
        if (is_word(l, "ERR")) {
                remember_err(s, l + 3);
                return REPLY_ERR;
        }
        if (is_word(l, "D"))
                return data ? decode_into(data, l[1] ? l + 2 : l + 1) : -EPROTO;
        if (is_word(l, "S")) {
                if (l[1] == ' ' && is_word(l + 2, "ERROR"))
                        copy_printable(s->status, sizeof(s->status), l + 2);
                return REPLY_MORE;
        }
        if (l[0] == '#' || l[0] == '\0')
                return REPLY_MORE;
        if (is_word(l, "INQUIRE")) {
                int r = write_all(s, "CAN\n", 4);
                return r < 0 ? r : REPLY_MORE;
        }
        return -EPROTO;
}

/* Read lines up to the final answer: REPLY_OK, REPLY_ERR or a negative errno.
 * D data goes into data; without one, a D line is a protocol error. */
static int read_reply(session *s, kb_secret *data) {
        for (;;) {
                int r = read_line(s);
                if (r < 0)
                        return r;
                r = handle_line(s, data);
                OPENSSL_cleanse(s->line, sizeof(s->line));
                if (r != REPLY_MORE)
                        return r;
        }
}

/* One set-up command. An ERR fails it when required (the texts: a dialog
 * without its description must not be shown); OPTION and SETTIMEOUT may be
 * unknown to an old pinentry and are let go. */
static int setup_command(session *s, const char *cmd, const char *key, const char *arg,
                         bool required) {
        int r = send_command(s, cmd, key, arg);
        if (r >= 0)
                r = read_reply(s, NULL);
        if (r == REPLY_OK || (r == REPLY_ERR && !required))
                return 0;
        if (r == REPLY_ERR)
                return fail(s, KB_E_INTERNAL, "pinentry %s refused %s: ERR %lu %s", s->program, cmd,
                            s->err_code, s->err_text);
        return fail(s, KB_E_INTERNAL, "pinentry %s: %s after %s", s->program,
                    r == -EPIPE ? "closed the connection" : r == -ETIMEDOUT ? "no answer" :
                    r == -EPROTO ? "protocol error" : strerror(-r), cmd);
}

/* ---- the child ---- */

static bool find_tty(char *buf, size_t len) {
        for (int fd = 0; fd <= 2; fd++)
                if (isatty(fd) && ttyname_r(fd, buf, len) == 0)
                        return true;
        return false;
}

static bool env_wanted(const char *entry) {
        if (strncmp(entry, TEST_ENV_PREFIX, strlen(TEST_ENV_PREFIX)) == 0)
                return true;
        for (size_t i = 0; i < KB_ELEMENTSOF(pass_env); i++) {
                size_t n = strlen(pass_env[i]);
                if (strncmp(entry, pass_env[i], n) == 0 && entry[n] == '=')
                        return true;
        }
        return false;
}

static void build_env(char **envp) {
        size_t n = 0;

        for (char **e = environ; e && *e && n < ENV_MAX - 1; e++)
                if (env_wanted(*e))
                        envp[n++] = *e;
        envp[n] = NULL;
}

/* A close-on-exec pipe whose ends are >= 3, so the dup2 onto 0 and 1 cannot
 * clobber one (a daemon may run with 0..2 closed). */
static int pipe_high(int p[2]) {
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        for (int i = 0; i < 2; i++) {
                if (p[i] >= 3)
                        continue;
                int fd = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
                int r = -errno;
                if (fd < 0) {
                        close(p[0]);
                        close(p[1]);
                        return r;
                }
                close(p[i]);
                p[i] = fd;
        }
        return 0;
}

static int spawn_prepare(posix_spawnattr_t *attr, posix_spawn_file_actions_t *fa, int in, int out) {
        static const int reset[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD,
                                     SIGALRM, SIGUSR1, SIGUSR2 };
        sigset_t none, def;
        int r = 0;

        sigemptyset(&none);
        sigemptyset(&def);
        for (size_t i = 0; i < KB_ELEMENTSOF(reset); i++)
                sigaddset(&def, reset[i]);
        /* The daemon blocks SIGTERM & co. and ignores SIGPIPE; the child must not. */
        r = r ? r : posix_spawnattr_setsigmask(attr, &none);
        r = r ? r : posix_spawnattr_setsigdefault(attr, &def);
        r = r ? r : posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        r = r ? r : posix_spawn_file_actions_adddup2(fa, in, STDIN_FILENO);
        r = r ? r : posix_spawn_file_actions_adddup2(fa, out, STDOUT_FILENO);
        r = r ? r : posix_spawn_file_actions_addclosefrom_np(fa, 3);
        return -r;
}

static int spawn_child(session *s, const int in[2], const int out[2], const char *tty) {
        char *argv[] = { (char *) s->program, tty ? (char *) "--ttyname" : NULL, (char *) tty, NULL };
        char *envp[ENV_MAX];
        posix_spawnattr_t attr;
        posix_spawn_file_actions_t fa;

        build_env(envp);
        if (posix_spawnattr_init(&attr) != 0)
                return -ENOMEM;
        if (posix_spawn_file_actions_init(&fa) != 0) {
                posix_spawnattr_destroy(&attr);
                return -ENOMEM;
        }
        int r = spawn_prepare(&attr, &fa, in[0], out[1]);
        if (r == 0)
                r = -posix_spawnp(&s->pid, s->program, &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r < 0)
                s->pid = -1;
        return r;
}

static int spawn(session *s, const char *tty) {
        int in[2], out[2], r;

        if ((r = pipe_high(in)) < 0)
                return r;
        if ((r = pipe_high(out)) < 0) {
                close(in[0]);
                close(in[1]);
                return r;
        }
        r = spawn_child(s, in, out, tty);
        close(in[0]);
        close(out[1]);
        if (r < 0) {
                close(in[1]);
                close(out[0]);
                return r;
        }
        s->to_child = in[1];
        s->from_child = out[0];
        (void) fcntl(s->to_child, F_SETFL, O_NONBLOCK);
        return 0;
}

/* Whether the child exited (or is not ours any more) within ms. */
static bool wait_exit(pid_t pid, int64_t ms) {
        int64_t end = kb_now_ms() + ms;

        for (;;) {
                pid_t r = waitpid(pid, NULL, WNOHANG);
                if (r == pid || (r < 0 && errno != EINTR))
                        return true;
                if (kb_now_ms() >= end)
                        return false;
                nanosleep(&(struct timespec) { .tv_nsec = 5 * 1000 * 1000 }, NULL);
        }
}

static void reap(pid_t pid, int64_t grace_ms) {
        if (wait_exit(pid, grace_ms))
                return;
        kill(pid, SIGTERM);
        if (wait_exit(pid, TERM_WAIT_MS))
                return;
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

/* ---- the session ---- */

/* A write to a dead child raises SIGPIPE: keep it blocked in this thread
 * for the session, then drop any we caused (the caller may not ignore it). */
static void sigpipe_block(session *s) {
        sigset_t pipe_set, pending;

        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        sigpending(&pending);
        s->sigpipe_was_pending = sigismember(&pending, SIGPIPE) == 1;
        s->mask_saved = pthread_sigmask(SIG_BLOCK, &pipe_set, &s->old_mask) == 0;
}

static void sigpipe_restore(session *s) {
        sigset_t pipe_set;

        if (!s->mask_saved)
                return;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        if (!s->sigpipe_was_pending)
                while (sigtimedwait(&pipe_set, NULL, &(struct timespec) { 0 }) == SIGPIPE)
                        ;
        pthread_sigmask(SIG_SETMASK, &s->old_mask, NULL);
}

static void session_end(session *s) {
        if (s->pid > 0 && !s->timed_out) {
                int64_t bye = kb_now_ms() + BYE_WAIT_MS;
                s->deadline = bye < s->deadline ? bye : s->deadline;
                if (send_command(s, "BYE", NULL, NULL) >= 0)
                        (void) read_reply(s, NULL);
        }
        if (s->to_child >= 0)
                close(s->to_child);
        if (s->from_child >= 0)
                close(s->from_child);
        if (s->pid > 0)
                reap(s->pid, s->timed_out ? 0 : BYE_WAIT_MS);
        OPENSSL_cleanse(s->buf, sizeof(s->buf));
        OPENSSL_cleanse(s->line, sizeof(s->line));
        sigpipe_restore(s);
}

static int session_start(session *s, const kb_dialog *d) {
        int r;

        if (!d->program || !d->program[0])
                return fail(s, KB_E_INTERNAL, "no pinentry program is configured");
        s->have_tty = find_tty(s->tty, sizeof(s->tty));
        sigpipe_block(s);
        r = spawn(s, s->have_tty ? s->tty : NULL);
        if (r < 0)
                return fail(s, KB_E_INTERNAL, "cannot start pinentry %s: %s", s->program,
                            strerror(-r));
        r = read_reply(s, NULL);
        if (r == REPLY_OK)
                return 0;
        if (r == REPLY_ERR)
                return fail(s, KB_E_INTERNAL, "pinentry %s refused to start: ERR %lu %s",
                            s->program, s->err_code, s->err_text);
        return fail(s, KB_E_INTERNAL, "pinentry %s sent no Assuan greeting (%s): is it a pinentry?",
                    s->program, r == -EPIPE ? "it closed the connection" :
                    r == -ETIMEDOUT ? "timed out" : r == -EPROTO ? "protocol error" : strerror(-r));
}

static int send_options(session *s, const kb_dialog *d) {
        const char *term = getenv("TERM");
        int r = 0;

        if (s->have_tty) {
                r = setup_command(s, "OPTION", "ttyname=", s->tty, false);
                if (r >= 0 && term && term[0])
                        r = setup_command(s, "OPTION", "ttytype=", term, false);
        }
        if (r >= 0 && d->lc_ctype)
                r = setup_command(s, "OPTION", "lc-ctype=", d->lc_ctype, false);
        if (r >= 0 && d->lc_messages)
                r = setup_command(s, "OPTION", "lc-messages=", d->lc_messages, false);
        return r;
}

static int send_texts(session *s, const kb_dialog *d, unsigned timeout_s) {
        const struct { const char *cmd, *arg; } texts[] = {
                { "SETTITLE", d->title },   { "SETDESC", d->description },
                { "SETPROMPT", d->prompt }, { "SETOK", d->ok },
                { "SETCANCEL", d->cancel }, { "SETERROR", d->error },
        };
        char timeout[16];
        int r = send_options(s, d);

        for (size_t i = 0; r >= 0 && i < KB_ELEMENTSOF(texts); i++)
                if (texts[i].arg)
                        r = setup_command(s, texts[i].cmd, NULL, texts[i].arg, true);
        snprintf(timeout, sizeof(timeout), "%u", timeout_s);
        return r < 0 ? r : setup_command(s, "SETTIMEOUT", NULL, timeout, false);
}

/* The answer to GETPIN or CONFIRM was not OK. */
static int answer_failed(session *s, const char *cmd, int r) {
        unsigned code = (unsigned) (s->err_code & 0xffff);

        if (r == REPLY_ERR && (code == GPG_ERR_CANCELED || code == GPG_ERR_FULLY_CANCELED))
                return fail(s, KB_E_PIN_CANCELLED, "the user cancelled the dialog");
        if (r == REPLY_ERR && code == GPG_ERR_NOT_CONFIRMED)
                return fail(s, KB_E_PIN_CANCELLED, "the user refused");
        if (r == REPLY_ERR && code == GPG_ERR_TIMEOUT)
                return fail(s, KB_E_PIN_CANCELLED, "the dialog timed out");
        if (r == REPLY_ERR)
                return fail(s, KB_E_INTERNAL, "pinentry %s failed %s: ERR %lu %s%s%s%s", s->program,
                            cmd, s->err_code, s->err_text, s->status[0] ? " (" : "", s->status,
                            s->status[0] ? ")" : "");
        if (r == -EPIPE)
                return fail(s, KB_E_PIN_CANCELLED, "pinentry %s closed without answering %s",
                            s->program, cmd);
        if (r == -ETIMEDOUT)
                return fail(s, KB_E_PIN_CANCELLED, "pinentry %s did not answer %s in time; stopped it",
                            s->program, cmd);
        if (r == -ENOSPC)
                return fail(s, KB_E_INTERNAL, "the PIN is longer than %d bytes", KB_PINENTRY_MAX_PIN);
        return fail(s, KB_E_INTERNAL, "pinentry %s: %s after %s", s->program,
                    r == -EPROTO ? "protocol error" : strerror(-r), cmd);
}

/* A text-mode pinentry cannot work without a terminal: say so in the reason. */
static int add_tty_hint(session *s, int r, bool refused) {
        size_t n = s->err ? strlen(s->err) : 0;

        if (r == -KB_E_INTERNAL && refused && !s->have_tty && s->err)
                snprintf(s->err + n, s->errlen - n, "; note the daemon has no terminal, where a "
                         "text-mode pinentry (pinentry-curses, pinentry-tty) cannot work: "
                         "configure a graphical one (pinentry-gnome3, pinentry-qt, pinentry-gtk2)");
        return r;
}

static int ask(session *s, bool getpin, kb_secret **ret_pin) {
        _cleanup_secret_ kb_secret *pin = NULL;
        int r;

        if (getpin && !(pin = kb_secret_new(KB_PINENTRY_MAX_PIN)))
                return fail(s, KB_E_INTERNAL, "out of memory");
        r = send_command(s, getpin ? "GETPIN" : "CONFIRM", NULL, NULL);
        if (r >= 0)
                r = read_reply(s, pin);
        if (r != REPLY_OK)
                return add_tty_hint(s, answer_failed(s, getpin ? "GETPIN" : "CONFIRM", r),
                                    r == REPLY_ERR);
        if (ret_pin)
                *ret_pin = TAKE_PTR(pin);
        return 0;
}

static int run_dialog(const kb_dialog *d, bool getpin, kb_secret **ret_pin, char *err, size_t errlen) {
        unsigned timeout_s = d->timeout_s ? d->timeout_s : KB_PINENTRY_DEFAULT_TIMEOUT;
        /* 0, as the daemon leaves it: the KB_PINENTRY_KILL_GRACE s of pinentry.h */
        int64_t grace_ms = d->kill_grace_ms ? (int64_t) d->kill_grace_ms :
                                              (int64_t) KB_PINENTRY_KILL_GRACE * 1000;
        _cleanup_(session_end) session s = {
                .program = d->program, .pid = -1, .to_child = -1, .from_child = -1,
                .deadline = kb_now_ms() + (int64_t) timeout_s * 1000 + grace_ms,
                .err = err, .errlen = errlen,
        };
        int r;

        if (err && errlen > 0)
                err[0] = '\0';
        r = session_start(&s, d);
        if (r >= 0)
                r = send_texts(&s, d, timeout_s);
        if (r >= 0)
                r = ask(&s, getpin, ret_pin);
        return r;
}

int kb_pinentry_get_pin(const kb_dialog *d, kb_secret **ret_pin, char *err, size_t errlen) {
        return run_dialog(d, true, ret_pin, err, errlen);
}

int kb_pinentry_confirm(const kb_dialog *d, char *err, size_t errlen) {
        return run_dialog(d, false, NULL, err, errlen);
}
