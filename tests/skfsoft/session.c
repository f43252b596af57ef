/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session keys: an SM4 key SM2-encrypted to a container's encryption key
 * pair (a digital envelope's key) imported onto the token, and the content
 * decrypted under it, single-part or in parts (GM/T 0016
 * SKF_ImportSessionKey, SKF_DecryptInit, SKF_Decrypt, SKF_DecryptUpdate,
 * SKF_DecryptFinal, SKF_CloseHandle). In parts, whole blocks and no
 * padding only: the IV chains from one part to the next. The control
 * file's max-data caps one call's data, as vendors' libraries do. The key
 * never leaves the library; its handle is wiped when closed.
 */
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "skfsoft.h"

#define BLOB_HEAD offsetof(SKF_ECCCIPHERBLOB, Cipher)

static SKF_ULONG import_key(const ss_handle *c, const SKF_ECCCIPHERBLOB *blob, unsigned char key[16]) {
        unsigned char plain[SKF_CIPHER_MAX + 16];
        size_t len = sizeof(plain);
        EVP_PKEY *k = ss_container_key(c, false);
        if (!k)
                return SAR_KEYNOTFOUNTERR;
        int r = ss_sm2_decrypt_blob(k, blob, plain, &len);
        EVP_PKEY_free(k);
        if (r == 0 && len == 16)
                memcpy(key, plain, 16);
        OPENSSL_cleanse(plain, sizeof(plain));
        return r == 0 && len == 16 ? SAR_OK : SAR_INDATAERR;
}

SS_EXPORT SKF_ULONG SKF_ImportSessionKey(SKF_HANDLE hContainer, SKF_ULONG ulAlgId, SKF_BYTE *pbWrapedData,
                                         SKF_ULONG ulWrapedLen, SKF_HANDLE *phKey) {
        ss_handle *c;
        SKF_ULONG rv = ss_begin("SKF_ImportSessionKey", hContainer, SS_CONTAINER, &c);
        if (rv != SAR_OK)
                return rv;
        SKF_ECCCIPHERBLOB blob = { 0 };
        if (!pbWrapedData || !phKey || (ulAlgId != SGD_SM4_CBC && ulAlgId != SGD_SM4_ECB) || ulWrapedLen < BLOB_HEAD)
                return ss_end(SAR_INVALIDPARAMERR);
        memcpy(&blob, pbWrapedData, ulWrapedLen < sizeof(blob) ? ulWrapedLen : sizeof(blob));
        if (blob.CipherLen == 0 || blob.CipherLen > SKF_CIPHER_MAX || ulWrapedLen < BLOB_HEAD + blob.CipherLen)
                return ss_end(SAR_INDATALENERR);
        if ((rv = ss_need_user(c)) != SAR_OK)
                return ss_end(rv);
        unsigned char key[16];
        rv = import_key(c, &blob, key);
        ss_handle *h = rv == SAR_OK ? ss_handle_new(SS_KEY, c) : NULL;
        if (rv == SAR_OK && !h)
                rv = SAR_MEMORYERR;
        if (h) {
                memcpy(h->session_key, key, sizeof(key));
                *phKey = h;
        }
        OPENSSL_cleanse(key, sizeof(key));
        return ss_end(rv);
}

SS_EXPORT SKF_ULONG SKF_DecryptInit(SKF_HANDLE hKey, SKF_BLOCKCIPHERPARAM DecryptParam) {
        ss_handle *k;
        SKF_ULONG rv = ss_begin("SKF_DecryptInit", hKey, SS_KEY, &k);
        if (rv != SAR_OK)
                return rv;
        if (DecryptParam.IVLen != 16 || DecryptParam.PaddingType > 1)
                return ss_end(SAR_INVALIDPARAMERR);
        k->cipher = DecryptParam;
        k->decrypting = true;
        return ss_end(SAR_OK);
}

/* GM/T 0016's two-call convention: no buffer asks the size (SAR_OK), one too
 * small gets SAR_BUFFER_TOO_SMALL; either way *out_len says what is needed.
 * True when the call ends there, with *rv. */
static bool size_asked(const SKF_BYTE *out, SKF_ULONG *out_len, SKF_ULONG need, SKF_ULONG *rv) {
        if (out && *out_len >= need)
                return false;
        *rv = out ? SAR_BUFFER_TOO_SMALL : SAR_OK;
        *out_len = need;
        return true;
}

SS_EXPORT SKF_ULONG SKF_Decrypt(SKF_HANDLE hKey, SKF_BYTE *pbEncryptedData, SKF_ULONG ulEncryptedLen,
                                SKF_BYTE *pbData, SKF_ULONG *pulDataLen) {
        ss_handle *k;
        SKF_ULONG rv = ss_begin("SKF_Decrypt", hKey, SS_KEY, &k);
        if (rv != SAR_OK)
                return rv;
        if (!k->decrypting || !pbEncryptedData || !pulDataLen)
                return ss_end(SAR_INVALIDPARAMERR);
        if (ss_max_data() && ulEncryptedLen > ss_max_data())
                return ss_end(SAR_INDATALENERR);
        if (size_asked(pbData, pulDataLen, ulEncryptedLen, &rv))
                return ss_end(rv);
        size_t len = 0;
        if (ss_sm4_cbc_decrypt(k->session_key, k->cipher.IV, k->cipher.PaddingType == 1, pbEncryptedData,
                               ulEncryptedLen, pbData, &len) < 0)
                rv = k->cipher.PaddingType == 1 ? SAR_DECRYPTPADERR : SAR_INDATALENERR;
        else
                *pulDataLen = (SKF_ULONG) len;
        k->decrypting = false;
        return ss_end(rv);
}

SS_EXPORT SKF_ULONG SKF_DecryptUpdate(SKF_HANDLE hKey, SKF_BYTE *pbEncryptedData, SKF_ULONG ulEncryptedLen,
                                      SKF_BYTE *pbData, SKF_ULONG *pulDataLen) {
        ss_handle *k;
        SKF_ULONG rv = ss_begin("SKF_DecryptUpdate", hKey, SS_KEY, &k);
        if (rv != SAR_OK)
                return rv;
        if (!k->decrypting || !pbEncryptedData || !pulDataLen || k->cipher.PaddingType != 0)
                return ss_end(SAR_INVALIDPARAMERR);
        if (ulEncryptedLen % 16 != 0 || (ss_max_data() && ulEncryptedLen > ss_max_data()))
                return ss_end(SAR_INDATALENERR);
        if (size_asked(pbData, pulDataLen, ulEncryptedLen, &rv))
                return ss_end(rv);
        size_t len = 0;
        if (ulEncryptedLen && ss_sm4_cbc_decrypt(k->session_key, k->cipher.IV, false, pbEncryptedData, ulEncryptedLen,
                                                 pbData, &len) < 0)
                return ss_end(SAR_FAIL);
        if (ulEncryptedLen)     /* CBC: the next part's IV is this part's last block */
                memcpy(k->cipher.IV, pbEncryptedData + ulEncryptedLen - 16, 16);
        *pulDataLen = (SKF_ULONG) len;
        return ss_end(SAR_OK);
}

SS_EXPORT SKF_ULONG SKF_DecryptFinal(SKF_HANDLE hKey, SKF_BYTE *pbDecryptedData, SKF_ULONG *pulDecryptedDataLen) {
        ss_handle *k;
        SKF_ULONG rv = ss_begin("SKF_DecryptFinal", hKey, SS_KEY, &k);
        if (rv != SAR_OK)
                return rv;
        if (!k->decrypting || !pulDecryptedDataLen)
                return ss_end(SAR_INVALIDPARAMERR);
        *pulDecryptedDataLen = 0;       /* no padding: every part came out whole */
        k->decrypting = false;
        return ss_end(SAR_OK);
}

SS_EXPORT SKF_ULONG SKF_CloseHandle(SKF_HANDLE hHandle) {
        ss_handle *k;
        SKF_ULONG rv = ss_begin_opt("SKF_CloseHandle", hHandle, SS_KEY, false, &k);
        if (rv != SAR_OK)
                return rv;
        ss_handle_free(k);
        return ss_end(SAR_OK);
}
