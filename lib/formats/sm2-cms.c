/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SM2 SignedData as GM/T 0010 defines it: PKCS#7 structure with the GM/T
 * content-type OIDs, SM3 as the digest and SM2-1 as the signature
 * algorithm. OpenSSL 3.0's CMS cannot sign with SM2 (and knows neither
 * content type), so the structure is declared here with OpenSSL's ASN.1
 * templates, and the token signs e = SM3(Z || DER(signed attributes)).
 */
#include <openssl/asn1t.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <limits.h>
#include <string.h>

#include "kb-core.h"
#include "kb-sm2.h"

#define OID_GMT_DATA "1.2.156.10197.6.1.4.2.1"
#define OID_GMT_SIGNED_DATA "1.2.156.10197.6.1.4.2.2"
#define OID_SM2_1 "1.2.156.10197.1.301.1"       /* SM2 digital signature, GM/T 0006 */

typedef struct {
        ASN1_OBJECT *type;
        ASN1_OCTET_STRING *content;     /* NULL when detached */
} SM2_CONTENT;

ASN1_SEQUENCE(SM2_CONTENT) = {
        ASN1_SIMPLE(SM2_CONTENT, type, ASN1_OBJECT),
        ASN1_EXP_OPT(SM2_CONTENT, content, ASN1_OCTET_STRING, 0),
} static_ASN1_SEQUENCE_END(SM2_CONTENT)

typedef struct {
        ASN1_INTEGER *version;
        PKCS7_ISSUER_AND_SERIAL *signer;
        X509_ALGOR *digest_alg;
        STACK_OF(X509_ATTRIBUTE) *signed_attrs;
        X509_ALGOR *sig_alg;
        ASN1_OCTET_STRING *signature;
} SM2_SIGNER;

