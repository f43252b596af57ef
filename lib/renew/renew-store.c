/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The renewal state on disk (kb-renew.h): pending requests, the install
 * journal, backups of replaced certificates, history. JSON files, each
 * replaced atomically. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kb-core.h"
#include "renew-internal.h"

#define MAX_FILE (256 * 1024)

static inline void kb_closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

struct kb_renewals {
        char *dir;              /* <state_dir>/renewal */
        char *pending, *journal, *backup, *history;
};

static const char *const phase_names[] = {
        [KB_INSTALL_BEGUN] = "begun",
        [KB_INSTALL_WRITTEN] = "written",
        [KB_INSTALL_OLD_REMOVED] = "old-removed",
        [KB_INSTALL_DONE] = "done",
        [KB_INSTALL_ROLLING_BACK] = "rolling-back",
};

const char *kb_install_phase_name(kb_install_phase p) {
        return (unsigned) p < KB_ELEMENTSOF(phase_names) ? phase_names[p] : NULL;
}

void kb_install_clear(kb_install *j) {
        free(j->label);
        free(j->new_der);
        free(j->old_der);
        free(j->enc_der);
        *j = (kb_install) { 0 };
}

void kb_renewals_free(kb_renewals *r) {
        if (!r)
                return;
        free(r->dir);
        free(r->pending);
        free(r->journal);
        free(r->backup);
        free(r->history);
        free(r);
}

int kb_renewals_open(const char *state_dir, kb_renewals **ret) {
        kb_renewals *r = calloc(1, sizeof(*r));
        if (!r || !(r->dir = kb_path_join(state_dir, "renewal")) || !(r->pending = kb_path_join(r->dir, "pending")) ||
            !(r->journal = kb_path_join(r->dir, "journal")) || !(r->backup = kb_path_join(r->dir, "backup")) ||
            !(r->history = kb_path_join(r->dir, "history"))) {
                kb_renewals_free(r);
                return -ENOMEM;
        }
        const char *dirs[] = { r->pending, r->journal, r->backup, r->history };
        for (size_t i = 0; i < KB_ELEMENTSOF(dirs); i++) {
                int e = kb_mkdir_p(dirs[i], 0700);
                if (e < 0) {
                        kb_renewals_free(r);
                        return e;
                }
        }
        *ret = r;
        return 0;
}

/* ---- hex and base64 ---- */

void kb_key_id_hex(const kb_key_id *id, char *buf, size_t size) {
        size_t n = 0;
        for (size_t i = 0; i < id->len && n + 3 <= size; i++)
                n += (size_t) snprintf(buf + n, size - n, "%02x", id->v[i]);
        buf[n < size ? n : size - 1] = '\0';
}

static int key_id_from_hex(const char *hex, kb_key_id *ret) {
        size_t n = strlen(hex);
        if (n % 2 || n / 2 > sizeof(ret->v))
                return -EINVAL;
        for (size_t i = 0; i < n / 2; i++) {
                unsigned v;
                if (sscanf(hex + 2 * i, "%2x", &v) != 1)
                        return -EINVAL;
                ret->v[i] = (unsigned char) v;
        }
        ret->len = n / 2;
        return 0;
}

static json_t *hex_json(const kb_key_id *id) {
        char buf[2 * sizeof(id->v) + 1];
        kb_key_id_hex(id, buf, sizeof(buf));
        return json_string(buf);
}

/* The project's strict base64 decoder, outside a request. */
static int b64_decode(json_t *v, unsigned char **ret, size_t *ret_len) {
        kb_call scratch = { 0 };
        return kb_param_base64(&scratch, "der", v, ret, ret_len) < 0 ? -EINVAL : 0;
}

/* ---- files ---- */

static int save_json(const char *dir, const char *name, json_t *doc) {
        _cleanup_free_ char *text = doc ? json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
        json_decref(doc);
        if (!text)
                return -ENOMEM;
        return kb_write_atomic(dir, name, text, strlen(text), 0600);
}

static int load_json(const char *dir, const char *name, json_t **ret) {
        _cleanup_free_ char *path = kb_path_join(dir, name);
        if (!path)
                return -ENOMEM;
        json_error_t err;
        *ret = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
        if (*ret)
                return 0;
        return access(path, F_OK) == 0 ? -EBADMSG : -ENOENT;
}

