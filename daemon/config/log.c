/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's one logging sink. Each entry goes to journald as structured
 * fields (absent fields are left out, not sent empty) and, for foreground
 * runs, as one line on stderr. The message and every field value are bounded
 * and have control characters replaced, since values such as the origin come
 * straight from HTTP headers and must not forge log lines or fields.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* The caller's location is in the message; log.c's own would be noise. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#define LOG_MESSAGE_MAX 2048
#define LOG_FIELD_MAX 512      /* "KEY=" plus the value, truncated */
#define LOG_LINE_MAX 4096
#define LOG_IOV_MAX 9          /* MESSAGE, PRIORITY, SYSLOG_IDENTIFIER + 6 optional */

/* Until kb_log_init, early errors also go to stderr so none is lost. */
static bool log_to_stderr = true;
static int log_max_priority = LOG_INFO;

void kb_log_init(bool to_stderr, int max_priority) {
        log_to_stderr = to_stderr;
        log_max_priority = max_priority;
}

/* Control characters (and DEL) become '?'; UTF-8 bytes stay as they are. */
static void sanitize(char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        *s = '?';
}

static const char *level_name(int priority) {
        static const char *const names[] = {
                [LOG_EMERG] = "EMERG",  [LOG_ALERT] = "ALERT",   [LOG_CRIT] = "CRIT",
                [LOG_ERR] = "ERROR",    [LOG_WARNING] = "WARNING", [LOG_NOTICE] = "NOTICE",
                [LOG_INFO] = "INFO",    [LOG_DEBUG] = "DEBUG",
        };
        return names[priority & LOG_PRIMASK];
}

typedef struct log_entry {
        struct iovec iov[LOG_IOV_MAX];
        char message[sizeof("MESSAGE=") + LOG_MESSAGE_MAX];
        char buf[LOG_IOV_MAX][LOG_FIELD_MAX];
        size_t n;
} log_entry;

/* Appends "KEY=value" to b, with the value sanitized and truncated to fit. */
static void entry_add_to(log_entry *e, char *b, size_t size, const char *key, const char *value) {
        if (!value || e->n >= LOG_IOV_MAX || snprintf(b, size, "%s=%s", key, value) < 0)
                return;
        sanitize(b + strlen(key) + 1);
        e->iov[e->n] = (struct iovec) { .iov_base = b, .iov_len = strlen(b) };
        e->n++;
}

static void entry_add(log_entry *e, const char *key, const char *value) {
        if (e->n < LOG_IOV_MAX)
                entry_add_to(e, e->buf[e->n], LOG_FIELD_MAX, key, value);
}

static void send_journal(int priority, const kb_log_fields *f, const char *message) {
        log_entry e = { .n = 0 };
        char prio[2] = { (char) ('0' + priority), '\0' };

        entry_add_to(&e, e.message, sizeof(e.message), "MESSAGE", message);
        entry_add(&e, "PRIORITY", prio);
        entry_add(&e, "SYSLOG_IDENTIFIER", "keybridged");
        if (f) {
                entry_add(&e, "MESSAGE_ID", f->message_id);
                entry_add(&e, "KB_ORIGIN", f->origin);
                entry_add(&e, "KB_TOKEN", f->token);
                entry_add(&e, "KB_CODE", f->code);
                entry_add(&e, "KB_CKR", f->ckr);
                entry_add(&e, "KB_MODULE", f->module);
        }
        /* No journald (containers, plain foreground runs): nothing to do. */
        (void) sd_journal_sendv(e.iov, (int) e.n);
}

/* Appends ", key=value" (or " (key=value" for the first) to the line. */
static void line_add(char *line, size_t size, bool *first, const char *key, const char *value) {
        size_t len = strlen(line);
        char *start;

        if (!value || len >= size - 1)
                return;
        start = line + len;
        snprintf(start, size - len, "%s%s=%s", *first ? " (" : ", ", key, value);
        sanitize(start);
        *first = false;
}

static void print_stderr(int priority, const kb_log_fields *f, const char *message) {
        char line[LOG_LINE_MAX];
        bool first = true;

        /* Two bytes are held back throughout for ")" and the newline. */
        snprintf(line, sizeof(line) - 2, "keybridged[%ld]: %s: %s",
                 (long) getpid(), level_name(priority), message);
        if (f) {
                line_add(line, sizeof(line) - 2, &first, "origin", f->origin);
                line_add(line, sizeof(line) - 2, &first, "token", f->token);
                line_add(line, sizeof(line) - 2, &first, "code", f->code);
                line_add(line, sizeof(line) - 2, &first, "ckr", f->ckr);
                line_add(line, sizeof(line) - 2, &first, "module", f->module);
        }
        strcat(line, first ? "\n" : ")\n");
        fputs(line, stderr);
}

void kb_log(int priority, const kb_log_fields *fields, const char *fmt, ...) {
        char message[LOG_MESSAGE_MAX];
        int saved_errno = errno;
        va_list ap;

        priority &= LOG_PRIMASK;
        if (priority > log_max_priority)
                return;

        va_start(ap, fmt);
        if (vsnprintf(message, sizeof(message), fmt, ap) < 0)
                message[0] = '\0';
        va_end(ap);
        sanitize(message);

        send_journal(priority, fields, message);
        if (log_to_stderr)
                print_stderr(priority, fields, message);
        errno = saved_errno;
}
