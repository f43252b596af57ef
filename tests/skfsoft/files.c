/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The token's storage: every write replaces a whole file atomically
 * (temporary file, fsync, rename), as a token's EEPROM write either lands
 * or does not. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skfsoft.h"

#define MAX_LIST 64

int ss_path(char *buf, const ss_handle *h, const char *leaf) {
        int n;
        if (h->kind == SS_DEV)
                n = snprintf(buf, PATH_MAX, "%s/%s", h->dev, leaf);
        else if (h->kind == SS_APP)
                n = snprintf(buf, PATH_MAX, "%s/%s/%s", h->dev, h->app, leaf);
        else
                n = snprintf(buf, PATH_MAX, "%s/%s/c/%s/%s", h->dev, h->app, h->container, leaf);
        return n > 0 && n < PATH_MAX ? 0 : -1;
}

int ss_write_atomic(const char *path, const void *data, size_t len) {
        char tmp[PATH_MAX + 8];
        snprintf(tmp, sizeof(tmp), "%s.new", path);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -1;
        bool ok = write(fd, data, len) == (ssize_t) len && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        if (!ok || rename(tmp, path) < 0) {
                unlink(tmp);
                return -1;
        }
        return 0;
}

int ss_read_all(const char *path, unsigned char **ret, size_t *ret_len) {
        FILE *f = fopen(path, "rbe");
        if (!f)
                return -1;
        struct stat st;
        unsigned char *buf = NULL;
        if (fstat(fileno(f), &st) == 0 && st.st_size < (1 << 24))
                buf = malloc((size_t) st.st_size + 1);
        size_t n = buf ? fread(buf, 1, (size_t) st.st_size, f) : 0;
        fclose(f);
        if (!buf || n != (size_t) st.st_size) {
                free(buf);
                return -1;
        }
        buf[n] = 0;
        *ret = buf;
        *ret_len = n;
        return 0;
}

int ss_remove_tree(const char *path) {
        DIR *d = opendir(path);
        if (!d)
                return unlink(path);
        struct dirent *de;
        char sub[PATH_MAX];
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
                    snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) < PATH_MAX)
                        (void) ss_remove_tree(sub);
        closedir(d);
        return rmdir(path);
}

/* Names as the standard lists them: each NUL-terminated, a second NUL at
 * the end. out NULL: the size needed. */
SKF_ULONG ss_multi_string(char **names, size_t n, SKF_CHAR *out, SKF_ULONG *size) {
        size_t need = 1;
        for (size_t i = 0; i < n; i++)
                need += strlen(names[i]) + 1;
        if (!size)
                return SAR_INVALIDPARAMERR;
        if (!out) {
                *size = (SKF_ULONG) need;
                return SAR_OK;
        }
        if (*size < need) {
                *size = (SKF_ULONG) need;
                return SAR_BUFFER_TOO_SMALL;
        }
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
                size_t l = strlen(names[i]) + 1;
                memcpy(out + at, names[i], l);
                at += l;
        }
        out[at] = 0;
        *size = (SKF_ULONG) need;
        return SAR_OK;
}

static int by_name(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The entries of dir (names ending in suffix, which is cut off; with an
 * empty suffix the subdirectories), sorted. */
SKF_ULONG ss_list_dir(const char *dir, const char *suffix, SKF_CHAR *out, SKF_ULONG *size) {
        char *names[MAX_LIST];
        size_t n = 0, sl = strlen(suffix);
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && n < MAX_LIST && (de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (de->d_name[0] == '.')
                        continue;
                if (sl ? l <= sl || strcmp(de->d_name + l - sl, suffix) != 0 : de->d_type != DT_DIR)
                        continue;
                if (!(names[n] = strndup(de->d_name, l - sl)))
                        break;
                n++;
        }
        if (d)
                closedir(d);
        qsort(names, n, sizeof(names[0]), by_name);
        SKF_ULONG rv = ss_multi_string(names, n, out, size);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        return rv;
}
