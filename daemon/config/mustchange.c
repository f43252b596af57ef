/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kb-fs.h"
#include "kb-cleanup.h"
#include "mustchange.h"


static bool valid_id(const char *s) {
        return strlen(s) == KB_TOKEN_ID_LEN && strspn(s, "0123456789abcdefABCDEF") == KB_TOKEN_ID_LEN;
}

static ssize_t find(const kb_must_change *m, const char *id) {
        for (size_t i = 0; i < m->n; i++)
                if (strcmp(m->ids[i], id) == 0)
                        return (ssize_t) i;
        return -1;
}

static void add(kb_must_change *m, const char *id) {
        if (m->n < KB_MUST_CHANGE_MAX && find(m, id) < 0)
                snprintf(m->ids[m->n++], sizeof(m->ids[0]), "%s", id);
}

int kb_must_change_init(kb_must_change *m, const char *state_dir) {
        *m = (kb_must_change) { .state_dir = state_dir };
        pthread_mutex_init(&m->lock, NULL);
        _cleanup_free_ char *path = kb_path_join(state_dir, KB_MUST_CHANGE_FILE);
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        if (!path)
                return -ENOMEM;
        FILE *f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? 0 : -errno;
        while (getline(&line, &cap, f) >= 0) {
                line[strcspn(line, "\r\n")] = 0;
                if (valid_id(line))     /* anything else is ignored */
                        add(m, line);
        }
        fclose(f);
        return 0;
}

void kb_must_change_destroy(kb_must_change *m) {
        pthread_mutex_destroy(&m->lock);
}

bool kb_must_change_has(kb_must_change *m, const char *token_id) {
        pthread_mutex_lock(&m->lock);
        bool has = find(m, token_id) >= 0;
        pthread_mutex_unlock(&m->lock);
        return has;
}

static int save(const kb_must_change *m) {
        char text[KB_MUST_CHANGE_MAX * (KB_TOKEN_ID_LEN + 1) + 1];
        size_t off = 0;
        for (size_t i = 0; i < m->n; i++)
                off += (size_t) snprintf(text + off, sizeof(text) - off, "%s\n", m->ids[i]);
        int r = kb_mkdir_p(m->state_dir, 0700);
        return r < 0 ? r : kb_write_atomic(m->state_dir, KB_MUST_CHANGE_FILE, text, off, 0600);
}

int kb_must_change_set(kb_must_change *m, const char *token_id, bool on) {
        if (!valid_id(token_id))
                return -EINVAL;
        pthread_mutex_lock(&m->lock);
        ssize_t i = find(m, token_id);
        int r = 0;
        if (on && i < 0)
                r = m->n < KB_MUST_CHANGE_MAX ? (add(m, token_id), save(m)) : -E2BIG;
        else if (!on && i >= 0) {
                memcpy(m->ids[i], m->ids[m->n - 1], sizeof(m->ids[0]));
                m->n--;
                r = save(m);
        }
        pthread_mutex_unlock(&m->lock);
        return r;
}
