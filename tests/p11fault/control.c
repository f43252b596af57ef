/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control file: "key = value" lines, '#' comments, re-read whenever its
 * identity (device, inode, size, mtime) changes. Unknown or malformed lines
 * are reported on stderr and ignored. All functions run with kb_pf.lock. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kb-cleanup.h"
#include "p11fault.h"

#define MAX_CONTROL 65536

static char *trim(char *s) {
        while (isspace((unsigned char) *s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = '\0';
        return s;
}

static void identity(const struct stat *st, char sig[static KB_PF_SIG_MAX]) {
        snprintf(sig, KB_PF_SIG_MAX, "%ju:%ju:%jd:%jd.%09ld", (uintmax_t) st->st_dev,
                 (uintmax_t) st->st_ino, (intmax_t) st->st_size,
                 (intmax_t) st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
}

static int parse_count(const char *s, unsigned long *ret) {
        char *end;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        *ret = strtoul(s, &end, 10);
        return errno == 0 && *end == '\0' ? 0 : -EINVAL;
}

/* "C_Sign 2 CKR_DEVICE_REMOVED", "C_Sign 1+ 0x32", "C_Sign 2-3 50" */
static int parse_rule(char *value, kb_pf_rule *ret) {
        char *save = NULL;
        char *name = strtok_r(value, " \t", &save);
        char *nth = strtok_r(NULL, " \t", &save);
        char *rv = strtok_r(NULL, " \t", &save);
        kb_pf_rule rule = { .fn = name ? kb_pf_function_lookup(name) : -1 };

        if (rule.fn < 0 || !nth || !rv || strtok_r(NULL, " \t", &save))
                return -EINVAL;
        if (strcmp(rv, "HANG") == 0)
                rule.rv = KB_PF_HANG;
        else if (strcmp(rv, "HOLD") == 0)
                rule.rv = KB_PF_HOLD;
        else if (kb_pf_rv_parse(rv, &rule.rv) < 0)
                return -EINVAL;
        size_t n = strlen(nth);
        char *dash = strchr(nth, '-');
        if (n > 1 && nth[n - 1] == '+') {
                nth[n - 1] = '\0';
                rule.last = ULONG_MAX;
        } else if (dash)
                *dash = '\0';
        if (parse_count(nth, &rule.first) < 0 || rule.first == 0)
                return -EINVAL;
        if (dash && parse_count(dash + 1, &rule.last) < 0)
                return -EINVAL;
        if (!dash && rule.last != ULONG_MAX)
                rule.last = rule.first;
        if (rule.last < rule.first)
                return -EINVAL;
        *ret = rule;
        return 0;
}

static int parse_bool(const char *s, bool *ret) {
        if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "1"))
                *ret = true;
        else if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "0"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

static int parse_setting(const char *key, char *value, kb_pf_control *ctl) {
        if (!strcmp(key, "pin_tries")) {
                if (!strcmp(value, "off")) {
                        ctl->pin_tries = 0;
                        return 0;
                }
                if (parse_count(value, &ctl->pin_tries) < 0 || ctl->pin_tries == 0 ||
                    ctl->pin_tries > 1000)
                        return -EINVAL;
                return 0;
        }
        if (!strcmp(key, "fail")) {
                if (ctl->n_rules == KB_PF_MAX_RULES)
                        return -ENOSPC;
                int r = parse_rule(value, &ctl->rules[ctl->n_rules]);
                if (r >= 0)
                        ctl->n_rules++;
                return r;
        }
        if (!strcmp(key, "removed"))
                return parse_bool(value, &ctl->removed);
        if (!strcmp(key, "log")) {
                if ((size_t) snprintf(ctl->log_path, sizeof(ctl->log_path), "%s", value) >=
                    sizeof(ctl->log_path))
                        return -ENAMETOOLONG;
                return 0;
        }
        return -ENOENT;
}

static void parse(char *text, kb_pf_control *ctl) {
        unsigned lineno = 0;

        for (char *line = text, *next; line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                lineno++;
                char *hash = strchr(line, '#');
                if (hash)
                        *hash = '\0';
                char *eq = strchr(line, '=');
                if (!eq && *trim(line) == '\0')
                        continue;
                int r = -EINVAL;
                if (eq) {
                        *eq = '\0';
                        r = parse_setting(trim(line), trim(eq + 1), ctl);
                }
                if (r < 0)
                        fprintf(stderr, "kb-p11fault: %s:%u: %s, line ignored\n",
                                kb_pf.control_path, lineno,
                                r == -ENOENT ? "unknown key" : "bad value");
        }
}

/* Read the file behind fd (at most MAX_CONTROL bytes). */
static void read_control(int fd, kb_pf_control *ctl) {
        _cleanup_free_ char *text = malloc(MAX_CONTROL + 1);
        size_t n = 0;

        if (!text)
                return;
        for (ssize_t r; n < MAX_CONTROL; n += (size_t) r) {
                r = read(fd, text + n, MAX_CONTROL - n);
                if (r < 0 && errno == EINTR)
                        r = 0;
                else if (r <= 0)
                        break;
        }
        text[n] = '\0';
        parse(text, ctl);
}

static void open_log(const char *path) {
        if (kb_pf.log_fd >= 0)
                close(kb_pf.log_fd);
        kb_pf.log_fd = -1;
        if (!*path)
                return;
        kb_pf.log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (kb_pf.log_fd < 0)
                fprintf(stderr, "kb-p11fault: cannot open log %s: %m\n", path);
}

static void apply(const kb_pf_control *next, const char *sig) {
        bool was_removed = kb_pf.ctl.removed;
        bool reopen = !kb_pf.ctl_loaded || strcmp(kb_pf.ctl.log_path, next->log_path) != 0;

        kb_pf.ctl = *next;
        snprintf(kb_pf.ctl_sig, sizeof(kb_pf.ctl_sig), "%s", sig);
        kb_pf.ctl_loaded = true;
        memset(kb_pf.calls, 0, sizeof(kb_pf.calls));
        if (reopen)
                open_log(next->log_path);
        if (was_removed != next->removed) {
                if (next->removed)
                        kb_pf_sessions_kill();
                kb_pf.event_gen++;
        }
}

void kb_pf_control_refresh(void) {
        static kb_pf_control next;      /* large; only touched under kb_pf.lock */
        char sig[KB_PF_SIG_MAX] = "absent";
        struct stat st;

        if (stat(kb_pf.control_path, &st) == 0)
                identity(&st, sig);
        if (kb_pf.ctl_loaded && strcmp(sig, kb_pf.ctl_sig) == 0)
                return;
        next = (kb_pf_control) { .removed = false };
        _cleanup_close_ int fd = open(kb_pf.control_path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && fstat(fd, &st) == 0) {
                identity(&st, sig);     /* of what is read, should it change meanwhile */
                read_control(fd, &next);
        } else
                snprintf(sig, sizeof(sig), "absent");
        apply(&next, sig);
}

bool kb_pf_control_fault(int fn, CK_RV *ret_rv) {
        bool named = false;
        unsigned long n;

        for (size_t i = 0; i < kb_pf.ctl.n_rules; i++)
                named |= kb_pf.ctl.rules[i].fn == fn;
        if (!named)
                return false;
        if (kb_pf_state_count(kb_pf.state_path, kb_pf.ctl_sig, fn, &n) < 0) {
                fprintf(stderr, "kb-p11fault: state file %s unusable, counting calls in this process\n",
                        kb_pf.state_path);
                n = ++kb_pf.calls[fn];
        }
        for (size_t i = 0; i < kb_pf.ctl.n_rules; i++) {
                const kb_pf_rule *r = &kb_pf.ctl.rules[i];
                if (r->fn == fn && n >= r->first && n <= r->last) {
                        *ret_rv = r->rv;
                        return true;
                }
        }
        return false;
}

void kb_pf_control_reset(void) {
        if (kb_pf.log_fd >= 0)
                close(kb_pf.log_fd);
        kb_pf.log_fd = -1;
        kb_pf.ctl = (kb_pf_control) { .removed = false };
        kb_pf.ctl_loaded = false;
        kb_pf.ctl_sig[0] = '\0';
}
