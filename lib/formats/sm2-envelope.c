/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GM/T 0010 EnvelopedData (kb-sm2-envelope.h), declared with OpenSSL's
 * ASN.1 templates like SignedData in sm2-cms.c. Reading accepts the PKCS#7
 * OIDs as well as GM/T's for the content types, and SM2-3 or plain SM2 for
 * the key encryption, since vendors' libraries write either.
 */
#include <openssl/asn1t.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <limits.h>
#include <string.h>

#include "kb-core.h"
#include "kb-sm2-envelope.h"

#define OID_GMT_DATA "1.2.156.10197.6.1.4.2.1"
#define OID_GMT_ENVELOPED "1.2.156.10197.6.1.4.2.3"
#define OID_PKCS7_DATA "1.2.840.113549.1.7.1"
#define OID_PKCS7_ENVELOPED "1.2.840.113549.1.7.3"
#define OID_SM2 "1.2.156.10197.1.301"
#define OID_SM2_3 "1.2.156.10197.1.301.3"       /* SM2 public-key encryption */
#define OID_SM4_CBC "1.2.156.10197.1.104.2"

typedef struct {
        ASN1_INTEGER *version;
        PKCS7_ISSUER_AND_SERIAL *recipient;
        X509_ALGOR *key_alg;
        ASN1_OCTET_STRING *key;         /* DER SM2Cipher */
} ENV_RECIPIENT;

