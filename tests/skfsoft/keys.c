/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SM2 key pairs in containers: generation, the imported encryption key
 * pair (ENVELOPEDKEYBLOB), signatures of a 32-byte digest e = SM3(Z ‖ M)
 * computed by the caller, and the device's public-key operations. */
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "skfsoft.h"

/* The signature algorithm id this device wants: SGD_SM2_1 unless
 * device.json says "sm2SignAlgId" (a vendor quirk, for profile tests). */
static SKF_ULONG sign_alg(const ss_handle *h) {
        char p[PATH_MAX + 16];
        snprintf(p, sizeof(p), "%s/device.json", h->dev);
        json_t *desc = json_load_file(p, 0, NULL);
        json_t *v = json_object_get(desc, "sm2SignAlgId");
        SKF_ULONG alg = json_is_integer(v) ? (SKF_ULONG) json_integer_value(v) : SGD_SM2_1;
        json_decref(desc);
        return alg;
}

SS_EXPORT SKF_ULONG SKF_GenECCKeyPair(SKF_HANDLE hContainer, SKF_ULONG ulAlgId, SKF_ECCPUBLICKEYBLOB *pBlob) {
        ss_handle *c;
        char p[PATH_MAX];
        SKF_ULONG rv = ss_begin("SKF_GenECCKeyPair", hContainer, SS_CONTAINER, &c);
        if (rv != SAR_OK)
                return rv;
        if (ulAlgId != sign_alg(c))
                return ss_end(SAR_NOTSUPPORTYETERR);
        if (!pBlob || ss_path(p, c, "sign.key") < 0)
                return ss_end(SAR_INVALIDPARAMERR);
        if ((rv = ss_need_user(c)) != SAR_OK)
                return ss_end(rv);
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "SM2");
        if (!k || kb_skf_pub_to_blob(k, pBlob) < 0)
                rv = SAR_FAIL;
        else if (ss_key_save(p, k) < 0)
                rv = SAR_WRITEFILEERR;
        EVP_PKEY_free(k);
        return ss_end(rv);
}

EVP_PKEY *ss_container_key(const ss_handle *c, bool sign) {
        char p[PATH_MAX];
        return ss_path(p, c, sign ? "sign.key" : "enc.key") == 0 ? ss_key_load(p) : NULL;
}

SS_EXPORT SKF_ULONG SKF_ECCSignData(SKF_HANDLE hContainer, SKF_BYTE *pbDigest, SKF_ULONG ulDigestLen,
                                    SKF_ECCSIGNATUREBLOB *pSignature) {
        ss_handle *c;
        SKF_ULONG rv = ss_begin("SKF_ECCSignData", hContainer, SS_CONTAINER, &c);
        if (rv != SAR_OK)
                return rv;
        if (!pbDigest || ulDigestLen != 32 || !pSignature)
                return ss_end(SAR_INDATALENERR);
        if ((rv = ss_need_user(c)) != SAR_OK)
                return ss_end(rv);
        EVP_PKEY *k = ss_container_key(c, true);
        if (!k)
                return ss_end(SAR_KEYNOTFOUNTERR);
        unsigned char der[80];
        size_t len = sizeof(der);
        /* OpenSSL's SM2 EVP_PKEY_sign signs its input as the digest e. */
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
        bool ok = ctx && EVP_PKEY_sign_init(ctx) > 0 && EVP_PKEY_sign(ctx, der, &len, pbDigest, 32) > 0 &&
                  kb_skf_sig_from_der(der, len, pSignature) == 0;
        EVP_PKEY_CTX_free(ctx);
        EVP_PKEY_free(k);
        return ss_end(ok ? SAR_OK : SAR_FAIL);
}

SS_EXPORT SKF_ULONG SKF_ECCVerify(SKF_HANDLE hDev, SKF_ECCPUBLICKEYBLOB *pPubKey, SKF_BYTE *pbData,
                                  SKF_ULONG ulDataLen, SKF_ECCSIGNATUREBLOB *pSignature) {
        ss_handle *d;
        SKF_ULONG rv = ss_begin("SKF_ECCVerify", hDev, SS_DEV, &d);
        if (rv != SAR_OK)
                return rv;
        EVP_PKEY *k = pPubKey ? kb_skf_blob_to_pub(pPubKey) : NULL;
        unsigned char *der = NULL;
        size_t len = 0;
        if (!k || !pbData || ulDataLen != 32 || !pSignature || kb_skf_sig_to_der(pSignature, &der, &len) < 0) {
                EVP_PKEY_free(k);
                return ss_end(SAR_INVALIDPARAMERR);
        }
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
        bool ok = ctx && EVP_PKEY_verify_init(ctx) > 0 && EVP_PKEY_verify(ctx, der, len, pbData, 32) == 1;
        EVP_PKEY_CTX_free(ctx);
        EVP_PKEY_free(k);
        OPENSSL_free(der);
        return ss_end(ok ? SAR_OK : SAR_FAIL);
}

