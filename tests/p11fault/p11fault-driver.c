/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* p11fault-driver MODULE: loads a PKCS#11 module with dlopen and runs the
 * commands read from stdin, one a line, answering each with one line on
 * stdout that starts with the CK_RV name. For what pkcs11-tool cannot show
 * (test_p11fault.py): a session outliving a removal, C_WaitForSlotEvent,
 * C_Finalize waking a waiter, many threads at once.
 *
 *   functions            CKR_OK <non-NULL entries> <version>
 *   init | finalize      <rv>
 *   info                 CKR_OK <manufacturer>|<description>
 *   slots all|present    CKR_OK <id>…
 *   slot LABEL           CKR_OK <id of the slot holding that token>
 *   slotflags ID         CKR_OK present|absent
 *   tokenflags ID        CKR_OK [COUNT_LOW] [FINAL_TRY] [LOCKED]
 *   open ID | close H    CKR_OK <handle> | <rv>
 *   login H PIN          <rv>
 *   sessioninfo H        CKR_OK <CKS_ state number>
 *   sign H               <rv> of signing with the private key of CKA_ID 01
 *   wait [nb]            CKR_OK <slot> | <rv>  (nb: CKF_DONT_BLOCK)
 *   waitbg | join        a thread blocks in C_WaitForSlotEvent | its <rv>
 *   threads ID N M       <rv>: N threads × M rounds of open, token info, sign, close
 *   storm ID N MS        CKR_OK <every rv seen>: N threads, for MS milliseconds,
 *                        open, log in, sign, close, whatever fails
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p11fault.h"

static CK_FUNCTION_LIST *p11;

static const char *rv_name(CK_RV rv) {
        static _Thread_local char buf[32];

        return kb_pf_rv_name(rv, buf);
}

static CK_RV find_key(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *ret) {
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        CK_BYTE id[] = { 0x01 };
        CK_ATTRIBUTE tmpl[] = {
                { CKA_CLASS, &cls, sizeof(cls) },
                { CKA_ID, id, sizeof(id) },
        };
        CK_ULONG n = 0;

        CK_RV rv = p11->C_FindObjectsInit(s, tmpl, 2);
        if (rv != CKR_OK)
                return rv;
        rv = p11->C_FindObjects(s, ret, 1, &n);
        CK_RV rv2 = p11->C_FindObjectsFinal(s);
        if (rv == CKR_OK && n == 0)
                rv = CKR_KEY_HANDLE_INVALID;
        return rv != CKR_OK ? rv : rv2;
}

/* SHA256-RSA-PKCS with a size query first, like most callers. */
static CK_RV sign(CK_SESSION_HANDLE s) {
        CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
        CK_BYTE data[] = "keybridge", sig[1024];
        CK_OBJECT_HANDLE key;
        CK_ULONG n = 0;

        CK_RV rv = find_key(s, &key);
        if (rv == CKR_OK)
                rv = p11->C_SignInit(s, &mech, key);
        if (rv == CKR_OK)
                rv = p11->C_Sign(s, data, sizeof(data) - 1, NULL, &n);
        if (rv == CKR_OK && n > sizeof(sig))
                rv = CKR_GENERAL_ERROR;
        if (rv == CKR_OK)
                rv = p11->C_Sign(s, data, sizeof(data) - 1, sig, &n);
        return rv;
}

static void cmd_slots(bool present) {
        CK_SLOT_ID slots[64];
        CK_ULONG n = 64;

        CK_RV rv = p11->C_GetSlotList(present, slots, &n);
        printf("%s", rv_name(rv));
        for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++)
                printf(" %lu", (unsigned long) slots[i]);
        printf("\n");
}

static void cmd_slot(const char *label) {
        CK_SLOT_ID slots[64];
        CK_ULONG n = 64;
        CK_TOKEN_INFO ti;
        char want[32];

        memset(want, ' ', sizeof(want));
        memcpy(want, label, strnlen(label, sizeof(want)));
        CK_RV rv = p11->C_GetSlotList(CK_TRUE, slots, &n);
        for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++)
                if (p11->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
                    memcmp(ti.label, want, sizeof(want)) == 0) {
                        printf("CKR_OK %lu\n", (unsigned long) slots[i]);
                        return;
                }
        printf("%s\n", rv == CKR_OK ? "CKR_TOKEN_NOT_PRESENT" : rv_name(rv));
}

