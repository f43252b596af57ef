/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Applications: ROOT/<device>/<app>/app.json holds the two PINs (salted
 * SM3, retry counters, the default-PIN flag) and the file-creation rights.
 * Creating or deleting one needs device authentication, as the standard
 * says. */
#include <errno.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "skfsoft.h"

#define PIN_MIN 6
#define PIN_MAX 16

static bool pin_len_ok(const char *pin) {
        size_t n = pin ? strnlen(pin, PIN_MAX + 1) : 0;
        return n >= PIN_MIN && n <= PIN_MAX;
}

static void hex(char *out, const unsigned char *in, size_t n) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", in[i]);
}

/* {"salt", "hash", "max", "left", "default"} for a new PIN value. */
static json_t *pin_record(const char *pin, SKF_ULONG max, SKF_ULONG left, bool is_default) {
        unsigned char salt[16], h[32];
        char salt_hex[33], h_hex[65];
        if (RAND_bytes(salt, sizeof(salt)) != 1 || ss_sm3(salt, sizeof(salt), pin, strlen(pin), h) < 0)
                return NULL;
        hex(salt_hex, salt, sizeof(salt));
        hex(h_hex, h, sizeof(h));
        return json_pack("{s:s, s:s, s:I, s:I, s:b}", "salt", salt_hex, "hash", h_hex, "max", (json_int_t) max,
                         "left", (json_int_t) left, "default", is_default);
}

static bool pin_matches(json_t *rec, const char *pin) {
        const char *salt_hex = json_string_value(json_object_get(rec, "salt"));
        const char *want = json_string_value(json_object_get(rec, "hash"));
        unsigned char salt[16], h[32];
        char h_hex[65];
        if (!salt_hex || !want || strlen(salt_hex) != 32)
                return false;
        for (size_t i = 0; i < sizeof(salt); i++)
                if (sscanf(salt_hex + 2 * i, "%2hhx", &salt[i]) != 1)
                        return false;
        if (ss_sm3(salt, sizeof(salt), pin, strlen(pin), h) < 0)
                return false;
        hex(h_hex, h, sizeof(h));
        return CRYPTO_memcmp(h_hex, want, 64) == 0;
}

json_t *ss_app_load(const ss_handle *h) {
        char p[PATH_MAX];
        return ss_path(p, h, "app.json") == 0 ? json_load_file(p, 0, NULL) : NULL;
}

int ss_app_save(const ss_handle *h, json_t *app) {
        char p[PATH_MAX];
        char *text = json_dumps(app, JSON_SORT_KEYS);
        int r = text && ss_path(p, h, "app.json") == 0 ? ss_write_atomic(p, text, strlen(text)) : -1;
        free(text);
        return r;
}

SS_EXPORT SKF_ULONG SKF_CreateApplication(SKF_HANDLE hDev, SKF_CHAR *szAppName, SKF_CHAR *szAdminPin,
                                          SKF_ULONG dwAdminPinRetryCount, SKF_CHAR *szUserPin,
                                          SKF_ULONG dwUserPinRetryCount, SKF_ULONG dwCreateFileRights,
                                          SKF_HANDLE *phApp) {
        ss_handle *d;
        char dir[PATH_MAX];
        SKF_ULONG rv = ss_begin("SKF_CreateApplication", hDev, SS_DEV, &d);
        if (rv != SAR_OK)
                return rv;
        if (!d->dev_authed)
                return ss_end(SAR_USER_NOT_LOGGED_IN);
        if (!ss_name_ok(szAppName))
                return ss_end(SAR_APPLICATION_NAME_INVALID);
        if (!pin_len_ok(szAdminPin) || !pin_len_ok(szUserPin))
                return ss_end(SAR_PIN_LEN_RANGE);
        if (!phApp || dwAdminPinRetryCount == 0 || dwUserPinRetryCount == 0 || dwAdminPinRetryCount > 15 ||
            dwUserPinRetryCount > 15)
                return ss_end(SAR_INVALIDPARAMERR);
        if (ss_path(dir, d, szAppName) < 0 || mkdir(dir, 0700) < 0)
                return ss_end(errno == EEXIST ? SAR_APPLICATION_EXISTS : SAR_FILEERR);
        ss_handle *a = ss_handle_new(SS_APP, d);
        json_t *app = json_pack("{s:o, s:o, s:I}", "admin",
                                pin_record(szAdminPin, dwAdminPinRetryCount, dwAdminPinRetryCount, true), "user",
                                pin_record(szUserPin, dwUserPinRetryCount, dwUserPinRetryCount, true),
                                "createFileRights", (json_int_t) dwCreateFileRights);
        if (a)
                snprintf(a->app, sizeof(a->app), "%s", szAppName);
        if (!a || !app || ss_app_save(a, app) < 0) {
                if (a)
                        ss_handle_free(a);
                json_decref(app);
                ss_remove_tree(dir);
                return ss_end(SAR_FILEERR);
        }
        json_decref(app);
        *phApp = a;
        return ss_end(SAR_OK);
}