ASN1_SEQUENCE(SM2_SIGNER) = {
        ASN1_SIMPLE(SM2_SIGNER, version, ASN1_INTEGER),
        ASN1_SIMPLE(SM2_SIGNER, signer, PKCS7_ISSUER_AND_SERIAL),
        ASN1_SIMPLE(SM2_SIGNER, digest_alg, X509_ALGOR),
        ASN1_IMP_SET_OF(SM2_SIGNER, signed_attrs, X509_ATTRIBUTE, 0),
        ASN1_SIMPLE(SM2_SIGNER, sig_alg, X509_ALGOR),
        ASN1_SIMPLE(SM2_SIGNER, signature, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(SM2_SIGNER)

DEFINE_STACK_OF(SM2_SIGNER)

typedef struct {
        ASN1_INTEGER *version;
        STACK_OF(X509_ALGOR) *digest_algs;
        SM2_CONTENT *content;
        STACK_OF(X509) *certs;
        STACK_OF(SM2_SIGNER) *signers;
} SM2_SIGNED;

ASN1_SEQUENCE(SM2_SIGNED) = {
        ASN1_SIMPLE(SM2_SIGNED, version, ASN1_INTEGER),
        ASN1_SET_OF(SM2_SIGNED, digest_algs, X509_ALGOR),
        ASN1_SIMPLE(SM2_SIGNED, content, SM2_CONTENT),
        ASN1_IMP_SET_OF_OPT(SM2_SIGNED, certs, X509, 0),
        ASN1_SET_OF(SM2_SIGNED, signers, SM2_SIGNER),
} static_ASN1_SEQUENCE_END(SM2_SIGNED)

typedef struct {
        ASN1_OBJECT *type;
        SM2_SIGNED *signed_data;
} SM2_CONTENT_INFO;

ASN1_SEQUENCE(SM2_CONTENT_INFO) = {
        ASN1_SIMPLE(SM2_CONTENT_INFO, type, ASN1_OBJECT),
        ASN1_EXP(SM2_CONTENT_INFO, signed_data, SM2_SIGNED, 0),
} static_ASN1_SEQUENCE_END(SM2_CONTENT_INFO)

/* The signed attributes as they are signed: a SET OF, sorted as the
 * [0] IMPLICIT field above is, so the bytes are the same but the tag. */
ASN1_ITEM_TEMPLATE(SM2_ATTRS) =
        ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SET_OF, 0, SM2_ATTRS, X509_ATTRIBUTE)
static_ASN1_ITEM_TEMPLATE_END(SM2_ATTRS)

static void info_free(SM2_CONTENT_INFO *ci) {
        ASN1_item_free((ASN1_VALUE *) ci, ASN1_ITEM_rptr(SM2_CONTENT_INFO));
}
KB_DEFINE_POINTER_CLEANUP(SM2_CONTENT_INFO, info_free)

static int add_attr(STACK_OF(X509_ATTRIBUTE) **attrs, int nid, int type, const void *value) {
        return X509at_add1_attr_by_NID(attrs, nid, type, value, -1) != NULL;
}

static int signed_attrs(SM2_SIGNER *si, const unsigned char *data, size_t len, time_t now) {
        unsigned char md[KB_SM2_DIGEST_LEN];
        unsigned int md_len = 0;
        _cleanup_(ASN1_TIME_freep) ASN1_TIME *t = ASN1_TIME_adj(NULL, now, 0, 0);
        ASN1_OBJECT *data_type = OBJ_txt2obj(OID_GMT_DATA, 1);
        int ok = t && data_type && EVP_Digest(data, len, md, &md_len, EVP_sm3(), NULL) &&
                 add_attr(&si->signed_attrs, NID_pkcs9_contentType, V_ASN1_OBJECT, data_type) &&
                 add_attr(&si->signed_attrs, NID_pkcs9_signingTime, t->type, t) &&
                 add_attr(&si->signed_attrs, NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING,
                          &(ASN1_OCTET_STRING) { .length = (int) md_len, .type = V_ASN1_OCTET_STRING, .data = md });
        ASN1_OBJECT_free(data_type);
        return ok;
}

static int set_alg(X509_ALGOR *alg, ASN1_OBJECT *oid) {
        return oid && X509_ALGOR_set0(alg, oid, V_ASN1_UNDEF, NULL);
}

static int signer_id(SM2_SIGNER *si, X509 *cert) {
        PKCS7_ISSUER_AND_SERIAL *ias = si->signer;
        X509_NAME_free(ias->issuer);
        ias->issuer = X509_NAME_dup(X509_get_issuer_name(cert));
        ASN1_INTEGER_free(ias->serial);
        ias->serial = ASN1_INTEGER_dup(X509_get0_serialNumber(cert));
        return ias->issuer && ias->serial && ASN1_INTEGER_set(si->version, 1) &&
               set_alg(si->digest_alg, OBJ_nid2obj(NID_sm3)) && set_alg(si->sig_alg, OBJ_txt2obj(OID_SM2_1, 1));
}

/* Sign the attributes: e over their DER as a SET OF, the token signs e. */
static int sign_attrs(SM2_SIGNER *si, X509 *cert, const unsigned char *id, size_t id_len, kb_sm2_sign_fn sign,
                      void *ctx) {
        unsigned char *der = NULL, e[KB_SM2_DIGEST_LEN], *sig = NULL;
        size_t sig_len = 0;
        int len = ASN1_item_i2d((ASN1_VALUE *) si->signed_attrs, &der, ASN1_ITEM_rptr(SM2_ATTRS));
        if (len <= 0)
                return -KB_E_INTERNAL;
        int r = kb_sm2_digest(X509_get0_pubkey(cert), id, id_len, der, (size_t) len, e);
        OPENSSL_free(der);
        if (r >= 0)
                r = sign(ctx, e, &sig, &sig_len);
        if (r >= 0 && !ASN1_OCTET_STRING_set(si->signature, sig, (int) sig_len))
                r = -KB_E_INTERNAL;
        OPENSSL_free(sig);
        return r;
}

static SM2_SIGNER *signer_new(STACK_OF(SM2_SIGNER) *signers) {
        SM2_SIGNER *si = (SM2_SIGNER *) ASN1_item_new(ASN1_ITEM_rptr(SM2_SIGNER));
        if (si && !sk_SM2_SIGNER_push(signers, si)) {
                ASN1_item_free((ASN1_VALUE *) si, ASN1_ITEM_rptr(SM2_SIGNER));
                return NULL;
        }
        return si;
}

/* Everything but the signer's signature. */
static int outline(SM2_CONTENT_INFO *ci, X509 *cert, const unsigned char *data, size_t len, bool detached) {
        SM2_SIGNED *sd = ci->signed_data;
        X509_ALGOR *sm3 = X509_ALGOR_new();
        bool ok = sm3 && set_alg(sm3, OBJ_nid2obj(NID_sm3)) && sk_X509_ALGOR_push(sd->digest_algs, sm3);
        if (!ok)
                X509_ALGOR_free(sm3);
        ASN1_OBJECT_free(ci->type);
        ci->type = OBJ_txt2obj(OID_GMT_SIGNED_DATA, 1);
        ASN1_OBJECT_free(sd->content->type);
        sd->content->type = OBJ_txt2obj(OID_GMT_DATA, 1);
        sd->certs = sk_X509_new_null();
        ok = ok && ci->type && sd->content->type && sd->certs && ASN1_INTEGER_set(sd->version, 1) &&
             X509_add_cert(sd->certs, cert, X509_ADD_FLAG_UP_REF);
        if (ok && !detached) {
                sd->content->content = ASN1_OCTET_STRING_new();
                ok = sd->content->content && ASN1_OCTET_STRING_set(sd->content->content, data, (int) len);
        }
        return ok ? 0 : -KB_E_INTERNAL;
}

int kb_sm2_cms_sign(X509 *cert, const unsigned char *id, size_t id_len, const unsigned char *data, size_t len,
                    bool detached, time_t now, kb_sm2_sign_fn sign, void *ctx, unsigned char **ret,
                    size_t *ret_len) {
        if (len > INT_MAX)
                return -KB_E_BAD_REQUEST;
        _cleanup_(info_freep) SM2_CONTENT_INFO *ci =
                (SM2_CONTENT_INFO *) ASN1_item_new(ASN1_ITEM_rptr(SM2_CONTENT_INFO));
        if (!ci)
                return -KB_E_INTERNAL;
        int r = outline(ci, cert, data, len, detached);
        SM2_SIGNER *si = r >= 0 ? signer_new(ci->signed_data->signers) : NULL;
        if (r >= 0 && !(si && signer_id(si, cert) && signed_attrs(si, data, len, now)))
                r = -KB_E_INTERNAL;
        if (r >= 0)
                r = sign_attrs(si, cert, id, id_len, sign, ctx);
        if (r < 0)
                return r;
        unsigned char *out = NULL;
        int n = ASN1_item_i2d((ASN1_VALUE *) ci, &out, ASN1_ITEM_rptr(SM2_CONTENT_INFO));
        if (n <= 0)
                return -KB_E_INTERNAL;
        *ret = out;
        *ret_len = (size_t) n;
        return 0;
}
