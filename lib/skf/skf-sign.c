/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SM2 signing on an SKF token: the certificate's container signs e with its
 * signature key pair (SKF_ECCSignData); we are logged in to the device's
 * application. Callers hold the source's op_lock. */
#include <openssl/crypto.h>
#include <string.h>

#include "kb-core.h"
#include "kb-skf-blob.h"
#include "skf-source.h"

/* The key pair's container, by name (its key id), on the device's
 * logged-in application. call_lock held. */
static int open_container(skf_source *p, skf_device *d, const kb_key_id *key, SKF_HANDLE *ret) {
        char name[SKF_CONTAINER_NAME_MAX + 1];
        if (kb_skf_container_name(key, name) < 0)
                return -KB_E_NOT_FOUND;
        return kb_skf_login_error(p, d, p->f.SKF_OpenContainer(d->happ, name, ret));
}

int kb_skf_sm2_sign(kb_source *s, const kb_token *t, const kb_key_id *key, const unsigned char e[32],
                    unsigned char **ret, size_t *ret_len) {
        skf_source *p = (skf_source *) s;
        SKF_ECCSIGNATUREBLOB sig = { 0 };
        SKF_HANDLE hc = NULL;
        if (!p->f.SKF_ECCSignData)
                return -KB_E_UNSUPPORTED_ALGORITHM;
        pthread_mutex_lock(&p->call_lock);
        skf_device *d = NULL;
        int r = kb_skf_login_device(p, t, &d);
        if (r >= 0)
                r = open_container(p, d, key, &hc);
        if (r >= 0) {
                SKF_ULONG sar = p->f.SKF_ECCSignData(hc, (SKF_BYTE *) e, 32, &sig);
                (void) p->f.SKF_CloseContainer(hc);
                r = kb_skf_login_error(p, d, sar);
        }
        pthread_mutex_unlock(&p->call_lock);
        if (r >= 0 && kb_skf_sig_to_der(&sig, ret, ret_len) < 0)
                r = -KB_E_INTERNAL;     /* the library's blob is not a signature */
        return r;
}
