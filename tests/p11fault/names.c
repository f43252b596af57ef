/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Names of the functions (from functions.h); CK_RV names come from the
 * project's one table (lib/pkcs11/kb-ck-rv.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb-ck-rv.h"
#include "kb-cleanup.h"
#include "p11fault.h"

static const char *const function_names[KB_PF_N_FUNCTIONS] = {
#define X(impl, kind, ops, name, ...) [KB_PF_FN_##name] = #name,
        KB_PF_FUNCTIONS(X)
#undef X
};

const char *kb_pf_function_name(int fn) {
        if (fn < 0 || fn >= KB_PF_N_FUNCTIONS)
                return "C_?";
        return function_names[fn];
}

int kb_pf_function_lookup(const char *name) {
        for (int fn = 0; fn < KB_PF_N_FUNCTIONS; fn++)
                if (strcmp(function_names[fn], name) == 0)
                        return fn;
        return -ENOENT;
}

const char *kb_pf_rv_name(CK_RV rv, char buf[static 32]) {
        const char *name = kb_ck_rv_name(rv);

        if (name)
                return name;
        snprintf(buf, 32, "CKR_0x%08lx", (unsigned long) rv);
        return buf;
}

int kb_pf_rv_parse(const char *s, CK_RV *ret) {
        if (kb_ck_rv_from_name(s, ret) == 0)
                return 0;
        if (*s < '0' || *s > '9')
                return -EINVAL;
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 0);
        if (errno != 0 || *end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}
