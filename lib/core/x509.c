/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* X.509 certificates as the web API's model (api.md "Certificate"). */
#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "kb-cleanup.h"
#include "kb-error.h"
#include "kb-model.h"
#include "kb-openssl.h"

/* Far above any certificate a token holds; keeps d2i's long cast safe. */
#define CERT_DER_MAX (1024 * 1024)
#define SECONDS_PER_DAY INT64_C(86400)

/* RFC 2253, but UTF-8 left as is so Chinese names stay readable. */
#define NAME_FLAGS (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)

KB_DEFINE_POINTER_CLEANUP(kb_cert, kb_cert_free)

static void openssl_freep(void *p) {
        OPENSSL_free(*(void **) p);
}

static void hex_lower(const unsigned char *p, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[p[i] >> 4];
                out[2 * i + 1] = digits[p[i] & 0xf];
        }
        out[2 * n] = '\0';
}

/* A C string from n bytes; embedded NULs would hide the rest of a value. */
static int string_from_bytes(const char *p, size_t n, char **ret) {
        if (n > 0 && memchr(p, '\0', n))
                return -KB_E_BAD_REQUEST;
        char *s = n > 0 ? strndup(p, n) : strdup("");
        if (!s)
                return -KB_E_INTERNAL;
        *ret = s;
        return 0;
}

static int bio_to_string(BIO *b, char **ret) {
        char *data = NULL;
        long n = BIO_get_mem_data(b, &data);
        if (n < 0)
                return -KB_E_INTERNAL;
        return string_from_bytes(data, (size_t) n, ret);
}

static int name_to_string(const X509_NAME *name, char **ret) {
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        if (!b)
                return -KB_E_INTERNAL;
        /* Fails on strings that do not decode (bad UTF-8, odd BMP length). */
        if (X509_NAME_print_ex(b, name, 0, NAME_FLAGS) < 0)
                return -KB_E_BAD_REQUEST;
        return bio_to_string(b, ret);
}

/* The key of an attribute: its well-known short name, else its dotted OID. */
static int attr_key(const ASN1_OBJECT *obj, char **ret) {
        static const struct {
                int nid;
                const char *key;
        } keys[] = {
                { NID_givenName, "givenName" },
                { NID_serialNumber, "serialNumber" },
                { NID_pkcs9_emailAddress, "emailAddress" },
                { NID_surname, "SN" },
                { NID_streetAddress, "street" },
        };
        int nid = OBJ_obj2nid(obj);
        const char *key = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;

        for (size_t i = 0; i < KB_ELEMENTSOF(keys); i++)
                if (keys[i].nid == nid)
                        key = keys[i].key;
        if (key) {
                *ret = strdup(key);
                return *ret ? 0 : -KB_E_INTERNAL;
        }

        int n = OBJ_obj2txt(NULL, 0, obj, 1);
        if (n <= 0)
                return -KB_E_BAD_REQUEST;
        _cleanup_free_ char *oid = malloc((size_t) n + 1);
        if (!oid)
                return -KB_E_INTERNAL;
        if (OBJ_obj2txt(oid, n + 1, obj, 1) != n)
                return -KB_E_INTERNAL;
        *ret = TAKE_PTR(oid);
        return 0;
}

/* A value that is no string (a BIT STRING, a SEQUENCE): "#" and its DER in
 * hex, as RFC 2253 and X509_NAME_print_ex show it. */
static int value_dump(const ASN1_STRING *s, char **ret) {
        static const char digits[] = "0123456789ABCDEF";
        ASN1_TYPE t = { .type = ASN1_STRING_type(s), .value.asn1_string = (ASN1_STRING *) s };
        _cleanup_(openssl_freep) unsigned char *der = NULL;

        int n = i2d_ASN1_TYPE(&t, &der);
        if (n <= 0)
                return -KB_E_BAD_REQUEST;
        char *out = malloc(2 * (size_t) n + 2);
        if (!out)
                return -KB_E_INTERNAL;
        out[0] = '#';
        for (int i = 0; i < n; i++) {
                out[1 + 2 * i] = digits[der[i] >> 4];
                out[2 + 2 * i] = digits[der[i] & 0xf];
        }
        out[1 + 2 * n] = '\0';
        *ret = out;
        return 0;
}

