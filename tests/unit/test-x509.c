/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lib/core/x509.c: certificates built here with OpenSSL, parsed into the model. */
#include <check.h>

#include "kb-check.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "kb-error.h"
#include "kb-model.h"
#include "kb-openssl.h"

#define NOT_BEFORE INT64_C(1700000000) /* 2023-11-14 */
#define NOT_AFTER INT64_C(1900000000)  /* 2030-03-17 */
#define DAY INT64_C(86400)

/* Made once in main(); forked tests share them. */
static EVP_PKEY *rsa_key, *ec_key, *sm2_key;

typedef struct spec {
        EVP_PKEY *key;          /* subject key */
        X509_NAME *subject;     /* NULL: CN=test */
        const char *serial_hex; /* NULL: "01" */
        int64_t not_before;     /* 0: NOT_BEFORE */
        int64_t not_after;      /* 0: NOT_AFTER */
        const char *key_usage;  /* NULL: a v1 certificate without extensions */
} spec;

static X509_NAME *name_new(const char *const *kv) {
        X509_NAME *n = X509_NAME_new();
        ck_assert_ptr_nonnull(n);
        for (; kv && kv[0]; kv += 2)
                ck_assert_int_eq(X509_NAME_add_entry_by_txt(n, kv[0], MBSTRING_UTF8,
                                                             (const unsigned char *) kv[1], -1, -1, 0), 1);
        return n;
}

static void set_extensions(X509 *x, const char *key_usage) {
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext =
                X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, key_usage);
        ck_assert_ptr_nonnull(ext);
        ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
        ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
}

/* SM2 self-signed with SM3 where OpenSSL can; else an RSA issuer signs. */
static void sign(X509 *x, EVP_PKEY *key, X509_NAME *subject) {
        if (EVP_PKEY_is_a(key, "SM2") || EVP_PKEY_is_a(key, "EC")) {
                const EVP_MD *md = EVP_PKEY_is_a(key, "SM2") ? EVP_sm3() : EVP_sha256();
                ck_assert_int_eq(X509_set_issuer_name(x, subject), 1);
                if (X509_sign(x, key, md) > 0)
                        return;
                ERR_clear_error();
        }
        _cleanup_(X509_NAME_freep) X509_NAME *issuer = name_new((const char *const[]) { "CN", "RSA issuer", NULL });
        if (key == rsa_key)
                ck_assert_int_eq(X509_set_issuer_name(x, subject), 1);
        else
                ck_assert_int_eq(X509_set_issuer_name(x, issuer), 1);
        ck_assert_int_gt(X509_sign(x, rsa_key, EVP_sha256()), 0);
}

static X509 *make_x509(const spec *s) {
        _cleanup_(X509_NAME_freep) X509_NAME *cn = name_new((const char *const[]) { "CN", "test", NULL });
        _cleanup_(BN_freep) BIGNUM *serial = NULL;
        X509_NAME *subject = s->subject ? s->subject : cn;
        X509 *x = X509_new();

        ck_assert_ptr_nonnull(x);
        ck_assert_int_gt(BN_hex2bn(&serial, s->serial_hex ? s->serial_hex : "01"), 0);
        ck_assert_ptr_nonnull(BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)));
        ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notBefore(x), (time_t) (s->not_before ? s->not_before : NOT_BEFORE)));
        ck_assert_ptr_nonnull(ASN1_TIME_set(X509_getm_notAfter(x), (time_t) (s->not_after ? s->not_after : NOT_AFTER)));
        ck_assert_int_eq(X509_set_subject_name(x, subject), 1);
        ck_assert_int_eq(X509_set_pubkey(x, s->key ? s->key : rsa_key), 1);
        if (s->key_usage)
                set_extensions(x, s->key_usage);
        sign(x, s->key ? s->key : rsa_key, subject);
        return x;
}

/* DER of a new certificate; free() it. */
static unsigned char *make_der(const spec *s, size_t *ret_len) {
        _cleanup_(X509_freep) X509 *x = make_x509(s);
        unsigned char *der = NULL;
        int n = i2d_X509(x, &der);
        ck_assert_int_gt(n, 0);
        unsigned char *copy = malloc((size_t) n);
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, der, (size_t) n);
        OPENSSL_free(der);
        *ret_len = (size_t) n;
        return copy;
}

