/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The local TLS root and leaf (daemon/transport/tls.c) and `trust` (daemon/transport/trust.c). */
#include <check.h>

#include "kb-check.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include "kb-openssl.h"
#include "tls.h"
#include "trust.h"

#define DAY INT64_C(86400)

static char state_dir[] = "/tmp/kb-test-tls-XXXXXX";
static char err[256];

/* ---- fixtures and helpers ---- */

static int rm_rf_cb(const char *dir) {
        DIR *d = opendir(dir);
        if (!d)
                return unlink(dir);
        for (struct dirent *e; (e = readdir(d));) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                char p[4096];
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                rm_rf_cb(p);
        }
        closedir(d);
        return rmdir(dir);
}

static void setup(void) {
        strcpy(state_dir, "/tmp/kb-test-tls-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(state_dir));
        err[0] = '\0';
}

static void teardown(void) {
        rm_rf_cb(state_dir);
}

static char *tls_file(const char *name) {
        static char p[4096];
        snprintf(p, sizeof p, "%s/tls/%s", state_dir, name);
        return p;
}

static void ensure_ok(int64_t now, kb_tls_material *m) {
        int r = kb_tls_ensure(state_dir, now, m, err, sizeof err);
        ck_assert_msg(r == 0, "kb_tls_ensure: %d %s", r, err);
}

static X509 *pem_x509(const char *pem) {
        _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(pem, -1);
        X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        ck_assert_ptr_nonnull(x);
        return x;
}

static mode_t mode_of(const char *path) {
        struct stat st;
        ck_assert_int_eq(lstat(path, &st), 0);
        return st.st_mode & 07777;
}

static int verify_chain(X509 *root, X509 *leaf, const char *host) {
        X509_STORE *store = X509_STORE_new();
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        ck_assert_int_eq(X509_STORE_add_cert(store, root), 1);
        ck_assert_int_eq(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
        X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
        X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
        if (host)
                X509_VERIFY_PARAM_set1_host(param, host, 0);
        int ok = X509_verify_cert(ctx);
        int e = X509_STORE_CTX_get_error(ctx);
        X509_STORE_CTX_free(ctx);
        X509_STORE_free(store);
        return ok == 1 ? X509_V_OK : (e != X509_V_OK ? e : -1);
}

/* ---- kb_tls_ensure ---- */

START_TEST(the_first_call_issues_a_root_a_leaf_and_a_key) {
        kb_tls_material m = { 0 };
        int64_t now = time(NULL);
        ensure_ok(now, &m);
        ck_assert(m.issued);
        ck_assert_ptr_nonnull(strstr(m.root_pem, "BEGIN CERTIFICATE"));
        ck_assert_ptr_nonnull(strstr(m.leaf_pem, "BEGIN CERTIFICATE"));
        ck_assert_ptr_nonnull(strstr(m.key_pem, "BEGIN PRIVATE KEY")); /* PKCS#8, unencrypted */
        ck_assert(m.leaf_not_after - now >= KB_TLS_LEAF_DAYS * DAY - 60);
        ck_assert(m.leaf_not_after - now <= KB_TLS_LEAF_DAYS * DAY + 60);
        ck_assert_int_eq(access(tls_file("root.pem"), R_OK), 0);
        ck_assert_int_eq(access(tls_file("leaf.pem"), R_OK), 0);
        ck_assert_int_eq(access(tls_file("leaf.key"), R_OK), 0);
        kb_tls_material_clear(&m);
}
END_TEST

START_TEST(the_key_file_is_0600_and_the_tls_dir_is_0700) {
        kb_tls_material m = { 0 };
        ensure_ok(time(NULL), &m);
        ck_assert_int_eq(mode_of(tls_file("leaf.key")), 0600);
        ck_assert_int_eq(mode_of(tls_file("")), 0700);
        kb_tls_material_clear(&m);
}
END_TEST

START_TEST(a_missing_state_dir_is_created_like_mkdir_p) {
        char nested[4200];
        snprintf(nested, sizeof nested, "%s/a/b", state_dir);
        kb_tls_material m = { 0 };
        ck_assert_int_eq(kb_tls_ensure(nested, time(NULL), &m, err, sizeof err), 0);
        ck_assert(m.issued);
        kb_tls_material_clear(&m);
}
END_TEST

START_TEST(the_leaf_verifies_strictly_for_the_three_loopback_names) {
        kb_tls_material m = { 0 };
        ensure_ok(time(NULL), &m);
        _cleanup_(X509_freep) X509 *root = pem_x509(m.root_pem);
        _cleanup_(X509_freep) X509 *leaf = pem_x509(m.leaf_pem);
        int e = verify_chain(root, leaf, "localhost");
        ck_assert_msg(e == X509_V_OK, "verify: %s", X509_verify_cert_error_string(e));
        ck_assert_int_eq(X509_check_host(leaf, "localhost", 0, 0, NULL), 1);
        ck_assert_int_eq(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
        ck_assert_int_eq(X509_check_ip_asc(leaf, "::1", 0), 1);
        kb_tls_material_clear(&m);
}
END_TEST

START_TEST(the_leaf_does_not_match_any_other_name) {
        kb_tls_material m = { 0 };
        ensure_ok(time(NULL), &m);
        _cleanup_(X509_freep) X509 *root = pem_x509(m.root_pem);
        _cleanup_(X509_freep) X509 *leaf = pem_x509(m.leaf_pem);
        ck_assert_int_ne(X509_check_host(leaf, "evil.example", 0, 0, NULL), 1);
        ck_assert_int_ne(X509_check_ip_asc(leaf, "10.0.0.1", 0), 1);
        ck_assert_int_ne(verify_chain(root, leaf, "evil.example"), X509_V_OK);
        kb_tls_material_clear(&m);
}
END_TEST

static void assert_ip_subtree(GENERAL_SUBTREE *st, const unsigned char *want, int len) {
        ck_assert_int_eq(st->base->type, GEN_IPADD);
        ASN1_OCTET_STRING *ip = st->base->d.iPAddress;
        ck_assert_int_eq(ASN1_STRING_length(ip), len);
        ck_assert_mem_eq(ASN1_STRING_get0_data(ip), want, (size_t) len);
}

START_TEST(the_root_is_a_ca_with_pathlen_0_and_only_loopback_name_constraints) {
        static const unsigned char v4[8] = { 127, 0, 0, 1, 255, 255, 255, 255 };
        unsigned char v6[32] = { [15] = 1 };
        memset(v6 + 16, 0xff, 16);
        kb_tls_material m = { 0 };
        ensure_ok(time(NULL), &m);
        _cleanup_(X509_freep) X509 *root = pem_x509(m.root_pem);
        int crit = -1;
        _cleanup_(BASIC_CONSTRAINTS_freep) BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(root, NID_basic_constraints, &crit, NULL);
        ck_assert_ptr_nonnull(bc);
        ck_assert(bc->ca && crit == 1);
        ck_assert_int_eq(ASN1_INTEGER_get(bc->pathlen), 0);
        _cleanup_(NAME_CONSTRAINTS_freep) NAME_CONSTRAINTS *nc = X509_get_ext_d2i(root, NID_name_constraints, &crit, NULL);
        ck_assert_ptr_nonnull(nc);
        ck_assert_int_eq(crit, 1);
        ck_assert_ptr_null(nc->excludedSubtrees);
        ck_assert_int_eq(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees), 3);
        GENERAL_SUBTREE *dns = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, 0);
        ck_assert_int_eq(dns->base->type, GEN_DNS);
        ck_assert_str_eq((const char *) ASN1_STRING_get0_data(dns->base->d.dNSName), "localhost");
        assert_ip_subtree(sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, 1), v4, 8);
        assert_ip_subtree(sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, 2), v6, 32);
        kb_tls_material_clear(&m);
}
END_TEST

