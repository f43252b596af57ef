/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Renewal's backend calls on SKF tokens (kb-backend.h, certs_in_containers).
 * A key id is a container's name: a renewal's new key pair is the signature
 * key pair of a new container, its certificates go into that container's
 * two slots, and the old key pair goes with its container. GM/T 0016 has no
 * call that deletes a certificate or a key alone.
 */
#include <openssl/rand.h>
#include <string.h>

#include "kb-core.h"
#include "kb-skf-blob.h"
#include "skf-source.h"

#define NEW_CONTAINER_PREFIX "keybridge-"
#define NEW_CONTAINER_RANDOM 8  /* bytes, in hex after the prefix */
#define MAX_NAMES 4096
#define MAX_CERT (16 * 1024)

/* ---- the device and its containers (call_lock held) ---- */

/* The device with its application open: our login's, or one opened to read. */
static int reading_device(skf_source *p, const kb_token *t, skf_device **ret) {
        skf_device *d = kb_skf_device(p, t->id);
        if (!d)
                return -KB_E_TOKEN_NOT_PRESENT;
        int r = kb_skf_open_app(p, d);
        *ret = d;
        return r;
}

static int open_container(skf_source *p, skf_device *d, const char *name, SKF_HANDLE *ret) {
        return kb_skf_login_error(p, d, p->f.SKF_OpenContainer(d->happ, (SKF_CHAR *) name, ret));
}

/* The application's container names, each NUL-terminated, then a NUL. */
static int container_names(skf_source *p, skf_device *d, char names[MAX_NAMES]) {
        SKF_ULONG size = MAX_NAMES;
        SKF_ULONG sar = p->f.SKF_EnumContainer(d->happ, names, &size);
        if (sar == SAR_OK && size >= MAX_NAMES)
                return -KB_E_INTERNAL;          /* more than we can read: no answer is better than a wrong one */
        if (sar == SAR_OK && (size == 0 || names[size - 1] != 0))
                names[0] = names[1] = 0;        /* empty, or not a list: no containers */
        else if (sar == SAR_OK)
                names[size] = 0;                /* the list's end, should the library leave it out */
        return kb_skf_login_error(p, d, sar);
}

static void set_id(kb_key_id *id, const char *name) {
        id->len = strlen(name);
        memcpy(id->v, name, id->len);
}

/* The public key of a container's signature (sign) or encryption pair;
 * NOT_FOUND when the slot is empty. */
static int export_public(skf_source *p, SKF_HANDLE hc, bool sign, EVP_PKEY **ret) {
        SKF_ECCPUBLICKEYBLOB blob;
        SKF_ULONG len = sizeof(blob);
        if (!p->f.SKF_ExportPublicKey)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        SKF_ULONG sar = p->f.SKF_ExportPublicKey(hc, sign, (SKF_BYTE *) &blob, &len);
        if (sar == SAR_KEYNOTFOUNTERR || sar == SAR_FILE_NOT_EXIST)
                return -KB_E_NOT_FOUND;
        if (sar != SAR_OK)
                return -kb_skf_error(p, sar);
        if (len == sizeof(blob) && blob.BitLen == 0)
                return -KB_E_NOT_FOUND;         /* some libraries say so for an empty slot */
        if (len != sizeof(blob) || !(*ret = kb_skf_blob_to_pub(&blob)))
                return -KB_E_INTERNAL;  /* the library's blob is not an SM2 point */
        return 0;
}

/* The certificate in a slot; NOT_FOUND when it is empty. */
static int export_cert(skf_source *p, SKF_HANDLE hc, bool sign, unsigned char **ret, size_t *ret_len) {
        _cleanup_free_ unsigned char *der = malloc(MAX_CERT);
        SKF_ULONG len = MAX_CERT;
        if (!der)
                return -KB_E_INTERNAL;
        SKF_ULONG sar = p->f.SKF_ExportCertificate(hc, sign, der, &len);
        if (sar == SAR_CERTNOTFOUNTERR || sar == SAR_FILE_NOT_EXIST || sar == SAR_KEYNOTFOUNTERR)
                return -KB_E_NOT_FOUND;
        if (sar != SAR_OK)
                return -kb_skf_error(p, sar);
        if (len == 0 || len > MAX_CERT)
                return -KB_E_NOT_FOUND;
        *ret = TAKE_PTR(der);
        *ret_len = len;
        return 0;
}

