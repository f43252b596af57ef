/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Token operations off the event loops (REST and WebSocket), on worker
 * threads that are kept for the next one: starting and ending a thread per
 * signature cost more CPU than the signature itself (docs/performance.md).
 * A worker idle for KB_JOB_IDLE_S ends. At most KB_MAX_JOBS jobs are queued
 * or running at once; each gets a worker of its own at once (a PIN dialog
 * on one never holds up another).
 */
#pragma once

#include "daemon.h"

#define KB_JOB_IDLE_S 30

typedef void (*kb_job_fn)(void *arg);

/* Run run(arg) on a worker. 0; TOKEN_BUSY at the limit or when stopping;
 * INTERNAL when no thread could be started (nothing was queued then). */
int kb_jobs_submit(kb_daemon *d, kb_job_fn run, void *arg);
/* Called by a job on its worker once its answer is about to go out: the
 * worker counts as free from here, so that the client's next request,
 * which may come before the worker is back waiting, finds it instead of
 * starting another thread. */
void kb_jobs_finishing(kb_daemon *d);
/* A job's last step: a job may have granted an authorization, whose idle
 * timeout the main thread must watch, so wake it (SIGUSR1) unless it already
 * ticks every second. */
void kb_jobs_ended(kb_daemon *d);
/* Wait until no job is queued or running. */
void kb_jobs_drain(kb_daemon *d);
/* Refuse new jobs, wait for the running ones, end every worker. */
void kb_jobs_stop(kb_daemon *d);