static kb_cert *parse(const spec *s) {
        size_t len = 0;
        _cleanup_free_ unsigned char *der = make_der(s, &len);
        kb_cert *c = NULL;
        ck_assert_int_eq(kb_cert_from_der(der, len, "label", NULL, 0, &c), 0);
        ck_assert_ptr_nonnull(c);
        return c;
}

static void assert_field(const kb_cert *c, size_t i, const char *key, const char *value) {
        ck_assert_uint_gt(c->n_subject_fields, i);
        ck_assert_str_eq(c->subject_fields[i].key, key);
        ck_assert_str_eq(c->subject_fields[i].value, value);
}

static const char *const chinese_name[] = {
        "C", "CN",
        "ST", "北京市",
        "O", "某某科技有限公司",
        "OU", "财务部",
        "OU", "法务部",
        "CN", "张三",
        "serialNumber", "91110000MA01ABCD2X",
        NULL,
};

static kb_cert *parse_chinese(void) {
        _cleanup_(X509_NAME_freep) X509_NAME *n = name_new(chinese_name);
        return parse(&(spec) { .subject = n, .key_usage = "critical,digitalSignature,nonRepudiation" });
}

START_TEST(a_chinese_rsa_certificate_keeps_its_subject_readable_utf8) {
        kb_cert *c = parse_chinese();
        ck_assert_str_eq(c->subject, "serialNumber=91110000MA01ABCD2X,CN=张三,OU=法务部,OU=财务部,"
                                     "O=某某科技有限公司,ST=北京市,C=CN");
        ck_assert_ptr_nonnull(strstr(c->subject, "CN=张三"));
        ck_assert_str_eq(c->issuer, c->subject);
        ck_assert_int_eq(c->key_type, KB_KEY_RSA);
        ck_assert_int_eq(c->key_bits, 2048);
        ck_assert_ptr_null(c->curve);
        kb_cert_free(c);
}
END_TEST

START_TEST(subject_fields_come_in_certificate_order_with_repeats_kept) {
        kb_cert *c = parse_chinese();
        ck_assert_uint_eq(c->n_subject_fields, 7);
        for (size_t i = 0; i < 7; i++)
                assert_field(c, i, chinese_name[2 * i], chinese_name[2 * i + 1]);
        kb_cert_free(c);
}
END_TEST

START_TEST(digital_signature_and_non_repudiation_mean_sign) {
        kb_cert *c = parse_chinese();
        ck_assert_uint_eq(c->usage, KB_USAGE_SIGN);
        ck_assert_str_eq(kb_usage_name(c->usage), "sign");
        kb_cert_free(c);
}
END_TEST

START_TEST(an_ec_p256_key_agreement_certificate_is_for_encryption) {
        kb_cert *c = parse(&(spec) { .key = ec_key, .key_usage = "critical,keyAgreement" });
        ck_assert_int_eq(c->key_type, KB_KEY_EC);
        ck_assert_int_eq(c->key_bits, 256);
        ck_assert_str_eq(c->curve, "P-256");
        ck_assert_uint_eq(c->usage, KB_USAGE_ENCRYPT);
        ck_assert_str_eq(kb_usage_name(c->usage), "encrypt");
        kb_cert_free(c);
}
END_TEST

START_TEST(an_sm2_subject_key_is_reported_as_sm2) {
        kb_cert *c = parse(&(spec) { .key = sm2_key, .key_usage = "digitalSignature" });
        ck_assert_int_eq(c->key_type, KB_KEY_SM2);
        ck_assert_str_eq(kb_key_type_name(c->key_type), "SM2");
        ck_assert_str_eq(c->curve, "SM2");
        ck_assert_int_eq(c->key_bits, 256);
        ck_assert_uint_eq(c->usage, KB_USAGE_SIGN);
        kb_cert_free(c);

        /* The same SubjectPublicKeyInfo from an "EC" key on curve SM2. */
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec_sm2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "SM2");
        ck_assert_ptr_nonnull(ec_sm2);
        c = parse(&(spec) { .key = ec_sm2 });
        ck_assert_int_eq(c->key_type, KB_KEY_SM2);
        ck_assert_str_eq(c->curve, "SM2");
        kb_cert_free(c);
}
END_TEST

