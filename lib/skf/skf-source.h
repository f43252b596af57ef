/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SKF backend's source, shared by its files (not a public header). */
#pragma once

#include <pthread.h>
#include <string.h>

#include "kb-skf-profile.h"
#include "kb-skf.h"

typedef struct skf_fns {
#define SKF_POINTER(name, params) SKF_ULONG (*name) params;
        SKF_FUNCTIONS(SKF_POINTER)
#undef SKF_POINTER
} skf_fns;

#define SKF_MAX_DEVICES 16
#define SKF_CONTAINER_NAME_MAX 64       /* GM/T 0016: container names are at most 64 bytes */
/* The most data one SKF_DecryptUpdate gets: within what vendors' libraries
 * take in one call (the standard sets no limit; tokens move about 1 KiB an
 * APDU). A multiple of the SM4 block. */
#define KB_SKF_DECRYPT_PART 1024

/* A key id (a container's name) as a C string in name; -1 when it is not
 * one (empty, too long, or with a NUL in it). */
static inline int kb_skf_container_name(const kb_key_id *key, char name[SKF_CONTAINER_NAME_MAX + 1]) {
        if (key->len == 0 || key->len > SKF_CONTAINER_NAME_MAX || memchr(key->v, '\0', key->len))
                return -1;
        memcpy(name, key->v, key->len);
        name[key->len] = '\0';
        return 0;
}

/* What the last scan learned about a present device, and our login on it. */
typedef struct skf_device {
        char token_id[KB_TOKEN_ID_LEN + 1];
        char name[64];          /* as SKF_EnumDev lists it */
        char app[64];           /* the application holding the certificates */
        SKF_HANDLE dev, happ;   /* open while we are logged in, or reading the PIN state */
        bool logged_in;         /* the user PIN verified on happ */
} skf_device;

typedef struct skf_source {
        kb_source base;
        void *dl;
        skf_fns f;
        /* Vendor libraries are not all thread-safe: one call at a time,
         * except the event wait, which only waits. */
        pthread_mutex_t call_lock;
        skf_device devices[SKF_MAX_DEVICES];
        size_t n_devices;
        kb_skf_profile profile; /* the vendor's quirks, from configuration */
} skf_source;

/* A SAR code as an API error: the library's profile first, then GM/T 0016. */
static inline int kb_skf_error(const skf_source *p, SKF_ULONG sar) {
        int e = kb_skf_profile_error(&p->profile, sar);
        return e > 0 ? e : kb_skf_sar_error(sar);
}

/* The device a token of the last scan is; NULL when not present then.
 * Called with call_lock held. */
skf_device *kb_skf_device(skf_source *p, const char *token_id);
/* The token's device with our user login on it: TOKEN_NOT_PRESENT, or
 * INTERNAL when we are not logged in (the PIN flow comes before). call_lock held. */
int kb_skf_login_device(skf_source *p, const kb_token *t, skf_device **ret);
/* A SAR from a call made under our login, as an API error. The token may
 * have dropped the login (another program's SKF_ClearSecureState): then ours
 * ends too, so the next request asks for the PIN again. call_lock held. */
int kb_skf_login_error(skf_source *p, skf_device *d, SKF_ULONG sar);
/* Open d's application (no login) unless it is open. call_lock held. */
int kb_skf_open_app(skf_source *p, skf_device *d);
/* End our login on d (closes its handles). call_lock held. */
void kb_skf_logout_device(skf_source *p, skf_device *d);

int kb_skf_scan(kb_source *s, const kb_scan *prev, kb_scan **ret);
int kb_skf_pin_state(kb_source *s, const kb_token *t, kb_pin_status *ret_status, int *ret_retries);
bool kb_skf_logged_in(kb_source *s, const kb_token *t);
int kb_skf_login(kb_source *s, const kb_token *t, const kb_secret *pin);
void kb_skf_logout(kb_source *s, const char *token_id);
int kb_skf_so_pin_state(kb_source *s, const kb_token *t, kb_pin_status *ret_status, int *ret_retries);
int kb_skf_set_pin(kb_source *s, const kb_token *t, const kb_secret *old_pin, const kb_secret *new_pin);
int kb_skf_init_pin(kb_source *s, const kb_token *t, const kb_secret *so_pin, const kb_secret *new_pin);
size_t kb_skf_sessions(kb_source *s, char (*ret_ids)[KB_TOKEN_ID_LEN + 1], size_t max);
int kb_skf_seal_read(kb_source *s, const kb_token *t, const kb_cert *c, bool hidden_too, struct kb_seal **ret);
int kb_skf_seal_write(kb_source *s, const kb_token *t, const kb_cert *c, const struct kb_seal *seal);
int kb_skf_sm2_decrypt(kb_source *s, const kb_token *t, const kb_key_id *key, const unsigned char *cipher,
                       size_t cipher_len, const unsigned char iv[16], const unsigned char *in, size_t in_len,
                       unsigned char *out);
int kb_skf_sm2_sign(kb_source *s, const kb_token *t, const kb_key_id *key, const unsigned char e[32],
                    unsigned char **ret, size_t *ret_len);
/* Renewal (skf-renew.c): a key id is a container's name. */
int kb_skf_key_generate(kb_source *s, const kb_token *t, const kb_keygen *spec, kb_key_id *ret_id);
int kb_skf_key_supported(kb_source *s, const kb_token *t, const kb_keygen *spec);
int kb_skf_key_public(kb_source *s, const kb_token *t, const kb_key_id *id, bool sign, EVP_PKEY **ret);
int kb_skf_key_find(kb_source *s, const kb_token *t, const EVP_PKEY *pub, kb_key_id *ret_id);
int kb_skf_key_destroy(kb_source *s, const kb_token *t, const kb_key_id *id);
int kb_skf_key_unwrap(kb_source *s, const kb_token *t, const kb_key_unwrap *spec);
int kb_skf_cert_count(kb_source *s, const kb_token *t, const unsigned char *der, size_t len, size_t *ret_n);
int kb_skf_cert_write(kb_source *s, const kb_token *t, const unsigned char *der, size_t len, const kb_key_id *id,
                      const char *label);
/* PIN state from SKF_GetPINInfo's three values. */
kb_pin_status kb_skf_pin_status(SKF_ULONG max, SKF_ULONG left, bool is_default, int *ret_retries);
