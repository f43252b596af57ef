/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/formats/: pure codecs and crypto, no token, no I/O. The folders above
 * include this header; the files of formats/ include the one they need.
 */
#pragma once

#include "kb-sm2.h"             /* SM2's Z and e; GM/T 0010 SM2 SignedData */
#include "kb-sm2-envelope.h"    /* GM/T 0010 SM2 EnvelopedData */
#include "kb-seal.h"            /* seal media types, checks, the stored envelope */
#include "kb-ws-frame.h"        /* WebSocket frames (RFC 6455) */