START_TEST(other_named_curves_keep_their_nist_or_openssl_name) {
        static const struct {
                const char *group, *curve;
                int bits;
        } cases[] = {
                { "P-384", "P-384", 384 },
                { "P-521", "P-521", 521 },
                { "secp256k1", "secp256k1", 256 },
                { "brainpoolP256r1", "brainpoolP256r1", 256 },
        };
        for (size_t i = 0; i < KB_ELEMENTSOF(cases); i++) {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", cases[i].group);
                ck_assert_ptr_nonnull(k);
                kb_cert *c = parse(&(spec) { .key = k });
                ck_assert_int_eq(c->key_type, KB_KEY_EC);
                ck_assert_str_eq(c->curve, cases[i].curve);
                ck_assert_int_eq(c->key_bits, cases[i].bits);
                kb_cert_free(c);
        }
}
END_TEST

START_TEST(a_certificate_without_extensions_is_for_both_uses) {
        kb_cert *c = parse(&(spec) { 0 });
        ck_assert_uint_eq(c->usage, KB_USAGE_BOTH);
        ck_assert_str_eq(kb_usage_name(c->usage), "both");
        kb_cert_free(c);
        c = parse(&(spec) { .key = ec_key });
        ck_assert_uint_eq(c->usage, KB_USAGE_BOTH);
        kb_cert_free(c);
}
END_TEST

START_TEST(signing_and_encipherment_bits_together_mean_both) {
        kb_cert *c = parse(&(spec) { .key_usage = "digitalSignature,keyEncipherment" });
        ck_assert_uint_eq(c->usage, KB_USAGE_BOTH);
        kb_cert_free(c);
        c = parse(&(spec) { .key_usage = "keyCertSign,cRLSign" });
        ck_assert_uint_eq(c->usage, KB_USAGE_SIGN);
        kb_cert_free(c);
        c = parse(&(spec) { .key_usage = "dataEncipherment" });
        ck_assert_uint_eq(c->usage, KB_USAGE_ENCRYPT);
        kb_cert_free(c);
}
END_TEST

START_TEST(a_bmp_string_attribute_comes_out_as_utf8) {
        static const unsigned char zhang_san[] = { 0x5f, 0x20, 0x4e, 0x09 }; /* 张三 in UCS-2 */
        _cleanup_(X509_NAME_freep) X509_NAME *n = X509_NAME_new();
        ck_assert_int_eq(X509_NAME_add_entry_by_NID(n, NID_commonName, V_ASN1_BMPSTRING,
                                                    zhang_san, sizeof(zhang_san), -1, 0), 1);
        kb_cert *c = parse(&(spec) { .subject = n });
        ck_assert_str_eq(c->subject, "CN=张三");
        assert_field(c, 0, "CN", "张三");
        kb_cert_free(c);
}
END_TEST

START_TEST(uncommon_attributes_use_short_names_or_the_dotted_oid) {
        _cleanup_(X509_NAME_freep) X509_NAME *n = name_new((const char *const[]) {
                "DC", "example", "L", "海淀区", "street", "中关村大街1号", "title", "经理",
                "givenName", "三", "SN", "张", "UID", "zhangsan",
                "emailAddress", "zs@example.cn", "1.2.3.4.5", "自定义", NULL });
        kb_cert *c = parse(&(spec) { .subject = n });
        static const char *const want[] = { "DC", "L", "street", "title", "givenName", "SN", "UID",
                                            "emailAddress", "1.2.3.4.5" };
        ck_assert_uint_eq(c->n_subject_fields, KB_ELEMENTSOF(want));
        for (size_t i = 0; i < KB_ELEMENTSOF(want); i++)
                ck_assert_str_eq(c->subject_fields[i].key, want[i]);
        assert_field(c, 8, "1.2.3.4.5", "自定义");
        kb_cert_free(c);
}
END_TEST