static int attr_value(const ASN1_STRING *s, char **ret) {
        _cleanup_(openssl_freep) unsigned char *utf8 = NULL;

        int n = ASN1_STRING_to_UTF8(&utf8, s);
        if (n < 0) {
                ERR_clear_error();
                return value_dump(s, ret);
        }
        return string_from_bytes((const char *) utf8, (size_t) n, ret);
}

static int subject_fields(const X509_NAME *name, kb_cert *c) {
        int n = X509_NAME_entry_count(name);
        if (n <= 0)
                return 0;
        c->subject_fields = calloc((size_t) n, sizeof(kb_name_attr));
        if (!c->subject_fields)
                return -KB_E_INTERNAL;

        for (int i = 0; i < n; i++) {
                const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
                kb_name_attr *a = &c->subject_fields[c->n_subject_fields];
                int r = attr_key(X509_NAME_ENTRY_get_object(e), &a->key);
                if (r < 0)
                        return r;
                c->n_subject_fields++; /* from here kb_cert_free owns a->key */
                r = attr_value(X509_NAME_ENTRY_get_data(e), &a->value);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Upper-case hex without leading zeros: 0x0100FF is "100FF", zero is "0". */
static int serial_to_hex(const X509 *x, char **ret) {
        _cleanup_(BN_freep) BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        if (!bn)
                return -KB_E_INTERNAL;
        _cleanup_(openssl_freep) char *hex = BN_bn2hex(bn);
        if (!hex)
                return -KB_E_INTERNAL;

        const char *sign = hex[0] == '-' ? "-" : "";
        const char *digits = hex + strlen(sign);
        while (digits[0] == '0' && digits[1] != '\0')
                digits++;
        if (asprintf(ret, "%s%s", sign, digits) < 0)
                return -KB_E_INTERNAL;
        return 0;
}

static int time_to_unix(const ASN1_TIME *t, int64_t *ret) {
        struct tm tm = { 0 };
        /* ASN1_TIME_to_tm() takes NULL as "now": never let it. */
        if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
                return -KB_E_BAD_REQUEST;
        *ret = (int64_t) timegm(&tm);
        return 0;
}

static int set_curve(kb_cert *c, const char *name) {
        c->curve = strdup(name);
        return c->curve ? 0 : -KB_E_INTERNAL;
}

/* OpenSSL 3.0 may hand back an SM2 SubjectPublicKeyInfo as "EC" on curve SM2. */
static int ec_curve(const EVP_PKEY *pkey, kb_cert *c) {
        char group[80];

        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) != 1) {
                ERR_clear_error(); /* explicit parameters: no name to show */
                return 0;
        }
        int nid = OBJ_sn2nid(group);
        if (nid == NID_undef)
                nid = EC_curve_nist2nid(group);
        if (nid == NID_sm2) {
                c->key_type = KB_KEY_SM2;
                return set_curve(c, "SM2");
        }

        const char *name = nid != NID_undef ? EC_curve_nid2nist(nid) : NULL;
        if (!name && nid != NID_undef)
                name = OBJ_nid2sn(nid);
        return set_curve(c, name ? name : group);
}

static int key_info(const X509 *x, kb_cert *c) {
        EVP_PKEY *pkey = X509_get0_pubkey(x);
        if (!pkey) {
                ERR_clear_error(); /* an algorithm OpenSSL does not know */
                return 0;
        }
        int bits = EVP_PKEY_get_bits(pkey);
        c->key_bits = bits > 0 ? bits : 0;

        if (EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_is_a(pkey, "RSA-PSS")) {
                c->key_type = KB_KEY_RSA;
                return 0;
        }
        if (EVP_PKEY_is_a(pkey, "SM2")) {
                c->key_type = KB_KEY_SM2;
                return set_curve(c, "SM2");
        }
        if (EVP_PKEY_is_a(pkey, "EC")) {
                c->key_type = KB_KEY_EC;
                return ec_curve(pkey, c);
        }
        return 0;
}