static bool safe_name(const char *s, size_t max) {
        size_t n = strlen(s);
        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static int file_name(char *buf, size_t size, const char *id, size_t max) {
        if (!safe_name(id, max))
                return -KB_E_NOT_FOUND;
        snprintf(buf, size, "%s.json", id);
        return 0;
}

/* ---- pending requests ---- */

int kb_pending_save(kb_renewals *r, const kb_pending *p) {
        char name[64];
        if (file_name(name, sizeof(name), p->request_id, KB_RENEW_ID_LEN) < 0)
                return -KB_E_INTERNAL;
        json_t *doc = json_pack("{s:i, s:s, s:s, s:s, s:b, s:o, s:I}", "version", 1, "requestId", p->request_id,
                                "token", p->token, "certificate", p->certificate, "newKey", p->new_key,
                                "keyId", hex_json(&p->key_id), "created", (json_int_t) p->created);
        if (doc && p->enrollment) {     /* absent in a renewal's request, as before enrollment existed */
                json_object_set_new(doc, "enrollment", json_true());
                json_object_set_new(doc, "label", json_string(p->label));
        }
        return save_json(r->pending, name, doc) < 0 ? -KB_E_INTERNAL : 0;
}

static int copy_str(char *dst, size_t size, const char *src) {
        if (!src || strlen(src) >= size)
                return -EINVAL;
        memcpy(dst, src, strlen(src) + 1);
        return 0;
}

static int retired_name(char *buf, size_t size, const char *request_id) {
        if (!safe_name(request_id, KB_RENEW_ID_LEN))
                return -KB_E_NOT_FOUND;
        snprintf(buf, size, "%s.request.json", request_id);
        return 0;
}

int kb_pending_load(kb_renewals *r, const char *request_id, bool retired_too, kb_pending *ret) {
        char name[64], retired[64];
        json_t *doc = NULL;
        const char *id = NULL, *token = NULL, *cert = NULL, *key = NULL;
        int new_key = 0;
        json_int_t created = 0;
        if (file_name(name, sizeof(name), request_id, KB_RENEW_ID_LEN) < 0 ||
            retired_name(retired, sizeof(retired), request_id) < 0)
                return -KB_E_NOT_FOUND;
        int e = load_json(r->pending, name, &doc);
        if (e == -ENOENT && retired_too)
                e = load_json(r->history, retired, &doc);
        if (e < 0)
                return e == -ENOENT ? -KB_E_NOT_FOUND : -KB_E_INTERNAL;
        *ret = (kb_pending) { 0 };
        e = json_unpack(doc, "{s:s, s:s, s:s, s:b, s:s, s:I}", "requestId", &id, "token", &token, "certificate",
                        &cert, "newKey", &new_key, "keyId", &key, "created", &created);
        if (e == 0)
                e = copy_str(ret->request_id, sizeof(ret->request_id), id) |
                    copy_str(ret->token, sizeof(ret->token), token) |
                    copy_str(ret->certificate, sizeof(ret->certificate), cert) | key_id_from_hex(key, &ret->key_id);
        ret->new_key = new_key;
        ret->created = created;
        ret->enrollment = json_is_true(json_object_get(doc, "enrollment"));
        if (e == 0 && ret->enrollment)
                e = copy_str(ret->label, sizeof(ret->label), json_string_value(json_object_get(doc, "label")));
        json_decref(doc);
        return e == 0 ? 0 : -KB_E_INTERNAL;
}

int kb_pending_remove(kb_renewals *r, const char *request_id) {
        char name[64];
        if (file_name(name, sizeof(name), request_id, KB_RENEW_ID_LEN) < 0)
                return -KB_E_NOT_FOUND;
        _cleanup_free_ char *path = kb_path_join(r->pending, name);
        if (!path)
                return -KB_E_INTERNAL;
        if (unlink(path) < 0)
                return errno == ENOENT ? -KB_E_NOT_FOUND : -KB_E_INTERNAL;
        return 0;
}

static void retire(kb_renewals *r, const char *request_id) {
        char name[64], retired[64];
        if (file_name(name, sizeof(name), request_id, KB_RENEW_ID_LEN) < 0 ||
            retired_name(retired, sizeof(retired), request_id) < 0)
                return;
        _cleanup_free_ char *from = kb_path_join(r->pending, name);
        _cleanup_free_ char *to = kb_path_join(r->history, retired);
        if (from && to && rename(from, to) == 0) {
                (void) kb_fsync_dir(r->pending);
                (void) kb_fsync_dir(r->history);
        }
}

void kb_pending_retire_key(kb_renewals *r, const char *token, const kb_key_id *key_id) {
        _cleanup_(kb_closedirp) DIR *d = opendir(r->pending);
        struct dirent *de;
        while (d && (de = readdir(d))) {
                char id[KB_RENEW_ID_LEN + 1];
                kb_pending p;
                if (sscanf(de->d_name, "%32[0-9a-f].json", id) != 1 || kb_pending_load(r, id, false, &p) < 0)
                        continue;
                if (strcmp(p.token, token) == 0 && p.key_id.len == key_id->len &&
                    memcmp(p.key_id.v, key_id->v, key_id->len) == 0)
                        retire(r, id);
        }
}

/* ---- the install journal ---- */

int kb_journal_save(kb_renewals *r, const kb_install *j) {
        char name[64];
        if (file_name(name, sizeof(name), j->token, KB_TOKEN_ID_LEN) < 0)
                return -KB_E_INTERNAL;
        json_t *doc = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:{s:o, s:o}, s:{s:o, s:o, s:b}}", "version", 1,
                                "token", j->token, "requestId", j->request_id, "phase",
                                kb_install_phase_name(j->phase), "label", j->label ? j->label : "", "started",
                                (json_int_t) j->started, "new", "der", kb_base64_json(j->new_der, j->new_len), "keyId",
                                hex_json(&j->new_key), "old", "der", kb_base64_json(j->old_der, j->old_len), "keyId",
                                hex_json(&j->old_key), "destroyKey", j->destroy_old_key);
        if (doc && j->enc_der &&
            json_object_set_new(doc, "encryption",
                                json_pack("{s:o, s:o, s:b, s:b, s:i}", "der", kb_base64_json(j->enc_der, j->enc_len),
                                          "keyId", hex_json(&j->enc_key), "unwrapKey", j->enc_key_ours,
                                          "writeCertificate", j->enc_cert_ours, "refused", j->enc_refused)) < 0) {
                json_decref(doc);
                return -KB_E_INTERNAL;
        }
        return save_json(r->journal, name, doc) < 0 ? -KB_E_INTERNAL : 0;
}

