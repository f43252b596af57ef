/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Key management of the "keybridge-p11" provider: a key object holds the
 * token handles and a default-provider copy of the public key, which answers
 * everything public (size, bits, default digest, comparison, export).
 */
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kb-core.h"
#include "p11-pkey.h"

/* Public keys imported for a comparison are made by the default provider of
 * our library context, never by this one. */
#define DEFAULT_PROPS "provider=default"

static void *key_new(void *provctx, CK_KEY_TYPE type) {
        kb_p11pk_key *k = calloc(1, sizeof(*k));
        if (!k)
                return NULL;
        k->libctx = provctx;
        k->type = type;
        return k;
}

static void *rsa_new(void *provctx) {
        return key_new(provctx, CKK_RSA);
}

static void *ec_new(void *provctx) {
        return key_new(provctx, CKK_EC);
}

static void key_free(void *keydata) {
        kb_p11pk_key *k = keydata;
        if (!k)
                return;
        EVP_PKEY_free(k->pub);
        kb_p11_pool_unref(k->pool);
        free(k);
}

static int key_has(const void *keydata, int selection) {
        const kb_p11pk_key *k = keydata;
        if (!k)
                return 0;
        if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && !k->fn)
                return 0;
        if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) && !k->pub)
                return 0;
        if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) && k->type == CKK_EC && !k->pub && !k->group[0])
                return 0;
        return 1;
}

/* A key pair is told by its public half; the private one cannot be read. */
static int key_match(const void *keydata1, const void *keydata2, int selection) {
        const kb_p11pk_key *a = keydata1, *b = keydata2;
        if (!a->pub || !b->pub)
                return 0;
        if (selection & OSSL_KEYMGMT_SELECT_KEYPAIR)
                return EVP_PKEY_eq(a->pub, b->pub) == 1;
        if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) && a->type == CKK_EC)
                return EVP_PKEY_parameters_eq(a->pub, b->pub) == 1;
        return 1;
}

static bool is_ours(const EVP_PKEY *pkey) {
        const OSSL_PROVIDER *p = EVP_PKEY_get0_provider(pkey);
        return p && strcmp(OSSL_PROVIDER_get0_name(p), KB_P11PK_PROVIDER) == 0;
}

/* kb_p11_pkey_new's binding to the token: the parameter carries a pointer. */
static int import_ref(kb_p11pk_key *k, const OSSL_PARAM *p) {
        const kb_p11pk_ref *ref = NULL;
        if (p->data_type != OSSL_PARAM_OCTET_STRING || p->data_size != sizeof(ref) || k->pub)
                return 0;
        memcpy(&ref, p->data, sizeof(ref));
        if (!ref || ref->magic != KB_P11PK_REF_MAGIC || ref->type != k->type || !ref->fn || is_ours(ref->pub))
                return 0;
        k->pub = EVP_PKEY_dup((EVP_PKEY *) ref->pub);
        if (!k->pub)
                return 0;
        k->fn = ref->fn;
        k->session = ref->session;
        k->pool = kb_p11_pool_ref(ref->pool);
        k->handle = ref->handle;
        return 1;
}

/* Another provider's public key, exported to us so that EVP_PKEY_eq (and so
 * X509_check_private_key) can compare it with a token key. */
static int import_public(kb_p11pk_key *k, const OSSL_PARAM params[]) {
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *pctx =
                EVP_PKEY_CTX_new_from_name(k->libctx, kb_p11pk_type_name(k->type), DEFAULT_PROPS);
        if (!pctx || EVP_PKEY_fromdata_init(pctx) <= 0)
                return 0;
        return EVP_PKEY_fromdata(pctx, &k->pub, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *) params) > 0;
}

/* An EC key's curve alone (EVP_PKEY_copy_parameters: CMS makes the
 * originator's key of a key agreement so, then sets its point). */
static int import_group(kb_p11pk_key *k, const OSSL_PARAM params[]) {
        const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME);
        const char *name = NULL;
        if (k->type != CKK_EC || !p || !OSSL_PARAM_get_utf8_string_ptr(p, &name) || strlen(name) >= sizeof(k->group))
                return 0;
        strcpy(k->group, name);
        return 1;
}

static int key_import(void *keydata, int selection, const OSSL_PARAM params[]) {
        kb_p11pk_key *k = keydata;
        const OSSL_PARAM *ref = OSSL_PARAM_locate_const(params, KB_P11PK_PARAM_REF);
        if (!k)
                return 0;
        if (ref)
                return import_ref(k, ref);
        if (k->pub)
                return 0;
        if (!(selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY))
                return (selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) && import_group(k, params);
        return import_public(k, params);
}

/* The point of a parameters-only EC key (EVP_PKEY_set1_encoded_public_key):
 * it becomes a public key of the default provider. */
