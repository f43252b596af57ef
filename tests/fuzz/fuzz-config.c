/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * keybridge.conf files: the per-user one is the user's to write, so it is
 * untrusted input to the daemon. The file is parsed as the system's and then
 * as the user's (list options are replaced across sources), and the result
 * must be well-formed: lists NULL-terminated, an error message on failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static void must(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "fuzz-config: %s\n", what);
                abort();
        }
}

static void check_list(const kb_strv *l) {
        must(l->n == 0 || (l->v && !l->v[l->n]), "a list is not NULL-terminated");
        for (size_t i = 0; i < l->n; i++)
                must(l->v[i] != NULL, "a list holds a NULL");
}

static void parse(kb_config *c, kb_config_source src, const char *path) {
        char err[512];
        err[0] = '\0';
        if (kb_config_parse_file(c, src, path, err, sizeof(err)) < 0)
                must(err[0] != '\0', "a failed parse gave no reason");
        check_list(&c->listen);
        check_list(&c->modules);
        check_list(&c->skf_libraries);
        check_list(&c->allow_origins);
}

static int write_all(int fd, const uint8_t *data, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, data, size);
                if (n <= 0)
                        return -1;
                data += n, size -= (size_t) n;
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char path[64];
        kb_config c;
        int fd = memfd_create("fuzz-config", MFD_CLOEXEC);

        if (fd < 0 || write_all(fd, data, size) < 0) {
                if (fd >= 0)
                        close(fd);
                return 0;
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        kb_config_init(&c);
        parse(&c, KB_CONFIG_SYSTEM, path);
        parse(&c, KB_CONFIG_USER, path);
        kb_config_clear(&c);
        close(fd);
        return 0;
}