/* No keyUsage: any use. A keyUsage that does not decode, or that names
 * only encipherOnly/decipherOnly: none (rendered as null). */
static unsigned key_usage(const X509 *x) {
        int crit = -1;
        _cleanup_(ASN1_BIT_STRING_freep) ASN1_BIT_STRING *ku =
                X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
        unsigned usage = 0;

        if (!ku) {
                ERR_clear_error();
                return crit == -1 ? KB_USAGE_BOTH : 0;
        }
        /* digitalSignature, nonRepudiation, keyCertSign, cRLSign */
        if (ASN1_BIT_STRING_get_bit(ku, 0) || ASN1_BIT_STRING_get_bit(ku, 1) ||
            ASN1_BIT_STRING_get_bit(ku, 5) || ASN1_BIT_STRING_get_bit(ku, 6))
                usage |= KB_USAGE_SIGN;
        /* keyEncipherment, dataEncipherment, keyAgreement */
        if (ASN1_BIT_STRING_get_bit(ku, 2) || ASN1_BIT_STRING_get_bit(ku, 3) ||
            ASN1_BIT_STRING_get_bit(ku, 4))
                usage |= KB_USAGE_ENCRYPT;
        return usage;
}

static int cert_fill(const X509 *x, kb_cert *c) {
        int r;

        r = name_to_string(X509_get_subject_name(x), &c->subject);
        if (r < 0)
                return r;
        r = subject_fields(X509_get_subject_name(x), c);
        if (r < 0)
                return r;
        r = name_to_string(X509_get_issuer_name(x), &c->issuer);
        if (r < 0)
                return r;
        r = serial_to_hex(x, &c->serial_hex);
        if (r < 0)
                return r;
        r = time_to_unix(X509_get0_notBefore(x), &c->not_before);
        if (r < 0)
                return r;
        r = time_to_unix(X509_get0_notAfter(x), &c->not_after);
        if (r < 0)
                return r;
        r = key_info(x, c);
        if (r < 0)
                return r;
        c->usage = key_usage(x);
        /* OpenSSL computes (and caches) the flags in place: hence the cast. */
        c->is_authority = (X509_get_extension_flags((X509 *) x) & EXFLAG_CA) != 0;
        return 0;
}

