/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Milliseconds on the monotonic clock, for deadlines and intervals (never
 * for dates: it does not move with the wall clock, and does not jump). */
#pragma once

#include <stdint.h>
#include <time.h>

static inline int64_t kb_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
