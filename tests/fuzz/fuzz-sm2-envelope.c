/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * GM/T 0010 EnvelopedData from a page (decrypt's items[i].cms for an SM2
 * certificate): the reader looks for one recipient. Whatever it accepts has
 * a whole number of SM4 blocks and an SM2 ciphertext to hand to the token.
 */
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "kb-error.h"
#include "kb-sm2-envelope.h"

/* The recipient the seeds were made for: issuer CN=fuzz, serial 1. */
static X509 *recipient(void) {
        static X509 *x;
        if (!x) {
                x = X509_new();
                X509_NAME *n = X509_get_issuer_name(x);
                if (!x || !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *) "fuzz", -1, -1, 0) ||
                    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1))
                        abort();
        }
        return x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        kb_sm2_envelope e;
        int r = kb_sm2_envelope_read(data, size, recipient(), &e);
        if (r == -KB_E_BAD_REQUEST || r == -KB_E_UNSUPPORTED_ALGORITHM || r == -KB_E_NOT_RECIPIENT ||
            r == -KB_E_DECRYPT_FAILED)
                return 0;
        if (r < 0) {
                fprintf(stderr, "fuzz-sm2-envelope: error %d is not one an envelope may cause\n", r);
                abort();
        }
        if (e.content_len == 0 || e.content_len % KB_SM4_BLOCK != 0 || !e.cipher || e.cipher_len == 0) {
                fprintf(stderr, "fuzz-sm2-envelope: an accepted envelope without what the token needs\n");
                abort();
        }
        size_t len = 0;
        (void) kb_pkcs7_unpad(e.content, e.content_len, &len);
        kb_sm2_envelope_clear(&e);
        return 0;
}