static int key_set_params(void *keydata, const OSSL_PARAM params[]) {
        kb_p11pk_key *k = keydata;
        const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY);
        if (!p)
                return 1;
        if (!k || k->fn || k->type != CKK_EC || !k->group[0] || p->data_type != OSSL_PARAM_OCTET_STRING)
                return 0;
        OSSL_PARAM pub[] = {
                OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, k->group, 0),
                OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, p->data, p->data_size),
                OSSL_PARAM_END,
        };
        EVP_PKEY_free(k->pub);
        k->pub = NULL;
        return import_public(k, pub);
}

static const OSSL_PARAM *ec_settable(void *provctx) {
        static const OSSL_PARAM settable[] = {
                OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
                OSSL_PARAM_END,
        };
        return settable;
}

/* A peer's point must be on the curve before a token multiplies it. */
static int key_validate(const void *keydata, int selection, int checktype) {
        const kb_p11pk_key *k = keydata;
        if (!k || !k->pub)
                return 0;
        if (!(selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY))
                return 1;
        _cleanup_(EVP_PKEY_CTX_freep) EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(k->libctx, k->pub, DEFAULT_PROPS);
        return c && EVP_PKEY_public_check(c) == 1;
}

/* The private half never leaves the token. Refusing every selection that asks
 * for it also keeps OpenSSL from moving a signature to another provider with
 * a public-only copy of the key: it then falls back to this provider's. */
static int key_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg) {
        kb_p11pk_key *k = keydata;
        if (!k || !k->pub || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY))
                return 0;
        return EVP_PKEY_export(k->pub, selection, cb, cbarg);
}

static const OSSL_PARAM rsa_public_types[] = {
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
        OSSL_PARAM_END,
};

static const OSSL_PARAM ec_public_types[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_END,
};

static const OSSL_PARAM *rsa_types(int selection) {
        return rsa_public_types;
}

static const OSSL_PARAM *ec_types(int selection) {
        return ec_public_types;
}

/* Everything public comes from the copy; the thread's last CK_RV from us. */
static int key_get_params(void *keydata, OSSL_PARAM params[]) {
        kb_p11pk_key *k = keydata;
        if (!k)
                return 0;
        if (k->pub && !EVP_PKEY_get_params(k->pub, params))
                return 0;
        OSSL_PARAM *p = OSSL_PARAM_locate(params, KB_P11PK_PARAM_LAST_RV);
        return !p || OSSL_PARAM_set_ulong(p, kb_p11pk_thread_last_rv());
}

#define COMMON_GETTABLE                                                         \
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),                             \
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),                    \
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),                         \
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),        \
        OSSL_PARAM_ulong(KB_P11PK_PARAM_LAST_RV, NULL)

static const OSSL_PARAM *rsa_gettable(void *provctx) {
        static const OSSL_PARAM gettable[] = {
                COMMON_GETTABLE,
                OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
                OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
                OSSL_PARAM_END,
        };
        return gettable;
}

static const OSSL_PARAM *ec_gettable(void *provctx) {
        static const OSSL_PARAM gettable[] = {
                COMMON_GETTABLE,
                OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
                OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
                OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
                OSSL_PARAM_END,
        };
        return gettable;
}

static const char *rsa_operation_name(int operation) {
        return operation == OSSL_OP_SIGNATURE || operation == OSSL_OP_ASYM_CIPHER ? "RSA" : NULL;
}

static const char *ec_operation_name(int operation) {
        return operation == OSSL_OP_SIGNATURE ? "ECDSA" : operation == OSSL_OP_KEYEXCH ? "ECDH" : NULL;
}

#define FN(id, f) { id, (void (*)(void)) (f) }
#define COMMON_FUNCTIONS                                                        \
        FN(OSSL_FUNC_KEYMGMT_FREE, key_free),                                   \
        FN(OSSL_FUNC_KEYMGMT_HAS, key_has),                                     \
        FN(OSSL_FUNC_KEYMGMT_MATCH, key_match),                                 \
        FN(OSSL_FUNC_KEYMGMT_IMPORT, key_import),                               \
        FN(OSSL_FUNC_KEYMGMT_EXPORT, key_export),                               \
        FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, key_get_params),                       \
        FN(OSSL_FUNC_KEYMGMT_VALIDATE, key_validate)

const OSSL_DISPATCH kb_p11pk_rsa_keymgmt[] = {
        COMMON_FUNCTIONS,
        FN(OSSL_FUNC_KEYMGMT_NEW, rsa_new),
        FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, rsa_types),
        FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, rsa_types),
        FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, rsa_gettable),
        FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, rsa_operation_name),
        { 0, NULL },
};

const OSSL_DISPATCH kb_p11pk_ec_keymgmt[] = {
        COMMON_FUNCTIONS,
        FN(OSSL_FUNC_KEYMGMT_NEW, ec_new),
        FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, ec_types),
        FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, ec_types),
        FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, ec_gettable),
        FN(OSSL_FUNC_KEYMGMT_SET_PARAMS, key_set_params),
        FN(OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, ec_settable),
        FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, ec_operation_name),
        { 0, NULL },
};
