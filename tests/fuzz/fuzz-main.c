/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Replays inputs through LLVMFuzzerTestOneInput without libFuzzer:
 *   fuzz-NAME FILE|DIR...
 * A directory stands for the regular files in it (sorted, not recursive).
 * Each input is copied into a heap block of exactly its size, so a sanitizer
 * build catches a read past its end. (In the manner of systemd's
 * src/fuzz/fuzz-main.c and p11-kit's fuzz/main.c.)
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int read_file(const char *path, uint8_t **ret, size_t *ret_size) {
        FILE *f = fopen(path, "rbe");
        if (!f)
                return -errno;
        uint8_t *buf = malloc(FUZZ_MAX_INPUT + 1);
        size_t n = buf ? fread(buf, 1, FUZZ_MAX_INPUT + 1, f) : 0;
        int r = !buf ? -ENOMEM : ferror(f) ? -EIO : n > FUZZ_MAX_INPUT ? -EFBIG : 0;
        fclose(f);
        if (r < 0) {
                free(buf);
                return r;
        }
        /* Exactly n bytes (one when empty): no slack for an overread to hide in. */
        uint8_t *exact = malloc(n > 0 ? n : 1);
        if (exact)
                memcpy(exact, buf, n);
        free(buf);
        if (!exact)
                return -ENOMEM;
        *ret = exact;
        *ret_size = n;
        return 0;
}

static int run_file(const char *path) {
        uint8_t *data = NULL;
        size_t size = 0;
        int r = read_file(path, &data, &size);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
                return r;
        }
        fprintf(stderr, "%s (%zu bytes)\n", path, size);
        LLVMFuzzerTestOneInput(data, size);
        free(data);
        return 0;
}

static int not_hidden(const struct dirent *d) {
        return d->d_name[0] != '.';
}

/* Returns the number of inputs run, or a negative errno. */
static int run_dir(const char *dir) {
        struct dirent **names;
        int n = scandir(dir, &names, not_hidden, alphasort);
        if (n < 0) {
                int r = -errno;
                fprintf(stderr, "%s: %s\n", dir, strerror(-r));
                return r;
        }
        int count = 0, r = 0;
        for (int i = 0; i < n; i++) {
                char *path = NULL;
                struct stat st;
                if (r >= 0 && asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0)
                        r = -ENOMEM;
                if (r >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        r = run_file(path);
                        count++;
                }
                free(path);
                free(names[i]);
        }
        free(names);
        return r < 0 ? r : count;
}

int main(int argc, char **argv) {
        int total = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                bool dir = S_ISDIR(st.st_mode);
                int r = dir ? run_dir(argv[i]) : run_file(argv[i]);
                if (r < 0)
                        return 1;
                total += dir ? r : 1;
        }
        if (total == 0) {
                fprintf(stderr, "no inputs: an empty corpus tests nothing\n");
                return 1;
        }
        printf("%d inputs replayed\n", total);
        return 0;
}
