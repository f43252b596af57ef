/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The electronic seal (电子印章) of a certificate: an image, or GB/T 38540 SES
 * seal data, kept on the token next to the certificate (api.md "Electronic
 * seal"). seal.c checks and serves it; each backend stores it (pkcs11-seal.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KB_SEAL_DEFAULT_MAX_BYTES (256 * 1024)
#define KB_SEAL_MEDIA_TYPE_MAX 32

typedef struct kb_seal {
        char media_type[KB_SEAL_MEDIA_TYPE_MAX]; /* "image/png", …, canonical */
        unsigned char *data;
        size_t len;
        uint64_t generation;    /* higher is newer; set by the backend on write */
        bool hidden;            /* stored private: readable only after login */
} kb_seal;

void kb_seal_free(kb_seal *s);

/* The canonical spelling of a supported media type (case-insensitive
 * lookup), or NULL. */
const char *kb_seal_media_type(const char *name);
/* Do the bytes really hold media_type (a canonical name)? PNG, GIF and JPEG
 * by their signatures and trailers, application/octet-stream only as one
 * complete DER SEQUENCE (GB/T 38540 SES seal data). */
bool kb_seal_bytes_match(const char *media_type, const unsigned char *data, size_t len);

/* The envelope stored as the data object's value: "KBSEAL1\0", generation
 * (8 bytes big-endian), media type length (1 byte), media type, bytes. */
int kb_seal_envelope(const kb_seal *s, unsigned char **ret, size_t *ret_len);
/* Parse an envelope; -KB_E_INTERNAL for one that is not ours or damaged. */
int kb_seal_from_envelope(const unsigned char *buf, size_t len, kb_seal **ret);
/* A stored envelope's seal, or NULL for a damaged one (not our envelope,
 * bytes not of their media type), which readers pass over. */
kb_seal *kb_seal_from_stored(const unsigned char *buf, size_t len);
/* Is a newer than b (NULL: nothing yet)? Higher generation; equal
 * generations (two writers that should not exist) ordered by the bytes, so
 * every read picks the same one. */
bool kb_seal_newer(const kb_seal *a, const kb_seal *b);