SS_EXPORT SKF_ULONG SKF_ExtECCEncrypt(SKF_HANDLE hDev, SKF_ECCPUBLICKEYBLOB *pPubKey, SKF_BYTE *pbPlainText,
                                      SKF_ULONG ulPlainTextLen, SKF_ECCCIPHERBLOB *pCipherText) {
        ss_handle *d;
        SKF_ULONG rv = ss_begin("SKF_ExtECCEncrypt", hDev, SS_DEV, &d);
        if (rv != SAR_OK)
                return rv;
        EVP_PKEY *k = pPubKey ? kb_skf_blob_to_pub(pPubKey) : NULL;
        if (!k || !pbPlainText || !pCipherText || ulPlainTextLen == 0 || ulPlainTextLen > SKF_CIPHER_MAX)
                rv = SAR_INVALIDPARAMERR;
        else if (ss_sm2_encrypt_blob(k, pbPlainText, ulPlainTextLen, pCipherText) < 0)
                rv = SAR_FAIL;
        EVP_PKEY_free(k);
        return ss_end(rv);
}

/* The private key inside: SM4-ECB under the SM2-decrypted key. The standard
 * form is the 64-byte PrivateKey field (32 zero bytes, then d); some KMCs
 * encrypt d alone into the first 32 bytes. Either must match PubKey. */
static EVP_PKEY *unwrap(EVP_PKEY *sign_key, const SKF_ENVELOPEDKEYBLOB *b) {
        unsigned char sym[SKF_CIPHER_MAX + 16], plain[SKF_ECC_BYTES];
        size_t sym_len = sizeof(sym);
        EVP_PKEY *k = NULL, *pub = kb_skf_blob_to_pub(&b->PubKey);
        if (pub && b->ulSymmAlgID == SGD_SM4_ECB && b->ulBits == 256 &&
            ss_sm2_decrypt_blob(sign_key, &b->ECCCipherBlob, sym, &sym_len) == 0 && sym_len == 16 &&
            ss_sm4_ecb(sym, false, b->cbEncryptedPriKey, sizeof(plain), plain) == 0) {
                static const unsigned char zeros[32];
                const unsigned char *d = memcmp(plain, zeros, 32) == 0 ? plain + 32 : plain;
                k = ss_priv_from_scalar(d);
                if (k && !ss_same_pub(k, pub)) {
                        EVP_PKEY_free(k);
                        k = NULL;
                }
        }
        OPENSSL_cleanse(sym, sizeof(sym));
        OPENSSL_cleanse(plain, sizeof(plain));
        EVP_PKEY_free(pub);
        return k;
}

SS_EXPORT SKF_ULONG SKF_ImportECCKeyPair(SKF_HANDLE hContainer, SKF_ENVELOPEDKEYBLOB *pEnvelopedKeyBlob) {
        ss_handle *c;
        char p[PATH_MAX];
        SKF_ULONG rv = ss_begin("SKF_ImportECCKeyPair", hContainer, SS_CONTAINER, &c);
        if (rv != SAR_OK)
                return rv;
        if (!pEnvelopedKeyBlob || ss_path(p, c, "enc.key") < 0)
                return ss_end(SAR_INVALIDPARAMERR);
        if ((rv = ss_need_user(c)) != SAR_OK)
                return ss_end(rv);
        EVP_PKEY *sign_key = ss_container_key(c, true);
        if (!sign_key)
                return ss_end(SAR_KEYNOTFOUNTERR);
        EVP_PKEY *k = unwrap(sign_key, pEnvelopedKeyBlob);
        rv = !k ? SAR_INDATAERR : ss_key_save(p, k) == 0 ? SAR_OK : SAR_WRITEFILEERR;
        EVP_PKEY_free(k);
        EVP_PKEY_free(sign_key);
        return ss_end(rv);
}