ASN1_SEQUENCE(ENV_RECIPIENT) = {
        ASN1_SIMPLE(ENV_RECIPIENT, version, ASN1_INTEGER),
        ASN1_SIMPLE(ENV_RECIPIENT, recipient, PKCS7_ISSUER_AND_SERIAL),
        ASN1_SIMPLE(ENV_RECIPIENT, key_alg, X509_ALGOR),
        ASN1_SIMPLE(ENV_RECIPIENT, key, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(ENV_RECIPIENT)

DEFINE_STACK_OF(ENV_RECIPIENT)

typedef struct {
        ASN1_OBJECT *type;
        X509_ALGOR *alg;
        ASN1_OCTET_STRING *content;     /* [0] IMPLICIT, OPTIONAL */
} ENV_CONTENT;

ASN1_SEQUENCE(ENV_CONTENT) = {
        ASN1_SIMPLE(ENV_CONTENT, type, ASN1_OBJECT),
        ASN1_SIMPLE(ENV_CONTENT, alg, X509_ALGOR),
        ASN1_IMP_OPT(ENV_CONTENT, content, ASN1_OCTET_STRING, 0),
} static_ASN1_SEQUENCE_END(ENV_CONTENT)

typedef struct {
        ASN1_INTEGER *version;
        STACK_OF(ENV_RECIPIENT) *recipients;
        ENV_CONTENT *content;
} ENV_DATA;

ASN1_SEQUENCE(ENV_DATA) = {
        ASN1_SIMPLE(ENV_DATA, version, ASN1_INTEGER),
        ASN1_SET_OF(ENV_DATA, recipients, ENV_RECIPIENT),
        ASN1_SIMPLE(ENV_DATA, content, ENV_CONTENT),
} static_ASN1_SEQUENCE_END(ENV_DATA)

typedef struct {
        ASN1_OBJECT *type;
        ENV_DATA *data;
} ENV_INFO;

ASN1_SEQUENCE(ENV_INFO) = {
        ASN1_SIMPLE(ENV_INFO, type, ASN1_OBJECT),
        ASN1_EXP(ENV_INFO, data, ENV_DATA, 0),
} static_ASN1_SEQUENCE_END(ENV_INFO)

static ENV_INFO *ENV_INFO_new(void) {
        return (ENV_INFO *) ASN1_item_new(ASN1_ITEM_rptr(ENV_INFO));
}

static void ENV_INFO_free(ENV_INFO *p) {
        ASN1_item_free((ASN1_VALUE *) p, ASN1_ITEM_rptr(ENV_INFO));
}

static ENV_INFO *d2i_ENV_INFO(const unsigned char **in, long len) {
        return (ENV_INFO *) ASN1_item_d2i(NULL, in, len, ASN1_ITEM_rptr(ENV_INFO));
}

static int i2d_ENV_INFO(const ENV_INFO *p, unsigned char **out) {
        return ASN1_item_i2d((const ASN1_VALUE *) p, out, ASN1_ITEM_rptr(ENV_INFO));
}

static ENV_RECIPIENT *ENV_RECIPIENT_new(void) {
        return (ENV_RECIPIENT *) ASN1_item_new(ASN1_ITEM_rptr(ENV_RECIPIENT));
}

static void ENV_RECIPIENT_free(ENV_RECIPIENT *p) {
        ASN1_item_free((ASN1_VALUE *) p, ASN1_ITEM_rptr(ENV_RECIPIENT));
}

KB_DEFINE_POINTER_CLEANUP(ENV_INFO, ENV_INFO_free)
KB_DEFINE_POINTER_CLEANUP(ENV_RECIPIENT, ENV_RECIPIENT_free)

static bool oid_is(const ASN1_OBJECT *o, const char *a, const char *b) {
        char buf[64];
        if (!o || OBJ_obj2txt(buf, sizeof(buf), o, 1) <= 0)
                return false;
        return strcmp(buf, a) == 0 || (b && strcmp(buf, b) == 0);
}

static bool is_recipient(const ENV_RECIPIENT *r, X509 *cert) {
        return X509_NAME_cmp(r->recipient->issuer, X509_get_issuer_name(cert)) == 0 &&
               ASN1_INTEGER_cmp(r->recipient->serial, X509_get0_serialNumber(cert)) == 0;
}

/* SM4-CBC with a 16-byte IV as its parameter. */
static int read_iv(const X509_ALGOR *alg, unsigned char iv[KB_SM4_BLOCK]) {
        const ASN1_OBJECT *oid;
        int ptype = 0;
        const void *pval = NULL;
        X509_ALGOR_get0(&oid, &ptype, &pval, alg);
        const ASN1_OCTET_STRING *s = pval;
        if (!oid_is(oid, OID_SM4_CBC, NULL) || ptype != V_ASN1_OCTET_STRING ||
            ASN1_STRING_length(s) != KB_SM4_BLOCK)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        memcpy(iv, ASN1_STRING_get0_data(s), KB_SM4_BLOCK);
        return 0;
}

static const ENV_RECIPIENT *find_recipient(const ENV_DATA *d, X509 *cert) {
        for (int i = 0; i < sk_ENV_RECIPIENT_num(d->recipients); i++)
                if (is_recipient(sk_ENV_RECIPIENT_value(d->recipients, i), cert))
                        return sk_ENV_RECIPIENT_value(d->recipients, i);
        return NULL;
}

static int copy_out(const ENV_RECIPIENT *r, const ASN1_OCTET_STRING *content, kb_sm2_envelope *ret) {
        ret->cipher_len = (size_t) ASN1_STRING_length(r->key);
        ret->content_len = (size_t) ASN1_STRING_length(content);
        ret->cipher = OPENSSL_memdup(ASN1_STRING_get0_data(r->key), ret->cipher_len);
        ret->content = OPENSSL_memdup(ASN1_STRING_get0_data(content), ret->content_len);
        return ret->cipher && ret->content ? 0 : -KB_E_INTERNAL;
}

int kb_sm2_envelope_read(const unsigned char *der, size_t len, X509 *cert, kb_sm2_envelope *ret) {
        *ret = (kb_sm2_envelope) { 0 };
        const unsigned char *p = der;
        _cleanup_(ENV_INFO_freep) ENV_INFO *info = len <= LONG_MAX ? d2i_ENV_INFO(&p, (long) len) : NULL;
        if (!info || p != der + len || !oid_is(info->type, OID_GMT_ENVELOPED, OID_PKCS7_ENVELOPED) ||
            !oid_is(info->data->content->type, OID_GMT_DATA, OID_PKCS7_DATA) || !info->data->content->content)
                return -KB_E_BAD_REQUEST;
        int r = read_iv(info->data->content->alg, ret->iv);
        if (r < 0)
                return r;
        const ENV_RECIPIENT *rcpt = find_recipient(info->data, cert);
        if (!rcpt)
                return -KB_E_NOT_RECIPIENT;
        if (!oid_is(rcpt->key_alg->algorithm, OID_SM2_3, OID_SM2))
                return -KB_E_UNSUPPORTED_ALGORITHM;
        const ASN1_OCTET_STRING *content = info->data->content->content;
        if (ASN1_STRING_length(content) == 0 || ASN1_STRING_length(content) % KB_SM4_BLOCK != 0 ||
            ASN1_STRING_length(rcpt->key) == 0)
                return -KB_E_DECRYPT_FAILED;
        if ((r = copy_out(rcpt, content, ret)) < 0)
                kb_sm2_envelope_clear(ret);
        return r;
}

void kb_sm2_envelope_clear(kb_sm2_envelope *e) {
        OPENSSL_free(e->cipher);
        OPENSSL_free(e->content);
        *e = (kb_sm2_envelope) { 0 };
}

int kb_pkcs7_unpad(const unsigned char *buf, size_t len, size_t *ret_len) {
        if (len == 0 || len % KB_SM4_BLOCK != 0)
                return -KB_E_DECRYPT_FAILED;
        unsigned n = buf[len - 1], bad = n == 0 || n > KB_SM4_BLOCK;
        for (size_t i = 0; i < KB_SM4_BLOCK; i++)
                bad |= (i < n) & (buf[len - 1 - i] != n);
        if (bad)
                return -KB_E_DECRYPT_FAILED;
        *ret_len = len - n;
        return 0;
}

/* ---- sealing ---- */

static int sm4_cbc(const unsigned char key[16], const unsigned char iv[16], const unsigned char *in, size_t len,
                   unsigned char **ret, size_t *ret_len) {
        _cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        EVP_CIPHER *sm4 = EVP_CIPHER_fetch(NULL, "SM4-CBC", NULL);
        unsigned char *out = len < INT_MAX - KB_SM4_BLOCK ? OPENSSL_malloc(len + KB_SM4_BLOCK) : NULL;
        int n = 0, m = 0;
        bool ok = c && sm4 && out && EVP_EncryptInit_ex2(c, sm4, key, iv, NULL) &&
                  EVP_EncryptUpdate(c, out, &n, in, (int) len) && EVP_EncryptFinal_ex(c, out + n, &m);
        EVP_CIPHER_free(sm4);
        if (!ok) {
                OPENSSL_free(out);
                return -KB_E_INTERNAL;
        }
        *ret = out;
        *ret_len = (size_t) (n + m);
        return 0;
}

static int sm2_encrypt(X509 *cert, const unsigned char key[16], unsigned char **ret, size_t *ret_len) {
        EVP_PKEY *pub = X509_get0_pubkey(cert);
        if (!pub || !EVP_PKEY_is_a(pub, "SM2"))
                return -KB_E_UNSUPPORTED_ALGORITHM;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL);
        size_t len = 0;
        if (!c || EVP_PKEY_encrypt_init(c) <= 0 || EVP_PKEY_encrypt(c, NULL, &len, key, 16) <= 0)
                return -KB_E_INTERNAL;
        unsigned char *out = OPENSSL_malloc(len);
        if (!out || EVP_PKEY_encrypt(c, out, &len, key, 16) <= 0) {
                OPENSSL_free(out);
                return -KB_E_INTERNAL;
        }
        *ret = out;
        *ret_len = len;
        return 0;
}

static bool set_octets(ASN1_OCTET_STRING **slot, const unsigned char *p, size_t len) {
        ASN1_OCTET_STRING_free(*slot);      /* a required member comes allocated */
        *slot = ASN1_OCTET_STRING_new();
        return *slot && len <= INT_MAX && ASN1_OCTET_STRING_set(*slot, p, (int) len);
}

static bool set_alg(X509_ALGOR *alg, const char *oid, ASN1_OCTET_STRING *param) {
        ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
        bool ok = o && X509_ALGOR_set0(alg, o, param ? V_ASN1_OCTET_STRING : V_ASN1_NULL, param);
        if (!ok)
                ASN1_OBJECT_free(o);
        return ok;
}

static int add_recipient(ENV_DATA *d, X509 *cert, const unsigned char *key_ct, size_t key_ct_len) {
        _cleanup_(ENV_RECIPIENT_freep) ENV_RECIPIENT *r = ENV_RECIPIENT_new();
        if (!r || !ASN1_INTEGER_set(r->version, 0) || !set_alg(r->key_alg, OID_SM2_3, NULL) ||
            !set_octets(&r->key, key_ct, key_ct_len))
                return -KB_E_INTERNAL;
        PKCS7_ISSUER_AND_SERIAL *ias = r->recipient;
        X509_NAME_free(ias->issuer);
        ASN1_INTEGER_free(ias->serial);
        ias->issuer = X509_NAME_dup(X509_get_issuer_name(cert));
        ias->serial = ASN1_INTEGER_dup(X509_get0_serialNumber(cert));
        if (!ias->issuer || !ias->serial || !sk_ENV_RECIPIENT_push(d->recipients, r))
                return -KB_E_INTERNAL;
        r = NULL;
        return 0;
}

static int set_content(ENV_CONTENT *c, const unsigned char iv[16], const unsigned char *ct, size_t ct_len) {
        ASN1_OCTET_STRING *param = NULL;
        ASN1_OBJECT_free(c->type);
        c->type = OBJ_txt2obj(OID_GMT_DATA, 1);
        if (!c->type || !set_octets(&param, iv, KB_SM4_BLOCK) || !set_alg(c->alg, OID_SM4_CBC, param)) {
                ASN1_OCTET_STRING_free(param);
                return -KB_E_INTERNAL;
        }
        return set_octets(&c->content, ct, ct_len) ? 0 : -KB_E_INTERNAL;
}

static int encode(ENV_INFO *info, unsigned char **ret, size_t *ret_len) {
        ASN1_OBJECT_free(info->type);
        info->type = OBJ_txt2obj(OID_GMT_ENVELOPED, 1);
        unsigned char *out = NULL;
        int n = info->type && ASN1_INTEGER_set(info->data->version, 0) ? i2d_ENV_INFO(info, &out) : -1;
        if (n <= 0)
                return -KB_E_INTERNAL;
        *ret = out;
        *ret_len = (size_t) n;
        return 0;
}

int kb_sm2_envelope_seal(X509 *cert, const unsigned char *data, size_t len, unsigned char **ret, size_t *ret_len) {
        unsigned char key[16], iv[KB_SM4_BLOCK];
        _cleanup_(ENV_INFO_freep) ENV_INFO *info = ENV_INFO_new();
        _cleanup_openssl_ unsigned char *key_ct = NULL;
        _cleanup_openssl_ unsigned char *content = NULL;
        size_t key_ct_len = 0, content_len = 0;
        if (!info || RAND_priv_bytes(key, sizeof(key)) <= 0 || RAND_bytes(iv, sizeof(iv)) <= 0)
                return -KB_E_INTERNAL;
        int r = sm2_encrypt(cert, key, &key_ct, &key_ct_len);
        if (r >= 0)
                r = sm4_cbc(key, iv, data, len, &content, &content_len);
        OPENSSL_cleanse(key, sizeof(key));
        if (r >= 0)
                r = add_recipient(info->data, cert, key_ct, key_ct_len);
        if (r >= 0)
                r = set_content(info->data->content, iv, content, content_len);
        return r < 0 ? r : encode(info, ret, ret_len);
}
