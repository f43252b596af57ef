/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Devices: ROOT/<name>/device.json describes one, ROOT/<name>/present
 * exists while it is plugged in. */
#include <dirent.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skfsoft.h"

#define DEFAULT_AUTH_KEY "1234567812345678"

static bool is_device(const char *name) {
        char p[PATH_MAX];
        return name[0] != '.' && snprintf(p, sizeof(p), "%s/%s/device.json", ss_root(), name) < PATH_MAX &&
               access(p, R_OK) == 0;
}

SS_EXPORT SKF_ULONG SKF_EnumDev(SKF_BOOL bPresent, SKF_CHAR *szNameList, SKF_ULONG *pulSize) {
        SKF_ULONG rv = ss_begin_free("SKF_EnumDev");
        if (rv != SAR_OK)
                return rv;
        char *names[64], dev[PATH_MAX];
        size_t n = 0;
        DIR *d = opendir(ss_root());
        struct dirent *de;
        while (d && n < 64 && (de = readdir(d))) {
                snprintf(dev, sizeof(dev), "%s/%s", ss_root(), de->d_name);
                if (is_device(de->d_name) && (!bPresent || ss_present(dev)) && (names[n] = strdup(de->d_name)))
                        n++;
        }
        if (d)
                closedir(d);
        rv = ss_multi_string(names, n, szNameList, pulSize);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        return ss_end(rv);
}

SS_EXPORT SKF_ULONG SKF_ConnectDev(SKF_CHAR *szName, SKF_HANDLE *phDev) {
        SKF_ULONG rv = ss_begin_free("SKF_ConnectDev");
        if (rv != SAR_OK)
                return rv;
        if (!szName || !phDev || !ss_name_ok(szName) || !is_device(szName))
                return ss_end(SAR_INVALIDPARAMERR);
        ss_handle *h = ss_handle_new(SS_DEV, NULL);
        if (!h)
                return ss_end(SAR_MEMORYERR);
        snprintf(h->dev, sizeof(h->dev), "%s/%s", ss_root(), szName);
        h->present_ino = ss_present_ino(h->dev);
        if (!h->present_ino) {
                ss_handle_free(h);
                return ss_end(SAR_DEVICE_REMOVED);
        }
        *phDev = h;
        return ss_end(SAR_OK);
}

SS_EXPORT SKF_ULONG SKF_DisConnectDev(SKF_HANDLE hDev) {
        ss_handle *h;
        SKF_ULONG rv = ss_begin_opt("SKF_DisConnectDev", hDev, SS_DEV, false, &h);
        if (rv != SAR_OK)
                return rv;
        ss_handle_free(h);
        return ss_end(SAR_OK);
}

SS_EXPORT SKF_ULONG SKF_GetDevState(SKF_CHAR *szDevName, SKF_ULONG *pulDevState) {
        SKF_ULONG rv = ss_begin_free("SKF_GetDevState");
        if (rv != SAR_OK)
                return rv;
        char dev[PATH_MAX];
        if (!szDevName || !pulDevState || !ss_name_ok(szDevName) || !is_device(szDevName))
                return ss_end(SAR_INVALIDPARAMERR);
        snprintf(dev, sizeof(dev), "%s/%s", ss_root(), szDevName);
        *pulDevState = ss_present(dev) ? SKF_DEV_PRESENT_STATE : SKF_DEV_ABSENT_STATE;
        return ss_end(SAR_OK);
}

static void copy_field(SKF_CHAR *to, size_t size, json_t *desc, const char *key) {
        const char *v = json_string_value(json_object_get(desc, key));
        memset(to, 0, size);
        if (v)
                memcpy(to, v, strnlen(v, size - 1));
}