SS_EXPORT SKF_ULONG SKF_EnumApplication(SKF_HANDLE hDev, SKF_CHAR *szAppName, SKF_ULONG *pulSize) {
        ss_handle *d;
        SKF_ULONG rv = ss_begin("SKF_EnumApplication", hDev, SS_DEV, &d);
        return rv != SAR_OK ? rv : ss_end(ss_list_dir(d->dev, "", szAppName, pulSize));
}

SS_EXPORT SKF_ULONG SKF_DeleteApplication(SKF_HANDLE hDev, SKF_CHAR *szAppName) {
        ss_handle *d;
        char dir[PATH_MAX];
        SKF_ULONG rv = ss_begin("SKF_DeleteApplication", hDev, SS_DEV, &d);
        if (rv != SAR_OK)
                return rv;
        if (!d->dev_authed)
                return ss_end(SAR_USER_NOT_LOGGED_IN);
        if (!ss_name_ok(szAppName) || ss_path(dir, d, szAppName) < 0)
                return ss_end(SAR_APPLICATION_NAME_INVALID);
        return ss_end(ss_remove_tree(dir) == 0 ? SAR_OK : SAR_APPLICATION_NOT_EXISTS);
}

SS_EXPORT SKF_ULONG SKF_OpenApplication(SKF_HANDLE hDev, SKF_CHAR *szAppName, SKF_HANDLE *phApp) {
        ss_handle *d;
        SKF_ULONG rv = ss_begin("SKF_OpenApplication", hDev, SS_DEV, &d);
        if (rv != SAR_OK)
                return rv;
        if (!phApp || !ss_name_ok(szAppName))
                return ss_end(SAR_INVALIDPARAMERR);
        ss_handle *a = ss_handle_new(SS_APP, d);
        if (!a)
                return ss_end(SAR_MEMORYERR);
        snprintf(a->app, sizeof(a->app), "%s", szAppName);
        json_t *app = ss_app_load(a);
        if (!app) {
                ss_handle_free(a);
                return ss_end(SAR_APPLICATION_NOT_EXISTS);
        }
        json_decref(app);
        *phApp = a;
        return ss_end(SAR_OK);
}

SS_EXPORT SKF_ULONG SKF_CloseApplication(SKF_HANDLE hApp) {
        ss_handle *a;
        SKF_ULONG rv = ss_begin_opt("SKF_CloseApplication", hApp, SS_APP, false, &a);
        if (rv != SAR_OK)
                return rv;
        ss_handle_free(a);
        return ss_end(SAR_OK);
}

/* Check pin against the PIN of type, counting a wrong one; logs in on a
 * match. Called locked, with app loaded; saves app. */
static SKF_ULONG check_pin(ss_handle *a, json_t *app, SKF_ULONG type, const char *pin, SKF_ULONG *retries) {
        json_t *rec = json_object_get(app, type == SKF_ADMIN_TYPE ? "admin" : "user");
        json_int_t left = json_integer_value(json_object_get(rec, "left"));
        json_int_t max = json_integer_value(json_object_get(rec, "max"));
        ss_login *login = ss_login_of(a);
        if (!rec || !login)
                return SAR_FAIL;
        if (retries)
                *retries = (SKF_ULONG) left;
        if (left <= 0)
                return SAR_PIN_LOCKED;
        bool ok = pin && pin_matches(rec, pin);
        json_object_set_new(rec, "left", json_integer(ok ? max : left - 1));
        if (ss_app_save(a, app) < 0)
                return SAR_WRITEFILEERR;
        if (retries)
                *retries = (SKF_ULONG) (ok ? max : left - 1);
        if (!ok)
                return left - 1 == 0 ? SAR_PIN_LOCKED : SAR_PIN_INCORRECT;
        if (type == SKF_ADMIN_TYPE)
                login->admin = true;
        else
                login->user = true;
        return SAR_OK;
}

