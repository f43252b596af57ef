/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SKF_WaitForDevEvent: the devices' present files, looked at every 50 ms
 * (outside the call lock: other calls go on meanwhile). The first wait
 * takes the devices as they are then; each wait reports one change. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "skfsoft.h"

#define POLL_MS 50
#define MAX_DEVS 64

typedef struct {
        char name[SS_NAME_MAX + 1];
        ino_t present;
} dev_state;

static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cond = PTHREAD_COND_INITIALIZER;
static bool cancelled, known_taken;
static dev_state known[MAX_DEVS];
static size_t n_known;

static size_t look(dev_state *out) {
        size_t n = 0;
        char dev[PATH_MAX];
        DIR *d = opendir(ss_root());
        struct dirent *de;
        while (d && n < MAX_DEVS && (de = readdir(d))) {
                if (!ss_name_ok(de->d_name) || snprintf(dev, sizeof(dev), "%s/%s", ss_root(), de->d_name) >= PATH_MAX)
                        continue;
                memcpy(out[n].name, de->d_name, strlen(de->d_name) + 1);     /* ss_name_ok: it fits */
                out[n++].present = ss_present_ino(dev);
        }
        if (d)
                closedir(d);
        return n;
}

static ino_t known_state(const char *name) {
        for (size_t i = 0; i < n_known; i++)
                if (strcmp(known[i].name, name) == 0)
                        return known[i].present;
        return 0;
}

/* The first device whose state differs from what was last reported; the
 * known state moves on by that one device only. */
static bool next_change(SKF_CHAR *name, SKF_ULONG *event) {
        dev_state now[MAX_DEVS];
        size_t n = look(now);
        for (size_t i = 0; i < n; i++) {
                ino_t was = known_state(now[i].name);
                if (was == now[i].present)
                        continue;
                /* pulled and put back between two looks: a removal first */
                *event = !now[i].present || was ? SKF_EVENT_REMOVED : SKF_EVENT_INSERTED;
                memcpy(name, now[i].name, sizeof(now[i].name));
                ino_t next = *event == SKF_EVENT_REMOVED ? 0 : now[i].present;
                size_t j = 0;
                while (j < n_known && strcmp(known[j].name, now[i].name) != 0)
                        j++;
                if (j == n_known && n_known < MAX_DEVS)
                        known[n_known++] = now[i];
                if (j < n_known)
                        known[j].present = next;
                return true;
        }
        return false;
}

SS_EXPORT SKF_ULONG SKF_WaitForDevEvent(SKF_CHAR *szDevName, SKF_ULONG *pulDevNameLen, SKF_ULONG *pulEvent) {
        SKF_ULONG rv = ss_begin_free("SKF_WaitForDevEvent");
        if (rv != SAR_OK)
                return rv;
        ss_end(SAR_OK);
        if (!szDevName || !pulDevNameLen || !pulEvent || *pulDevNameLen < SS_NAME_MAX + 1)
                return SAR_INVALIDPARAMERR;
        pthread_mutex_lock(&wait_lock);
        if (!known_taken) {
                n_known = look(known);
                known_taken = true;
        }
        cancelled = false;
        char name[SS_NAME_MAX + 1];
        SKF_ULONG event = 0;
        while (!cancelled && !next_change(name, &event)) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += POLL_MS * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&wait_cond, &wait_lock, &until);
        }
        bool was_cancelled = cancelled;
        pthread_mutex_unlock(&wait_lock);
        if (was_cancelled)
                return SAR_NOT_EVENTERR;
        size_t len = strlen(name) + 1;
        memcpy(szDevName, name, len);
        *pulDevNameLen = (SKF_ULONG) len;
        *pulEvent = event;
        return SAR_OK;
}

SS_EXPORT SKF_ULONG SKF_CancelWaitForDevEvent(void) {
        pthread_mutex_lock(&wait_lock);
        cancelled = true;
        pthread_cond_broadcast(&wait_cond);
        pthread_mutex_unlock(&wait_lock);
        return SAR_OK;
}