SS_EXPORT SKF_ULONG SKF_GetDevInfo(SKF_HANDLE hDev, SKF_DEVINFO *pDevInfo) {
        ss_handle *h;
        char p[PATH_MAX];
        SKF_ULONG rv = ss_begin("SKF_GetDevInfo", hDev, SS_DEV, &h);
        if (rv != SAR_OK)
                return rv;
        json_t *desc = ss_path(p, h, "device.json") == 0 ? json_load_file(p, 0, NULL) : NULL;
        if (!pDevInfo || !desc) {
                json_decref(desc);
                return ss_end(pDevInfo ? SAR_READFILEERR : SAR_INVALIDPARAMERR);
        }
        memset(pDevInfo, 0, sizeof(*pDevInfo));
        pDevInfo->Version = (SKF_VERSION) { 1, 0 };
        copy_field(pDevInfo->Manufacturer, sizeof(pDevInfo->Manufacturer), desc, "manufacturer");
        copy_field(pDevInfo->Issuer, sizeof(pDevInfo->Issuer), desc, "issuer");
        copy_field(pDevInfo->Label, sizeof(pDevInfo->Label), desc, "label");
        copy_field(pDevInfo->SerialNumber, sizeof(pDevInfo->SerialNumber), desc, "serial");
        pDevInfo->AlgSymCap = SGD_SM4_ECB | SGD_SM4_CBC;
        pDevInfo->AlgAsymCap = SGD_SM2_1 | SGD_SM2_3;
        pDevInfo->AlgHashCap = SGD_SM3;
        pDevInfo->DevAuthAlgId = SGD_SM4_ECB;
        pDevInfo->TotalSpace = 64 * 1024;
        pDevInfo->FreeSpace = 32 * 1024;
        pDevInfo->MaxECCBufferSize = pDevInfo->MaxBufferSize = 2048;
        json_decref(desc);
        return ss_end(SAR_OK);
}

SS_EXPORT SKF_ULONG SKF_GenRandom(SKF_HANDLE hDev, SKF_BYTE *pbRandom, SKF_ULONG ulRandomLen) {
        ss_handle *h;
        SKF_ULONG rv = ss_begin("SKF_GenRandom", hDev, SS_DEV, &h);
        if (rv != SAR_OK)
                return rv;
        if (!pbRandom || ulRandomLen == 0 || ulRandomLen > 1024 || RAND_bytes(pbRandom, (int) ulRandomLen) != 1)
                return ss_end(SAR_INVALIDPARAMERR);
        h->has_challenge = ulRandomLen == sizeof(h->challenge);
        if (h->has_challenge)
                memcpy(h->challenge, pbRandom, sizeof(h->challenge));
        return ss_end(SAR_OK);
}

/* The device authentication key: device.json "authKey" (16 characters). */
static void auth_key(const ss_handle *h, unsigned char key[16]) {
        char p[PATH_MAX];
        json_t *desc = ss_path(p, h, "device.json") == 0 ? json_load_file(p, 0, NULL) : NULL;
        const char *k = json_string_value(json_object_get(desc, "authKey"));
        memcpy(key, k && strlen(k) == 16 ? k : DEFAULT_AUTH_KEY, 16);
        json_decref(desc);
}

/* pbAuthData = SM4-ECB(authKey, the last 8-byte random ‖ 8 zero bytes). */
SS_EXPORT SKF_ULONG SKF_DevAuth(SKF_HANDLE hDev, SKF_BYTE *pbAuthData, SKF_ULONG ulLen) {
        ss_handle *h;
        SKF_ULONG rv = ss_begin("SKF_DevAuth", hDev, SS_DEV, &h);
        if (rv != SAR_OK)
                return rv;
        unsigned char key[16], block[16] = { 0 }, want[16];
        if (!pbAuthData || ulLen != 16 || !h->has_challenge)
                return ss_end(SAR_INVALIDPARAMERR);
        auth_key(h, key);
        memcpy(block, h->challenge, sizeof(h->challenge));
        h->has_challenge = false;       /* one try per challenge */
        if (ss_sm4_ecb(key, true, block, 16, want) < 0)
                return ss_end(SAR_FAIL);
        h->dev_authed = CRYPTO_memcmp(want, pbAuthData, 16) == 0;
        return ss_end(h->dev_authed ? SAR_OK : SAR_FAIL);
}
