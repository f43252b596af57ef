/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One lock around every call (a token does one thing at a time), the call
 * log, faults on cue, handles and the application security state. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "skfsoft.h"

#define MAGIC 0x534b4653u
#define MAX_RULES 32

typedef struct {
        char fn[48];
        unsigned long from, to, seen;
        SKF_ULONG rv;
        bool hang;
} rule;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ss_handle *handles;
static rule rules[MAX_RULES];
static size_t n_rules;
static char log_path[PATH_MAX];
static struct stat control_seen;

typedef struct login_entry {
        char key[PATH_MAX + 2 * (SS_NAME_MAX + 1) + 32];
        ss_login login;
        struct login_entry *next;
} login_entry;
static login_entry *logins;

const char *ss_root(void) {
        const char *r = getenv("KB_SKFSOFT_DIR");
        return r && *r ? r : "/nonexistent";
}

static ino_t present_ino(const char *dev) {
        char p[PATH_MAX + 16];
        struct stat st;
        snprintf(p, sizeof(p), "%s/present", dev);
        return stat(p, &st) == 0 ? st.st_ino : 0;
}

bool ss_present(const char *dev) {
        return present_ino(dev) != 0;
}

bool ss_name_ok(const char *name) {
        size_t n = name ? strnlen(name, SS_NAME_MAX + 1) : 0;
        return n > 0 && n <= SS_NAME_MAX && name[0] != '.' && !strchr(name, '/');
}

static SKF_ULONG parse_rv(const char *word, bool *hang) {
        static const struct { const char *name; SKF_ULONG rv; } names[] = {
                { "SAR_FAIL", SAR_FAIL }, { "SAR_DEVICE_REMOVED", SAR_DEVICE_REMOVED },
                { "SAR_WRITEFILEERR", SAR_WRITEFILEERR }, { "SAR_NO_ROOM", SAR_NO_ROOM },
                { "SAR_READFILEERR", SAR_READFILEERR }, { "SAR_UNKNOWNERR", SAR_UNKNOWNERR },
        };
        *hang = strcmp(word, "HANG") == 0;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(word, names[i].name) == 0)
                        return names[i].rv;
        return (SKF_ULONG) strtoul(word, NULL, 0);
}

/* A vendor's cap on the data of one cipher call (0: none). */
static unsigned long max_data;

unsigned long ss_max_data(void) {
        return max_data;
}

static void parse_rule(const char *spec) {
        rule r = { 0 };
        char range[32], value[48];
        if (n_rules == MAX_RULES || sscanf(spec, "%47s %31s %47s", r.fn, range, value) != 3)
                return;
        char *dash = strchr(range, '-');
        r.from = strtoul(range, NULL, 10);
        r.to = range[strlen(range) - 1] == '+' ? (unsigned long) -1 : dash ? strtoul(dash + 1, NULL, 10) : r.from;
        r.rv = parse_rv(value, &r.hang);
        rules[n_rules++] = r;
}

/* Re-read the control file when it changed; the call counts start again. */
static void reload_control(void) {
        const char *path = getenv("KB_SKFSOFT_CONTROL");
        struct stat st = { 0 };
        if (!path || stat(path, &st) < 0)
                memset(&st, 0, sizeof(st));
        if (st.st_ino == control_seen.st_ino && st.st_size == control_seen.st_size &&
            st.st_mtim.tv_sec == control_seen.st_mtim.tv_sec && st.st_mtim.tv_nsec == control_seen.st_mtim.tv_nsec)
                return;
        control_seen = st;
        n_rules = 0;
        log_path[0] = 0;
        max_data = 0;
        FILE *f = path ? fopen(path, "re") : NULL;
        char line[256];
        while (f && fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                if (strncmp(line, "fail = ", 7) == 0)
                        parse_rule(line + 7);
                else if (strncmp(line, "log = ", 6) == 0)
                        snprintf(log_path, sizeof(log_path), "%s", line + 6);
                else if (strncmp(line, "max-data = ", 11) == 0)
                        max_data = strtoul(line + 11, NULL, 10);
        }
        if (f)
                fclose(f);
}

