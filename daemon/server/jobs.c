/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Worker threads for token operations (jobs.h). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "jobs.h"
#include "kb-error.h"

typedef struct kb_job {
        kb_job_fn run;
        void *arg;
        struct kb_job *next;
} kb_job;

static kb_job *pop(kb_daemon *d) {
        kb_job *j = d->job_queue;
        d->job_queue = j->next;
        if (!d->job_queue)
                d->job_tail = &d->job_queue;
        d->n_queued--;
        return j;
}

/* Under jobs_lock: wait for a job. NULL when the worker should end (idle
 * for KB_JOB_IDLE_S, or stopping with nothing left). */
static kb_job *next_job(kb_daemon *d) {
        while (!d->job_queue && !d->jobs_stopping) {
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += KB_JOB_IDLE_S;
                d->n_idle++;
                int e = pthread_cond_timedwait(&d->jobs_work, &d->jobs_lock, &until);
                d->n_idle--;
                if (e == ETIMEDOUT && !d->job_queue)
                        return NULL;
        }
        return d->job_queue ? pop(d) : NULL;
}

/* Set on a worker between kb_jobs_finishing and the end of its job. */
static _Thread_local bool finishing;
static _Thread_local bool on_worker;

void kb_jobs_finishing(kb_daemon *d) {
        if (!on_worker)
                return; /* only a worker goes back to waiting: counted nowhere else */
        pthread_mutex_lock(&d->jobs_lock);
        if (!finishing)
                d->n_finishing++;
        finishing = true;
        pthread_mutex_unlock(&d->jobs_lock);
}

static void *worker(void *arg) {
        kb_daemon *d = arg;
        kb_job *j;

        on_worker = true;
        pthread_mutex_lock(&d->jobs_lock);
        while ((j = next_job(d))) {
                pthread_mutex_unlock(&d->jobs_lock);
                j->run(j->arg);
                free(j);
                pthread_mutex_lock(&d->jobs_lock);
                /* From finishing to idle in one step under the lock: a
                 * submit in between counts this worker either way. */
                if (finishing)
                        d->n_finishing--;
                finishing = false;
                d->n_jobs--;
                pthread_cond_broadcast(&d->jobs_idle);
        }
        d->n_threads--;
        pthread_cond_broadcast(&d->jobs_idle);
        pthread_mutex_unlock(&d->jobs_lock);
        return NULL;
}

/* Under jobs_lock: a new detached worker. */
static int start_worker(kb_daemon *d) {
        pthread_attr_t attr;
        pthread_t t;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int e = pthread_create(&t, &attr, worker, d);
        pthread_attr_destroy(&attr);
        if (e != 0)
                return -KB_E_INTERNAL;
        d->n_threads++;
        return 0;
}

int kb_jobs_submit(kb_daemon *d, kb_job_fn run, void *arg) {
        kb_job *j = calloc(1, sizeof(*j));
        int r = 0;
        if (!j)
                return -KB_E_INTERNAL;
        *j = (kb_job) { .run = run, .arg = arg };
        pthread_mutex_lock(&d->jobs_lock);
        if (d->n_jobs >= KB_MAX_JOBS || d->jobs_stopping)
                r = -KB_E_TOKEN_BUSY;
        /* Enough idle workers for every queued job: wake one; else start one
         * (a worker woken but not yet running still counts as idle, and so
         * does one whose job has answered and is on its way back). */
        else if (d->n_queued + 1 > d->n_idle + d->n_finishing)
                r = start_worker(d);
        if (r < 0) {
                pthread_mutex_unlock(&d->jobs_lock);
                free(j);
                return r;
        }
        *d->job_tail = j;
        d->job_tail = &j->next;
        d->n_queued++;
        d->n_jobs++;
        pthread_cond_signal(&d->jobs_work);
        pthread_mutex_unlock(&d->jobs_lock);
        return 0;
}

void kb_jobs_drain(kb_daemon *d) {
        pthread_mutex_lock(&d->jobs_lock);
        while (d->n_jobs > 0)
                pthread_cond_wait(&d->jobs_idle, &d->jobs_lock);
        pthread_mutex_unlock(&d->jobs_lock);
}

void kb_jobs_stop(kb_daemon *d) {
        pthread_mutex_lock(&d->jobs_lock);
        d->jobs_stopping = true;
        pthread_cond_broadcast(&d->jobs_work);
        while (d->n_jobs > 0 || d->n_threads > 0)
                pthread_cond_wait(&d->jobs_idle, &d->jobs_lock);
        pthread_mutex_unlock(&d->jobs_lock);
}

/* The main thread clears main_ticks_fast before it reads the authorizations
 * (kb_service_expire) and sets it after, only when it will tick every second.
 * A job reads it after its grant, so either the main thread's read sees the
 * grant or the job sees the flag clear and signals. */
void kb_jobs_ended(kb_daemon *d) {
        if (!atomic_load(&d->main_ticks_fast))
                pthread_kill(d->main_thread, SIGUSR1);
}
