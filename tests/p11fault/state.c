/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state file: what a real token would remember across processes (its
 * user-PIN retry counter) and the call counts of the fault rules, so that
 * "the 2nd C_Sign" means the 2nd one any process made since the control file
 * was written. Every access is a read-modify-write under flock(LOCK_EX):
 *
 *   control <identity of the control file the counts belong to>
 *   calls C_Sign 2
 *   pin <serial> <tries left> <pin_tries>
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "kb-cleanup.h"
#include "p11fault.h"

#define MAX_PINS 64
#define MAX_FILE 65536

typedef struct {
        char serial[KB_PF_SERIAL_MAX];
        unsigned long left, max;
} pin_entry;

typedef struct {
        char control[KB_PF_SIG_MAX];
        unsigned long calls[KB_PF_N_FUNCTIONS];
        size_t n_pins;
        pin_entry pins[MAX_PINS];
} saved;

static void parse_line(saved *s, const char *line) {
        char word[KB_PF_SIG_MAX];
        unsigned long a, b;

        if (sscanf(line, "control %95s", word) == 1)
                snprintf(s->control, sizeof(s->control), "%s", word);
        else if (sscanf(line, "calls %63s %lu", word, &a) == 2) {
                int fn = kb_pf_function_lookup(word);
                if (fn >= 0)
                        s->calls[fn] = a;
        } else if (sscanf(line, "pin %32s %lu %lu", word, &a, &b) == 3 && s->n_pins < MAX_PINS) {
                if (strlen(word) >= KB_PF_SERIAL_MAX)
                        return;
                pin_entry *p = &s->pins[s->n_pins++];
                memcpy(p->serial, word, strlen(word) + 1);
                p->left = a;
                p->max = b;
        }
}

static int load(int fd, saved *s) {
        _cleanup_free_ char *text = malloc(MAX_FILE + 1);
        size_t n = 0;

        if (!text)
                return -ENOMEM;
        for (;;) {
                ssize_t r = pread(fd, text + n, MAX_FILE - n, (off_t) n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0 || (n += (size_t) r) == MAX_FILE)
                        break;
        }
        text[n] = '\0';
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                parse_line(s, line);
        return 0;
}

static int store(int fd, const saved *s) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        if (!f)
                return -ENOMEM;
        fprintf(f, "# kb-p11fault state: call counts and simulated PIN counters\n");
        fprintf(f, "control %s\n", s->control);
        for (int fn = 0; fn < KB_PF_N_FUNCTIONS; fn++)
                if (s->calls[fn])
                        fprintf(f, "calls %s %lu\n", kb_pf_function_name(fn), s->calls[fn]);
        for (size_t i = 0; i < s->n_pins; i++)
                fprintf(f, "pin %s %lu %lu\n", s->pins[i].serial, s->pins[i].left, s->pins[i].max);
        if (fclose(f) != 0)
                return -ENOMEM;
        if (ftruncate(fd, 0) < 0)
                return -errno;
        for (size_t off = 0; off < size;) {
                ssize_t w = pwrite(fd, text + off, size - off, (off_t) off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                off += (size_t) w;
        }
        return 0;
}

/* Run change on the locked state; it returns > 0 when it modified it. */
static int with_state(const char *path, int (*change)(saved *s, void *userdata), void *userdata) {
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        saved s = { .n_pins = 0 };

        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX) < 0)
                return -errno;
        int r = load(fd, &s);
        if (r < 0)
                return r;
        r = change(&s, userdata);
        if (r > 0)
                r = store(fd, &s);
        return r;       /* closing fd releases the lock */
}

struct count_args {
        const char *sig;
        int fn;
        unsigned long n;
};

static int count_change(saved *s, void *userdata) {
        struct count_args *a = userdata;

        if (strcmp(s->control, a->sig) != 0) {
                snprintf(s->control, sizeof(s->control), "%s", a->sig);
                memset(s->calls, 0, sizeof(s->calls));
        }
        a->n = ++s->calls[a->fn];
        return 1;
}

int kb_pf_state_count(const char *path, const char *sig, int fn, unsigned long *ret_n) {
        struct count_args a = { .sig = sig, .fn = fn };
        int r = with_state(path, count_change, &a);

        if (r < 0)
                return r;
        *ret_n = a.n;
        return 0;
}

struct pin_args {
        const char *serial;
        unsigned long max, left;
        kb_pf_pin_op op;
};

static pin_entry *pin_find(saved *s, const char *serial) {
        for (size_t i = 0; i < s->n_pins; i++)
                if (strcmp(s->pins[i].serial, serial) == 0)
                        return &s->pins[i];
        return NULL;
}

static int pin_change(saved *s, void *userdata) {
        struct pin_args *a = userdata;
        pin_entry *p = pin_find(s, a->serial);

        /* An unknown token, or a counter for another pin_tries, starts full. */
        unsigned long left = p && p->max == a->max ? p->left : a->max;
        if (left > a->max)
                left = a->max;
        unsigned long was = left;
        if (a->op == KB_PF_PIN_FAILED && left > 0)
                left--;
        else if (a->op == KB_PF_PIN_RESET)
                left = a->max;
        a->left = left;
        if (p && p->max == a->max && left == was)
                return 0;
        if (!p) {
                if (s->n_pins == MAX_PINS)
                        return -ENOSPC;
                p = &s->pins[s->n_pins++];
                snprintf(p->serial, sizeof(p->serial), "%s", a->serial);
        }
        p->left = left;
        p->max = a->max;
        return 1;
}

int kb_pf_state_pin(const char *path, const char *serial, unsigned long max,
                    kb_pf_pin_op op, unsigned long *ret_left) {
        struct pin_args a = { .serial = serial, .max = max, .op = op };
        int r = with_state(path, pin_change, &a);

        if (r < 0)
                return r;
        *ret_left = a.left;
        return 0;
}
