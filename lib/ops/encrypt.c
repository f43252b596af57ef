/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POST /v1/encrypt: digital envelopes to any recipient's certificate, the
 * counterpart of decrypt for pages that seal a document in the browser
 * (GM/T 0020 SOF_EncryptData). Public-key work only: no token, no PIN.
 * RSA and EC: CMS EnvelopedData with AES-256-CBC (RSA key transport
 * PKCS#1 v1.5 by default, which legacy readers expect, or OAEP with SHA-256;
 * EC: OpenSSL's ECDH key agreement). SM2: GM/T 0010 EnvelopedData.
 */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <string.h>

#include "kb-core.h"
#include "kb-formats.h"
#include "kb-service.h"


KB_DEFINE_POINTER_CLEANUP(CMS_ContentInfo, CMS_ContentInfo_free)

typedef struct seal_spec {
        X509 *cert;
        kb_key_type type;
        bool oaep;
} seal_spec;

static int parse_padding(kb_call *call, const seal_spec *s, bool *ret) {
        const char *p = NULL;
        int r = kb_param_string(call, "rsaPadding", false, &p);
        if (r < 0)
                return r;
        *ret = p && strcmp(p, "oaep") == 0;
        if (p && ((!*ret && strcmp(p, "pkcs1") != 0) || s->type != KB_KEY_RSA))
                return kb_bad_field(call, "rsaPadding");
        return 0;
}

static int parse_cert(kb_call *call, seal_spec *ret) {
        kb_cert *c = NULL;
        int r = kb_param_cert(call, "certificate", json_object_get(call->params, "certificate"), &c);
        if (r < 0)
                return r;
        const unsigned char *der = c->der;
        ret->cert = d2i_X509(NULL, &der, (long) c->der_len);
        ret->type = c->key_type;
        bool usable = c->usage & KB_USAGE_ENCRYPT;
        kb_cert_free(c);
        if (!ret->cert)
                return -KB_E_INTERNAL;
        if (!usable)
                return kb_call_refuse(call, -KB_E_BAD_REQUEST, "certificate", "usage");
        if (ret->type != KB_KEY_RSA && ret->type != KB_KEY_EC && ret->type != KB_KEY_SM2) {
                snprintf(call->error_field, sizeof(call->error_field), "certificate");
                return -KB_E_UNSUPPORTED_ALGORITHM;
        }
        return parse_padding(call, ret, &ret->oaep);
}

static int set_oaep(CMS_RecipientInfo *ri) {
        EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
        return pctx && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
               EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) > 0 &&
               EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0;
}

static int seal_cms(const seal_spec *s, const unsigned char *data, size_t len, unsigned char **ret, size_t *ret_len) {
        unsigned flags = CMS_BINARY | CMS_PARTIAL;
        _cleanup_(BIO_freep) BIO *in = BIO_new_mem_buf(data, (int) len);
        EVP_CIPHER *aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms = aes ? CMS_encrypt_ex(NULL, NULL, aes, flags, NULL, NULL)
                                                                    : NULL;
        CMS_RecipientInfo *ri = cms ? CMS_add1_recipient_cert(cms, s->cert, flags | (s->oaep ? CMS_KEY_PARAM : 0))
                                    : NULL;
        bool ok = in && ri && (!s->oaep || set_oaep(ri)) && CMS_final(cms, in, NULL, flags);
        EVP_CIPHER_free(aes);
        if (!ok)
                return -KB_E_INTERNAL;
        unsigned char *out = NULL;
        int n = i2d_CMS_ContentInfo(cms, &out);
        if (n <= 0)
                return -KB_E_INTERNAL;
        *ret = out;
        *ret_len = (size_t) n;
        return 0;
}

static int seal_item(kb_call *call, const seal_spec *s, size_t i, json_t *o, json_t **ret) {
        char field[48];
        snprintf(field, sizeof(field), "items[%zu]", i);
        json_t *data = json_object_get(o, "data");
        if (!json_is_object(o) || !data)
                return kb_bad_field(call, field);
        snprintf(field, sizeof(field), "items[%zu].data", i);
        unsigned char *plain = NULL, *env = NULL;
        size_t len = 0, env_len = 0;
        int r = kb_param_base64(call, field, data, &plain, &len);
        if (r < 0)
                return r;
        r = s->type == KB_KEY_SM2 ? kb_sm2_envelope_seal(s->cert, plain, len, &env, &env_len)
                                  : seal_cms(s, plain, len, &env, &env_len);
        OPENSSL_cleanse(plain, len);
        free(plain);
        ERR_clear_error();
        if (r >= 0)
                *ret = kb_base64_json(env, env_len);
        OPENSSL_free(env);
        return r < 0 ? r : *ret ? 0 : -KB_E_INTERNAL;
}

static int seal_all(kb_call *call, const seal_spec *s, json_t *out) {
        json_t *items = NULL;
        int r = kb_param_items(call, &items);
        if (r < 0)
                return r;
        for (size_t i = 0; i < json_array_size(items); i++) {
                json_t *env = NULL;
                r = seal_item(call, s, i, json_array_get(items, i), &env);
                if (r < 0)
                        return r;
                json_array_append_new(out, env);
        }
        return 0;
}

int kb_method_encrypt(kb_service *svc, kb_call *call, json_t **ret) {
        seal_spec s = { 0 };
        int r = parse_cert(call, &s);
        json_t *envs = json_array();
        if (r >= 0)
                r = envs ? seal_all(call, &s, envs) : -KB_E_INTERNAL;
        if (r >= 0)
                *ret = json_pack("{s:O, s:s}", "envelopes", envs, "format", s.type == KB_KEY_SM2 ? "gmt0010" : "cms");
        X509_free(s.cert);
        json_decref(envs);
        return r < 0 ? r : *ret ? 0 : -KB_E_INTERNAL;
}
