/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Files the daemon keeps for the user: the api-token and the approved origins. */
#pragma once

#include <stddef.h>

#include "config.h"
#include "gate.h"

/* Make a fresh random bearer token and write it to <runtime_dir>/api-token
 * (mode 0600, atomically). ret must hold KB_API_TOKEN_HEX + 1 bytes. */
int kb_api_token_create(const char *runtime_dir, char *ret, size_t retlen);

/* Build the gate policy from the configuration's origins and the user's
 * approvals (<state_dir>/approved-origins, one origin per line). */
int kb_policy_build(const kb_config *c, const char *api_token, kb_gate_policy **ret);
