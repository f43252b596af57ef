/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CMS EnvelopedData and AuthEnvelopedData opened by OpenSSL's CMS with a
 * token key: the keybridge-p11 provider opens the content key on the token
 * (C_Decrypt for key transport, C_DeriveKey for key agreement), OpenSSL
 * decrypts the content.
 *
 * OpenSSL's answer alone is not enough. With the recipient's certificate
 * given, a key transport that fails does not fail CMS_decrypt: OpenSSL goes
 * on with a random content key (so that an attacker cannot tell a bad RSA
 * block from bad content), and about one CBC envelope in 256 then "opens"
 * to noise. So the token's own outcome decides (kb_p11_last_outcome): a
 * plaintext is given only when the token opened the key.
 */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <limits.h>

#include "kb-core.h"
#include "kb-pkcs11.h"
#include "envelope-cms.h"

KB_DEFINE_POINTER_CLEANUP(CMS_ContentInfo, CMS_ContentInfo_free)

/* In the provider's library context, so that CMS_decrypt finds the token key's operations. */
static CMS_ContentInfo *read_cms(const unsigned char *der, size_t len) {
        const unsigned char *p = der;
        CMS_ContentInfo *cms = CMS_ContentInfo_new_ex(kb_p11_libctx(), kb_p11_propq());
        if (!cms || len > LONG_MAX || !d2i_CMS_ContentInfo(&cms, &p, (long) len) || p != der + len) {
                CMS_ContentInfo_free(cms);
                ERR_clear_error();
                return NULL;
        }
        return cms;
}

static bool agreement_for(CMS_RecipientInfo *ri, X509 *cert) {
        STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);
        for (int i = 0; i < sk_CMS_RecipientEncryptedKey_num(reks); i++)
                if (CMS_RecipientEncryptedKey_cert_cmp(sk_CMS_RecipientEncryptedKey_value(reks, i), cert) == 0)
                        return true;
        return false;
}

static int find_recipient(CMS_ContentInfo *cms, X509 *cert) {
        STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
        if (!ris)
                return -KB_E_BAD_REQUEST;       /* not an envelope */
        for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
                CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
                int type = CMS_RecipientInfo_type(ri);
                if ((type == CMS_RECIPINFO_TRANS && CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0) ||
                    (type == CMS_RECIPINFO_AGREE && agreement_for(ri, cert)))
                        return 0;
        }
        return -KB_E_NOT_RECIPIENT;
}

int kb_cms_envelope_check(const unsigned char *der, size_t len, X509 *cert) {
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms = read_cms(der, len);
        int r = cms ? find_recipient(cms, cert) : -KB_E_BAD_REQUEST;
        ERR_clear_error();
        return r;
}

/* What CMS says about an envelope it could not open; 0 when nothing
 * specific (then the content itself failed: padding, tag, key unwrap). */
static int cms_verdict(void) {
        int verdict = 0;
        for (unsigned long e; (e = ERR_get_error()) != 0;) {
                if (ERR_GET_LIB(e) != ERR_LIB_CMS || verdict)
                        continue;
                switch (ERR_GET_REASON(e)) {
                case CMS_R_NO_MATCHING_RECIPIENT:
                        verdict = -KB_E_NOT_RECIPIENT;
                        break;
                case CMS_R_TYPE_NOT_ENVELOPED_DATA:
                case CMS_R_CONTENT_TYPE_NOT_ENVELOPED_DATA:
                case CMS_R_NO_CONTENT:
                        verdict = -KB_E_BAD_REQUEST;
                        break;
                case CMS_R_UNSUPPORTED_CONTENT_TYPE:
                case CMS_R_UNSUPPORTED_ENCRYPTION_TYPE:
                case CMS_R_UNSUPPORTED_KEY_ENCRYPTION_ALGORITHM:
                case CMS_R_UNSUPPORTED_RECIPIENT_TYPE:
                case CMS_R_UNKNOWN_CIPHER:
                        verdict = -KB_E_UNSUPPORTED_ALGORITHM;
                        break;
                default:
                        break;
                }
        }
        return verdict;
}

/* The content out of the memory BIO (which wipes its own buffer when freed). */
static int take_bio(BIO *out, unsigned char **ret, size_t *ret_len) {
        BUF_MEM *mem = NULL;
        BIO_get_mem_ptr(out, &mem);
        *ret_len = mem ? mem->length : 0;
        *ret = *ret_len ? OPENSSL_memdup(mem->data, mem->length) : OPENSSL_zalloc(1);
        return *ret ? 0 : -KB_E_INTERNAL;
}

int kb_cms_envelope_open(EVP_PKEY *key, X509 *cert, const unsigned char *der, size_t len, unsigned char **ret,
                         size_t *ret_len) {
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms = read_cms(der, len);
        if (!cms)
                return -KB_E_BAD_REQUEST;
        /* cleared on free and on growth: plaintext never lies about in freed memory */
        _cleanup_(BIO_freep) BIO *out = BIO_new(BIO_s_secmem());
        if (!out)
                return -KB_E_INTERNAL;
        ERR_clear_error();
        kb_p11_clear_last_rv();
        bool opened = CMS_decrypt(cms, key, cert, NULL, out, CMS_BINARY) == 1;
        int token = kb_p11_last_outcome();
        int verdict = cms_verdict();
        if (token < 0)
                return token;           /* the token failed or refused: never the random key's noise */
        if (!opened)
                return verdict < 0 ? verdict : -KB_E_DECRYPT_FAILED;
        if (token == 0)
                return -KB_E_UNSUPPORTED_ALGORITHM;     /* the key never reached the token: CMS took a random one */
        return take_bio(out, ret, ret_len);
}