static void log_call(const char *fn, const char *what) {
        FILE *f = log_path[0] ? fopen(log_path, "ae") : NULL;
        if (!f)
                return;
        fprintf(f, "%s%s%s\n", fn, what ? " " : "", what ? what : "");
        fclose(f);
}

/* The fault the control file sets for this call, or SAR_OK. */
static SKF_ULONG fault_for(const char *fn) {
        for (size_t i = 0; i < n_rules; i++) {
                rule *r = &rules[i];
                if (strcmp(r->fn, fn) != 0)
                        continue;
                unsigned long nth = ++r->seen;
                if (nth < r->from || nth > r->to)
                        continue;
                if (r->hang) {
                        log_call(fn, "HANG");
                        for (;;)
                                pause();        /* holding the lock, as a dead token would */
                }
                return r->rv;
        }
        return SAR_OK;
}

static ss_handle *find_handle(SKF_HANDLE h) {
        for (ss_handle *p = handles; p; p = p->next)
                if ((void *) p == h && p->magic == MAGIC)
                        return p;
        return NULL;
}

SKF_ULONG ss_begin_free(const char *fn) {
        pthread_mutex_lock(&lock);
        reload_control();
        log_call(fn, NULL);
        SKF_ULONG rv = fault_for(fn);
        if (rv != SAR_OK)
                pthread_mutex_unlock(&lock);
        return rv;
}

SKF_ULONG ss_begin(const char *fn, SKF_HANDLE h, ss_kind kind, ss_handle **ret) {
        return ss_begin_opt(fn, h, kind, true, ret);
}

SKF_ULONG ss_begin_opt(const char *fn, SKF_HANDLE h, ss_kind kind, bool need_present, ss_handle **ret) {
        SKF_ULONG rv = ss_begin_free(fn);
        if (rv != SAR_OK)
                return rv;
        ss_handle *p = find_handle(h);
        if (!p || p->kind != kind)
                return ss_end(SAR_INVALIDHANDLEERR);
        if (need_present && present_ino(p->dev) != p->present_ino) {
                ss_logins_forget(p->dev);
                return ss_end(SAR_DEVICE_REMOVED);
        }
        *ret = p;
        return SAR_OK;
}

SKF_ULONG ss_end(SKF_ULONG rv) {
        pthread_mutex_unlock(&lock);
        return rv;
}

ss_handle *ss_handle_new(ss_kind kind, const ss_handle *parent) {
        ss_handle *h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        if (parent)
                *h = *parent;
        h->magic = MAGIC;
        h->kind = kind;
        h->has_challenge = h->dev_authed = false;
        if (!parent)
                h->present_ino = 0;
        h->next = handles;
        handles = h;
        return h;
}

void ss_handle_free(ss_handle *h) {
        for (ss_handle **pp = &handles; *pp; pp = &(*pp)->next)
                if (*pp == h) {
                        *pp = h->next;
                        break;
                }
        h->magic = 0;
        OPENSSL_cleanse(h, sizeof(*h));
        free(h);
}

ino_t ss_present_ino(const char *dev) {
        return present_ino(dev);
}

ss_login *ss_login_of(const ss_handle *h) {
        char key[sizeof(((login_entry *) 0)->key)];
        snprintf(key, sizeof(key), "%s/%s#%lu", h->dev, h->app, (unsigned long) h->present_ino);
        for (login_entry *e = logins; e; e = e->next)
                if (strcmp(e->key, key) == 0)
                        return &e->login;
        login_entry *e = calloc(1, sizeof(*e));
        if (!e)
                return NULL;
        memcpy(e->key, key, sizeof(key));
        e->next = logins;
        logins = e;
        return &e->login;
}

/* The library may be unloaded (dlclose) by a process that goes on, or
 * checked for leaks at exit: the security states go with it. */
__attribute__((destructor)) static void free_logins(void) {
        while (logins) {
                login_entry *next = logins->next;
                free(logins);
                logins = next;
        }
}

void ss_logins_forget(const char *dev) {
        size_t n = strlen(dev);
        for (login_entry *e = logins; e; e = e->next)
                if (strncmp(e->key, dev, n) == 0 && e->key[n] == '/')
                        e->login = (ss_login) { 0 };
}
