/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * raw-sign: the baseline for the sign benchmark (bench_sign.py). A C_SignInit +
 * C_Sign loop against one PKCS#11 key, doing per signature what the daemon's
 * provider does (lib/pkcs11/p11-pkey-sig.c): hash the data on the host with OpenSSL,
 * then CKM_RSA_PKCS over the DER DigestInfo for RSA, or CKM_ECDSA over the
 * bare hash for EC. Each thread has its own session; the key is found once per
 * session.
 *
 * Usage: raw-sign [options] MODULE TOKEN_LABEL PIN KEY_ID_HEX rsa|ec SECONDS THREADS
 *   --data-len N      bytes of data hashed per signature (100)
 *   --shared-session  one session for all threads behind one mutex (what the
 *                     daemon does: one login session per token, op_lock)
 *   --lookup          per signature, also C_FindObjects the key and read
 *                     CKA_KEY_TYPE (+ CKA_MODULUS for RSA), as the daemon's
 *                     kb_p11_private_key does per request
 *   --parse-cert      per signature, also parse the key's certificate (DER
 *                     read from the token once) and copy its public key, as
 *                     kb_p11_private_key (d2i_X509) and kb_p11_pkey_new
 *                     (EVP_PKEY_dup) do per request
 *   --thread-per-op   make each signature on a new thread, created and joined
 *                     (as daemon/server/http.c runs each token request on a new
 *                     detached thread)
 *
 * The latency of one signature includes the host hash (and what the options
 * add), and with --shared-session the wait for the mutex.
 *
 * stdout: one JSON object: the options, ops, seconds, ops_per_s, p50_us,
 * p99_us, mean_us and cpu_us_per_op (the process's user + system CPU time over
 * the loop, divided by the signatures made). Exit status 0, or 1 if setup or
 * a signature failed (the CK_RV goes to stderr), 2 for bad usage.
 */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* DER DigestInfo prefix for SHA-256 (RFC 8017 section 9.2, note 1). */
static const unsigned char sha256_prefix[] = {
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
        0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};

typedef struct config {
        CK_FUNCTION_LIST *fn;
        CK_SLOT_ID slot;
        unsigned char key_id[64];
        size_t key_id_len;
        bool ec;
        bool shared;
        bool lookup;
        bool thread_per_op;
        bool parse_cert;
        unsigned char *cert;            /* --parse-cert: the certificate's DER */
        size_t cert_len;
        size_t data_len;
        double seconds;
        pthread_mutex_t lock;           /* --shared-session */
        CK_SESSION_HANDLE shared_session;
        pthread_barrier_t start;
} config;

typedef struct worker {
        config *cfg;
        pthread_t thread;
        uint32_t *lat_ns;               /* one latency per signature */
        size_t n, cap;
        int failed;
        CK_RV rv;
        double elapsed;
} worker;

static double cpu_s(void) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec +
               (double) ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* The token label without its blank padding. */
static bool label_is(const CK_TOKEN_INFO *ti, const char *label) {
        size_t n = sizeof(ti->label);
        while (n > 0 && ti->label[n - 1] == ' ')
                n--;
        return strlen(label) == n && memcmp(ti->label, label, n) == 0;
}

static CK_RV find_slot(CK_FUNCTION_LIST *fn, const char *label, CK_SLOT_ID *ret) {
        CK_SLOT_ID slots[64];
        CK_ULONG n = 64;
        CK_RV rv = fn->C_GetSlotList(CK_TRUE, slots, &n);
        if (rv != CKR_OK)
                return rv;
        for (CK_ULONG i = 0; i < n; i++) {
                CK_TOKEN_INFO ti;
                if (fn->C_GetTokenInfo(slots[i], &ti) == CKR_OK && label_is(&ti, label)) {
                        *ret = slots[i];
                        return CKR_OK;
                }
        }
        return CKR_TOKEN_NOT_PRESENT;
}

static CK_RV find_key(const config *c, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *ret) {
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_ID, (void *) c->key_id, c->key_id_len },
        };
        CK_ULONG n = 0;
        CK_RV rv = c->fn->C_FindObjectsInit(s, tmpl, 2);
        if (rv != CKR_OK)
                return rv;
        rv = c->fn->C_FindObjects(s, ret, 1, &n);
        (void) c->fn->C_FindObjectsFinal(s);
        return rv != CKR_OK ? rv : n == 1 ? CKR_OK : CKR_KEY_HANDLE_INVALID;
}

