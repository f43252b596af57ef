/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Scope-bound cleanup, in the manner of systemd's cleanup-fundamental.h. */
#pragma once

#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void kb_freep(void *p) { free(*(void **) p); }
#define _cleanup_free_ _cleanup_(kb_freep)

static inline void kb_closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_close_ _cleanup_(kb_closep)

/* Take ownership out of a cleanup variable: the variable becomes NULL. */
#define TAKE_PTR(p) ({ __typeof__(p) _tmp_ = (p); (p) = NULL; _tmp_; })
#define TAKE_FD(fd) ({ int _tmp_ = (fd); (fd) = -1; _tmp_; })

/* Declare name##p(type **) calling func when the pointer is not NULL. */
#define KB_DEFINE_POINTER_CLEANUP(type, func)                          \
        static inline void func##p(type **p) { if (*p) func(*p); }

#define KB_ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