static int phase_from_name(const char *s, kb_install_phase *ret) {
        for (size_t i = 0; i < KB_ELEMENTSOF(phase_names); i++)
                if (strcmp(s, phase_names[i]) == 0) {
                        *ret = (kb_install_phase) i;
                        return 0;
                }
        return -EINVAL;
}

/* The double certificate's part, when there is one. */
static int encryption_from_json(json_t *enc, kb_install *j) {
        const char *key;
        json_t *der;
        int unwrap = 0, write = 0, refused = 0;
        if (!enc)
                return 0;
        if (json_unpack(enc, "{s:o, s:s, s:b, s:b, s?i}", "der", &der, "keyId", &key, "unwrapKey", &unwrap,
                        "writeCertificate", &write, "refused", &refused) < 0 ||
            key_id_from_hex(key, &j->enc_key) < 0 || b64_decode(der, &j->enc_der, &j->enc_len) < 0)
                return -EINVAL;
        j->enc_key_ours = unwrap;
        j->enc_cert_ours = write;
        j->enc_refused = refused;
        return 0;
}

static int journal_from_json(json_t *doc, kb_install *j) {
        const char *token, *req, *phase, *label, *new_key, *old_key;
        json_t *new_der, *old_der;
        json_int_t started = 0;
        int destroy = 0;
        if (json_unpack(doc, "{s:s, s:s, s:s, s:s, s:I, s:{s:o, s:s}, s:{s:o, s:s, s:b}}", "token", &token,
                        "requestId", &req, "phase", &phase, "label", &label, "started", &started, "new", "der",
                        &new_der, "keyId", &new_key, "old", "der", &old_der, "keyId", &old_key, "destroyKey",
                        &destroy) < 0)
                return -EINVAL;
        j->started = started;
        j->destroy_old_key = destroy;
        if (copy_str(j->token, sizeof(j->token), token) < 0 || copy_str(j->request_id, sizeof(j->request_id), req) < 0 ||
            phase_from_name(phase, &j->phase) < 0 || !(j->label = strdup(label)) ||
            key_id_from_hex(new_key, &j->new_key) < 0 || key_id_from_hex(old_key, &j->old_key) < 0 ||
            b64_decode(new_der, &j->new_der, &j->new_len) < 0 || b64_decode(old_der, &j->old_der, &j->old_len) < 0)
                return -EINVAL;
        return encryption_from_json(json_object_get(doc, "encryption"), j);
}

