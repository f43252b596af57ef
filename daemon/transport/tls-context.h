/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's TLS server settings, in one OpenSSL context built from the
 * local leaf (tls.h):
 *   - TLS 1.2 and 1.3 only;
 *   - ECDHE with AEAD suites only (AES-GCM, ChaCha20-Poly1305), groups
 *     X25519, P-256, P-384 (no finite-field groups);
 *   - no renegotiation, no compression;
 *   - ALPN http/1.1 (a client that offers only other protocols is refused);
 *   - session resumption by tickets whose keys live only in this context;
 *   - buffers released while a connection is idle.
 * docs/security.md lists them; tests/integration/test_tls.py checks them
 * with an external scanner.
 */
#pragma once

#include <openssl/ssl.h>
#include <stddef.h>

#include "tls.h"

/* NULL on failure, with the reason in err. */
SSL_CTX *kb_tls_context_new(const kb_tls_material *m, char *err, size_t errlen);
