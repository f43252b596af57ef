/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading the present SKF devices: DEVINFO, the first application's PIN
 * state, each container's signature and encryption certificates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb-core.h"
#include "skf-source.h"

#define MAX_NAMES 4096          /* bytes of a name list */
#define MAX_CERT (16 * 1024)

/* A name list (SKF_Enum*) into buf, *size bytes long once the call that
 * filled it returned; SAR code. size is a pointer because the call is this
 * function's argument: a size passed by value could be read before the call
 * (the order arguments are evaluated in is unspecified) — the buffer's
 * capacity, not the list's length, with an unset byte judged its end. */
static SKF_ULONG name_list(SKF_ULONG sar, char *buf, const SKF_ULONG *size) {
        if (sar == SAR_OK && (*size == 0 || *size >= MAX_NAMES || buf[*size - 1] != 0))
                buf[0] = buf[1] = 0;    /* not terminated: treat as empty */
        else if (sar == SAR_OK)
                buf[*size] = 0;         /* the list's end, should the library leave it out */
        return sar;
}

/* A name that fits (longer ones are not used: a truncated name would
 * open the wrong thing). */
static bool copy_name(char *to, size_t size, const char *from) {
        size_t n = strlen(from);
        if (n >= size)
                return false;
        memcpy(to, from, n + 1);
        return true;
}

static char *field(const char *f, size_t size) {
        size_t n = strnlen(f, size);
        while (n > 0 && f[n - 1] == ' ')
                n--;
        return strndup(f, n);
}

static int token_from_info(const SKF_DEVINFO *info, const char *module, kb_token **ret) {
        kb_token *t = kb_token_new();
        if (!t)
                return -KB_E_INTERNAL;
        t->backend = "skf";
        t->module = strdup(module);
        t->label = field(info->Label, sizeof(info->Label));
        t->manufacturer = field(info->Manufacturer, sizeof(info->Manufacturer));
        t->model = field(info->Issuer, sizeof(info->Issuer));
        t->serial = field(info->SerialNumber, sizeof(info->SerialNumber));
        t->hardware_id = field(info->SerialNumber, sizeof(info->SerialNumber));
        t->pin_min_len = 6;
        t->pin_max_len = 16;
        t->free_space = info->FreeSpace;
        if (!t->module || !t->label || !t->manufacturer || !t->model || !t->serial || !t->hardware_id) {
                kb_token_free(t);
                return -KB_E_INTERNAL;
        }
        kb_token_compute_id(t);
        *ret = t;
        return 0;
}

kb_pin_status kb_skf_pin_status(SKF_ULONG max, SKF_ULONG left, bool is_default, int *ret_retries) {
        *ret_retries = (int) left;
        if (left == 0)
                return KB_PIN_LOCKED;
        if (left == 1)
                return KB_PIN_FINAL_TRY;
        if (is_default)
                return KB_PIN_MUST_CHANGE;
        return left < max ? KB_PIN_COUNT_LOW : KB_PIN_OK;
}

/* One certificate of a container (sign or encryption); absent is fine. */
static SKF_ULONG read_cert(skf_source *p, SKF_HANDLE c, const char *container, bool sign, kb_token *t) {
        _cleanup_free_ unsigned char *der = malloc(MAX_CERT);
        SKF_ULONG len = MAX_CERT, type = SKF_CONTAINER_EMPTY;
        if (!der)
                return SAR_MEMORYERR;
        SKF_ULONG sar = p->f.SKF_ExportCertificate(c, sign, der, &len);
        if (sar == SAR_CERTNOTFOUNTERR || sar == SAR_FILE_NOT_EXIST || sar == SAR_KEYNOTFOUNTERR)
                return SAR_OK;
        if (sar != SAR_OK || len == 0 || len > MAX_CERT)
                return sar != SAR_OK ? sar : SAR_OK;
        if (p->f.SKF_GetContainerType && p->f.SKF_GetContainerType(c, &type) != SAR_OK)
                type = SKF_CONTAINER_EMPTY;
        kb_cert *cert = NULL;
        /* key id: the container's name, which is where its key pair lives */
        if (kb_cert_from_der(der, len, container, (const unsigned char *) container, strlen(container), &cert) < 0)
                return SAR_OK;  /* not a certificate: not ours to show */
        cert->has_private_key = type == SKF_CONTAINER_ECC || !p->f.SKF_GetContainerType;
        if (kb_token_add_cert(t, cert) < 0) {
                kb_cert_free(cert);
                return SAR_MEMORYERR;
        }
        return SAR_OK;
}

static SKF_ULONG read_containers(skf_source *p, SKF_HANDLE app, kb_token *t) {
        char names[MAX_NAMES];
        SKF_ULONG size = sizeof(names);
        SKF_ULONG sar = name_list(p->f.SKF_EnumContainer(app, names, &size), names, &size);
        for (const char *n = names; sar == SAR_OK && *n; n += strlen(n) + 1) {
                SKF_HANDLE c = NULL;
                sar = p->f.SKF_OpenContainer(app, (SKF_CHAR *) n, &c);
                if (sar != SAR_OK)
                        break;
                sar = read_cert(p, c, n, true, t);
                if (sar == SAR_OK)
                        sar = read_cert(p, c, n, false, t);
                (void) p->f.SKF_CloseContainer(c);
        }
        return sar;
}