SS_EXPORT SKF_ULONG SKF_VerifyPIN(SKF_HANDLE hApp, SKF_ULONG ulPINType, SKF_CHAR *szPIN, SKF_ULONG *pulRetryCount) {
        ss_handle *a;
        SKF_ULONG rv = ss_begin("SKF_VerifyPIN", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        if (ulPINType != SKF_ADMIN_TYPE && ulPINType != SKF_USER_TYPE)
                return ss_end(SAR_USER_TYPE_INVALID);
        json_t *app = ss_app_load(a);
        rv = app ? check_pin(a, app, ulPINType, szPIN, pulRetryCount) : SAR_APPLICATION_NOT_EXISTS;
        json_decref(app);
        return ss_end(rv);
}

SS_EXPORT SKF_ULONG SKF_GetPINInfo(SKF_HANDLE hApp, SKF_ULONG ulPINType, SKF_ULONG *pulMaxRetryCount,
                                   SKF_ULONG *pulRemainRetryCount, SKF_BOOL *pbDefaultPin) {
        ss_handle *a;
        SKF_ULONG rv = ss_begin("SKF_GetPINInfo", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        if (ulPINType != SKF_ADMIN_TYPE && ulPINType != SKF_USER_TYPE)
                return ss_end(SAR_USER_TYPE_INVALID);
        if (!pulMaxRetryCount || !pulRemainRetryCount || !pbDefaultPin)
                return ss_end(SAR_INVALIDPARAMERR);
        json_t *app = ss_app_load(a);
        json_t *rec = json_object_get(app, ulPINType == SKF_ADMIN_TYPE ? "admin" : "user");
        if (rec) {
                *pulMaxRetryCount = (SKF_ULONG) json_integer_value(json_object_get(rec, "max"));
                *pulRemainRetryCount = (SKF_ULONG) json_integer_value(json_object_get(rec, "left"));
                *pbDefaultPin = json_is_true(json_object_get(rec, "default"));
        }
        json_decref(app);
        return ss_end(rec ? SAR_OK : SAR_APPLICATION_NOT_EXISTS);
}

/* Replace the PIN of type with a new value; the retry counter is full. */
static SKF_ULONG set_pin(ss_handle *a, json_t *app, const char *type, const char *pin, bool is_default) {
        json_t *old = json_object_get(app, type);
        SKF_ULONG max = (SKF_ULONG) json_integer_value(json_object_get(old, "max"));
        json_t *rec = pin_record(pin, max, max, is_default);
        if (!rec || json_object_set_new(app, type, rec) < 0)
                return SAR_MEMORYERR;
        return ss_app_save(a, app) == 0 ? SAR_OK : SAR_WRITEFILEERR;
}

SS_EXPORT SKF_ULONG SKF_ChangePIN(SKF_HANDLE hApp, SKF_ULONG ulPINType, SKF_CHAR *szOldPin, SKF_CHAR *szNewPin,
                                  SKF_ULONG *pulRetryCount) {
        ss_handle *a;
        SKF_ULONG rv = ss_begin("SKF_ChangePIN", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        if (ulPINType != SKF_ADMIN_TYPE && ulPINType != SKF_USER_TYPE)
                return ss_end(SAR_USER_TYPE_INVALID);
        if (!pin_len_ok(szNewPin))
                return ss_end(SAR_PIN_LEN_RANGE);
        json_t *app = ss_app_load(a);
        rv = app ? check_pin(a, app, ulPINType, szOldPin, pulRetryCount) : SAR_APPLICATION_NOT_EXISTS;
        if (rv == SAR_OK)
                rv = set_pin(a, app, ulPINType == SKF_ADMIN_TYPE ? "admin" : "user", szNewPin, false);
        json_decref(app);
        return ss_end(rv);
}

/* A PIN the administrator set counts as a default PIN: the user must
 * change it (the daemon's mustChange). */
SS_EXPORT SKF_ULONG SKF_UnblockPIN(SKF_HANDLE hApp, SKF_CHAR *szAdminPIN, SKF_CHAR *szNewUserPIN,
                                   SKF_ULONG *pulRetryCount) {
        ss_handle *a;
        SKF_ULONG rv = ss_begin("SKF_UnblockPIN", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        if (!pin_len_ok(szNewUserPIN))
                return ss_end(SAR_PIN_LEN_RANGE);
        json_t *app = ss_app_load(a);
        rv = app ? check_pin(a, app, SKF_ADMIN_TYPE, szAdminPIN, pulRetryCount) : SAR_APPLICATION_NOT_EXISTS;
        if (rv == SAR_OK)
                rv = set_pin(a, app, "user", szNewUserPIN, true);
        json_decref(app);
        return ss_end(rv);
}

SS_EXPORT SKF_ULONG SKF_ClearSecureState(SKF_HANDLE hApp) {
        ss_handle *a;
        SKF_ULONG rv = ss_begin("SKF_ClearSecureState", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        ss_login *login = ss_login_of(a);
        if (login)
                *login = (ss_login) { 0 };
        return ss_end(SAR_OK);
}