/* The key's certificate, for --parse-cert. */
static CK_RV read_cert(config *c, CK_SESSION_HANDLE s) {
        CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_ID, c->key_id, c->key_id_len },
        };
        CK_OBJECT_HANDLE o;
        CK_ULONG n = 0;
        CK_RV rv = c->fn->C_FindObjectsInit(s, tmpl, 2);
        if (rv != CKR_OK)
                return rv;
        rv = c->fn->C_FindObjects(s, &o, 1, &n);
        (void) c->fn->C_FindObjectsFinal(s);
        if (rv != CKR_OK || n != 1)
                return rv != CKR_OK ? rv : CKR_KEY_HANDLE_INVALID;
        CK_ATTRIBUTE v = { CKA_VALUE, NULL, 0 };
        if ((rv = c->fn->C_GetAttributeValue(s, o, &v, 1)) != CKR_OK)
                return rv;
        if (!(v.pValue = c->cert = malloc(v.ulValueLen)))
                return CKR_HOST_MEMORY;
        c->cert_len = v.ulValueLen;
        return c->fn->C_GetAttributeValue(s, o, &v, 1);
}

/* What the daemon does with the certificate per request. */
static CK_RV parse_cert(const config *c) {
        const unsigned char *der = c->cert;
        X509 *x = d2i_X509(NULL, &der, (long) c->cert_len);
        EVP_PKEY *copy = x ? EVP_PKEY_dup(X509_get0_pubkey(x)) : NULL;
        CK_RV rv = copy ? CKR_OK : CKR_GENERAL_ERROR;
        EVP_PKEY_free(copy);
        X509_free(x);
        return rv;
}

/* What kb_p11_private_key + kb_p11_pkey_new ask the token per request. */
static CK_RV lookup_like_daemon(const config *c, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *key) {
        CK_RV rv = find_key(c, s, key);
        if (rv != CKR_OK)
                return rv;
        CK_KEY_TYPE type = 0;
        CK_ATTRIBUTE a = { CKA_KEY_TYPE, &type, sizeof(type) };
        if ((rv = c->fn->C_GetAttributeValue(s, *key, &a, 1)) != CKR_OK || c->ec)
                return rv;
        unsigned char mod[1024];
        CK_ATTRIBUTE m = { CKA_MODULUS, mod, sizeof(mod) };
        return c->fn->C_GetAttributeValue(s, *key, &m, 1);
}

static CK_RV open_session(const config *c, CK_SESSION_HANDLE *ret) {
        return c->fn->C_OpenSession(c->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, ret);
}

/* One signature as the daemon makes it: host hash, then the token. */
static CK_RV sign_once(const config *c, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, const unsigned char *data) {
        unsigned char tbs[sizeof(sha256_prefix) + 32], sig[1024];
        unsigned int hlen = 0;
        CK_ULONG siglen = sizeof(sig);
        size_t off = c->ec ? 0 : sizeof(sha256_prefix);
        CK_MECHANISM mech = { c->ec ? CKM_ECDSA : CKM_RSA_PKCS, NULL, 0 };

        if (!c->ec)
                memcpy(tbs, sha256_prefix, sizeof(sha256_prefix));
        if (!EVP_Digest(data, c->data_len, tbs + off, &hlen, EVP_sha256(), NULL))
                return CKR_GENERAL_ERROR;
        if (c->parse_cert && parse_cert(c) != CKR_OK)
                return CKR_GENERAL_ERROR;
        if (c->lookup) {
                CK_RV rv = lookup_like_daemon(c, s, &key);
                if (rv != CKR_OK)
                        return rv;
        }
        CK_RV rv = c->fn->C_SignInit(s, &mech, key);
        if (rv == CKR_OK)
                rv = c->fn->C_Sign(s, tbs, off + hlen, sig, &siglen);
        return rv;
}

typedef struct one_op {
        const config *c;
        CK_SESSION_HANDLE s;
        CK_OBJECT_HANDLE key;
        const unsigned char *data;
        CK_RV rv;
} one_op;

static void *run_one(void *arg) {
        one_op *o = arg;
        o->rv = sign_once(o->c, o->s, o->key, o->data);
        return NULL;
}

