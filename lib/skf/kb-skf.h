/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The SKF (GM/T 0016) backend: vendor libraries loaded with dlopen, one
 * source each. A device is a token (DEVINFO's serial its serial and
 * hardware id); each container of its first application gives the
 * signature and encryption certificates; SKF_GetPINInfo gives the PIN
 * state with exact tries left and the default-PIN flag as mustChange.
 */
#pragma once

#include "kb-core.h"
#include "kb-skf-api.h"

/* Open the libraries at paths, each with the vendor quirks of the profile
 * lines naming it (kb-skf-profile.h). A library that fails to load still
 * yields a source, with load_error set. */
int kb_skf_open_sources(char *const *paths, size_t n_paths, char *const *profiles, size_t n_profiles,
                        kb_source ***ret_sources, size_t *ret_n);

/* SAR_* codes, mapped in one place: the API error and the code's name. */
int kb_skf_sar_error(SKF_ULONG sar);
const char *kb_skf_sar_name(SKF_ULONG sar);
