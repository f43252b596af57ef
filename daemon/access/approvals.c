/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "approvals.h"
#include "kb-fs.h"
#include "kb-cleanup.h"

#define FILE_NAME "approved-origins"
#define PID_NAME "keybridged.pid"

void kb_approvals_free(char **list, size_t n) {
        for (size_t i = 0; list && i < n; i++)
                free(list[i]);
        free(list);
}

static int push(char ***list, size_t *n, const char *origin) {
        if (*n >= KB_MAX_APPROVALS)
                return -E2BIG;
        char **l = realloc(*list, (*n + 2) * sizeof(*l));
        if (!l)
                return -ENOMEM;
        *list = l;
        if (!(l[*n] = strdup(origin)))
                return -ENOMEM;
        l[++*n] = NULL;
        return 0;
}

int kb_approvals_read(const char *state_dir, char ***ret, size_t *ret_n) {
        _cleanup_free_ char *path = kb_path_join(state_dir, FILE_NAME), *line = NULL;
        size_t cap = 0, n = 0;
        char **list = NULL;
        int r = 0;

        if (!path)
                return -ENOMEM;
        FILE *f = fopen(path, "re");
        if (!f && errno != ENOENT)
                return -errno;
        while (f && r >= 0 && getline(&line, &cap, f) >= 0) {
                line[strcspn(line, "\r\n")] = 0;
                /* Only well-formed origins count; anything else is ignored. */
                if (kb_origin_is_valid(line))
                        r = push(&list, &n, line);
        }
        if (f)
                fclose(f);
        if (r < 0 && r != -E2BIG) {
                kb_approvals_free(list, n);
                return r;
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

static int write_list(const char *state_dir, char **list, size_t n) {
        size_t len = 0;
        for (size_t i = 0; i < n; i++)
                len += strlen(list[i]) + 1;
        _cleanup_free_ char *text = malloc(len + 1);
        if (!text)
                return -ENOMEM;
        text[0] = 0;
        for (size_t i = 0, off = 0; i < n; i++)
                off += (size_t) sprintf(text + off, "%s\n", list[i]);
        int r = kb_mkdir_p(state_dir, 0700);
        return r < 0 ? r : kb_write_atomic(state_dir, FILE_NAME, text, len, 0600);
}

static int edit(const char *state_dir, const char *origin, bool add) {
        char **list = NULL;
        size_t n = 0, kept = 0;
        bool found = false;
        int r = kb_approvals_read(state_dir, &list, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                bool same = strcmp(list[i], origin) == 0;
                found |= same;
                if (same && !add)
                        free(list[i]);
                else
                        list[kept++] = list[i];
        }
        n = kept;
        if (add && !found)
                r = push(&list, &n, origin);
        else if (!add && !found)
                r = -ENOENT;
        if (r >= 0 && (add != found))
                r = write_list(state_dir, list, n);
        kb_approvals_free(list, n);
        return r;
}

int kb_approvals_add(const char *state_dir, const char *origin) {
        return kb_origin_is_valid(origin) ? edit(state_dir, origin, true) : -EINVAL;
}

int kb_approvals_remove(const char *state_dir, const char *origin) {
        return edit(state_dir, origin, false);
}

int kb_pidfile_write(const char *runtime_dir) {
        char text[32];
        int len = snprintf(text, sizeof(text), "%d\n", (int) getpid());
        return kb_write_atomic(runtime_dir, PID_NAME, text, (size_t) len, 0600);
}

void kb_pidfile_remove(const char *runtime_dir) {
        _cleanup_free_ char *path = runtime_dir ? kb_path_join(runtime_dir, PID_NAME) : NULL;
        if (path)
                (void) unlink(path);
}

/* Ask a running daemon to re-read its approvals (SIGHUP), if one runs. */
static bool reload_daemon(const char *runtime_dir) {
        _cleanup_free_ char *path = runtime_dir ? kb_path_join(runtime_dir, PID_NAME) : NULL;
        FILE *f = path ? fopen(path, "re") : NULL;
        int pid = 0;
        if (!f)
                return false;
        bool ok = fscanf(f, "%d", &pid) == 1 && pid > 1 && kill(pid, SIGHUP) == 0;
        fclose(f);
        return ok;
}

static int list_origins(const kb_config *c) {
        char **list = NULL;
        size_t n = 0;
        int r = kb_approvals_read(c->state_dir, &list, &n);
        if (r < 0) {
                fprintf(stderr, "keybridged: cannot read %s/%s: %s\n", c->state_dir, FILE_NAME, strerror(-r));
                return 1;
        }
        for (size_t i = 0; i < c->allow_origins.n; i++)
                printf("%s\tconfigured\n", c->allow_origins.v[i]);
        for (size_t i = 0; i < n; i++)
                printf("%s\tapproved by you (revocable)\n", list[i]);
        kb_approvals_free(list, n);
        return 0;
}

static int revoke_origin(const kb_config *c, const char *origin) {
        int r = kb_approvals_remove(c->state_dir, origin);
        if (r == -ENOENT) {
                fprintf(stderr, "keybridged: %s is not among the origins you approved\n", origin);
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "keybridged: cannot update %s/%s: %s\n", c->state_dir, FILE_NAME, strerror(-r));
                return 1;
        }
        printf("revoked %s%s\n", origin,
               reload_daemon(c->runtime_dir) ? "; the running daemon reloaded" : "; takes effect when keybridged starts");
        return 0;
}

int kb_origins_main(int argc, char **argv, const kb_config *c) {
        if (argc == 2 && strcmp(argv[1], "list") == 0)
                return list_origins(c);
        if (argc == 3 && strcmp(argv[1], "revoke") == 0)
                return revoke_origin(c, argv[2]);
        fprintf(stderr, "usage: keybridged origins list\n"
                        "       keybridged origins revoke ORIGIN\n");
        return 2;
}
