/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The DER the token signatures need around them, built with OpenSSL's ASN.1
 * types: the PKCS#1 v1.5 DigestInfo the token signs, the ECDSA-Sig-Value
 * OpenSSL expects instead of the token's r||s, and the signature
 * AlgorithmIdentifier that CMS and X509_REQ_sign ask the provider for.
 */
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "kb-core.h"
#include "p11-pkey.h"

KB_DEFINE_POINTER_CLEANUP(X509_SIG, X509_SIG_free)
KB_DEFINE_POINTER_CLEANUP(X509_ALGOR, X509_ALGOR_free)
KB_DEFINE_POINTER_CLEANUP(RSA_PSS_PARAMS, RSA_PSS_PARAMS_free)
KB_DEFINE_POINTER_CLEANUP(ECDSA_SIG, ECDSA_SIG_free)

int kb_p11pk_digest_info(const EVP_MD *md, const unsigned char *hash, size_t hash_len, unsigned char **ret) {
        _cleanup_(X509_SIG_freep) X509_SIG *sig = X509_SIG_new();
        X509_ALGOR *alg = NULL;
        ASN1_OCTET_STRING *digest = NULL;

        if (!sig || hash_len > EVP_MAX_MD_SIZE)
                return -1;
        X509_SIG_getm(sig, &alg, &digest);
        if (!X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, NULL) ||
            !ASN1_OCTET_STRING_set(digest, hash, (int) hash_len))
                return -1;
        return i2d_X509_SIG(sig, ret);
}

int kb_p11pk_ecdsa_der(const unsigned char *raw, size_t raw_len, unsigned char *out, size_t *out_len) {
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = ECDSA_SIG_new();
        BIGNUM *r = NULL, *s = NULL;

        if (!sig || raw_len == 0 || raw_len % 2 != 0 || raw_len > KB_P11PK_MAX_SIG)
                return 0;
        r = BN_bin2bn(raw, (int) (raw_len / 2), NULL);
        s = BN_bin2bn(raw + raw_len / 2, (int) (raw_len / 2), NULL);
        if (!r || !s || !ECDSA_SIG_set0(sig, r, s)) {
                BN_free(r);
                BN_free(s);
                return 0;
        }
        int len = i2d_ECDSA_SIG(sig, NULL);
        if (len <= 0 || (size_t) len > *out_len)
                return 0;
        *out_len = (size_t) i2d_ECDSA_SIG(sig, &out);
        return 1;
}

/* AlgorithmIdentifier { id-mgf1, AlgorithmIdentifier of md }. */
static X509_ALGOR *mgf1_algorithm(const EVP_MD *md) {
        _cleanup_(X509_ALGOR_freep) X509_ALGOR *hash = X509_ALGOR_new();
        _cleanup_(X509_ALGOR_freep) X509_ALGOR *mgf = X509_ALGOR_new();
        if (!hash || !mgf)
                return NULL;
        X509_ALGOR_set_md(hash, md);
        ASN1_STRING *params = ASN1_item_pack(hash, ASN1_ITEM_rptr(X509_ALGOR), NULL);
        if (!params || !X509_ALGOR_set0(mgf, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE, params)) {
                ASN1_STRING_free(params);
                return NULL;
        }
        return TAKE_PTR(mgf);
}

/* RSASSA-PSS-params (RFC 4055), fields at their SHA-1/20 defaults left out. */
static int set_pss(X509_ALGOR *alg, const EVP_MD *md, const EVP_MD *mgf1, int salt_len) {
        _cleanup_(RSA_PSS_PARAMS_freep) RSA_PSS_PARAMS *pss = RSA_PSS_PARAMS_new();
        if (!pss || salt_len < 0)
                return 0;
        if (!EVP_MD_is_a(md, "SHA1")) {
                if (!(pss->hashAlgorithm = X509_ALGOR_new()))
                        return 0;
                X509_ALGOR_set_md(pss->hashAlgorithm, md);
        }
        if (!EVP_MD_is_a(mgf1, "SHA1") && !(pss->maskGenAlgorithm = mgf1_algorithm(mgf1)))
                return 0;
        if (salt_len != 20 &&
            (!(pss->saltLength = ASN1_INTEGER_new()) || !ASN1_INTEGER_set(pss->saltLength, salt_len)))
                return 0;
        ASN1_STRING *params = ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), NULL);
        if (!params || !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, params)) {
                ASN1_STRING_free(params);
                return 0;
        }
        return 1;
}

static int set_plain(X509_ALGOR *alg, CK_KEY_TYPE type, const EVP_MD *md) {
        int pkey_nid = type == CKK_RSA ? NID_rsaEncryption : NID_X9_62_id_ecPublicKey;
        int nid = NID_undef;
        if (!OBJ_find_sigid_by_algs(&nid, EVP_MD_get_type(md), pkey_nid))
                return 0;
        /* sha*WithRSAEncryption carries NULL parameters, ecdsa-with-SHA* none. */
        return X509_ALGOR_set0(alg, OBJ_nid2obj(nid), type == CKK_RSA ? V_ASN1_NULL : V_ASN1_UNDEF, NULL);
}

int kb_p11pk_algorithm_id(CK_KEY_TYPE type, const EVP_MD *md, const EVP_MD *mgf1, int salt_len,
                          unsigned char **ret) {
        _cleanup_(X509_ALGOR_freep) X509_ALGOR *alg = X509_ALGOR_new();
        if (!alg || !md)
                return -1;
        if (!(mgf1 ? set_pss(alg, md, mgf1, salt_len) : set_plain(alg, type, md)))
                return -1;
        return i2d_X509_ALGOR(alg, ret);
}
