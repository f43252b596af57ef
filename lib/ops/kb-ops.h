/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/ops/: the service and its operations. The folders above include this
 * header; the files of ops/ include the one they need.
 */
#pragma once

#include "kb-service.h"         /* kb_service, kb_call, the PIN flow, parameters,
                                 * rendering, the handlers of sign, seals, PINs */
#include "kb-authz.h"           /* authorizations per (origin, token), the PIN guard */
#include "kb-sign-sm2.h"        /* SM2 signatures through a backend's sm2_sign */