static bool same_der(const unsigned char *a, size_t a_len, const unsigned char *b, size_t b_len) {
        return a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* How many of a container's two slots hold der. */
static int count_in(skf_source *p, skf_device *d, const char *name, const unsigned char *der, size_t len,
                    size_t *n) {
        SKF_HANDLE hc = NULL;
        int r = open_container(p, d, name, &hc);
        for (int sign = 1; r >= 0 && sign >= 0; sign--) {
                _cleanup_free_ unsigned char *held = NULL;
                size_t held_len = 0;
                r = export_cert(p, hc, sign, &held, &held_len);
                if (r == -KB_E_NOT_FOUND)
                        r = 0;
                else if (r >= 0 && same_der(held, held_len, der, len))
                        (*n)++;
        }
        if (hc)
                (void) p->f.SKF_CloseContainer(hc);
        return r;
}

static bool has_name(const char *names, const char *name) {
        for (const char *n = names; *n; n += strlen(n) + 1)
                if (strcmp(n, name) == 0)
                        return true;
        return false;
}

/* ---- the calls ---- */

/* A new container with an SM2 signature key pair; the container goes again
 * when the pair cannot be made. */
static int generate_in(skf_source *p, skf_device *d, const char *name) {
        SKF_HANDLE hc = NULL;
        SKF_ECCPUBLICKEYBLOB blob;
        int r = kb_skf_login_error(p, d, p->f.SKF_CreateContainer(d->happ, (SKF_CHAR *) name, &hc));
        if (r < 0)
                return r;
        r = kb_skf_login_error(p, d, p->f.SKF_GenECCKeyPair(hc, p->profile.sm2_sign_alg, &blob));
        (void) p->f.SKF_CloseContainer(hc);
        if (r < 0)
                (void) p->f.SKF_DeleteContainer(d->happ, (SKF_CHAR *) name);
        return r;
}

int kb_skf_key_generate(kb_source *s, const kb_token *t, const kb_keygen *spec, kb_key_id *ret_id) {
        skf_source *p = (skf_source *) s;
        unsigned char raw[NEW_CONTAINER_RANDOM];
        char name[sizeof(NEW_CONTAINER_PREFIX) + 2 * NEW_CONTAINER_RANDOM];
        if (spec->type != KB_KEY_SM2 || !p->f.SKF_CreateContainer || !p->f.SKF_GenECCKeyPair ||
            !p->f.SKF_DeleteContainer)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        if (RAND_bytes(raw, sizeof(raw)) != 1)
                return -KB_E_INTERNAL;
        size_t n = (size_t) snprintf(name, sizeof(name), "%s", NEW_CONTAINER_PREFIX);
        for (size_t i = 0; i < sizeof(raw); i++)
                n += (size_t) snprintf(name + n, sizeof(name) - n, "%02x", raw[i]);
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = NULL;
        int r = kb_skf_login_device(p, t, &d);
        if (r >= 0)
                r = generate_in(p, d, name);
        pthread_mutex_unlock(&p->call_lock);
        if (r >= 0)
                set_id(ret_id, name);
        return r;
}

/* SKF tokens here hold SM2 keys only, generated with the profile's
 * algorithm id (kb-skf-profile.h). */
int kb_skf_key_supported(kb_source *s, const kb_token *t, const kb_keygen *spec) {
        skf_source *p = (skf_source *) s;
        (void) t;
        bool can = p->f.SKF_CreateContainer && p->f.SKF_GenECCKeyPair && p->f.SKF_DeleteContainer;
        return spec->type == KB_KEY_SM2 && can ? 0 : -KB_E_UNSUPPORTED_ALGORITHM;
}

int kb_skf_key_public(kb_source *s, const kb_token *t, const kb_key_id *id, bool sign, EVP_PKEY **ret) {
        skf_source *p = (skf_source *) s;
        char name[SKF_CONTAINER_NAME_MAX + 1];
        SKF_HANDLE hc = NULL;
        if (kb_skf_container_name(id, name) < 0)
                return -KB_E_NOT_FOUND;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = NULL;
        int r = reading_device(p, t, &d);
        if (r >= 0)
                r = open_container(p, d, name, &hc);
        if (r >= 0) {
                r = export_public(p, hc, sign, ret);
                (void) p->f.SKF_CloseContainer(hc);
        }
        pthread_mutex_unlock(&p->call_lock);
        return r;
}

/* Is the signature key pair of container name pub? */
static int signs_with(skf_source *p, skf_device *d, const char *name, const EVP_PKEY *pub, bool *ret) {
        SKF_HANDLE hc = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *held = NULL;
        int r = open_container(p, d, name, &hc);
        if (r < 0)
                return r;
        r = export_public(p, hc, true, &held);
        (void) p->f.SKF_CloseContainer(hc);
        *ret = r >= 0 && EVP_PKEY_eq(held, pub) == 1;
        /* an RSA container, or one the library cannot show: not this one */
        return r == -KB_E_TOKEN_NOT_PRESENT ? r : 0;
}

/* The container whose signature key pair is pub. */
int kb_skf_key_find(kb_source *s, const kb_token *t, const EVP_PKEY *pub, kb_key_id *ret_id) {
        skf_source *p = (skf_source *) s;
        char names[MAX_NAMES];
        bool found = false;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = NULL;
        int r = reading_device(p, t, &d);
        if (r >= 0)
                r = container_names(p, d, names);
        for (const char *n = names; r >= 0 && !found && *n; n += strlen(n) + 1) {
                r = signs_with(p, d, n, pub, &found);
                if (found)
                        set_id(ret_id, n);
        }
        pthread_mutex_unlock(&p->call_lock);
        return r < 0 ? r : found ? 0 : -KB_E_NOT_FOUND;
}

/* The container goes, with both its key pairs and certificates. */
int kb_skf_key_destroy(kb_source *s, const kb_token *t, const kb_key_id *id) {
        skf_source *p = (skf_source *) s;
        char name[SKF_CONTAINER_NAME_MAX + 1], names[MAX_NAMES];
        if (kb_skf_container_name(id, name) < 0)
                return 0;       /* no container has that name */
        if (!p->f.SKF_DeleteContainer)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = NULL;
        int r = kb_skf_login_device(p, t, &d);
        if (r >= 0)
                r = container_names(p, d, names);
        if (r >= 0 && has_name(names, name))
                r = kb_skf_login_error(p, d, p->f.SKF_DeleteContainer(d->happ, name));
        pthread_mutex_unlock(&p->call_lock);
        return r;
}

/* The blob must carry the certificate's public key: that much is checked
 * before the token sees it. */
static int check_envelope(const kb_key_unwrap *spec, SKF_ENVELOPEDKEYBLOB *blob) {
        if (spec->type != KB_KEY_SM2)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        if (spec->wrapped_len != sizeof(*blob))
                return -KB_E_BAD_REQUEST;
        memcpy(blob, spec->wrapped, sizeof(*blob));
        if (blob->ECCCipherBlob.CipherLen == 0 || blob->ECCCipherBlob.CipherLen > SKF_CIPHER_MAX)
                return -KB_E_BAD_REQUEST;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *inside = kb_skf_blob_to_pub(&blob->PubKey);
        if (!inside)
                return -KB_E_BAD_REQUEST;
        return EVP_PKEY_eq(inside, spec->pub) == 1 ? 0 : -KB_E_CERTIFICATE_MISMATCH;
}

/* SKF_ImportECCKeyPair into the container's encryption slot, then the
 * slot's public key must be the certificate's. */
static int import_pair(skf_source *p, skf_device *d, const char *name, SKF_ENVELOPEDKEYBLOB *blob,
                       const EVP_PKEY *pub) {
        SKF_HANDLE hc = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *held = NULL;
        int r = open_container(p, d, name, &hc);
        if (r < 0)
                return r;
        SKF_ULONG sar = p->f.SKF_ImportECCKeyPair(hc, blob);
        if (sar == SAR_INDATAERR || sar == SAR_DECRYPTPADERR || sar == SAR_KEYINFOTYPEERR)
                r = -KB_E_BAD_REQUEST;  /* not sent to this container's key */
        else
                r = kb_skf_login_error(p, d, sar);
        if (r >= 0)
                r = export_public(p, hc, false, &held);
        if (r >= 0 && EVP_PKEY_eq(held, pub) != 1)
                r = -KB_E_CERTIFICATE_MISMATCH;
        (void) p->f.SKF_CloseContainer(hc);
        return r == -KB_E_NOT_FOUND ? -KB_E_INTERNAL : r;
}

int kb_skf_key_unwrap(kb_source *s, const kb_token *t, const kb_key_unwrap *spec) {
        skf_source *p = (skf_source *) s;
        char name[SKF_CONTAINER_NAME_MAX + 1];
        SKF_ENVELOPEDKEYBLOB blob;
        if (!p->f.SKF_ImportECCKeyPair)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        int r = check_envelope(spec, &blob);
        if (r < 0)
                return r;
        if (kb_skf_container_name(spec->unwrapping, name) < 0)
                return -KB_E_NOT_FOUND;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = NULL;
        r = kb_skf_login_device(p, t, &d);
        if (r >= 0)
                r = import_pair(p, d, name, &blob, spec->pub);
        pthread_mutex_unlock(&p->call_lock);
        return r;
}

int kb_skf_cert_count(kb_source *s, const kb_token *t, const unsigned char *der, size_t len, size_t *ret_n) {
        skf_source *p = (skf_source *) s;
        char names[MAX_NAMES];
        *ret_n = 0;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = NULL;
        int r = reading_device(p, t, &d);
        if (r >= 0)
                r = container_names(p, d, names);
        for (const char *n = names; r >= 0 && *n; n += strlen(n) + 1)
                r = count_in(p, d, n, der, len, ret_n);
        pthread_mutex_unlock(&p->call_lock);
        return r;
}

static EVP_PKEY *cert_public(const unsigned char *der, size_t len) {
        const unsigned char *in = der;
        _cleanup_(X509_freep) X509 *x = d2i_X509(NULL, &in, (long) len);
        return x ? X509_get_pubkey(x) : NULL;
}

/* The slot whose key pair is the certificate's: a certificate's usage
 * cannot say (one with none, or with both, would fit either). */
static int slot_of(skf_source *p, SKF_HANDLE hc, const unsigned char *der, size_t len, bool *sign) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = cert_public(der, len);
        if (!pub)
                return -KB_E_BAD_REQUEST;
        for (int s = 1; s >= 0; s--) {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *held = NULL;
                int r = export_public(p, hc, s, &held);
                if (r == -KB_E_NOT_FOUND)
                        continue;
                if (r < 0)
                        return r;
                if (EVP_PKEY_eq(held, pub) == 1) {
                        *sign = s;
                        return 0;
                }
        }
        return -KB_E_CERTIFICATE_MISMATCH;
}