static void cmd_tokenflags(CK_SLOT_ID slot) {
        CK_TOKEN_INFO ti;

        CK_RV rv = p11->C_GetTokenInfo(slot, &ti);
        printf("%s", rv_name(rv));
        if (rv == CKR_OK && (ti.flags & CKF_USER_PIN_COUNT_LOW))
                printf(" COUNT_LOW");
        if (rv == CKR_OK && (ti.flags & CKF_USER_PIN_FINAL_TRY))
                printf(" FINAL_TRY");
        if (rv == CKR_OK && (ti.flags & CKF_USER_PIN_LOCKED))
                printf(" LOCKED");
        printf("\n");
}

static void cmd_functions(void) {
        CK_C_Initialize *f = &p11->C_Initialize;
        size_t n = (sizeof(*p11) - offsetof(CK_FUNCTION_LIST, C_Initialize)) / sizeof(*f);
        size_t set = 0;

        for (size_t i = 0; i < n; i++)
                set += f[i] != NULL;
        printf("CKR_OK %zu %u.%u\n", set, p11->version.major, p11->version.minor);
}

static void cmd_info(void) {
        CK_INFO info;

        CK_RV rv = p11->C_GetInfo(&info);
        if (rv != CKR_OK) {
                printf("%s\n", rv_name(rv));
                return;
        }
        printf("CKR_OK %.32s|%.32s\n", (char *) info.manufacturerID, (char *) info.libraryDescription);
}

static CK_RV wait_rv;
static CK_SLOT_ID wait_slot;

static void *waiter(void *arg) {
        wait_rv = p11->C_WaitForSlotEvent(0, &wait_slot, NULL);
        return arg;
}

struct round_args {
        CK_SLOT_ID slot;
        unsigned rounds;
        CK_RV rv;
};

