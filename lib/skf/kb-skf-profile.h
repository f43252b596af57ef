/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Vendor quirks of SKF libraries, set by configuration: one "skf-profile"
 * line per library, "LIBRARY KEY=VALUE…", LIBRARY being the library's path
 * or file name. Keys:
 *
 *   sm2-sign-alg=0x00020200   the library's SGD_SM2_1 (GM/T 0006 says
 *                             0x00020100; some libraries take 0x00020200),
 *                             for key generation (SKF renewal, not built yet)
 *   error=0x0A00F001:PIN_LOCKED  a vendor's own SAR code and the API error
 *                             it means (repeatable)
 *   ulong=32                  the width of ULONG and BOOL; GM/T 0016 and
 *                             this build know 32 only, and a library
 *                             declared 64 is not loaded (saying so)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kb-skf-api.h"

#define KB_SKF_PROFILE_MAX_ERRORS 16

typedef struct kb_skf_profile {
        SKF_ULONG sm2_sign_alg;
        unsigned ulong_bits;
        struct {
                SKF_ULONG sar;
                int error;      /* kb_error */
        } errors[KB_SKF_PROFILE_MAX_ERRORS];
        size_t n_errors;
} kb_skf_profile;

/* GM/T 0016 as written. */
void kb_skf_profile_init(kb_skf_profile *p);
/* Check a profile line; 0, or -KB_E_BAD_REQUEST with the reason in err. */
int kb_skf_profile_check(const char *line, char *err, size_t errlen);
/* Apply the lines that name this library (path or file name) to p. Lines
 * were checked; one that does not parse is skipped. */
void kb_skf_profile_apply(kb_skf_profile *p, const char *path, char *const *lines, size_t n_lines);
/* The profile's SAR code → API error, or -1 when it has none. */
int kb_skf_profile_error(const kb_skf_profile *p, SKF_ULONG sar);