/* Every PEM private key in the file, compared with the root's public key. */
static int keys_matching(const char *path, EVP_PKEY *root_pub) {
        _cleanup_(BIO_freep) BIO *b = BIO_new_file(path, "r");
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long len = 0;
        int hits = 0;
        while (b && PEM_read_bio(b, &name, &header, &data, &len) == 1) {
                if (strstr(name, "PRIVATE KEY")) {
                        const unsigned char *p = data;
                        EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, len);
                        ck_assert_msg(k, "%s: unreadable %s", path, name);
                        hits += EVP_PKEY_eq(k, root_pub) == 1;
                        EVP_PKEY_free(k);
                }
                OPENSSL_free(name);
                OPENSSL_free(header);
                OPENSSL_free(data);
        }
        ERR_clear_error();
        return hits;
}

static int scan_for_key(const char *dir, EVP_PKEY *root_pub, int *files) {
        DIR *d = opendir(dir);
        int hits = 0;
        ck_assert_ptr_nonnull(d);
        for (struct dirent *e; (e = readdir(d));) {
                char p[4096];
                struct stat st;
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                ck_assert_int_eq(lstat(p, &st), 0);
                if (S_ISDIR(st.st_mode))
                        hits += scan_for_key(p, root_pub, files);
                else if (S_ISREG(st.st_mode)) {
                        hits += keys_matching(p, root_pub);
                        (*files)++;
                }
        }
        closedir(d);
        return hits;
}

