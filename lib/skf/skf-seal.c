/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Seals on SKF tokens: one file per write in the certificate's application.
 *
 *   name   "ks" + the first 20 hex digits of the certificate's SHA-256 +
 *          "." + the generation's low 32 bits in 8 hex digits (31 bytes;
 *          SKF file names have 32)
 *   data   the envelope of kb-seal.h (generation, media type, bytes)
 *   rights read by anyone (seals are shown without a PIN), or by the user
 *          for hidden seals; written by the user
 *
 * An SKF file has a fixed size from its creation, so a write never changes
 * a file in place: it creates the next generation's file, writes it, reads
 * it back and compares (the commit point; until then a failure deletes the
 * new file and the old seal stays), then deletes the older files
 * best-effort. Reads take the newest intact file; the next write removes
 * what a crash or a pulled token left.
 * Callers hold the source's op_lock.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb-core.h"
#include "kb-formats.h"
#include "skf-source.h"

#define PREFIX_LEN (2 + 20 + 1)
#define NAME_LEN (PREFIX_LEN + 8)
#define MAX_SEALS 16
#define MAX_FILE_LIST 4096
#define CHUNK 1024      /* bytes per SKF_ReadFile / SKF_WriteFile: small tokens take no more */
#define MAX_ENVELOPE (64UL * 1024 * 1024 + 64)   /* --max-seal-bytes at most, and the envelope */

typedef char seal_name[NAME_LEN + 1];

typedef struct seal_files {
        seal_name names[MAX_SEALS];
        size_t n;
} seal_files;

static void prefix_of(const kb_cert *c, char ret[PREFIX_LEN + 1]) {
        snprintf(ret, PREFIX_LEN + 1, "ks%.20s.", c->fingerprint_sha256);
}

/* The certificate's seal files in the application. */
static SKF_ULONG list_seals(skf_source *p, SKF_HANDLE app, const kb_cert *c, seal_files *ret) {
        _cleanup_free_ char *list = calloc(1, MAX_FILE_LIST + 2);
        SKF_ULONG size = MAX_FILE_LIST;
        char prefix[PREFIX_LEN + 1];
        if (!list)
                return SAR_MEMORYERR;
        SKF_ULONG sar = p->f.SKF_EnumFiles(app, list, &size);
        if (sar != SAR_OK)
                return sar;
        prefix_of(c, prefix);
        ret->n = 0;
        for (const char *n = list; *n && n < list + MAX_FILE_LIST; n += strlen(n) + 1)
                if (strlen(n) == NAME_LEN && strncmp(n, prefix, PREFIX_LEN) == 0 && ret->n < MAX_SEALS)
                        memcpy(ret->names[ret->n++], n, NAME_LEN + 1);
        return SAR_OK;
}

static SKF_ULONG read_file(skf_source *p, SKF_HANDLE app, const char *name, size_t len, unsigned char *buf) {
        for (size_t off = 0; off < len;) {
                SKF_ULONG want = len - off < CHUNK ? (SKF_ULONG) (len - off) : CHUNK, got = want;
                SKF_ULONG sar = p->f.SKF_ReadFile(app, (SKF_CHAR *) name, (SKF_ULONG) off, want, buf + off, &got);
                if (sar != SAR_OK)
                        return sar;
                if (got == 0 || got > want)
                        return SAR_READFILEERR;
                off += got;
        }
        return SAR_OK;
}

