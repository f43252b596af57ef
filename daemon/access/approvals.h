/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The user's origin approvals: <state-dir>/approved-origins, one origin per
 * line, written when the user approves a new origin in the native dialog and
 * read into the gate's policy. `keybridged origins list|revoke ORIGIN`.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define KB_MAX_APPROVALS 1024

/* Read the file: valid origins into *ret (NULL-terminated, free with
 * kb_approvals_free). A missing file is an empty list. */
int kb_approvals_read(const char *state_dir, char ***ret, size_t *ret_n);
void kb_approvals_free(char **list, size_t n);
/* Add (no duplicate) or remove an origin; the file is replaced atomically.
 * remove returns -ENOENT when the origin was not approved. */
int kb_approvals_add(const char *state_dir, const char *origin);
int kb_approvals_remove(const char *state_dir, const char *origin);

/* The running daemon's pid file in the runtime directory. */
int kb_pidfile_write(const char *runtime_dir);
void kb_pidfile_remove(const char *runtime_dir);

/* `keybridged origins list|revoke ORIGIN`; argv[0] is "origins". */
int kb_origins_main(int argc, char **argv, const kb_config *c);
