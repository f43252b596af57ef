/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The names of PKCS#11 return values, one table for the whole project: the
 * backend names a CK_RV in problem reports and error details, which the
 * daemon logs and /v1/info shows (pkcs11-rv.c), and
 * the fault-injecting test module (tests/p11fault) names and parses the
 * values its rules fail with. Pure: no state, nothing but pkcs11.h.
 */
#pragma once

#include <p11-kit/pkcs11.h>

/* "CKR_PIN_INCORRECT"; NULL for a value without a name. */
const char *kb_ck_rv_name(CK_RV rv);
/* The value of a CKR_ name: 0 with *ret, or -1 when the name is unknown. */
int kb_ck_rv_from_name(const char *name, CK_RV *ret);