/* The first application: its PIN and its containers. */
static SKF_ULONG read_application(skf_source *p, SKF_HANDLE dev, kb_token *t, skf_device *d) {
        char names[MAX_NAMES];
        SKF_ULONG size = sizeof(names), max = 0, left = 0;
        SKF_BOOL is_default = 0;
        SKF_HANDLE app = NULL;
        SKF_ULONG sar = name_list(p->f.SKF_EnumApplication(dev, names, &size), names, &size);
        if (sar != SAR_OK)
                return sar;
        if (!names[0]) {        /* a blank device: no certificates, no PIN, no room for a key */
                t->initialized = false;
                return SAR_OK;
        }
        if (!copy_name(d->app, sizeof(d->app), names))
                return SAR_NAMELENERR;
        sar = p->f.SKF_OpenApplication(dev, names, &app);
        if (sar != SAR_OK)
                return sar;
        sar = p->f.SKF_GetPINInfo(app, SKF_USER_TYPE, &max, &left, &is_default);
        if (sar == SAR_OK) {
                t->pin_status = kb_skf_pin_status(max, left, is_default != 0, &t->retries_left);
                sar = read_containers(p, app, t);
        }
        (void) p->f.SKF_CloseApplication(app);
        return sar;
}

static SKF_ULONG read_device(skf_source *p, const char *name, skf_device *d, kb_token **ret) {
        SKF_HANDLE dev = NULL;
        SKF_DEVINFO info;
        kb_token *t = NULL;
        SKF_ULONG sar = p->f.SKF_ConnectDev((SKF_CHAR *) name, &dev);
        if (sar != SAR_OK)
                return sar;
        memset(&info, 0, sizeof(info));
        sar = p->f.SKF_GetDevInfo(dev, &info);
        if (sar == SAR_OK && token_from_info(&info, p->base.name, &t) < 0)
                sar = SAR_MEMORYERR;
        if (sar == SAR_OK) {
                memset(d, 0, sizeof(*d));
                if (!copy_name(d->name, sizeof(d->name), name))
                        sar = SAR_NAMELENERR;
        }
        if (sar == SAR_OK) {
                memcpy(d->token_id, t->id, sizeof(d->token_id));
                sar = read_application(p, dev, t, d);
        }
        (void) p->f.SKF_DisConnectDev(dev);
        if (sar != SAR_OK) {
                kb_token_free(t);
                return sar;
        }
        *ret = t;
        return SAR_OK;
}

/* The new device list; logins carry over to devices still present. */
static void replace_devices(skf_source *p, skf_device *now, size_t n) {
        for (size_t i = 0; i < p->n_devices; i++) {
                skf_device *old = &p->devices[i];
                size_t j = 0;
                while (j < n && strcmp(now[j].token_id, old->token_id) != 0)
                        j++;
                if (j < n) {
                        now[j].dev = old->dev;
                        now[j].happ = old->happ;
                        now[j].logged_in = old->logged_in;
                } else {
                        kb_skf_logout_device(p, old);
                }
        }
        memcpy(p->devices, now, n * sizeof(*now));
        p->n_devices = n;
}

static void add_problem(kb_scan *scan, const skf_source *p, const char *device, SKF_ULONG sar) {
        char where[512];
        snprintf(where, sizeof(where), "%.200s device %.200s", p->base.name, device);
        kb_scan_add_problem(scan, where, kb_skf_error(p, sar), kb_skf_sar_name(sar));
}

static void scan_devices(skf_source *p, const char *names, kb_scan *scan) {
        skf_device now[SKF_MAX_DEVICES];
        size_t n = 0;
        for (const char *name = names; *name && n < SKF_MAX_DEVICES; name += strlen(name) + 1) {
                kb_token *t = NULL;
                SKF_ULONG sar = read_device(p, name, &now[n], &t);
                if (sar == SAR_DEVICE_REMOVED)
                        continue;       /* pulled while we looked */
                if (sar != SAR_OK) {
                        add_problem(scan, p, name, sar);
                        continue;
                }
                if (kb_scan_add_token(scan, t) < 0) {
                        kb_token_free(t);
                        continue;
                }
                n++;
        }
        replace_devices(p, now, n);
}

int kb_skf_scan(kb_source *s, const kb_scan *prev, kb_scan **ret) {
        skf_source *p = (skf_source *) s;
        kb_scan *scan = kb_scan_new();
        char names[MAX_NAMES];
        SKF_ULONG size = sizeof(names);
        if (!scan)
                return -KB_E_INTERNAL;
        if (!p->dl) {
                *ret = scan;    /* a library that did not load has no tokens */
                return 0;
        }
        pthread_mutex_lock(&p->call_lock);
        SKF_ULONG sar = name_list(p->f.SKF_EnumDev(1, names, &size), names, &size);
        if (sar != SAR_OK)
                kb_scan_add_problem(scan, p->base.name, kb_skf_error(p, sar), kb_skf_sar_name(sar));
        else
                scan_devices(p, names, scan);
        pthread_mutex_unlock(&p->call_lock);
        *ret = scan;
        return 0;
}