START_TEST(no_file_in_the_state_dir_holds_the_root_private_key) {
        kb_tls_material m = { 0 };
        ensure_ok(time(NULL), &m);
        _cleanup_(X509_freep) X509 *root = pem_x509(m.root_pem);
        _cleanup_(X509_freep) X509 *leaf = pem_x509(m.leaf_pem);
        int files = 0;
        ck_assert_int_eq(scan_for_key(state_dir, X509_get0_pubkey(root), &files), 0);
        ck_assert_int_eq(files, 3);
        /* the scanner does find a key when there is one: the leaf's */
        ck_assert_int_eq(keys_matching(tls_file("leaf.key"), X509_get0_pubkey(leaf)), 1);
        kb_tls_material_clear(&m);
}
END_TEST

START_TEST(the_second_call_loads_the_same_material) {
        kb_tls_material a = { 0 }, b = { 0 };
        int64_t now = time(NULL);
        ensure_ok(now, &a);
        ensure_ok(now + 60, &b);
        ck_assert(a.issued);
        ck_assert(!b.issued);
        ck_assert_str_eq(a.root_pem, b.root_pem);
        ck_assert_str_eq(a.leaf_pem, b.leaf_pem);
        ck_assert_str_eq(a.key_pem, b.key_pem);
        ck_assert(b.leaf_not_after - a.leaf_not_after <= 1 && a.leaf_not_after - b.leaf_not_after <= 1);
        kb_tls_material_clear(&a);
        kb_tls_material_clear(&b);
}
END_TEST

START_TEST(a_call_380_days_later_issues_a_new_root) {
        kb_tls_material a = { 0 }, b = { 0 };
        int64_t now = time(NULL);
        ensure_ok(now, &a);
        ensure_ok(now + 380 * DAY, &b);
        ck_assert(b.issued);
        ck_assert_str_ne(a.root_pem, b.root_pem);
        ck_assert_str_ne(a.leaf_pem, b.leaf_pem);
        ck_assert(b.leaf_not_after > a.leaf_not_after);
        kb_tls_material_clear(&a);
        kb_tls_material_clear(&b);
}
END_TEST

START_TEST(a_corrupted_leaf_triggers_a_reissue) {
        kb_tls_material a = { 0 }, b = { 0 };
        int64_t now = time(NULL);
        ensure_ok(now, &a);
        FILE *f = fopen(tls_file("leaf.pem"), "r+");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fseek(f, 100, SEEK_SET), 0);
        fputs("!!!!", f);
        fclose(f);
        ensure_ok(now, &b);
        ck_assert(b.issued);
        ck_assert_str_ne(a.root_pem, b.root_pem);
        kb_tls_material_clear(&a);
        kb_tls_material_clear(&b);
}
END_TEST

