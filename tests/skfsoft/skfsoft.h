/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kb-skfsoft: a software SKF (GM/T 0016) token kept in files, for tests.
 * See README.md for the directory layout and the control file.
 */
#pragma once

#include <limits.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "kb-skf-api.h"
#include "kb-skf-blob.h"

#define SS_EXPORT __attribute__((visibility("default")))
/* The exported functions, declared from the interface's list, so that each
 * definition is checked against the standard's signature. */
#define SS_DECLARE(name, params) SS_EXPORT SKF_ULONG name params;
SKF_FUNCTIONS(SS_DECLARE)
#undef SS_DECLARE

#define SS_NAME_MAX 31          /* application, container, file names */

typedef enum { SS_DEV = 1, SS_APP, SS_CONTAINER, SS_KEY } ss_kind;

/* A handle the library gave out; validated on every use. */
typedef struct ss_handle {
        unsigned magic;
        ss_kind kind;
        char dev[PATH_MAX];             /* ROOT/<device> */
        char app[SS_NAME_MAX + 1];
        char container[SS_NAME_MAX + 1];
        unsigned char challenge[8];     /* the last SKF_GenRandom of 8 bytes, for SKF_DevAuth */
        bool has_challenge, dev_authed;
        ino_t present_ino;              /* of ROOT/<device>/present at connect: a new one is a new insertion */
        unsigned char session_key[16];  /* SS_KEY: an imported SM4 key */
        SKF_BLOCKCIPHERPARAM cipher;    /* SS_KEY: from SKF_DecryptInit */
        bool decrypting;
        struct ss_handle *next;
} ss_handle;

/* Every call: lock, log, the control file's fault for it, the handle's kind
 * and its device still present. Returns SAR_OK (locked) or the failure
 * (unlocked). ss_end unlocks and returns rv. */
SKF_ULONG ss_begin(const char *fn, SKF_HANDLE h, ss_kind kind, ss_handle **ret);
SKF_ULONG ss_begin_free(const char *fn);        /* no handle */
/* need_present false: for closing a handle of a pulled device */
SKF_ULONG ss_begin_opt(const char *fn, SKF_HANDLE h, ss_kind kind, bool need_present, ss_handle **ret);
SKF_ULONG ss_end(SKF_ULONG rv);
ss_handle *ss_handle_new(ss_kind kind, const ss_handle *parent);
void ss_handle_free(ss_handle *h);
const char *ss_root(void);
/* The control file's "max-data = N": the most bytes one SKF_Decrypt or
 * SKF_DecryptUpdate takes, as some vendors' libraries limit it (0: no limit). */
unsigned long ss_max_data(void);
bool ss_present(const char *dev);
ino_t ss_present_ino(const char *dev);  /* 0 when absent */
bool ss_name_ok(const char *name);

/* Security state of an application (shared by all its handles, lost when
 * the device is pulled). */
typedef struct { bool user, admin; } ss_login;
ss_login *ss_login_of(const ss_handle *h);
void ss_logins_forget(const char *dev);
SKF_ULONG ss_need_user(const ss_handle *h);     /* SAR_USER_NOT_LOGGED_IN */

/* Files: atomic replace, whole reads, paths under a handle. */
int ss_path(char *buf, const ss_handle *h, const char *leaf);
int ss_write_atomic(const char *path, const void *data, size_t len);
int ss_read_all(const char *path, unsigned char **ret, size_t *ret_len);
int ss_remove_tree(const char *path);
SKF_ULONG ss_multi_string(char **names, size_t n, SKF_CHAR *out, SKF_ULONG *size);
SKF_ULONG ss_list_dir(const char *dir, const char *suffix, SKF_CHAR *out, SKF_ULONG *size);

/* An application's app.json (app.c). */
struct json_t;
struct json_t *ss_app_load(const ss_handle *h);
int ss_app_save(const ss_handle *h, struct json_t *app);

/* SM2, SM3, SM4 with OpenSSL. */
EVP_PKEY *ss_key_load(const char *path);
int ss_key_save(const char *path, EVP_PKEY *k);
EVP_PKEY *ss_priv_from_scalar(const unsigned char d[32]);
bool ss_same_pub(EVP_PKEY *a, EVP_PKEY *b);
int ss_sm3(const void *a, size_t alen, const void *b, size_t blen, unsigned char out[32]);
int ss_sm4_ecb(const unsigned char key[16], bool enc, const unsigned char *in, size_t len, unsigned char *out);
/* SM4-CBC decryption; with pad, PKCS#5 padding is removed. -1 on a bad
 * length or padding. */
int ss_sm4_cbc_decrypt(const unsigned char key[16], const unsigned char iv[16], bool pad, const unsigned char *in,
                       size_t len, unsigned char *out, size_t *out_len);
/* The container's SM2 key pair: its signature pair or its encryption pair. */
EVP_PKEY *ss_container_key(const ss_handle *c, bool sign);
int ss_sm2_decrypt_blob(EVP_PKEY *k, const SKF_ECCCIPHERBLOB *c, unsigned char *out, size_t *out_len);
int ss_sm2_encrypt_blob(EVP_PKEY *pub, const unsigned char *in, size_t len, SKF_ECCCIPHERBLOB *c);
