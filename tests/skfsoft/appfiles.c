/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Application files: ROOT/<device>/<app>/f/<name>.data (exactly FileSize
 * bytes) and <name>.attr ({"read", "write"} rights). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skfsoft.h"

#define FILE_MAX (64 * 1024)

static int file_path(char *buf, const ss_handle *a, const char *name, const char *ext) {
        char leaf[64];
        snprintf(leaf, sizeof(leaf), "f/%s.%s", name, ext);
        return ss_path(buf, a, leaf);
}

/* Does the security state allow an access with these rights? */
static bool allowed(const ss_handle *a, SKF_ULONG rights) {
        ss_login *l = ss_login_of(a);
        if (rights == SKF_SECURE_ANYONE_ACCOUNT)
                return true;
        return l && (((rights & SKF_SECURE_USER_ACCOUNT) && l->user) || ((rights & SKF_SECURE_ADM_ACCOUNT) && l->admin));
}

static json_t *attr_load(const ss_handle *a, const char *name) {
        char p[PATH_MAX];
        return ss_name_ok(name) && file_path(p, a, name, "attr") == 0 ? json_load_file(p, 0, NULL) : NULL;
}

static SKF_ULONG right(json_t *attr, const char *key) {
        return (SKF_ULONG) json_integer_value(json_object_get(attr, key));
}