START_TEST(a_leaf_from_another_root_triggers_a_reissue) {
        char other[4200];
        kb_tls_material a = { 0 }, o = { 0 }, b = { 0 };
        int64_t now = time(NULL);
        ensure_ok(now, &a);
        snprintf(other, sizeof other, "%s/other", state_dir);
        ck_assert_int_eq(kb_tls_ensure(other, now, &o, err, sizeof err), 0);
        FILE *f = fopen(tls_file("root.pem"), "w");
        fputs(o.root_pem, f);
        fclose(f);
        ensure_ok(now, &b);
        ck_assert(b.issued);
        kb_tls_material_clear(&a);
        kb_tls_material_clear(&o);
        kb_tls_material_clear(&b);
}
END_TEST

START_TEST(clearing_a_zeroed_material_is_fine) {
        kb_tls_material m = { 0 };
        kb_tls_material_clear(&m);
        kb_tls_material_clear(&m);
        kb_tls_material_clear(NULL);
        ck_assert_ptr_null(m.key_pem);
}
END_TEST

START_TEST(an_unwritable_state_dir_is_an_error_with_a_reason) {
        kb_tls_material m = { 0 };
        int r = kb_tls_ensure("/proc/kb-no-such-dir", time(NULL), &m, err, sizeof err);
        ck_assert_int_lt(r, 0);
        ck_assert_ptr_nonnull(strstr(err, "cannot"));
        ck_assert_ptr_null(m.key_pem);
}
END_TEST

/* ---- trust ---- */

/* Run `trust <verb>` with stdout captured into *out. */
static int trust(const char *verb, char *out, size_t size) {
        char *argv[] = { "trust", (char *) verb, NULL };
        char path[4200];
        snprintf(path, sizeof path, "%s/stdout", state_dir);
        fflush(stdout);
        int saved = dup(STDOUT_FILENO);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        ck_assert(saved >= 0 && fd >= 0);
        dup2(fd, STDOUT_FILENO);
        int r = kb_trust_main(2, argv, state_dir);
        fflush(stdout);
        dup2(saved, STDOUT_FILENO);
        close(saved);
        ssize_t n = pread(fd, out, size - 1, 0);
        out[n > 0 ? n : 0] = '\0';
        close(fd);
        unlink(path);
        return r;
}

static bool certutil_on_path(void) {
        const char *path = getenv("PATH");
        char copy[4096], *save = NULL;
        snprintf(copy, sizeof copy, "%s", path ? path : "/usr/bin:/bin");
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                char p[4200];
                snprintf(p, sizeof p, "%s/certutil", d);
                if (access(p, X_OK) == 0)
                        return true;
        }
        return false;
}

START_TEST(trust_install_status_remove_round_trips) {
        static char out[65536];
        char db[4200];
        snprintf(db, sizeof db, "%s/nssdb", state_dir);
        ck_assert_int_eq(setenv("KEYBRIDGE_NSSDB", db, 1), 0);
        kb_tls_material m = { 0 };
        ensure_ok(time(NULL), &m);
        ck_assert_int_eq(trust("install", out, sizeof out), 0);
        ck_assert_ptr_nonnull(strstr(out, "installed"));
        ck_assert_ptr_nonnull(strstr(out, "{\"policies\":{\"Certificates\":{\"Install\":[\"/"));
        ck_assert_int_eq(trust("status", out, sizeof out), 0);
        ck_assert_msg(strstr(out, "installed, matches the current root"), "status: %s", out);
        ck_assert_int_eq(trust("install", out, sizeof out), 0); /* replaces, no duplicate */
        ck_assert_ptr_nonnull(strstr(out, "replaced"));
        ck_assert_int_eq(trust("remove", out, sizeof out), 0);
        ck_assert_ptr_nonnull(strstr(out, "removed"));
        ck_assert_int_eq(trust("status", out, sizeof out), 0);
        ck_assert_msg(strstr(out, "not installed"), "status: %s", out);
        ck_assert_ptr_null(strstr(out, "installed, matches"));
        kb_tls_material_clear(&m);
}
END_TEST