static void *rounds(void *arg) {
        struct round_args *a = arg;
        CK_TOKEN_INFO ti;
        CK_SESSION_HANDLE s;

        for (unsigned i = 0; i < a->rounds && a->rv == CKR_OK; i++) {
                a->rv = p11->C_OpenSession(a->slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
                if (a->rv != CKR_OK)
                        break;
                a->rv = p11->C_GetTokenInfo(a->slot, &ti);
                if (a->rv == CKR_OK)
                        a->rv = sign(s);
                CK_RV rv = p11->C_CloseSession(s);
                if (a->rv == CKR_OK)
                        a->rv = rv;
        }
        return NULL;
}

static void cmd_threads(CK_SLOT_ID slot, unsigned n, unsigned m) {
        pthread_t t[32];
        struct round_args a[32];
        CK_RV rv = CKR_OK;

        if (n > 32)
                n = 32;
        for (unsigned i = 0; i < n; i++) {
                a[i] = (struct round_args) { .slot = slot, .rounds = m, .rv = CKR_OK };
                pthread_create(&t[i], NULL, rounds, &a[i]);
        }
        for (unsigned i = 0; i < n; i++) {
                pthread_join(t[i], NULL);
                if (rv == CKR_OK)
                        rv = a[i].rv;
        }
        printf("%s\n", rv_name(rv));
}

/* ---- storm: calls racing a removal ---- */

struct storm_args {
        CK_SLOT_ID slot;
        struct timespec end;
        size_t n_seen;
        CK_RV seen[16];
};

static void seen(struct storm_args *a, CK_RV rv) {
        for (size_t i = 0; i < a->n_seen; i++)
                if (a->seen[i] == rv)
                        return;
        if (a->n_seen < 16)
                a->seen[a->n_seen++] = rv;
}

static bool before(const struct timespec *end) {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return now.tv_sec < end->tv_sec || (now.tv_sec == end->tv_sec && now.tv_nsec < end->tv_nsec);
}

static void *storm(void *arg) {
        struct storm_args *a = arg;
        CK_SESSION_HANDLE s;

        while (before(&a->end)) {
                CK_RV rv = p11->C_OpenSession(a->slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
                seen(a, rv);
                if (rv != CKR_OK)
                        continue;
                seen(a, p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "123456", 6));
                seen(a, sign(s));
                seen(a, p11->C_CloseSession(s));
        }
        return NULL;
}

static void cmd_storm(CK_SLOT_ID slot, unsigned n, long ms) {
        pthread_t t[32];
        struct storm_args a[32], all = { .n_seen = 0 };
        struct timespec end;

        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += ms / 1000;
        end.tv_nsec += (ms % 1000) * 1000000L;
        if (end.tv_nsec >= 1000000000L) {
                end.tv_sec++;
                end.tv_nsec -= 1000000000L;
        }
        n = n > 32 ? 32 : n;
        for (unsigned i = 0; i < n; i++) {
                a[i] = (struct storm_args) { .slot = slot, .end = end };
                pthread_create(&t[i], NULL, storm, &a[i]);
        }
        for (unsigned i = 0; i < n; i++) {
                pthread_join(t[i], NULL);
                for (size_t j = 0; j < a[i].n_seen; j++)
                        seen(&all, a[i].seen[j]);
        }
        printf("CKR_OK");
        for (size_t j = 0; j < all.n_seen; j++)
                printf(" %s", rv_name(all.seen[j]));
        printf("\n");
}

static void run(char *cmd, char *a1, char *a2, char *a3) {
        static pthread_t bg;
        CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
        CK_SESSION_HANDLE s = a1 ? strtoul(a1, NULL, 10) : 0;
        CK_SESSION_INFO si;
        CK_SLOT_INFO slot = { .flags = 0 };
        CK_RV rv;

        if (!strcmp(cmd, "functions"))
                cmd_functions();
        else if (!strcmp(cmd, "init"))
                printf("%s\n", rv_name(p11->C_Initialize(&args)));
        else if (!strcmp(cmd, "finalize"))
                printf("%s\n", rv_name(p11->C_Finalize(NULL)));
        else if (!strcmp(cmd, "info"))
                cmd_info();
        else if (!strcmp(cmd, "slots"))
                cmd_slots(a1 && !strcmp(a1, "present"));
        else if (!strcmp(cmd, "slot") && a1)
                cmd_slot(a1);
        else if (!strcmp(cmd, "slotflags") && a1) {
                rv = p11->C_GetSlotInfo(s, &slot);
                printf("%s %s\n", rv_name(rv), slot.flags & CKF_TOKEN_PRESENT ? "present" : "absent");
        } else if (!strcmp(cmd, "tokenflags") && a1)
                cmd_tokenflags(s);
        else if (!strcmp(cmd, "open") && a1) {
                rv = p11->C_OpenSession(s, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
                printf("%s %lu\n", rv_name(rv), rv == CKR_OK ? (unsigned long) s : 0ul);
        } else if (!strcmp(cmd, "close") && a1)
                printf("%s\n", rv_name(p11->C_CloseSession(s)));
        else if (!strcmp(cmd, "login") && a1 && a2)
                printf("%s\n", rv_name(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) a2, strlen(a2))));
        else if (!strcmp(cmd, "sessioninfo") && a1) {
                rv = p11->C_GetSessionInfo(s, &si);
                printf("%s %lu\n", rv_name(rv), rv == CKR_OK ? (unsigned long) si.state : 0ul);
        } else if (!strcmp(cmd, "sign") && a1)
                printf("%s\n", rv_name(sign(s)));
        else if (!strcmp(cmd, "wait")) {
                CK_SLOT_ID id = 0;
                rv = p11->C_WaitForSlotEvent(a1 && !strcmp(a1, "nb") ? CKF_DONT_BLOCK : 0, &id, NULL);
                printf("%s %lu\n", rv_name(rv), (unsigned long) id);
        } else if (!strcmp(cmd, "waitbg")) {
                pthread_create(&bg, NULL, waiter, NULL);
                printf("CKR_OK\n");
        } else if (!strcmp(cmd, "join")) {
                pthread_join(bg, NULL);
                printf("%s\n", rv_name(wait_rv));
        } else if (!strcmp(cmd, "threads") && a1 && a2 && a3)
                cmd_threads(s, (unsigned) atoi(a2), (unsigned) atoi(a3));
        else if (!strcmp(cmd, "storm") && a1 && a2 && a3)
                cmd_storm(s, (unsigned) atoi(a2), atol(a3));
        else
                printf("error: unknown command or missing argument: %s\n", cmd);
}

int main(int argc, char **argv) {
        char line[512];

        if (argc != 2) {
                fprintf(stderr, "usage: %s MODULE  (commands on stdin)\n", argv[0]);
                return 2;
        }
        void *dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        CK_C_GetFunctionList get = dl ? (CK_C_GetFunctionList) dlsym(dl, "C_GetFunctionList") : NULL;
        if (!get || get(&p11) != CKR_OK) {
                fprintf(stderr, "%s: cannot load %s: %s\n", argv[0], argv[1], dl ? "no C_GetFunctionList" : dlerror());
                return 1;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        while (fgets(line, sizeof(line), stdin)) {
                char *save = NULL;
                char *cmd = strtok_r(line, " \t\n", &save);
                if (!cmd)
                        continue;
                if (!strcmp(cmd, "quit"))
                        break;
                char *a1 = strtok_r(NULL, " \t\n", &save);
                char *a2 = strtok_r(NULL, " \t\n", &save);
                char *a3 = strtok_r(NULL, " \t\n", &save);
                run(cmd, a1, a2, a3);
        }
        /* A well-behaved application finalizes; without it the module's
         * memory would be the application's leak. */
        (void) p11->C_Finalize(NULL);
        dlclose(dl);
        return 0;
}