/* The fingerprint is over the bytes as given (the whole input is the certificate). */
static int cert_fingerprint(const unsigned char *der, size_t der_len, kb_cert *c) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;

        if (EVP_Digest(der, der_len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
                return -KB_E_INTERNAL;
        hex_lower(md, md_len, c->fingerprint_sha256);
        memcpy(c->id, c->fingerprint_sha256, KB_CERT_ID_LEN);
        c->id[KB_CERT_ID_LEN] = '\0';
        return 0;
}

static int cert_copy_inputs(kb_cert *c, const unsigned char *der, size_t der_len,
                            const char *label, const unsigned char *key_id, size_t key_id_len) {
        c->label = strdup(label ? label : "");
        c->der = malloc(der_len);
        if (!c->label || !c->der)
                return -KB_E_INTERNAL;
        memcpy(c->der, der, der_len);
        c->der_len = der_len;

        if (key_id && key_id_len > 0) {
                c->key_id = malloc(key_id_len);
                if (!c->key_id)
                        return -KB_E_INTERNAL;
                memcpy(c->key_id, key_id, key_id_len);
                c->key_id_len = key_id_len;
        }
        return 0;
}

static int cert_parse(const unsigned char *der, size_t der_len,
                      const char *label, const unsigned char *key_id, size_t key_id_len,
                      kb_cert **ret) {
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(kb_cert_freep) kb_cert *c = NULL;
        const unsigned char *p = der;
        int r;

        if (!der || der_len == 0 || der_len > CERT_DER_MAX)
                return -KB_E_BAD_REQUEST;
        x = d2i_X509(NULL, &p, (long) der_len);
        if (!x || p != der + der_len) /* not a certificate, or bytes after it */
                return -KB_E_BAD_REQUEST;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -KB_E_INTERNAL;
        r = cert_fill(x, c);
        if (r < 0)
                return r;
        r = cert_fingerprint(der, der_len, c);
        if (r < 0)
                return r;
        r = cert_copy_inputs(c, der, der_len, label, key_id, key_id_len);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int kb_cert_from_der(const unsigned char *der, size_t der_len,
                     const char *label, const unsigned char *key_id, size_t key_id_len,
                     kb_cert **ret) {
        assert(ret);

        int r = cert_parse(der, der_len, label, key_id, key_id_len, ret);
        if (r < 0)
                ERR_clear_error(); /* leave no stale errors for the thread's next TLS call */
        return r;
}

void kb_cert_free(kb_cert *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n_subject_fields; i++) {
                free(c->subject_fields[i].key);
                free(c->subject_fields[i].value);
        }
        free(c->subject_fields);
        free(c->label);
        free(c->subject);
        free(c->issuer);
        free(c->serial_hex);
        free(c->curve);
        free(c->der);
        free(c->key_id);
        free(c);
}

/* Whole days, rounded towards minus infinity, clamped to int. */
static int days_floor(int64_t seconds) {
        int64_t days = seconds / SECONDS_PER_DAY;
        if (seconds % SECONDS_PER_DAY != 0 && seconds < 0)
                days--;
        if (days > INT_MAX)
                return INT_MAX;
        if (days < INT_MIN)
                return INT_MIN;
        return (int) days;
}

kb_cert_status kb_cert_status_at(const kb_cert *c, int64_t now, int warning_days, int *ret_days_left) {
        int64_t left;

        assert(c);
        if (__builtin_sub_overflow(c->not_after, now, &left))
                left = now < 0 ? INT64_MAX : INT64_MIN;
        int days = days_floor(left);
        if (ret_days_left)
                *ret_days_left = days;

        if (now < c->not_before)
                return KB_CERT_NOT_YET_VALID;
        if (now >= c->not_after)
                return KB_CERT_EXPIRED;
        if (days <= warning_days)
                return KB_CERT_EXPIRING;
        return KB_CERT_VALID;
}

const char *kb_cert_status_name(kb_cert_status s) {
        switch (s) {
        case KB_CERT_VALID:
                return "valid";
        case KB_CERT_EXPIRING:
                return "expiring";
        case KB_CERT_EXPIRED:
                return "expired";
        case KB_CERT_NOT_YET_VALID:
                return "notYetValid";
        }
        return NULL;
}

const char *kb_key_type_name(kb_key_type t) {
        switch (t) {
        case KB_KEY_RSA:
                return "RSA";
        case KB_KEY_EC:
                return "EC";
        case KB_KEY_SM2:
                return "SM2";
        case KB_KEY_UNKNOWN:
                break;
        }
        return NULL;
}

const char *kb_usage_name(unsigned usage) {
        switch (usage) {
        case KB_USAGE_SIGN:
                return "sign";
        case KB_USAGE_ENCRYPT:
                return "encrypt";
        case KB_USAGE_BOTH:
                return "both";
        }
        return NULL;
}

const char *kb_pin_status_name(kb_pin_status s) {
        switch (s) {
        case KB_PIN_OK:
                return "ok";
        case KB_PIN_COUNT_LOW:
                return "countLow";
        case KB_PIN_FINAL_TRY:
                return "finalTry";
        case KB_PIN_LOCKED:
                return "locked";
        case KB_PIN_MUST_CHANGE:
                return "mustChange";
        }
        return NULL;
}

/* The stored bytes as PEM, exactly (no re-encoding); caller frees. */
char *kb_cert_to_pem(const kb_cert *c) {
        if (!c || !c->der || c->der_len == 0 || c->der_len > CERT_DER_MAX)
                return NULL;
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        if (!b || PEM_write_bio(b, PEM_STRING_X509, "", c->der, (long) c->der_len) <= 0) {
                ERR_clear_error();
                return NULL;
        }
        char *pem = NULL;
        if (bio_to_string(b, &pem) < 0)
                return NULL;
        return pem;
}
