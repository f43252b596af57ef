/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
/* Certificate parsing lives in x509.c; its interface is part of kb-model.h. */
#include "kb-model.h"