/* One signature, on this thread or on a new one. */
static CK_RV sign_op(const config *c, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, const unsigned char *data) {
        if (!c->thread_per_op)
                return sign_once(c, s, key, data);
        one_op o = { c, s, key, data, CKR_OK };
        pthread_t t;
        if (pthread_create(&t, NULL, run_one, &o) != 0)
                return CKR_HOST_MEMORY;
        pthread_join(t, NULL);
        return o.rv;
}

static void *run(void *arg) {
        worker *w = arg;
        config *c = w->cfg;
        CK_SESSION_HANDLE s = 0;
        CK_OBJECT_HANDLE key = 0;
        unsigned char *data = malloc(c->data_len);
        CK_RV rv = data ? CKR_OK : CKR_HOST_MEMORY;

        for (size_t i = 0; data && i < c->data_len; i++)
                data[i] = (unsigned char) ('a' + i % 26);
        if (rv == CKR_OK && !c->shared)
                rv = open_session(c, &s);
        if (rv == CKR_OK && c->shared) {
                pthread_mutex_lock(&c->lock);
                rv = find_key(c, c->shared_session, &key);
                pthread_mutex_unlock(&c->lock);
        } else if (rv == CKR_OK) {
                rv = find_key(c, s, &key);
        }
        pthread_barrier_wait(&c->start);
        double t0 = now_s(), end = t0 + c->seconds;
        while (rv == CKR_OK) {
                uint64_t a = now_ns();
                if (c->shared) {
                        pthread_mutex_lock(&c->lock);
                        rv = sign_op(c, c->shared_session, key, data);
                        pthread_mutex_unlock(&c->lock);
                } else {
                        rv = sign_op(c, s, key, data);
                }
                uint64_t b = now_ns();
                if (rv != CKR_OK)
                        break;
                if (w->n == w->cap) {
                        size_t cap = w->cap ? 2 * w->cap : 4096;
                        uint32_t *n = realloc(w->lat_ns, cap * sizeof(*n));
                        if (!n) {
                                rv = CKR_HOST_MEMORY;
                                break;
                        }
                        w->lat_ns = n;
                        w->cap = cap;
                }
                w->lat_ns[w->n++] = (uint32_t) (b - a > UINT32_MAX ? UINT32_MAX : b - a);
                if ((double) b / 1e9 >= end)
                        break;
        }
        w->elapsed = now_s() - t0;
        w->rv = rv;
        w->failed = rv != CKR_OK;
        if (!c->shared && s)
                c->fn->C_CloseSession(s);
        free(data);
        return NULL;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

static int parse_hex(const char *hex, unsigned char *out, size_t max, size_t *ret_len) {
        size_t n = strlen(hex);
        if (n == 0 || n % 2 || n / 2 > max)
                return -1;
        for (size_t i = 0; i < n / 2; i++) {
                unsigned v;
                if (sscanf(hex + 2 * i, "%2x", &v) != 1)
                        return -1;
                out[i] = (unsigned char) v;
        }
        *ret_len = n / 2;
        return 0;
}

static int usage(void) {
        fprintf(stderr, "usage: raw-sign [--data-len N] [--shared-session] [--lookup] [--parse-cert] [--thread-per-op] "
                        "MODULE TOKEN_LABEL PIN KEY_ID_HEX rsa|ec SECONDS THREADS\n");
        return 2;
}

int main(int argc, char **argv) {
        static config c = { .data_len = 100, .lock = PTHREAD_MUTEX_INITIALIZER };
        int i = 1;
        for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
                if (strcmp(argv[i], "--shared-session") == 0)
                        c.shared = true;
                else if (strcmp(argv[i], "--lookup") == 0)
                        c.lookup = true;
                else if (strcmp(argv[i], "--thread-per-op") == 0)
                        c.thread_per_op = true;
                else if (strcmp(argv[i], "--parse-cert") == 0)
                        c.parse_cert = true;
                else if (strcmp(argv[i], "--data-len") == 0 && i + 1 < argc)
                        c.data_len = strtoul(argv[++i], NULL, 10);
                else
                        return usage();
        }
        if (argc - i != 7)
                return usage();
        const char *module = argv[i], *label = argv[i + 1], *pin = argv[i + 2];
        c.ec = strcmp(argv[i + 4], "ec") == 0;
        c.seconds = strtod(argv[i + 5], NULL);
        int threads = atoi(argv[i + 6]);
        if ((!c.ec && strcmp(argv[i + 4], "rsa") != 0) || c.seconds <= 0 || threads < 1 || threads > 64 ||
            c.data_len == 0 || parse_hex(argv[i + 3], c.key_id, sizeof(c.key_id), &c.key_id_len) < 0)
                return usage();

        c.fn = p11_kit_module_load(module, 0);
        if (!c.fn) {
                fprintf(stderr, "raw-sign: cannot load %s: %s\n", module, p11_kit_message());
                return 1;
        }
        CK_RV rv = p11_kit_module_initialize(c.fn);
        CK_SESSION_HANDLE login = 0;
        if (rv == CKR_OK)
                rv = find_slot(c.fn, label, &c.slot);
        if (rv == CKR_OK)
                rv = open_session(&c, &login);
        if (rv == CKR_OK)
                rv = c.fn->C_Login(login, CKU_USER, (CK_UTF8CHAR_PTR) pin, strlen(pin));
        if (rv == CKR_OK && c.parse_cert)
                rv = read_cert(&c, login);
        if (rv != CKR_OK) {
                fprintf(stderr, "raw-sign: setup failed: CKR 0x%lx\n", (unsigned long) rv);
                return 1;
        }
        c.shared_session = login;       /* the login session stays open: the login lasts while one does */

        worker *w = calloc((size_t) threads, sizeof(*w));
        double cpu0 = cpu_s();
        pthread_barrier_init(&c.start, NULL, (unsigned) threads);
        for (int t = 0; t < threads; t++) {
                w[t].cfg = &c;
                if (pthread_create(&w[t].thread, NULL, run, &w[t]) != 0) {
                        fprintf(stderr, "raw-sign: pthread_create failed\n");
                        return 1;
                }
        }
        size_t total = 0;
        double elapsed = 0;
        int failed = 0;
        for (int t = 0; t < threads; t++) {
                pthread_join(w[t].thread, NULL);
                total += w[t].n;
                elapsed = w[t].elapsed > elapsed ? w[t].elapsed : elapsed;
                if (w[t].failed) {
                        fprintf(stderr, "raw-sign: thread %d failed: CKR 0x%lx\n", t, (unsigned long) w[t].rv);
                        failed = 1;
                }
        }
        double cpu = cpu_s() - cpu0;
        uint32_t *all = malloc((total ? total : 1) * sizeof(*all));
        size_t k = 0;
        double sum = 0;
        for (int t = 0; t < threads; t++)
                for (size_t j = 0; j < w[t].n; j++) {
                        all[k++] = w[t].lat_ns[j];
                        sum += w[t].lat_ns[j];
                }
        qsort(all, total, sizeof(*all), cmp_u32);
        double p50 = total ? all[(total - 1) * 50 / 100] / 1e3 : 0, p99 = total ? all[(total - 1) * 99 / 100] / 1e3 : 0;
        printf("{\"algorithm\": \"%s\", \"threads\": %d, \"shared_session\": %s, \"lookup\": %s, \"parse_cert\": %s, "
               "\"thread_per_op\": %s, "
               "\"data_len\": %zu, \"ops\": %zu, \"seconds\": %.3f, \"ops_per_s\": %.1f, "
               "\"p50_us\": %.1f, \"p99_us\": %.1f, \"mean_us\": %.1f, "
               "\"cpu_us_per_op\": %.1f}\n",
               c.ec ? "ec" : "rsa", threads, c.shared ? "true" : "false", c.lookup ? "true" : "false",
               c.parse_cert ? "true" : "false", c.thread_per_op ? "true" : "false", c.data_len,
               total, elapsed, elapsed > 0 ? (double) total / elapsed : 0, p50, p99, total ? sum / total / 1e3 : 0,
               total ? cpu * 1e6 / (double) total : 0);

        for (int t = 0; t < threads; t++)
                free(w[t].lat_ns);
        free(w);
        free(all);
        free(c.cert);
        c.fn->C_Logout(login);
        c.fn->C_CloseSession(login);
        p11_kit_module_finalize(c.fn);
        p11_kit_module_release(c.fn);
        return failed;
}
