/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small file-system helpers for state and runtime files (the daemon's, and
 * the renewal journal of lib/). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* "a/b", malloc'ed; NULL on OOM. */
char *kb_path_join(const char *a, const char *b);

/* mkdir -p; components it creates get mode. Returns 0 or -errno. */
int kb_mkdir_p(const char *path, mode_t mode);

/* fsync a directory (after a rename in it). 0 or -errno. */
int kb_fsync_dir(const char *dir);

/* Replace dir/name atomically: write dir/.name.tmp (exclusive create, mode),
 * fsync, rename over name, fsync dir. Readers see the old or the new file. */
int kb_write_atomic(const char *dir, const char *name, const char *data, size_t len, mode_t mode);