SS_EXPORT SKF_ULONG SKF_CreateFile(SKF_HANDLE hApp, SKF_CHAR *szFileName, SKF_ULONG ulFileSize,
                                   SKF_ULONG ulReadRights, SKF_ULONG ulWriteRights) {
        ss_handle *a;
        char dir[PATH_MAX], data[PATH_MAX], attr[PATH_MAX];
        SKF_ULONG rv = ss_begin("SKF_CreateFile", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        if (!ss_name_ok(szFileName) || ulFileSize == 0 || ulFileSize > FILE_MAX)
                return ss_end(SAR_INVALIDPARAMERR);
        json_t *app = ss_app_load(a);
        bool may = app && allowed(a, (SKF_ULONG) json_integer_value(json_object_get(app, "createFileRights")));
        json_decref(app);
        if (!may)
                return ss_end(SAR_USER_NOT_LOGGED_IN);
        if (ss_path(dir, a, "f") < 0 || (mkdir(dir, 0700) < 0 && errno != EEXIST) ||
            file_path(data, a, szFileName, "data") < 0 || file_path(attr, a, szFileName, "attr") < 0)
                return ss_end(SAR_FILEERR);
        if (access(attr, F_OK) == 0)
                return ss_end(SAR_FILE_ALREADY_EXIST);
        unsigned char *zeros = calloc(1, ulFileSize);
        char *text = NULL;
        if (!zeros || asprintf(&text, "{\"read\": %u, \"write\": %u}", ulReadRights, ulWriteRights) < 0)
                text = NULL;
        /* data first: a file exists once its attributes do */
        bool ok = zeros && text && ss_write_atomic(data, zeros, ulFileSize) == 0 &&
                  ss_write_atomic(attr, text, strlen(text)) == 0;
        free(zeros);
        free(text);
        if (!ok)
                unlink(data);
        return ss_end(ok ? SAR_OK : SAR_WRITEFILEERR);
}

SS_EXPORT SKF_ULONG SKF_DeleteFile(SKF_HANDLE hApp, SKF_CHAR *szFileName) {
        ss_handle *a;
        char data[PATH_MAX], attr[PATH_MAX];
        SKF_ULONG rv = ss_begin("SKF_DeleteFile", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        json_t *at = attr_load(a, szFileName);
        if (!at)
                return ss_end(SAR_FILE_NOT_EXIST);
        rv = allowed(a, right(at, "write")) ? SAR_OK : SAR_USER_NOT_LOGGED_IN;
        json_decref(at);
        if (rv == SAR_OK && (file_path(attr, a, szFileName, "attr") < 0 || unlink(attr) < 0))
                rv = SAR_FILEERR;
        if (rv == SAR_OK && file_path(data, a, szFileName, "data") == 0)
                unlink(data);
        return ss_end(rv);
}

SS_EXPORT SKF_ULONG SKF_EnumFiles(SKF_HANDLE hApp, SKF_CHAR *szFileList, SKF_ULONG *pulSize) {
        ss_handle *a;
        char dir[PATH_MAX];
        SKF_ULONG rv = ss_begin("SKF_EnumFiles", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        return ss_end(ss_path(dir, a, "f") == 0 ? ss_list_dir(dir, ".attr", szFileList, pulSize) : SAR_FILEERR);
}

SS_EXPORT SKF_ULONG SKF_GetFileInfo(SKF_HANDLE hApp, SKF_CHAR *szFileName, SKF_FILEATTRIBUTE *pFileInfo) {
        ss_handle *a;
        char data[PATH_MAX];
        struct stat st;
        SKF_ULONG rv = ss_begin("SKF_GetFileInfo", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        json_t *at = attr_load(a, szFileName);
        if (!at || !pFileInfo || file_path(data, a, szFileName, "data") < 0 || stat(data, &st) < 0) {
                json_decref(at);
                return ss_end(pFileInfo ? SAR_FILE_NOT_EXIST : SAR_INVALIDPARAMERR);
        }
        memset(pFileInfo, 0, sizeof(*pFileInfo));
        memcpy(pFileInfo->FileName, szFileName, strlen(szFileName));
        pFileInfo->FileSize = (SKF_ULONG) st.st_size;
        pFileInfo->ReadRights = right(at, "read");
        pFileInfo->WriteRights = right(at, "write");
        json_decref(at);
        return ss_end(SAR_OK);
}

/* A file's contents, if the security state grants the access ("read" or
 * "write"); its data path in data. */
static SKF_ULONG load_checked(const ss_handle *a, const char *name, const char *access, char *data,
                              unsigned char **buf, size_t *len) {
        json_t *at = attr_load(a, name);
        if (!at)
                return SAR_FILE_NOT_EXIST;
        SKF_ULONG rv = allowed(a, right(at, access)) ? SAR_OK : SAR_USER_NOT_LOGGED_IN;
        json_decref(at);
        if (rv == SAR_OK && (file_path(data, a, name, "data") < 0 || ss_read_all(data, buf, len) < 0))
                rv = SAR_READFILEERR;
        return rv;
}

SS_EXPORT SKF_ULONG SKF_ReadFile(SKF_HANDLE hApp, SKF_CHAR *szFileName, SKF_ULONG ulOffset, SKF_ULONG ulSize,
                                 SKF_BYTE *pbOutData, SKF_ULONG *pulOutLen) {
        ss_handle *a;
        char data[PATH_MAX];
        unsigned char *buf = NULL;
        size_t len = 0;
        SKF_ULONG rv = ss_begin("SKF_ReadFile", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        rv = load_checked(a, szFileName, "read", data, &buf, &len);
        if (rv == SAR_OK && (!pbOutData || !pulOutLen || ulOffset > len))
                rv = SAR_INVALIDPARAMERR;
        if (rv == SAR_OK) {
                size_t n = len - ulOffset < ulSize ? len - ulOffset : ulSize;
                if (*pulOutLen < n)
                        rv = SAR_BUFFER_TOO_SMALL;
                else
                        memcpy(pbOutData, buf + ulOffset, n);
                *pulOutLen = (SKF_ULONG) n;
        }
        free(buf);
        return ss_end(rv);
}

SS_EXPORT SKF_ULONG SKF_WriteFile(SKF_HANDLE hApp, SKF_CHAR *szFileName, SKF_ULONG ulOffset, SKF_BYTE *pbData,
                                  SKF_ULONG ulSize) {
        ss_handle *a;
        char data[PATH_MAX];
        unsigned char *buf = NULL;
        size_t len = 0;
        SKF_ULONG rv = ss_begin("SKF_WriteFile", hApp, SS_APP, &a);
        if (rv != SAR_OK)
                return rv;
        rv = load_checked(a, szFileName, "write", data, &buf, &len);
        if (rv == SAR_OK && (!pbData || ulOffset > len || ulSize > len - ulOffset))
                rv = SAR_INDATALENERR;
        if (rv == SAR_OK) {
                memcpy(buf + ulOffset, pbData, ulSize);
                rv = ss_write_atomic(data, buf, len) == 0 ? SAR_OK : SAR_WRITEFILEERR;
        }
        free(buf);
        return ss_end(rv);
}
