/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SM2 digital envelopes on an SKF token (GM/T 0010 EnvelopedData): the
 * container's encryption key pair opens the envelope's SM4 key on the token
 * (SKF_ImportSessionKey), which decrypts the content there (SKF_DecryptInit,
 * then SKF_DecryptUpdate in parts of KB_SKF_DECRYPT_PART bytes and
 * SKF_DecryptFinal, since vendors' libraries cap one call's data; a library
 * without them, one SKF_Decrypt). No padding: the host checks and removes
 * it, the same way for every vendor. Neither key ever reaches us. Callers
 * hold the op_lock. */
#include <openssl/crypto.h>
#include <stddef.h>
#include <string.h>

#include "kb-core.h"
#include "kb-skf-blob.h"
#include "skf-source.h"

/* The token refused what the envelope carries, not the call. */
static bool refused_input(SKF_ULONG sar) {
        return sar == SAR_INDATAERR || sar == SAR_INDATALENERR || sar == SAR_DECRYPTPADERR ||
               sar == SAR_HASHNOTEQUALERR;
}

static int sar_error(skf_source *p, skf_device *d, SKF_ULONG sar) {
        return refused_input(sar) ? -KB_E_DECRYPT_FAILED : kb_skf_login_error(p, d, sar);
}

/* Whole blocks in, as many bytes out, part by part. */
static SKF_ULONG decrypt_parts(skf_source *p, SKF_HANDLE key, const unsigned char *in, size_t in_len,
                               unsigned char *out, size_t *ret_len) {
        size_t done = 0;
        SKF_ULONG sar = SAR_OK;
        for (size_t off = 0; sar == SAR_OK && off < in_len; off += KB_SKF_DECRYPT_PART) {
                size_t n = in_len - off < KB_SKF_DECRYPT_PART ? in_len - off : KB_SKF_DECRYPT_PART;
                SKF_ULONG got = (SKF_ULONG) (in_len - done);
                sar = p->f.SKF_DecryptUpdate(key, (SKF_BYTE *) in + off, (SKF_ULONG) n, out + done, &got);
                done += sar == SAR_OK && got <= in_len - done ? got : 0;
        }
        SKF_ULONG last = (SKF_ULONG) (in_len - done);
        if (sar == SAR_OK)
                sar = p->f.SKF_DecryptFinal(key, out + done, &last);
        *ret_len = done + (sar == SAR_OK && last <= in_len - done ? last : 0);
        return sar;
}

static int decrypt_with(skf_source *p, skf_device *d, SKF_HANDLE key, const unsigned char iv[16],
                        const unsigned char *in, size_t in_len, unsigned char *out) {
        SKF_BLOCKCIPHERPARAM param = { .IVLen = 16, .PaddingType = 0 };
        SKF_ULONG one = (SKF_ULONG) in_len;
        size_t out_len = 0;
        memcpy(param.IV, iv, 16);
        SKF_ULONG sar = p->f.SKF_DecryptInit(key, param);
        if (sar == SAR_OK && p->f.SKF_DecryptUpdate && p->f.SKF_DecryptFinal)
                sar = decrypt_parts(p, key, in, in_len, out, &out_len);
        else if (sar == SAR_OK) {
                sar = p->f.SKF_Decrypt(key, (SKF_BYTE *) in, (SKF_ULONG) in_len, out, &one);
                out_len = one;
        }
        if (sar == SAR_OK && out_len != in_len)
                return -KB_E_DECRYPT_FAILED;
        return sar_error(p, d, sar);
}

static int open_in(skf_source *p, skf_device *d, SKF_HANDLE hc, const SKF_ECCCIPHERBLOB *blob,
                   const unsigned char iv[16], const unsigned char *in, size_t in_len, unsigned char *out) {
        SKF_HANDLE key = NULL;
        SKF_ULONG len = (SKF_ULONG) (offsetof(SKF_ECCCIPHERBLOB, Cipher) + blob->CipherLen);
        SKF_ULONG sar = p->f.SKF_ImportSessionKey(hc, SGD_SM4_CBC, (SKF_BYTE *) blob, len, &key);
        if (sar != SAR_OK)
                return sar_error(p, d, sar);
        int r = decrypt_with(p, d, key, iv, in, in_len, out);
        (void) p->f.SKF_CloseHandle(key);
        return r;
}

static bool can_decrypt(const skf_source *p) {
        return p->f.SKF_ImportSessionKey && p->f.SKF_DecryptInit && p->f.SKF_Decrypt && p->f.SKF_CloseHandle;
}

int kb_skf_sm2_decrypt(kb_source *s, const kb_token *t, const kb_key_id *key, const unsigned char *cipher,
                       size_t cipher_len, const unsigned char iv[16], const unsigned char *in, size_t in_len,
                       unsigned char *out) {
        skf_source *p = (skf_source *) s;
        char name[SKF_CONTAINER_NAME_MAX + 1];
        SKF_ECCCIPHERBLOB blob;
        if (!can_decrypt(p))
                return -KB_E_UNSUPPORTED_ALGORITHM;
        if (in_len > UINT32_MAX || kb_skf_cipher_from_der(cipher, cipher_len, &blob) < 0)
                return -KB_E_DECRYPT_FAILED;
        if (kb_skf_container_name(key, name) < 0)
                return -KB_E_NOT_FOUND;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = NULL;
        SKF_HANDLE hc = NULL;
        int r = kb_skf_login_device(p, t, &d);
        if (r >= 0)
                r = kb_skf_login_error(p, d, p->f.SKF_OpenContainer(d->happ, name, &hc));
        if (r >= 0) {
                r = open_in(p, d, hc, &blob, iv, in, in_len, out);
                (void) p->f.SKF_CloseContainer(hc);
        }
        pthread_mutex_unlock(&p->call_lock);
        OPENSSL_cleanse(&blob, sizeof(blob));
        return r;
}