START_TEST(an_attribute_that_is_no_string_is_shown_as_hex_der) {
        static const unsigned char bits[] = { 0xa5 };
        _cleanup_(X509_NAME_freep) X509_NAME *n = name_new((const char *const[]) { "CN", "x", NULL });
        ck_assert_int_eq(X509_NAME_add_entry_by_txt(n, "1.2.3.4", V_ASN1_BIT_STRING, bits, 1, -1, 0), 1);
        kb_cert *c = parse(&(spec) { .subject = n });
        assert_field(c, 1, "1.2.3.4", "#030200A5");
        ck_assert_str_eq(c->subject, "1.2.3.4=#030200A5,CN=x");
        kb_cert_free(c);
}
END_TEST

START_TEST(a_name_value_with_an_embedded_nul_is_refused) {
        _cleanup_(X509_NAME_freep) X509_NAME *n = X509_NAME_new();
        ck_assert_int_eq(X509_NAME_add_entry_by_NID(n, NID_commonName, V_ASN1_UTF8STRING,
                                                    (const unsigned char *) "good\0evil", 9, -1, 0), 1);
        size_t len = 0;
        _cleanup_free_ unsigned char *der = make_der(&(spec) { .subject = n }, &len);
        kb_cert *c = NULL;
        ck_assert_int_eq(kb_cert_from_der(der, len, NULL, NULL, 0, &c), -KB_E_BAD_REQUEST);
        ck_assert_ptr_null(c);
}
END_TEST

START_TEST(the_serial_is_upper_case_hex_without_leading_zeros) {
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "0100FF", "100FF" },
                { "00", "0" },
                { "01", "1" },
                { "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", "A1B2C3D4E5F60718293A4B5C6D7E8F901234567" },
                { "80", "80" },
        };
        for (size_t i = 0; i < KB_ELEMENTSOF(cases); i++) {
                kb_cert *c = parse(&(spec) { .serial_hex = cases[i].in });
                ck_assert_str_eq(c->serial_hex, cases[i].out);
                kb_cert_free(c);
        }
}
END_TEST

START_TEST(validity_dates_are_unix_seconds_in_utc_and_generalized_time) {
        kb_cert *c = parse(&(spec) { .not_before = 1234567890, .not_after = INT64_C(2900000000) });
        ck_assert_int_eq(c->not_before, 1234567890);
        ck_assert_int_eq(c->not_after, INT64_C(2900000000)); /* 2061: GeneralizedTime */
        kb_cert_free(c);
}
END_TEST

START_TEST(the_fingerprint_is_the_sha256_of_the_der_and_the_id_its_prefix) {
        size_t len = 0;
        _cleanup_free_ unsigned char *der = make_der(&(spec) { .key = ec_key }, &len);
        unsigned char md[32];
        unsigned md_len = 0;
        char hex[65];
        ck_assert_int_eq(EVP_Digest(der, len, md, &md_len, EVP_sha256(), NULL), 1);
        for (unsigned i = 0; i < md_len; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);

        kb_cert *c = NULL;
        ck_assert_int_eq(kb_cert_from_der(der, len, NULL, NULL, 0, &c), 0);
        ck_assert_str_eq(c->fingerprint_sha256, hex);
        ck_assert_uint_eq(strlen(c->id), KB_CERT_ID_LEN);
        ck_assert_int_eq(strncmp(c->id, hex, KB_CERT_ID_LEN), 0);
        kb_cert_free(c);
}
END_TEST