/* A seal file's envelope, or NULL in *ret for one hidden from us. */
static SKF_ULONG read_envelope(skf_source *p, SKF_HANDLE app, const char *name, bool hidden_too, unsigned char **ret,
                               size_t *ret_len) {
        SKF_FILEATTRIBUTE attr;
        memset(&attr, 0, sizeof(attr));
        *ret = NULL;
        SKF_ULONG sar = p->f.SKF_GetFileInfo(app, (SKF_CHAR *) name, &attr);
        if (sar != SAR_OK)
                return sar;
        if ((!hidden_too && attr.ReadRights != SKF_SECURE_ANYONE_ACCOUNT) || attr.FileSize > MAX_ENVELOPE)
                return SAR_OK;
        _cleanup_free_ unsigned char *buf = malloc(attr.FileSize ? attr.FileSize : 1);
        if (!buf)
                return SAR_MEMORYERR;
        sar = read_file(p, app, name, attr.FileSize, buf);
        if (sar == SAR_OK) {
                *ret = TAKE_PTR(buf);
                *ret_len = attr.FileSize;
        }
        return sar;
}

/* The seal in a file; NULL for a damaged or hidden one. A token that fails
 * to answer is an error: a write must not guess the generations. */
static SKF_ULONG read_seal(skf_source *p, SKF_HANDLE app, const char *name, bool hidden_too, kb_seal **ret) {
        _cleanup_free_ unsigned char *env = NULL;
        size_t len = 0;
        SKF_ULONG sar = read_envelope(p, app, name, hidden_too, &env, &len);
        *ret = sar == SAR_OK && env ? kb_seal_from_stored(env, len) : NULL;
        return sar;
}

static SKF_ULONG newest(skf_source *p, SKF_HANDLE app, const seal_files *files, bool hidden_too, kb_seal **ret) {
        kb_seal *best = NULL;
        for (size_t i = 0; i < files->n; i++) {
                kb_seal *s = NULL;
                SKF_ULONG sar = read_seal(p, app, files->names[i], hidden_too, &s);
                if (sar != SAR_OK) {
                        kb_seal_free(best);
                        return sar;
                }
                if (s && kb_seal_newer(s, best)) {
                        kb_seal_free(best);
                        best = s;
                } else
                        kb_seal_free(s);
        }
        *ret = best;
        return SAR_OK;
}

static bool can_read_files(const skf_source *p) {
        return p->f.SKF_EnumFiles && p->f.SKF_GetFileInfo && p->f.SKF_ReadFile;
}

int kb_skf_seal_read(kb_source *s, const kb_token *t, const kb_cert *c, bool hidden_too, kb_seal **ret) {
        skf_source *p = (skf_source *) s;
        seal_files files;
        kb_seal *seal = NULL;
        SKF_HANDLE app = NULL;
        if (!can_read_files(p))
                return -KB_E_UNSUPPORTED_ALGORITHM;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = kb_skf_device(p, t->id);
        int r = d ? kb_skf_open_app(p, d) : -KB_E_TOKEN_NOT_PRESENT;     /* public files: no login */
        if (r >= 0) {
                app = d->happ;
                SKF_ULONG sar = list_seals(p, app, c, &files);
                if (sar == SAR_OK)
                        sar = newest(p, app, &files, hidden_too, &seal);
                r = sar == SAR_OK ? 0 : -kb_skf_error(p, sar);
        }
        pthread_mutex_unlock(&p->call_lock);
        if (r >= 0 && !seal)
                r = -KB_E_NOT_FOUND;
        if (r >= 0)
                *ret = seal;
        return r;
}

/* The highest generation among the files, damaged ones counting as 0. */
static SKF_ULONG top_generation(skf_source *p, SKF_HANDLE app, const seal_files *files, uint64_t *ret) {
        uint64_t top = 0;
        for (size_t i = 0; i < files->n; i++) {
                kb_seal *s = NULL;
                SKF_ULONG sar = read_seal(p, app, files->names[i], true, &s);
                if (sar != SAR_OK)
                        return sar;
                if (s && s->generation > top)
                        top = s->generation;
                kb_seal_free(s);
        }
        if (top == UINT64_MAX)
                return SAR_FAIL;
        *ret = top;
        return SAR_OK;
}

