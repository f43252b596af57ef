/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The devices the last scan found (skf-scan.c), and our login on one: the
 * handles held open while logged in, closed on logout or when the device
 * goes. Callers hold the source's op_lock, or are its scan. */
#include <string.h>

#include "skf-source.h"

skf_device *kb_skf_device(skf_source *p, const char *token_id) {
        for (size_t i = 0; i < p->n_devices; i++)
                if (strcmp(p->devices[i].token_id, token_id) == 0)
                        return &p->devices[i];
        return NULL;
}

void kb_skf_logout_device(skf_source *p, skf_device *d) {
        if (d->happ) {
                (void) p->f.SKF_ClearSecureState(d->happ);
                (void) p->f.SKF_CloseApplication(d->happ);
        }
        if (d->dev)
                (void) p->f.SKF_DisConnectDev(d->dev);
        d->happ = d->dev = NULL;
        d->logged_in = false;
}