START_TEST(label_key_id_and_der_are_copied) {
        static const unsigned char key_id[] = { 0x01, 0x02, 0x03 };
        char label[] = "签名证书";
        size_t len = 0;
        _cleanup_free_ unsigned char *der = make_der(&(spec) { 0 }, &len);
        kb_cert *c = NULL;

        ck_assert_int_eq(kb_cert_from_der(der, len, label, key_id, sizeof(key_id), &c), 0);
        label[0] = 'X';
        der[len - 1] ^= 0xff;
        ck_assert_str_eq(c->label, "签名证书");
        ck_assert_uint_eq(c->key_id_len, sizeof(key_id));
        ck_assert_mem_eq(c->key_id, key_id, sizeof(key_id));
        ck_assert_uint_eq(c->der_len, len);
        der[len - 1] ^= 0xff;
        ck_assert_mem_eq(c->der, der, len);
        ck_assert(!c->has_private_key);
        kb_cert_free(c);
}
END_TEST

START_TEST(a_missing_label_and_key_id_become_empty) {
        size_t len = 0;
        _cleanup_free_ unsigned char *der = make_der(&(spec) { 0 }, &len);
        kb_cert *c = NULL;
        ck_assert_int_eq(kb_cert_from_der(der, len, NULL, NULL, 0, &c), 0);
        ck_assert_str_eq(c->label, "");
        ck_assert_ptr_null(c->key_id);
        ck_assert_uint_eq(c->key_id_len, 0);
        kb_cert_free(c);
}
END_TEST

static void assert_bad_request(const unsigned char *der, size_t len) {
        kb_cert *c = NULL;
        ck_assert_int_eq(kb_cert_from_der(der, len, NULL, NULL, 0, &c), -KB_E_BAD_REQUEST);
        ck_assert_ptr_null(c);
        ck_assert_uint_eq(ERR_peek_error(), 0); /* no stale error left for the caller */
}

START_TEST(garbage_and_empty_input_are_a_bad_request) {
        static const unsigned char garbage[] = "hello, this is not a certificate";
        assert_bad_request(garbage, sizeof(garbage));
        assert_bad_request(garbage, 0);
        assert_bad_request(NULL, 0);
        assert_bad_request((const unsigned char *) "\x30\x82\xff\xff", 4);
}
END_TEST

START_TEST(truncated_der_is_a_bad_request) {
        size_t len = 0;
        _cleanup_free_ unsigned char *der = make_der(&(spec) { 0 }, &len);
        assert_bad_request(der, len - 1);
        assert_bad_request(der, len / 2);
        assert_bad_request(der, 1);
}
END_TEST

START_TEST(der_with_trailing_bytes_is_a_bad_request) {
        size_t len = 0;
        _cleanup_free_ unsigned char *der = make_der(&(spec) { 0 }, &len);
        unsigned char *longer = realloc(der, len + 1);
        ck_assert_ptr_nonnull(longer);
        der = longer;
        der[len] = 0x00;
        assert_bad_request(der, len + 1);
}
END_TEST

START_TEST(der_that_is_no_certificate_is_a_bad_request) {
        _cleanup_(X509_NAME_freep) X509_NAME *n = name_new(chinese_name);
        unsigned char *der = NULL;
        int len = i2d_X509_NAME(n, &der);
        ck_assert_int_gt(len, 0);
        assert_bad_request(der, (size_t) len);
        OPENSSL_free(der);
}
END_TEST

START_TEST(the_pem_reads_back_as_the_same_certificate) {
        kb_cert *c = parse_chinese();
        _cleanup_free_ char *pem = kb_cert_to_pem(c);
        ck_assert_ptr_nonnull(pem);
        ck_assert_int_eq(strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28), 0);

        _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(pem, -1);
        _cleanup_(X509_freep) X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        ck_assert_ptr_nonnull(x);
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        ck_assert_int_eq(len, (int) c->der_len);
        ck_assert_mem_eq(der, c->der, c->der_len);
        OPENSSL_free(der);
        kb_cert_free(c);
        ck_assert_ptr_null(kb_cert_to_pem(NULL));
}
END_TEST

START_TEST(freeing_null_does_nothing) {
        kb_cert_free(NULL);
}
END_TEST

static kb_cert_status status_at(int64_t now, int warning_days, int *days) {
        const kb_cert c = { .not_before = NOT_BEFORE, .not_after = NOT_AFTER };
        return kb_cert_status_at(&c, now, warning_days, days);
}

