/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Seal bytes: which media types we take, whether the bytes are what their
 * type claims, and the envelope a backend stores them in.
 */
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kb-core.h"
#include "kb-seal.h"

#define MAGIC "KBSEAL1"
#define MAGIC_LEN 8     /* with its NUL */
#define HEADER_LEN (MAGIC_LEN + 8 + 1)

static const char *const media_types[] = {
        "image/png", "image/gif", "image/jpeg", "application/octet-stream",
};

void kb_seal_free(kb_seal *s) {
        if (!s)
                return;
        free(s->data);
        free(s);
}

const char *kb_seal_media_type(const char *name) {
        for (size_t i = 0; name && i < sizeof(media_types) / sizeof(media_types[0]); i++)
                if (strcasecmp(media_types[i], name) == 0)
                        return media_types[i];
        return NULL;
}

static bool starts(const unsigned char *d, size_t len, const void *prefix, size_t n) {
        return len >= n && memcmp(d, prefix, n) == 0;
}

static bool ends(const unsigned char *d, size_t len, const void *suffix, size_t n) {
        return len >= n && memcmp(d + len - n, suffix, n) == 0;
}

/* Signature, IHDR first, IEND (empty, with its fixed CRC) last. */
static bool is_png(const unsigned char *d, size_t len) {
        static const unsigned char sig[] = { 0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a };
        static const unsigned char iend[] = { 0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82 };
        return len >= sizeof(sig) + 25 + sizeof(iend) && starts(d, len, sig, sizeof(sig)) &&
               memcmp(d + sizeof(sig) + 4, "IHDR", 4) == 0 && ends(d, len, iend, sizeof(iend));
}

/* Header, logical screen descriptor, trailer ';'. */
static bool is_gif(const unsigned char *d, size_t len) {
        return len >= 14 && (starts(d, len, "GIF87a", 6) || starts(d, len, "GIF89a", 6)) && d[len - 1] == 0x3b;
}

/* SOI and a marker first, EOI last. */
static bool is_jpeg(const unsigned char *d, size_t len) {
        static const unsigned char soi[] = { 0xff, 0xd8, 0xff }, eoi[] = { 0xff, 0xd9 };
        return len >= sizeof(soi) + sizeof(eoi) && starts(d, len, soi, sizeof(soi)) && ends(d, len, eoi, sizeof(eoi));
}

/* One DER SEQUENCE with a definite length that covers exactly the bytes,
 * whose contents are well-formed TLVs (GB/T 38540 SES_Seal is a SEQUENCE). */
static bool is_der_sequence(const unsigned char *d, size_t len) {
        const unsigned char *p = d;
        long body = 0;
        int tag = 0, cls = 0;
        if (len < 2 || len > LONG_MAX)
                return false;
        int r = ASN1_get_object(&p, &body, &tag, &cls, (long) len);
        bool ok = !(r & 0x80) && r == V_ASN1_CONSTRUCTED && tag == V_ASN1_SEQUENCE && cls == V_ASN1_UNIVERSAL &&
                  (size_t) (p - d) <= len && (size_t) body == len - (size_t) (p - d);
        if (ok) {
                p = d;
                ASN1_SEQUENCE_ANY *seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long) len);
                ok = seq && p == d + len;
                sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
        }
        ERR_clear_error();
        return ok;
}

bool kb_seal_bytes_match(const char *media_type, const unsigned char *data, size_t len) {
        if (!media_type || !data || len == 0)
                return false;
        if (strcmp(media_type, "image/png") == 0)
                return is_png(data, len);
        if (strcmp(media_type, "image/gif") == 0)
                return is_gif(data, len);
        if (strcmp(media_type, "image/jpeg") == 0)
                return is_jpeg(data, len);
        if (strcmp(media_type, "application/octet-stream") == 0)
                return is_der_sequence(data, len);
        return false;
}

int kb_seal_envelope(const kb_seal *s, unsigned char **ret, size_t *ret_len) {
        size_t mt = strlen(s->media_type);
        if (mt == 0 || mt >= KB_SEAL_MEDIA_TYPE_MAX || s->len > SIZE_MAX - HEADER_LEN - mt)
                return -KB_E_INTERNAL;
        size_t n = HEADER_LEN + mt + s->len;
        unsigned char *buf = malloc(n);
        if (!buf)
                return -KB_E_INTERNAL;
        memcpy(buf, MAGIC, MAGIC_LEN);
        for (int i = 0; i < 8; i++)
                buf[MAGIC_LEN + i] = (unsigned char) (s->generation >> (56 - 8 * i));
        buf[MAGIC_LEN + 8] = (unsigned char) mt;
        memcpy(buf + HEADER_LEN, s->media_type, mt);
        if (s->len)
                memcpy(buf + HEADER_LEN + mt, s->data, s->len);
        *ret = buf;
        *ret_len = n;
        return 0;
}

int kb_seal_from_envelope(const unsigned char *buf, size_t len, kb_seal **ret) {
        if (len < HEADER_LEN || memcmp(buf, MAGIC, MAGIC_LEN) != 0)
                return -KB_E_INTERNAL;
        size_t mt = buf[MAGIC_LEN + 8];
        if (mt == 0 || mt >= KB_SEAL_MEDIA_TYPE_MAX || mt > len - HEADER_LEN)
                return -KB_E_INTERNAL;
        kb_seal *s = calloc(1, sizeof(*s));
        if (!s)
                return -KB_E_INTERNAL;
        for (int i = 0; i < 8; i++)
                s->generation = s->generation << 8 | buf[MAGIC_LEN + i];
        memcpy(s->media_type, buf + HEADER_LEN, mt);
        s->len = len - HEADER_LEN - mt;
        s->data = malloc(s->len ? s->len : 1);
        if (!s->data) {
                kb_seal_free(s);
                return -KB_E_INTERNAL;
        }
        memcpy(s->data, buf + HEADER_LEN + mt, s->len);
        *ret = s;
        return 0;
}

kb_seal *kb_seal_from_stored(const unsigned char *buf, size_t len) {
        kb_seal *s = NULL;
        if (kb_seal_from_envelope(buf, len, &s) < 0)
                return NULL;
        if (kb_seal_media_type(s->media_type) && kb_seal_bytes_match(s->media_type, s->data, s->len))
                return s;
        kb_seal_free(s);
        return NULL;
}

bool kb_seal_newer(const kb_seal *a, const kb_seal *b) {
        if (!b || a->generation != b->generation)
                return !b || a->generation > b->generation;
        if (a->len != b->len)
                return a->len > b->len;
        return memcmp(a->data, b->data, a->len) > 0;
}
