/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's local TLS root and leaf (see tls.h and docs/security.md).
 *
 * The root's private key is generated in memory, signs the root and the leaf,
 * and is freed (EVP_PKEY_free wipes the scalar) before anything is written:
 * no file ever holds it, so the root can never sign anything else. Renewing
 * the leaf therefore means a new root, which the user installs again with
 * `keybridged trust install`.
 */
#include "kb-fs.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "kb-openssl.h"

#define DAY_SECONDS INT64_C(86400)
#define TLS_FILE_MAX (64 * 1024)
#define CN_PART_MAX 20 /* characters of host and of user name: CN stays <= 64 */

typedef struct ext_def {
        int nid;
        const char *value;
} ext_def;

static const ext_def root_exts[] = {
        { NID_basic_constraints, "critical,CA:TRUE,pathlen:0" },
        { NID_key_usage, "critical,keyCertSign,cRLSign" },
        { NID_subject_key_identifier, "hash" },
        { NID_name_constraints,
          "critical,permitted;DNS:localhost,"
          "permitted;IP:127.0.0.1/255.255.255.255,"
          "permitted;IP:::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
};

static const ext_def leaf_exts[] = {
        { NID_basic_constraints, "critical,CA:FALSE" },
        { NID_key_usage, "critical,digitalSignature" },
        { NID_ext_key_usage, "serverAuth" },
        { NID_subject_key_identifier, "hash" },
        { NID_authority_key_identifier, "keyid:always" },
        { NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1" },
};

static int fail(char *err, size_t errlen, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int r, const char *fmt, ...) {
        if (err && errlen > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return r;
}

char *kb_tls_root_path(const char *state_dir) {
        _cleanup_free_ char *dir = state_dir ? kb_path_join(state_dir, "tls") : NULL;
        return dir ? kb_path_join(dir, "root.pem") : NULL;
}

void kb_tls_material_clear(kb_tls_material *m) {
        if (!m)
                return;
        if (m->key_pem) {
                OPENSSL_cleanse(m->key_pem, strlen(m->key_pem));
                free(m->key_pem);
        }
        free(m->root_pem);
        free(m->leaf_pem);
        *m = (kb_tls_material) { 0 };
}

/* ---- directories and files ---- */

/* The tls directory must be ours, a real directory, and closed to others. */
static int ensure_tls_dir(const char *state_dir, const char *dir) {
        struct stat st;
        int r = kb_mkdir_p(state_dir, 0700);
        if (r < 0)
                return r;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (lstat(dir, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (st.st_uid != geteuid())
                return -EPERM;
        if ((st.st_mode & 07777) != 0700 && chmod(dir, 0700) < 0)
                return -errno;
        return 0;
}

static int read_fd(int fd, char *buf, size_t size) {
        size_t n = 0;
        while (n < size) {
                ssize_t k = read(fd, buf + n, size - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        return n == size && !memchr(buf, '\0', size) ? 0 : -EINVAL;
}

/* Read a small text file into a NUL-terminated string; wiped on failure. */
static int read_file(const char *dir, const char *name, char **ret) {
        _cleanup_free_ char *path = kb_path_join(dir, name);
        if (!path)
                return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size > TLS_FILE_MAX)
                return -EINVAL;
        size_t size = (size_t) st.st_size;
        char *buf = calloc(1, size + 1);
        if (!buf)
                return -ENOMEM;
        int r = read_fd(fd, buf, size);
        if (r < 0) {
                OPENSSL_cleanse(buf, size + 1);
                free(buf);
                return r;
        }
        *ret = buf;
        return 0;
}

static int write_material(const char *dir, const kb_tls_material *m) {
        int r = kb_write_atomic(dir, "leaf.key", m->key_pem, strlen(m->key_pem), 0600);
        if (r >= 0)
                r = kb_write_atomic(dir, "leaf.pem", m->leaf_pem, strlen(m->leaf_pem), 0644);
        if (r >= 0)
                r = kb_write_atomic(dir, "root.pem", m->root_pem, strlen(m->root_pem), 0644);
        return r;
}

/* ---- PEM ---- */

static int no_passphrase(char *buf, int size, int rwflag, void *u) {
        return -1; /* leaf.key is never encrypted; never prompt on a terminal */
}

X509 *kb_tls_pem_to_x509(const char *pem) {
        _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(pem, -1);
        return b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
}

EVP_PKEY *kb_tls_pem_to_key(const char *pem) {
        _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(pem, -1);
        return b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
}

static char *bio_to_string(BIO *b) {
        char *data = NULL;
        long n = BIO_get_mem_data(b, &data);
        return n > 0 && data ? strndup(data, (size_t) n) : NULL;
}

static char *x509_to_pem(X509 *x) {
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        return b && PEM_write_bio_X509(b, x) == 1 ? bio_to_string(b) : NULL;
}

/* Unencrypted PKCS#8 ("BEGIN PRIVATE KEY"); the secure-memory BIO is wiped on free. */
static char *key_to_pem(EVP_PKEY *k) {
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_secmem());
        return b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1 ? bio_to_string(b) : NULL;
}

/* ---- loading ---- */

static int seconds_until(const ASN1_TIME *t, int64_t now, int64_t *ret) {
        _cleanup_(ASN1_TIME_freep) ASN1_TIME *from = ASN1_TIME_set(NULL, (time_t) now);
        int days = 0, secs = 0;
        if (!from || ASN1_TIME_diff(&days, &secs, from, t) != 1)
                return -EINVAL;
        *ret = (int64_t) days * DAY_SECONDS + secs;
        return 0;
}

static bool leaf_signed_by(X509 *leaf, X509 *root) {
        EVP_PKEY *root_pub = X509_get0_pubkey(root);
        return root_pub &&
                X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(root)) == 0 &&
                X509_verify(leaf, root_pub) == 1;
}

/* Sets m->leaf_not_after when the set is consistent and not due for renewal. */
static int check_material(kb_tls_material *m, int64_t now) {
        _cleanup_(X509_freep) X509 *root = kb_tls_pem_to_x509(m->root_pem);
        _cleanup_(X509_freep) X509 *leaf = kb_tls_pem_to_x509(m->leaf_pem);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = kb_tls_pem_to_key(m->key_pem);
        int64_t left;
        if (!root || !leaf || !key)
                return -EINVAL;
        if (!leaf_signed_by(leaf, root) || X509_check_private_key(leaf, key) != 1)
                return -EINVAL;
        if (seconds_until(X509_get0_notAfter(leaf), now, &left) < 0)
                return -EINVAL;
        if (left <= KB_TLS_RENEW_BEFORE_DAYS * DAY_SECONDS)
                return -ESTALE;
        m->leaf_not_after = now + left;
        return 0;
}

static int load_existing(const char *dir, int64_t now, kb_tls_material *ret) {
        _cleanup_(kb_tls_material_clear) kb_tls_material m = { 0 };
        int r = read_file(dir, "root.pem", &m.root_pem);
        if (r >= 0)
                r = read_file(dir, "leaf.pem", &m.leaf_pem);
        if (r >= 0)
                r = read_file(dir, "leaf.key", &m.key_pem);
        if (r >= 0)
                r = check_material(&m, now);
        if (r < 0)
                return r;
        m.issued = false;
        *ret = m;
        m = (kb_tls_material) { 0 };
        return 0;
}

/* ---- issuing ---- */

static EVP_PKEY *ec_keygen(void) {
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int set_random_serial(X509 *x) {
        unsigned char b[16];
        if (RAND_bytes(b, sizeof b) != 1)
                return -EIO;
        b[0] = (unsigned char) ((b[0] & 0x7f) | 0x40); /* positive, all 16 bytes used */
        _cleanup_(BN_freep) BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
        _cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
        return ai && X509_set_serialNumber(x, ai) == 1 ? 0 : -EIO;
}

/* Byte length of the first max_chars UTF-8 characters of s. */
static int utf8_prefix(const char *s, int max_chars) {
        int i = 0, chars = 0;
        for (; s[i]; i++) {
                if (((unsigned char) s[i] & 0xc0) != 0x80 && chars++ == max_chars)
                        break;
        }
        return i;
}

static void user_name(char *buf, size_t size) {
        char pwbuf[4096];
        struct passwd pw, *res = NULL;
        if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof pwbuf, &res) == 0 && res && res->pw_name[0])
                snprintf(buf, size, "%s", res->pw_name);
        else
                snprintf(buf, size, "uid %u", (unsigned) geteuid());
}

static int name_add(X509_NAME *n, const char *field, const char *value) {
        return X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8, (const unsigned char *) value, -1, -1, 0) == 1 ? 0 : -EIO;
}

/* CN=keybridge local root (<host> <user>), O=keybridge; plain CN if names are odd. */
static X509_NAME *root_name(void) {
        char host[HOST_NAME_MAX + 1] = "", user[256], cn[128];
        if (gethostname(host, sizeof host) < 0 || !host[0])
                snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        user_name(user, sizeof user);
        snprintf(cn, sizeof cn, "keybridge local root (%.*s %.*s)",
                 utf8_prefix(host, CN_PART_MAX), host, utf8_prefix(user, CN_PART_MAX), user);
        _cleanup_(X509_NAME_freep) X509_NAME *n = X509_NAME_new();
        if (!n)
                return NULL;
        if (name_add(n, "CN", cn) < 0) {
                ERR_clear_error(); /* not valid UTF-8: keep the generic name */
                if (name_add(n, "CN", "keybridge local root") < 0)
                        return NULL;
        }
        return name_add(n, "O", "keybridge") < 0 ? NULL : TAKE_PTR(n);
}

static int add_exts(X509 *x, X509 *issuer, const ext_def *defs, size_t n) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
        for (size_t i = 0; i < n; i++) {
                _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext =
                        X509V3_EXT_nconf_nid(NULL, &ctx, defs[i].nid, defs[i].value);
                if (!ext || X509_add_ext(x, ext, -1) != 1)
                        return -EIO;
        }
        return 0;
}

static X509 *cert_new(EVP_PKEY *pub, X509_NAME *subject, X509_NAME *issuer, int64_t nb, int64_t na) {
        _cleanup_(X509_freep) X509 *x = X509_new();
        if (!x || X509_set_version(x, X509_VERSION_3) != 1 || set_random_serial(x) < 0 ||
            X509_set_subject_name(x, subject) != 1 || X509_set_issuer_name(x, issuer) != 1 ||
            X509_set_pubkey(x, pub) != 1 ||
            !ASN1_TIME_set(X509_getm_notBefore(x), (time_t) nb) ||
            !ASN1_TIME_set(X509_getm_notAfter(x), (time_t) na))
                return NULL;
        return TAKE_PTR(x);
}

static X509 *make_root(EVP_PKEY *root_key, int64_t now, int64_t leaf_not_after) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = root_name();
        if (!name)
                return NULL;
        _cleanup_(X509_freep) X509 *x = cert_new(root_key, name, name, now - 3600, leaf_not_after + DAY_SECONDS);
        if (!x || add_exts(x, x, root_exts, KB_ELEMENTSOF(root_exts)) < 0 ||
            X509_sign(x, root_key, EVP_sha256()) <= 0)
                return NULL;
        return TAKE_PTR(x);
}

