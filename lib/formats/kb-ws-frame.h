/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The WebSocket frame codec (RFC 6455), server side: an incremental parser
 * over whatever bytes a read returned, the encoder of server frames, the close
 * code rules and an incremental UTF-8 validator. Pure: no I/O, no threads; the
 * only allocation is the message being assembled, bounded by the limits.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
        KB_WS_OP_CONT = 0x0,
        KB_WS_OP_TEXT = 0x1,
        KB_WS_OP_BINARY = 0x2,
        KB_WS_OP_CLOSE = 0x8,
        KB_WS_OP_PING = 0x9,
        KB_WS_OP_PONG = 0xA,
};

/* Close status codes (RFC 6455 §7.4.1). */
enum {
        KB_WS_CLOSE_NORMAL = 1000,
        KB_WS_CLOSE_GOING_AWAY = 1001,
        KB_WS_CLOSE_PROTOCOL = 1002,
        KB_WS_CLOSE_UNSUPPORTED = 1003,
        KB_WS_CLOSE_NO_STATUS = 1005,   /* never sent: "the close frame had no code" */
        KB_WS_CLOSE_INVALID_DATA = 1007,
        KB_WS_CLOSE_POLICY = 1008,
        KB_WS_CLOSE_TOO_BIG = 1009,
        KB_WS_CLOSE_INTERNAL = 1011,
};

#define KB_WS_MAX_CONTROL 125   /* payload of a control frame */
#define KB_WS_MAX_HEADER 14     /* 2 + 8 (64-bit length) + 4 (mask) */
#define KB_WS_ACCEPT_LEN 28     /* base64 of a SHA-1 */

/* Incremental UTF-8 validation (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), so a text message split anywhere, even inside a
 * character, is checked as it arrives. Zero-initialise to start. */
typedef struct kb_utf8 {
        uint8_t need;           /* continuation bytes still expected */
        uint8_t lo, hi;         /* the range allowed for the next one */
} kb_utf8;

bool kb_utf8_feed(kb_utf8 *u, const uint8_t *p, size_t n);     /* false: invalid */
bool kb_utf8_complete(const kb_utf8 *u);                        /* not inside a character */
bool kb_utf8_valid(const uint8_t *p, size_t n);

typedef enum kb_ws_event {
        KB_WS_NEED_MORE,        /* every byte given was used; read more */
        KB_WS_MESSAGE,          /* msg_type, msg, msg_len: a whole text or binary message */
        KB_WS_PING,             /* ctl, ctl_len */
        KB_WS_PONG,             /* ctl, ctl_len */
        KB_WS_CLOSE,            /* close_code (KB_WS_CLOSE_NO_STATUS: none), reason at ctl + 2 */
        KB_WS_ERROR,            /* the peer broke the protocol: close with close_code */
} kb_ws_event;

typedef struct kb_ws_parser {
        uint32_t max_frame;     /* payload bytes of one frame */
        uint32_t max_message;   /* payload bytes of one (fragmented) message */
        /* The frame being read. */
        uint8_t hdr[KB_WS_MAX_HEADER];
        uint8_t hdr_len, hdr_need;
        bool in_payload;
        bool fin;
        uint8_t opcode;
        uint8_t mask[4];
        uint64_t len, got;
        /* The message being assembled (msg_opcode 0: none open). */
        uint8_t msg_opcode;
        uint8_t *msg;
        size_t msg_len;
        kb_utf8 utf8;
        uint8_t msg_type;       /* KB_WS_OP_TEXT or _BINARY: the message last delivered */
        /* The last control frame's payload. */
        uint8_t ctl[KB_WS_MAX_CONTROL];
        uint8_t ctl_len;
        uint16_t close_code;
        bool failed;
} kb_ws_parser;

void kb_ws_parser_init(kb_ws_parser *p, uint32_t max_frame, uint32_t max_message);
/* Free the message buffer; the parser can be initialised again. */
void kb_ws_parser_clear(kb_ws_parser *p);

/* Consume bytes up to the next event. *ret_used says how many were used;
 * call again with the rest after handling the event. After KB_WS_MESSAGE
 * the message stays in p->msg until the next call, or take it with
 * kb_ws_parser_take. After KB_WS_ERROR every call answers KB_WS_ERROR. */
kb_ws_event kb_ws_parse(kb_ws_parser *p, const uint8_t *buf, size_t len, size_t *ret_used);
/* The last message's buffer, now the caller's (free()); NULL for an empty one. */
uint8_t *kb_ws_parser_take(kb_ws_parser *p, size_t *ret_len);

/* The header of a final, unmasked (server) frame; returns its length (2, 4 or 10). */
size_t kb_ws_header(uint8_t out[10], uint8_t opcode, uint64_t len);
/* A close frame's payload: the code and as much of reason as fits, cut at a
 * character boundary; returns its length. */
size_t kb_ws_close_payload(uint8_t out[KB_WS_MAX_CONTROL], uint16_t code, const char *reason);
/* May this code travel in a close frame? */
bool kb_ws_close_code_valid(unsigned code);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key; false when the key is not
 * the base64 of 16 bytes. */
bool kb_ws_accept_key(const char *key, char ret[KB_WS_ACCEPT_LEN + 1]);