START_TEST(trust_status_notices_a_reissued_root) {
        static char out[65536];
        char db[4200];
        snprintf(db, sizeof db, "%s/nssdb", state_dir);
        ck_assert_int_eq(setenv("KEYBRIDGE_NSSDB", db, 1), 0);
        kb_tls_material a = { 0 }, b = { 0 };
        int64_t now = time(NULL);
        ensure_ok(now, &a);
        ck_assert_int_eq(trust("install", out, sizeof out), 0);
        ensure_ok(now + 380 * DAY, &b);
        ck_assert(b.issued);
        ck_assert_int_eq(trust("status", out, sizeof out), 0);
        ck_assert_msg(strstr(out, "installed, but not the current root"), "status: %s", out);
        kb_tls_material_clear(&a);
        kb_tls_material_clear(&b);
}
END_TEST

START_TEST(trust_install_without_a_root_asks_to_run_the_daemon_first) {
        static char out[4096];
        char db[4200];
        snprintf(db, sizeof db, "%s/nssdb", state_dir);
        ck_assert_int_eq(setenv("KEYBRIDGE_NSSDB", db, 1), 0);
        ck_assert_int_eq(trust("install", out, sizeof out), 1);
        ck_assert_int_ne(access(db, F_OK), 0);
}
END_TEST

START_TEST(trust_rejects_an_unknown_verb_with_usage) {
        char *bad[] = { "trust", "frobnicate", NULL };
        char *none[] = { "trust", NULL };
        ck_assert_int_eq(kb_trust_main(2, bad, state_dir), 2);
        ck_assert_int_eq(kb_trust_main(1, none, state_dir), 2);
}
END_TEST

int main(void) {
        Suite *s = suite_create("tls");
        TCase *tc = tcase_create("tls");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, the_first_call_issues_a_root_a_leaf_and_a_key);
        tcase_add_test(tc, the_key_file_is_0600_and_the_tls_dir_is_0700);
        tcase_add_test(tc, a_missing_state_dir_is_created_like_mkdir_p);
        tcase_add_test(tc, the_leaf_verifies_strictly_for_the_three_loopback_names);
        tcase_add_test(tc, the_leaf_does_not_match_any_other_name);
        tcase_add_test(tc, the_root_is_a_ca_with_pathlen_0_and_only_loopback_name_constraints);
        tcase_add_test(tc, no_file_in_the_state_dir_holds_the_root_private_key);
        tcase_add_test(tc, the_second_call_loads_the_same_material);
        tcase_add_test(tc, a_call_380_days_later_issues_a_new_root);
        tcase_add_test(tc, a_corrupted_leaf_triggers_a_reissue);
        tcase_add_test(tc, a_leaf_from_another_root_triggers_a_reissue);
        tcase_add_test(tc, clearing_a_zeroed_material_is_fine);
        tcase_add_test(tc, an_unwritable_state_dir_is_an_error_with_a_reason);
        suite_add_tcase(s, tc);

        TCase *tt = tcase_create("trust");
        tcase_add_checked_fixture(tt, setup, teardown);
        tcase_set_timeout(tt, 120);
        tcase_add_test(tt, trust_rejects_an_unknown_verb_with_usage);
        if (certutil_on_path()) {
                tcase_add_test(tt, trust_install_without_a_root_asks_to_run_the_daemon_first);
                tcase_add_test(tt, trust_install_status_remove_round_trips);
                tcase_add_test(tt, trust_status_notices_a_reissued_root);
        } else
                printf("# SKIP trust round trip: certutil not on PATH (install libnss3-tools)\n");
        suite_add_tcase(s, tt);

        return kb_check_run(s);
}
