/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "kb-error.h"

static const struct {
        const char *code;
        int http;
        const char *en;
        const char *zh;
} table[] = {
#define KB_ERROR(name, code, http, en, zh) [KB_E_##name] = { code, http, en, zh },
#include "kb-error-table.h"
#undef KB_ERROR
};

static bool valid(kb_error e) {
        return (unsigned) e < _KB_E_MAX;
}

const char *kb_error_code(kb_error e) {
        return valid(e) ? table[e].code : NULL;
}

int kb_error_http_status(kb_error e) {
        return valid(e) ? table[e].http : 500;
}

const char *kb_error_message(kb_error e, bool zh) {
        if (!valid(e))
                e = KB_E_INTERNAL;
        return zh ? table[e].zh : table[e].en;
}

int kb_error_from_code(const char *code) {
        if (!code)
                return -1;
        for (unsigned i = 0; i < _KB_E_MAX; i++)
                if (strcmp(table[i].code, code) == 0)
                        return (int) i;
        return -1;
}

kb_error kb_error_from_ret(int r) {
        if (r >= 0)
                return KB_E_OK;
        if (r <= -(int) _KB_E_MAX)
                return KB_E_INTERNAL;
        return (kb_error) -r;
}