/* Into the slot of its key pair, then read back and compare. */
static int import_cert(skf_source *p, skf_device *d, const char *name, const unsigned char *der, size_t len) {
        SKF_HANDLE hc = NULL;
        _cleanup_free_ unsigned char *back = NULL;
        size_t back_len = 0;
        bool sign = true;
        int r = open_container(p, d, name, &hc);
        if (r < 0)
                return r;
        r = slot_of(p, hc, der, len, &sign);
        if (r >= 0)
                r = kb_skf_login_error(p, d, p->f.SKF_ImportCertificate(hc, sign, (SKF_BYTE *) der, (SKF_ULONG) len));
        if (r >= 0)
                r = export_cert(p, hc, sign, &back, &back_len);
        if (r >= 0 && !same_der(back, back_len, der, len))
                r = -KB_E_INTERNAL;     /* the token keeps something else: the install stops here */
        (void) p->f.SKF_CloseContainer(hc);
        return r == -KB_E_NOT_FOUND ? -KB_E_INTERNAL : r;
}

int kb_skf_cert_write(kb_source *s, const kb_token *t, const unsigned char *der, size_t len, const kb_key_id *id,
                      const char *label) {
        skf_source *p = (skf_source *) s;
        char name[SKF_CONTAINER_NAME_MAX + 1];
        (void) label;   /* a container's name is its certificates' label */
        if (!id || !p->f.SKF_ImportCertificate)
                return -KB_E_UNSUPPORTED_ALGORITHM;     /* issuers: SKF has no place for them */
        if (kb_skf_container_name(id, name) < 0)
                return -KB_E_NOT_FOUND;
        if (len > MAX_CERT)
                return -KB_E_BAD_REQUEST;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = NULL;
        int r = kb_skf_login_device(p, t, &d);
        if (r >= 0)
                r = import_cert(p, d, name, der, len);
        pthread_mutex_unlock(&p->call_lock);
        return r;
}