static X509 *make_leaf(X509 *root, EVP_PKEY *root_key, EVP_PKEY *leaf_key, int64_t now, int64_t not_after) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = X509_NAME_new();
        if (!name || name_add(name, "CN", "localhost") < 0)
                return NULL;
        _cleanup_(X509_freep) X509 *x = cert_new(leaf_key, name, X509_get_subject_name(root), now - 3600, not_after);
        if (!x || add_exts(x, root, leaf_exts, KB_ELEMENTSOF(leaf_exts)) < 0 ||
            X509_sign(x, root_key, EVP_sha256()) <= 0)
                return NULL;
        return TAKE_PTR(x);
}

/* The root key lives only inside this function: freed (and wiped) on return. */
static int make_certs(EVP_PKEY *leaf_key, int64_t now, int64_t not_after, X509 **ret_root, X509 **ret_leaf) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *root_key = ec_keygen();
        if (!root_key)
                return -EIO;
        _cleanup_(X509_freep) X509 *root = make_root(root_key, now, not_after);
        _cleanup_(X509_freep) X509 *leaf = root ? make_leaf(root, root_key, leaf_key, now, not_after) : NULL;
        if (!leaf)
                return -EIO;
        *ret_root = TAKE_PTR(root);
        *ret_leaf = TAKE_PTR(leaf);
        return 0;
}