static SKF_ULONG write_file(skf_source *p, SKF_HANDLE app, const char *name, const unsigned char *buf, size_t len) {
        for (size_t off = 0; off < len; off += CHUNK) {
                SKF_ULONG n = len - off < CHUNK ? (SKF_ULONG) (len - off) : CHUNK;
                SKF_ULONG sar = p->f.SKF_WriteFile(app, (SKF_CHAR *) name, (SKF_ULONG) off, (SKF_BYTE *) buf + off, n);
                if (sar != SAR_OK)
                        return sar;
        }
        return SAR_OK;
}

/* The file as the token holds it now must be exactly what we wrote. */
static SKF_ULONG verify(skf_source *p, SKF_HANDLE app, const char *name, const unsigned char *env, size_t len) {
        _cleanup_free_ unsigned char *back = NULL;
        size_t back_len = 0;
        SKF_ULONG sar = read_envelope(p, app, name, true, &back, &back_len);
        if (sar == SAR_OK && (!back || back_len != len || memcmp(back, env, len) != 0))
                sar = SAR_WRITEFILEERR;
        return sar;
}

/* Create, write, read back; on any failure the new file goes again. */
static SKF_ULONG commit(skf_source *p, SKF_HANDLE app, const char *name, const kb_seal *s) {
        _cleanup_free_ unsigned char *env = NULL;
        size_t len = 0;
        if (kb_seal_envelope(s, &env, &len) < 0 || len > MAX_ENVELOPE)
                return SAR_MEMORYERR;
        SKF_ULONG read = s->hidden ? SKF_SECURE_USER_ACCOUNT : SKF_SECURE_ANYONE_ACCOUNT;
        SKF_ULONG sar = p->f.SKF_CreateFile(app, (SKF_CHAR *) name, (SKF_ULONG) len, read, SKF_SECURE_USER_ACCOUNT);
        if (sar != SAR_OK)
                return sar;
        sar = write_file(p, app, name, env, len);
        if (sar == SAR_OK)
                sar = verify(p, app, name, env, len);
        if (sar != SAR_OK)
                (void) p->f.SKF_DeleteFile(app, (SKF_CHAR *) name);
        return sar;
}

static SKF_ULONG replace(skf_source *p, SKF_HANDLE app, const kb_cert *c, const kb_seal *seal) {
        seal_files old;
        kb_seal s = *seal;
        seal_name name;
        char prefix[PREFIX_LEN + 1];
        SKF_ULONG sar = list_seals(p, app, c, &old);
        if (sar == SAR_OK)
                sar = top_generation(p, app, &old, &s.generation);
        if (sar != SAR_OK)
                return sar;
        s.generation++;
        prefix_of(c, prefix);
        snprintf(name, sizeof(name), "%s%08" PRIx32, prefix, (uint32_t) s.generation);
        /* A file of this name holds no intact seal (it would be the top):
         * what a crash mid-write left. */
        for (size_t i = 0; i < old.n; i++)
                if (strcmp(old.names[i], name) == 0)
                        (void) p->f.SKF_DeleteFile(app, name);
        sar = commit(p, app, name, &s);
        /* Committed: what is left of the old seal is cleaned up best-effort. */
        for (size_t i = 0; sar == SAR_OK && i < old.n; i++)
                if (strcmp(old.names[i], name) != 0)
                        (void) p->f.SKF_DeleteFile(app, old.names[i]);
        return sar;
}

int kb_skf_seal_write(kb_source *s, const kb_token *t, const kb_cert *c, const kb_seal *seal) {
        skf_source *p = (skf_source *) s;
        SKF_HANDLE app = NULL;
        if (!can_read_files(p) || !p->f.SKF_CreateFile || !p->f.SKF_WriteFile || !p->f.SKF_DeleteFile)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = NULL;
        int r = kb_skf_login_device(p, t, &d);
        if (r >= 0) {
                app = d->happ;
                r = kb_skf_login_error(p, d, replace(p, app, c, seal));
        }
        pthread_mutex_unlock(&p->call_lock);
        return r;
}
