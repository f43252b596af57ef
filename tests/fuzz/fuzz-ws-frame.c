/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The WebSocket frame parser on a client's byte stream. The first input byte
 * chooses how the rest is cut into reads (1 to 256 bytes each), so partial
 * headers and payloads are reached; the limits are small so that the size
 * checks are too. Every event must keep the parser's promises.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kb-ws-frame.h"

#define MAX_FRAME 1024
#define MAX_MESSAGE 2048

static void must(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "fuzz-ws-frame: %s\n", what);
                abort();
        }
}

static void check_event(const kb_ws_parser *p, kb_ws_event ev) {
        switch (ev) {
        case KB_WS_MESSAGE:
                must(p->msg_len <= MAX_MESSAGE, "a message over the limit");
                must(p->msg_type != KB_WS_OP_TEXT || kb_utf8_valid(p->msg, p->msg_len), "invalid UTF-8 text");
                break;
        case KB_WS_CLOSE:
                must(p->close_code == KB_WS_CLOSE_NO_STATUS || kb_ws_close_code_valid(p->close_code),
                     "a close code that may not be sent");
                break;
        case KB_WS_ERROR:
                must(p->close_code == KB_WS_CLOSE_PROTOCOL || p->close_code == KB_WS_CLOSE_INVALID_DATA ||
                     p->close_code == KB_WS_CLOSE_TOO_BIG || p->close_code == KB_WS_CLOSE_INTERNAL,
                     "an unexpected error code");
                break;
        default:
                must(p->ctl_len <= KB_WS_MAX_CONTROL, "a long control frame");
                break;
        }
}

static void stream(const uint8_t *data, size_t size) {
        size_t step = (size_t) data[0] + 1, off = 1;
        kb_ws_parser p;

        kb_ws_parser_init(&p, MAX_FRAME, MAX_MESSAGE);
        while (off < size) {
                size_t chunk = size - off < step ? size - off : step, used = 0;
                kb_ws_event ev = kb_ws_parse(&p, data + off, chunk, &used);
                must(used <= chunk, "used more than given");
                must(ev != KB_WS_NEED_MORE || used == chunk, "stopped early without an event");
                must(used > 0 || ev != KB_WS_NEED_MORE, "no progress");
                check_event(&p, ev);
                off += used;
                if (ev == KB_WS_ERROR || ev == KB_WS_CLOSE)
                        break;
        }
        kb_ws_parser_clear(&p);
}

static void encoders(const uint8_t *data, size_t size) {
        uint8_t out[KB_WS_MAX_CONTROL], hdr[10];
        char key[25], acc[KB_WS_ACCEPT_LEN + 1];
        char *reason = strndup((const char *) data, size > 300 ? 300 : size);

        if (reason) {
                size_t n = kb_ws_close_payload(out, 1000, reason);
                must(n <= KB_WS_MAX_CONTROL, "a close payload too long");
                if (kb_utf8_valid((const uint8_t *) reason, strlen(reason)))
                        must(kb_utf8_valid(out + 2, n - 2), "a cut reason that is not UTF-8");
                free(reason);
        }
        if (size >= 24) {
                memcpy(key, data, 24);
                key[24] = 0;
                (void) kb_ws_accept_key(key, acc);
        }
        must(kb_ws_header(hdr, KB_WS_OP_TEXT, size) <= 10, "a long header");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0 || size > FUZZ_MAX_INPUT)
                return 0;
        stream(data, size);
        encoders(data, size);
        return 0;
}