static int issue(const char *dir, int64_t now, kb_tls_material *ret, char *err, size_t errlen) {
        _cleanup_(kb_tls_material_clear) kb_tls_material m = { 0 };
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *leaf_key = ec_keygen();
        _cleanup_(X509_freep) X509 *root = NULL;
        _cleanup_(X509_freep) X509 *leaf = NULL;
        int64_t not_after = now + KB_TLS_LEAF_DAYS * DAY_SECONDS;

        if (!leaf_key || make_certs(leaf_key, now, not_after, &root, &leaf) < 0)
                return fail(err, errlen, -EIO, "cannot issue the local TLS root and leaf");
        m.root_pem = x509_to_pem(root);
        m.leaf_pem = x509_to_pem(leaf);
        m.key_pem = key_to_pem(leaf_key);
        if (!m.root_pem || !m.leaf_pem || !m.key_pem)
                return fail(err, errlen, -ENOMEM, "cannot encode the local TLS material as PEM");
        int r = write_material(dir, &m);
        if (r < 0)
                return fail(err, errlen, r, "cannot write TLS files in %s: %s", dir, strerror(-r));
        m.leaf_not_after = not_after;
        m.issued = true;
        *ret = m;
        m = (kb_tls_material) { 0 };
        return 0;
}

int kb_tls_ensure(const char *state_dir, int64_t now, kb_tls_material *ret, char *err, size_t errlen) {
        if (!state_dir || !state_dir[0] || !ret)
                return fail(err, errlen, -EINVAL, "no state directory given");
        _cleanup_free_ char *dir = kb_path_join(state_dir, "tls");
        if (!dir)
                return fail(err, errlen, -ENOMEM, "out of memory");
        int r = ensure_tls_dir(state_dir, dir);
        if (r < 0)
                return fail(err, errlen, r, "cannot create %s (mode 0700): %s", dir, strerror(-r));
        r = load_existing(dir, now, ret);
        if (r < 0)
                r = issue(dir, now, ret, err, errlen);
        ERR_clear_error();
        return r;
}