START_TEST(a_certificate_far_from_expiry_is_valid) {
        int days = 0;
        ck_assert_int_eq(status_at(NOT_AFTER - 100 * DAY, 90, &days), KB_CERT_VALID);
        ck_assert_int_eq(days, 100);
        ck_assert_int_eq(status_at(NOT_AFTER - 91 * DAY, 90, &days), KB_CERT_VALID);
        ck_assert_int_eq(days, 91);
        ck_assert_int_eq(status_at(NOT_BEFORE, 90, NULL), KB_CERT_VALID);
}
END_TEST

START_TEST(a_certificate_within_the_warning_window_is_expiring) {
        int days = 0;
        ck_assert_int_eq(status_at(NOT_AFTER - 91 * DAY + 1, 90, &days), KB_CERT_EXPIRING);
        ck_assert_int_eq(days, 90); /* 90 days and 86399 s: the window is inclusive */
        ck_assert_int_eq(status_at(NOT_AFTER - 30 * DAY, 90, &days), KB_CERT_EXPIRING);
        ck_assert_int_eq(days, 30);
        ck_assert_int_eq(status_at(NOT_AFTER - 1, 90, &days), KB_CERT_EXPIRING);
        ck_assert_int_eq(days, 0);
        ck_assert_int_eq(status_at(NOT_AFTER - 30 * DAY, 0, &days), KB_CERT_VALID);
}
END_TEST

START_TEST(a_certificate_at_or_past_not_after_is_expired_with_floored_days) {
        int days = 1;
        ck_assert_int_eq(status_at(NOT_AFTER, 90, &days), KB_CERT_EXPIRED);
        ck_assert_int_eq(days, 0);
        ck_assert_int_eq(status_at(NOT_AFTER + 1, 90, &days), KB_CERT_EXPIRED);
        ck_assert_int_eq(days, -1);
        ck_assert_int_eq(status_at(NOT_AFTER + DAY, 90, &days), KB_CERT_EXPIRED);
        ck_assert_int_eq(days, -1);
        ck_assert_int_eq(status_at(NOT_AFTER + DAY + 1, 90, &days), KB_CERT_EXPIRED);
        ck_assert_int_eq(days, -2);
}
END_TEST

START_TEST(a_certificate_before_not_before_is_not_yet_valid) {
        int days = 0;
        ck_assert_int_eq(status_at(NOT_BEFORE - 1, 90, &days), KB_CERT_NOT_YET_VALID);
        ck_assert_int_eq(days, (int) ((NOT_AFTER - NOT_BEFORE + 1) / DAY));
}
END_TEST

START_TEST(extreme_times_clamp_days_instead_of_overflowing) {
        int days = 0;
        ck_assert_int_eq(status_at(INT64_MIN, 90, &days), KB_CERT_NOT_YET_VALID);
        ck_assert_int_eq(days, INT_MAX);
        ck_assert_int_eq(status_at(INT64_MAX, 90, &days), KB_CERT_EXPIRED);
        ck_assert_int_eq(days, INT_MIN);
}
END_TEST

START_TEST(names_match_the_api) {
        ck_assert_str_eq(kb_cert_status_name(KB_CERT_VALID), "valid");
        ck_assert_str_eq(kb_cert_status_name(KB_CERT_EXPIRING), "expiring");
        ck_assert_str_eq(kb_cert_status_name(KB_CERT_EXPIRED), "expired");
        ck_assert_str_eq(kb_cert_status_name(KB_CERT_NOT_YET_VALID), "notYetValid");
        ck_assert_str_eq(kb_key_type_name(KB_KEY_RSA), "RSA");
        ck_assert_str_eq(kb_key_type_name(KB_KEY_EC), "EC");
        ck_assert_str_eq(kb_key_type_name(KB_KEY_SM2), "SM2");
        ck_assert_ptr_null(kb_key_type_name(KB_KEY_UNKNOWN));
        ck_assert_str_eq(kb_usage_name(KB_USAGE_SIGN), "sign");
        ck_assert_str_eq(kb_usage_name(KB_USAGE_ENCRYPT), "encrypt");
        ck_assert_str_eq(kb_usage_name(KB_USAGE_BOTH), "both");
        ck_assert_ptr_null(kb_usage_name(0));
        ck_assert_ptr_null(kb_usage_name(8));
        ck_assert_str_eq(kb_pin_status_name(KB_PIN_OK), "ok");
        ck_assert_str_eq(kb_pin_status_name(KB_PIN_COUNT_LOW), "countLow");
        ck_assert_str_eq(kb_pin_status_name(KB_PIN_FINAL_TRY), "finalTry");
        ck_assert_str_eq(kb_pin_status_name(KB_PIN_LOCKED), "locked");
        ck_assert_str_eq(kb_pin_status_name(KB_PIN_MUST_CHANGE), "mustChange");
}
END_TEST