int kb_journal_load(kb_renewals *r, const char *token, kb_install *ret) {
        char name[64];
        json_t *doc = NULL;
        *ret = (kb_install) { 0 };
        if (file_name(name, sizeof(name), token, KB_TOKEN_ID_LEN) < 0)
                return -KB_E_NOT_FOUND;
        int e = load_json(r->journal, name, &doc);
        if (e < 0)
                return e == -ENOENT ? -KB_E_NOT_FOUND : -KB_E_INTERNAL;
        e = journal_from_json(doc, ret);
        json_decref(doc);
        if (e < 0) {
                kb_install_clear(ret);
                return -KB_E_INTERNAL;
        }
        return 0;
}

bool kb_journal_exists(kb_renewals *r, const char *token) {
        char name[64];
        if (file_name(name, sizeof(name), token, KB_TOKEN_ID_LEN) < 0)
                return false;
        _cleanup_free_ char *path = kb_path_join(r->journal, name);
        return path && access(path, F_OK) == 0;
}

#define HISTORY_SAME_SECOND 1000

/* history/<token>-<now>.json, or -<now>-<n>.json for the n-th install that
 * finished within the same second: link() never replaces a file, so no
 * finished install overwrites another's record. A crash between the link
 * and the unlink leaves the journal at done, and its next close records it
 * again under another name (a duplicate, nothing lost). */
static int keep_in_history(kb_renewals *r, const char *from, const char *token, time_t now) {
        char done[128];
        for (int n = 0; n < HISTORY_SAME_SECOND; n++) {
                if (n == 0)
                        snprintf(done, sizeof(done), "%s-%lld.json", token, (long long) now);
                else
                        snprintf(done, sizeof(done), "%s-%lld-%d.json", token, (long long) now, n);
                _cleanup_free_ char *to = kb_path_join(r->history, done);
                if (!to)
                        return -KB_E_INTERNAL;
                if (link(from, to) == 0)
                        return unlink(from) < 0 ? -KB_E_INTERNAL : 0;
                if (errno == EPERM || errno == ENOTSUP)     /* no hard links here: this name is free */
                        return rename(from, to) < 0 ? -KB_E_INTERNAL : 0;
                if (errno != EEXIST)
                        return -KB_E_INTERNAL;
        }
        return -KB_E_INTERNAL;
}

int kb_journal_close(kb_renewals *r, const kb_install *j) {
        char name[64];
        if (file_name(name, sizeof(name), j->token, KB_TOKEN_ID_LEN) < 0)
                return -KB_E_INTERNAL;
        _cleanup_free_ char *from = kb_path_join(r->journal, name);
        if (!from)
                return -KB_E_INTERNAL;
        if (j->phase != KB_INSTALL_DONE)
                return unlink(from) < 0 && errno != ENOENT ? -KB_E_INTERNAL : 0;
        /* done: the finished journal, with its phase, becomes history */
        if (kb_journal_save(r, j) < 0 || keep_in_history(r, from, j->token, time(NULL)) < 0)
                return -KB_E_INTERNAL;
        return kb_fsync_dir(r->journal) < 0 || kb_fsync_dir(r->history) < 0 ? -KB_E_INTERNAL : 0;
}

/* ---- backups ---- */

int kb_backup_save(kb_renewals *r, const char *token, const unsigned char *der, size_t len) {
        unsigned char md[32];
        char name[80];
        unsigned md_len = 0;
        if (!safe_name(token, KB_TOKEN_ID_LEN) || !EVP_Digest(der, len, md, &md_len, EVP_sha256(), NULL))
                return -KB_E_INTERNAL;
        for (unsigned i = 0; i < md_len; i++)
                snprintf(name + 2 * i, 3, "%02x", md[i]);
        strcat(name, ".pem");
        _cleanup_free_ char *dir = kb_path_join(r->backup, token);
        const unsigned char *in = der;
        _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &in, (long) len);
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        char *pem = NULL;
        if (!dir || !x || !b || kb_mkdir_p(dir, 0700) < 0 || !PEM_write_bio_X509(b, x))
                return -KB_E_INTERNAL;
        long pem_len = BIO_get_mem_data(b, &pem);
        return kb_write_atomic(dir, name, pem, (size_t) pem_len, 0600) < 0 ? -KB_E_INTERNAL : 0;
}
