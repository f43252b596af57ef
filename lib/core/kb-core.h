/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/core/: what every layer of lib/ shares. The folders above include
 * this header; the files of core/ include the one they need.
 */
#pragma once

#include "kb-cleanup.h"         /* _cleanup_ attributes, TAKE_PTR */
#include "kb-openssl.h"         /* cleanup helpers for OpenSSL types */
#include "kb-error.h"           /* the API's error codes (kb-error-table.h) */
#include "kb-model.h"           /* tokens, certificates (X.509 parsing), PIN states */
#include "kb-secret.h"          /* mlock'ed, wiped buffers for PINs */
#include "kb-fs.h"              /* atomic file replacement */
#include "kb-backend.h"         /* kb_source: what a backend implements; kb_scan */
#include "kb-cache.h"           /* scan threads, snapshots, views */
#include "kb-clock.h"           /* monotonic milliseconds */