static Suite *x509_suite(void) {
        Suite *s = suite_create("x509");
        TCase *tc = tcase_create("parse");
        tcase_add_test(tc, a_chinese_rsa_certificate_keeps_its_subject_readable_utf8);
        tcase_add_test(tc, subject_fields_come_in_certificate_order_with_repeats_kept);
        tcase_add_test(tc, digital_signature_and_non_repudiation_mean_sign);
        tcase_add_test(tc, an_ec_p256_key_agreement_certificate_is_for_encryption);
        tcase_add_test(tc, an_sm2_subject_key_is_reported_as_sm2);
        tcase_add_test(tc, other_named_curves_keep_their_nist_or_openssl_name);
        tcase_add_test(tc, a_certificate_without_extensions_is_for_both_uses);
        tcase_add_test(tc, signing_and_encipherment_bits_together_mean_both);
        tcase_add_test(tc, a_bmp_string_attribute_comes_out_as_utf8);
        tcase_add_test(tc, uncommon_attributes_use_short_names_or_the_dotted_oid);
        tcase_add_test(tc, an_attribute_that_is_no_string_is_shown_as_hex_der);
        tcase_add_test(tc, a_name_value_with_an_embedded_nul_is_refused);
        tcase_add_test(tc, the_serial_is_upper_case_hex_without_leading_zeros);
        tcase_add_test(tc, validity_dates_are_unix_seconds_in_utc_and_generalized_time);
        tcase_add_test(tc, the_fingerprint_is_the_sha256_of_the_der_and_the_id_its_prefix);
        tcase_add_test(tc, label_key_id_and_der_are_copied);
        tcase_add_test(tc, a_missing_label_and_key_id_become_empty);
        tcase_add_test(tc, the_pem_reads_back_as_the_same_certificate);
        tcase_add_test(tc, freeing_null_does_nothing);
        suite_add_tcase(s, tc);

        tc = tcase_create("bad input");
        tcase_add_test(tc, garbage_and_empty_input_are_a_bad_request);
        tcase_add_test(tc, truncated_der_is_a_bad_request);
        tcase_add_test(tc, der_with_trailing_bytes_is_a_bad_request);
        tcase_add_test(tc, der_that_is_no_certificate_is_a_bad_request);
        suite_add_tcase(s, tc);

        tc = tcase_create("status");
        tcase_add_test(tc, a_certificate_far_from_expiry_is_valid);
        tcase_add_test(tc, a_certificate_within_the_warning_window_is_expiring);
        tcase_add_test(tc, a_certificate_at_or_past_not_after_is_expired_with_floored_days);
        tcase_add_test(tc, a_certificate_before_not_before_is_not_yet_valid);
        tcase_add_test(tc, extreme_times_clamp_days_instead_of_overflowing);
        tcase_add_test(tc, names_match_the_api);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        rsa_key = EVP_RSA_gen(2048);
        ec_key = EVP_EC_gen("P-256");
        sm2_key = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
        if (!rsa_key || !ec_key || !sm2_key) {
                fprintf(stderr, "test-x509: key generation failed\n");
                return EXIT_FAILURE;
        }

        int failed = kb_check_run(x509_suite()) != EXIT_SUCCESS;
        EVP_PKEY_free(rsa_key);
        EVP_PKEY_free(ec_key);
        EVP_PKEY_free(sm2_key);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
