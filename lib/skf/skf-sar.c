/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>

#include "kb-core.h"
#include "kb-skf.h"

typedef struct {
        SKF_ULONG sar;
        const char *name;
        int error;
} sar_entry;

#define E(code, err) { code, #code, KB_E_##err }
static const sar_entry table[] = {
        E(SAR_OK, OK),
        E(SAR_FAIL, INTERNAL),
        E(SAR_UNKNOWNERR, INTERNAL),
        E(SAR_NOTSUPPORTYETERR, UNSUPPORTED_ALGORITHM),
        E(SAR_INVALIDHANDLEERR, TOKEN_NOT_PRESENT),     /* a handle of a device pulled and put back */
        E(SAR_INVALIDPARAMERR, INTERNAL),
        E(SAR_NAMELENERR, BAD_REQUEST),
        E(SAR_KEYUSAGEERR, UNSUPPORTED_ALGORITHM),
        E(SAR_MODULUSLENERR, UNSUPPORTED_ALGORITHM),
        E(SAR_MEMORYERR, INTERNAL),
        E(SAR_TIMEOUTERR, TOKEN_BUSY),
        E(SAR_INDATALENERR, BAD_REQUEST),
        E(SAR_INDATAERR, BAD_REQUEST),
        E(SAR_KEYNOTFOUNTERR, NOT_FOUND),
        E(SAR_CERTNOTFOUNTERR, NOT_FOUND),
        E(SAR_BUFFER_TOO_SMALL, INTERNAL),
        E(SAR_DEVICE_REMOVED, TOKEN_NOT_PRESENT),
        E(SAR_PIN_INCORRECT, PIN_INCORRECT),
        E(SAR_PIN_LOCKED, PIN_LOCKED),
        E(SAR_PIN_INVALID, PIN_POLICY),
        E(SAR_PIN_LEN_RANGE, PIN_POLICY),
        E(SAR_USER_NOT_LOGGED_IN, INTERNAL),    /* our login was lost: ended, the next request logs in */
        E(SAR_APPLICATION_NOT_EXISTS, NOT_FOUND),
        E(SAR_FILE_NOT_EXIST, NOT_FOUND),
        E(SAR_NO_ROOM, TOKEN_FULL),
        E(SAR_REACH_MAX_CONTAINER_COUNT, TOKEN_FULL),
        E(SAR_WRITEFILEERR, INTERNAL),
        E(SAR_READFILEERR, INTERNAL),
        E(SAR_FILEERR, INTERNAL),
};
#undef E

static const sar_entry *find(SKF_ULONG sar) {
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                if (table[i].sar == sar)
                        return &table[i];
        return NULL;
}

int kb_skf_sar_error(SKF_ULONG sar) {
        const sar_entry *e = find(sar);
        return e ? e->error : KB_E_INTERNAL;
}

const char *kb_skf_sar_name(SKF_ULONG sar) {
        static _Thread_local char unknown[24];
        const sar_entry *e = find(sar);
        if (e)
                return e->name;
        snprintf(unknown, sizeof(unknown), "SAR 0x%08X", sar);
        return unknown;
}
