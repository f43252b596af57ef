/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Containers: ROOT/<device>/<app>/c/<container>/ holds sign.key, sign.crt,
 * enc.key, enc.crt (PEM keys, DER certificates). Changing a container needs
 * the user logged in to its application. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skfsoft.h"

static SKF_ULONG need_user(const ss_handle *h) {
        ss_login *l = ss_login_of(h);
        return l && l->user ? SAR_OK : SAR_USER_NOT_LOGGED_IN;
}

SS_EXPORT SKF_ULONG SKF_CreateContainer(SKF_HANDLE hApp, SKF_CHAR *szName, SKF_HANDLE *phContainer) {
        ss_handle *a;
        char dir[PATH_MAX];
        SKF_ULONG rv = ss_begin("SKF_CreateContainer", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        if (!phContainer || !ss_name_ok(szName))
                return ss_end(SAR_INVALIDPARAMERR);
        if ((rv = need_user(a)) != SAR_OK)
                return ss_end(rv);
        if (ss_path(dir, a, "c") < 0 || (mkdir(dir, 0700) < 0 && errno != EEXIST))
                return ss_end(SAR_FILEERR);
        if (strlen(dir) + 1 + strlen(szName) >= sizeof(dir))
                return ss_end(SAR_NAMELENERR);
        strcat(strcat(dir, "/"), szName);
        if (mkdir(dir, 0700) < 0)
                return ss_end(errno == EEXIST ? SAR_FILE_ALREADY_EXIST : SAR_FILEERR);
        ss_handle *c = ss_handle_new(SS_CONTAINER, a);
        if (!c) {
                rmdir(dir);
                return ss_end(SAR_MEMORYERR);
        }
        snprintf(c->container, sizeof(c->container), "%s", szName);
        *phContainer = c;
        return ss_end(SAR_OK);
}

SS_EXPORT SKF_ULONG SKF_DeleteContainer(SKF_HANDLE hApp, SKF_CHAR *szName) {
        ss_handle *a;
        char dir[PATH_MAX];
        SKF_ULONG rv = ss_begin("SKF_DeleteContainer", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        if (!ss_name_ok(szName) || ss_path(dir, a, "c") < 0 || strlen(dir) + 1 + strlen(szName) >= sizeof(dir))
                return ss_end(SAR_INVALIDPARAMERR);
        if ((rv = need_user(a)) != SAR_OK)
                return ss_end(rv);
        strcat(strcat(dir, "/"), szName);
        return ss_end(ss_remove_tree(dir) == 0 ? SAR_OK : SAR_INVALIDPARAMERR);
}

SS_EXPORT SKF_ULONG SKF_OpenContainer(SKF_HANDLE hApp, SKF_CHAR *szName, SKF_HANDLE *phContainer) {
        ss_handle *a;
        SKF_ULONG rv = ss_begin("SKF_OpenContainer", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        if (!phContainer || !ss_name_ok(szName))
                return ss_end(SAR_INVALIDPARAMERR);
        ss_handle *c = ss_handle_new(SS_CONTAINER, a);
        char dir[PATH_MAX];
        if (!c)
                return ss_end(SAR_MEMORYERR);
        snprintf(c->container, sizeof(c->container), "%s", szName);
        if (ss_path(dir, c, ".") < 0 || access(dir, F_OK) < 0) {
                ss_handle_free(c);
                return ss_end(SAR_INVALIDPARAMERR);
        }
        *phContainer = c;
        return ss_end(SAR_OK);
}

SS_EXPORT SKF_ULONG SKF_CloseContainer(SKF_HANDLE hContainer) {
        ss_handle *c;
        SKF_ULONG rv = ss_begin_opt("SKF_CloseContainer", hContainer, SS_CONTAINER, false, &c);
        if (rv != SAR_OK)
                return rv;
        ss_handle_free(c);
        return ss_end(SAR_OK);
}

SS_EXPORT SKF_ULONG SKF_EnumContainer(SKF_HANDLE hApp, SKF_CHAR *szNameList, SKF_ULONG *pulSize) {
        ss_handle *a;
        char dir[PATH_MAX];
        SKF_ULONG rv = ss_begin("SKF_EnumContainer", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        if (ss_path(dir, a, "c") < 0)
                return ss_end(SAR_FILEERR);
        return ss_end(ss_list_dir(dir, "", szNameList, pulSize));
}

SS_EXPORT SKF_ULONG SKF_GetContainerType(SKF_HANDLE hContainer, SKF_ULONG *pulContainerType) {
        ss_handle *c;
        char sign[PATH_MAX], enc[PATH_MAX];
        SKF_ULONG rv = ss_begin("SKF_GetContainerType", hContainer, SS_CONTAINER, &c);
        if (rv != SAR_OK)
                return rv;
        if (!pulContainerType || ss_path(sign, c, "sign.key") < 0 || ss_path(enc, c, "enc.key") < 0)
                return ss_end(SAR_INVALIDPARAMERR);
        bool keys = access(sign, F_OK) == 0 || access(enc, F_OK) == 0;
        *pulContainerType = keys ? SKF_CONTAINER_ECC : SKF_CONTAINER_EMPTY;
        return ss_end(SAR_OK);
}

SS_EXPORT SKF_ULONG SKF_ImportCertificate(SKF_HANDLE hContainer, SKF_BOOL bSignFlag, SKF_BYTE *pbCert,
                                          SKF_ULONG ulCertLen) {
        ss_handle *c;
        char p[PATH_MAX];
        SKF_ULONG rv = ss_begin("SKF_ImportCertificate", hContainer, SS_CONTAINER, &c);
        if (rv != SAR_OK)
                return rv;
        if (!pbCert || ulCertLen == 0 || ulCertLen > 8192 || ss_path(p, c, bSignFlag ? "sign.crt" : "enc.crt") < 0)
                return ss_end(SAR_INVALIDPARAMERR);
        if ((rv = need_user(c)) != SAR_OK)
                return ss_end(rv);
        return ss_end(ss_write_atomic(p, pbCert, ulCertLen) == 0 ? SAR_OK : SAR_WRITEFILEERR);
}

/* Copy data out as the standard's two-call convention has it. */
static SKF_ULONG give(const unsigned char *data, size_t len, SKF_BYTE *out, SKF_ULONG *out_len) {
        if (!out_len)
                return SAR_INVALIDPARAMERR;
        SKF_ULONG room = *out_len;
        *out_len = (SKF_ULONG) len;
        if (!out)
                return SAR_OK;
        if (room < len)
                return SAR_BUFFER_TOO_SMALL;
        memcpy(out, data, len);
        return SAR_OK;
}

SS_EXPORT SKF_ULONG SKF_ExportCertificate(SKF_HANDLE hContainer, SKF_BOOL bSignFlag, SKF_BYTE *pbCert,
                                          SKF_ULONG *pulCertLen) {
        ss_handle *c;
        char p[PATH_MAX];
        unsigned char *der = NULL;
        size_t len = 0;
        SKF_ULONG rv = ss_begin("SKF_ExportCertificate", hContainer, SS_CONTAINER, &c);
        if (rv != SAR_OK)
                return rv;
        if (ss_path(p, c, bSignFlag ? "sign.crt" : "enc.crt") < 0 || ss_read_all(p, &der, &len) < 0)
                return ss_end(SAR_CERTNOTFOUNTERR);
        rv = give(der, len, pbCert, pulCertLen);
        free(der);
        return ss_end(rv);
}

SS_EXPORT SKF_ULONG SKF_ExportPublicKey(SKF_HANDLE hContainer, SKF_BOOL bSignFlag, SKF_BYTE *pbBlob,
                                        SKF_ULONG *pulBlobLen) {
        ss_handle *c;
        char p[PATH_MAX];
        SKF_ECCPUBLICKEYBLOB blob;
        SKF_ULONG rv = ss_begin("SKF_ExportPublicKey", hContainer, SS_CONTAINER, &c);
        if (rv != SAR_OK)
                return rv;
        EVP_PKEY *k = ss_path(p, c, bSignFlag ? "sign.key" : "enc.key") == 0 ? ss_key_load(p) : NULL;
        if (!k)
                return ss_end(SAR_KEYNOTFOUNTERR);
        rv = kb_skf_pub_to_blob(k, &blob) == 0 ? give((unsigned char *) &blob, sizeof(blob), pbBlob, pulBlobLen)
                                               : SAR_KEYINFOTYPEERR;
        EVP_PKEY_free(k);
        return ss_end(rv);
}

SKF_ULONG ss_need_user(const ss_handle *h) {
        return need_user(h);
}
