/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Parameters of the "keybridge-p11" signatures: digest, RSA padding, PSS salt
 * length and MGF1 digest, set as integers (EVP_PKEY_CTX_ctrl) or names
 * (OSSL_PARAM), and the AlgorithmIdentifier that CMS and X509_REQ_sign read.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-pkey.h"

int kb_p11pk_sig_fetch_md(kb_p11pk_sig *c, EVP_MD **slot, const char *name) {
        return kb_p11pk_fetch_md(c->libctx, slot, name);
}

static int set_digest(kb_p11pk_sig *c, const OSSL_PARAM *p, EVP_MD **slot) {
        const char *name = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
                return 0;
        if (c->digesting && slot == &c->md) /* the hash is running: it cannot change */
                return EVP_MD_is_a(c->md, name);
        return kb_p11pk_sig_fetch_md(c, slot, name);
}

static int set_pad_mode(kb_p11pk_sig *c, const OSSL_PARAM *p) {
        int pad = 0;
        if (p->data_type == OSSL_PARAM_UTF8_STRING) {
                const char *s = NULL;
                if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
                        return 0;
                pad = strcmp(s, "pkcs1") == 0 ? RSA_PKCS1_PADDING : strcmp(s, "pss") == 0 ? RSA_PKCS1_PSS_PADDING : 0;
        } else if (!OSSL_PARAM_get_int(p, &pad))
                return 0;
        if (pad != RSA_PKCS1_PADDING && pad != RSA_PKCS1_PSS_PADDING)
                return 0;
        c->pad = pad;
        return 1;
}

/* "digest" (-1) or a byte count; "max" and "auto" are not offered. */
static int set_salt_len(kb_p11pk_sig *c, const OSSL_PARAM *p) {
        int n = 0;
        if (p->data_type == OSSL_PARAM_UTF8_STRING) {
                const char *s = NULL;
                char *end = NULL;
                if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
                        return 0;
                long v = strcmp(s, "digest") == 0 ? RSA_PSS_SALTLEN_DIGEST : strtol(s, &end, 10);
                if ((end && (*end || end == s)) || v < RSA_PSS_SALTLEN_DIGEST || v > KB_P11PK_MAX_SIG)
                        return 0;
                n = (int) v;
        } else if (!OSSL_PARAM_get_int(p, &n) || n < RSA_PSS_SALTLEN_DIGEST || n > KB_P11PK_MAX_SIG)
                return 0;
        c->salt_len = n;
        return 1;
}

int kb_p11pk_sig_set_params(void *vctx, const OSSL_PARAM params[]) {
        kb_p11pk_sig *c = vctx;
        const OSSL_PARAM *p;

        if (!params)
                return 1;
        if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST)) && !set_digest(c, p, &c->md))
                return 0;
        if (c->type != CKK_RSA)
                return 1;
        if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) && !set_pad_mode(c, p))
                return 0;
        if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) && !set_salt_len(c, p))
                return 0;
        if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) && !set_digest(c, p, &c->mgf1))
                return 0;
        return 1;
}

const EVP_MD *kb_p11pk_sig_mgf1(const kb_p11pk_sig *c) {
        return c->mgf1 ? c->mgf1 : c->md;
}

bool kb_p11pk_sig_is_pss(const kb_p11pk_sig *c) {
        return c->type == CKK_RSA && c->pad == RSA_PKCS1_PSS_PADDING;
}

int kb_p11pk_sig_salt_len(const kb_p11pk_sig *c) {
        return c->salt_len == RSA_PSS_SALTLEN_DIGEST ? EVP_MD_get_size(c->md) : c->salt_len;
}

static int get_algorithm_id(const kb_p11pk_sig *c, OSSL_PARAM *p) {
        unsigned char *der = NULL;
        bool pss = kb_p11pk_sig_is_pss(c);
        int len = kb_p11pk_algorithm_id(c->type, c->md, pss ? kb_p11pk_sig_mgf1(c) : NULL,
                                        pss ? kb_p11pk_sig_salt_len(c) : 0, &der);
        int ok = len > 0 && OSSL_PARAM_set_octet_string(p, der, (size_t) len);
        OPENSSL_free(der);
        return ok;
}

/* Integers for EVP_PKEY_CTX_get_params callers, names for the ctrl path. */
static int get_rsa_params(const kb_p11pk_sig *c, OSSL_PARAM params[]) {
        OSSL_PARAM *p;
        char buf[16];

        const char *pad = kb_p11pk_sig_is_pss(c) ? "pss" : "pkcs1";
        if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) &&
            !(p->data_type == OSSL_PARAM_INTEGER ? OSSL_PARAM_set_int(p, c->pad) : OSSL_PARAM_set_utf8_string(p, pad)))
                return 0;
        snprintf(buf, sizeof(buf), "%d", c->salt_len);
        if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) &&
            !(p->data_type == OSSL_PARAM_INTEGER
                      ? OSSL_PARAM_set_int(p, c->salt_len)
                      : OSSL_PARAM_set_utf8_string(p, c->salt_len == RSA_PSS_SALTLEN_DIGEST ? "digest" : buf)))
                return 0;
        if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) && kb_p11pk_sig_mgf1(c) &&
            !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(kb_p11pk_sig_mgf1(c))))
                return 0;
        return 1;
}

int kb_p11pk_sig_get_params(void *vctx, OSSL_PARAM params[]) {
        const kb_p11pk_sig *c = vctx;
        OSSL_PARAM *p;

        if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID)) && !get_algorithm_id(c, p))
                return 0;
        if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST)) && c->md &&
            !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(c->md)))
                return 0;
        return c->type == CKK_RSA ? get_rsa_params(c, params) : 1;
}

#define COMMON_PARAMS OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0)
#define RSA_PARAMS                                                              \
        COMMON_PARAMS,                                                          \
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),         \
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),      \
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0)

const OSSL_PARAM *kb_p11pk_rsa_settable(void *vctx, void *provctx) {
        static const OSSL_PARAM settable[] = { RSA_PARAMS, OSSL_PARAM_END };
        return settable;
}

const OSSL_PARAM *kb_p11pk_ecdsa_settable(void *vctx, void *provctx) {
        static const OSSL_PARAM settable[] = { COMMON_PARAMS, OSSL_PARAM_END };
        return settable;
}

const OSSL_PARAM *kb_p11pk_rsa_gettable(void *vctx, void *provctx) {
        static const OSSL_PARAM gettable[] = {
                OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
                RSA_PARAMS,
                OSSL_PARAM_END,
        };
        return gettable;
}

const OSSL_PARAM *kb_p11pk_ecdsa_gettable(void *vctx, void *provctx) {
        static const OSSL_PARAM gettable[] = {
                OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
                COMMON_PARAMS,
                OSSL_PARAM_END,
        };
        return gettable;
}
