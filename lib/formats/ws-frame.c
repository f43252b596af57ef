/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RFC 6455 framing. The parser trusts nothing: every length is checked
 * against the limits from the header alone, before a payload byte is
 * buffered, and the buffer for a message grows by exactly the frame that
 * arrives.
 */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "kb-ws-frame.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- UTF-8 ---- */

static bool utf8_lead(kb_utf8 *u, uint8_t b) {
        u->lo = 0x80;
        u->hi = 0xBF;
        if (b < 0x80)
                return true;
        if (b >= 0xC2 && b <= 0xDF)
                u->need = 1;
        else if (b >= 0xE0 && b <= 0xEF) {
                u->need = 2;
                if (b == 0xE0)
                        u->lo = 0xA0;   /* overlong */
                else if (b == 0xED)
                        u->hi = 0x9F;   /* surrogates */
        } else if (b >= 0xF0 && b <= 0xF4) {
                u->need = 3;
                if (b == 0xF0)
                        u->lo = 0x90;   /* overlong */
                else if (b == 0xF4)
                        u->hi = 0x8F;   /* above U+10FFFF */
        } else
                return false;
        return true;
}

bool kb_utf8_feed(kb_utf8 *u, const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                uint8_t b = p[i];
                if (u->need == 0) {
                        if (!utf8_lead(u, b))
                                return false;
                        continue;
                }
                if (b < u->lo || b > u->hi)
                        return false;
                u->need--;
                u->lo = 0x80;
                u->hi = 0xBF;
        }
        return true;
}

bool kb_utf8_complete(const kb_utf8 *u) {
        return u->need == 0;
}

bool kb_utf8_valid(const uint8_t *p, size_t n) {
        kb_utf8 u = { 0 };
        return kb_utf8_feed(&u, p, n) && kb_utf8_complete(&u);
}

/* ---- close codes ---- */

bool kb_ws_close_code_valid(unsigned code) {
        if (code >= 3000 && code <= 4999)
                return true;    /* registered (3xxx) and private (4xxx) */
        return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

size_t kb_ws_close_payload(uint8_t out[KB_WS_MAX_CONTROL], uint16_t code, const char *reason) {
        size_t n = reason ? strlen(reason) : 0;
        out[0] = (uint8_t) (code >> 8);
        out[1] = (uint8_t) code;
        if (n > KB_WS_MAX_CONTROL - 2)
                n = KB_WS_MAX_CONTROL - 2;
        while (n > 0 && ((uint8_t) reason[n] & 0xC0) == 0x80)
                n--;    /* do not cut a character */
        if (n > 0)
                memcpy(out + 2, reason, n);
        return n + 2;
}

/* ---- encoder ---- */

size_t kb_ws_header(uint8_t out[10], uint8_t opcode, uint64_t len) {
        out[0] = (uint8_t) (0x80 | (opcode & 0x0F));
        if (len < 126) {
                out[1] = (uint8_t) len;
                return 2;
        }
        if (len <= 0xFFFF) {
                out[1] = 126;
                out[2] = (uint8_t) (len >> 8);
                out[3] = (uint8_t) len;
                return 4;
        }
        out[1] = 127;
        for (int i = 0; i < 8; i++)
                out[2 + i] = (uint8_t) (len >> (56 - 8 * i));
        return 10;
}

bool kb_ws_accept_key(const char *key, char ret[KB_WS_ACCEPT_LEN + 1]) {
        unsigned char raw[18], digest[SHA_DIGEST_LENGTH];
        char buf[24 + sizeof(WS_GUID)];

        /* 16 bytes are 24 base64 characters ending in "==". */
        if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=' ||
            EVP_DecodeBlock(raw, (const unsigned char *) key, 24) != 18)
                return false;
        memcpy(buf, key, 24);
        memcpy(buf + 24, WS_GUID, sizeof(WS_GUID));
        SHA1((const unsigned char *) buf, strlen(buf), digest);
        EVP_EncodeBlock((unsigned char *) ret, digest, SHA_DIGEST_LENGTH);
        return true;
}

/* ---- parser ---- */

void kb_ws_parser_init(kb_ws_parser *p, uint32_t max_frame, uint32_t max_message) {
        *p = (kb_ws_parser) { .max_frame = max_frame, .max_message = max_message, .hdr_need = 2 };
}

void kb_ws_parser_clear(kb_ws_parser *p) {
        free(p->msg);
        p->msg = NULL;
        p->msg_len = 0;
}

uint8_t *kb_ws_parser_take(kb_ws_parser *p, size_t *ret_len) {
        uint8_t *m = p->msg;
        *ret_len = p->msg_len;
        p->msg = NULL;
        p->msg_len = 0;
        return m;
}

static kb_ws_event fail(kb_ws_parser *p, uint16_t code) {
        p->failed = true;
        p->close_code = code;
        return KB_WS_ERROR;
}

static bool is_control(uint8_t opcode) {
        return opcode & 0x08;
}

/* The first two bytes: what the rest of the header needs, and the rules that
 * can be checked before the length. Returns 0 or a close code. */
static uint16_t check_start(kb_ws_parser *p) {
        uint8_t b0 = p->hdr[0], b1 = p->hdr[1], len7 = b1 & 0x7F;

        p->fin = b0 & 0x80;
        p->opcode = b0 & 0x0F;
        if (b0 & 0x70)
                return KB_WS_CLOSE_PROTOCOL;            /* no extension was negotiated */
        if ((p->opcode > KB_WS_OP_BINARY && p->opcode < KB_WS_OP_CLOSE) || p->opcode > KB_WS_OP_PONG)
                return KB_WS_CLOSE_PROTOCOL;            /* reserved opcode */
        if (!(b1 & 0x80))
                return KB_WS_CLOSE_PROTOCOL;            /* clients must mask */
        if (is_control(p->opcode) && (!p->fin || len7 > KB_WS_MAX_CONTROL))
                return KB_WS_CLOSE_PROTOCOL;            /* fragmented or long control frame */
        if (p->opcode == KB_WS_OP_CONT && !p->msg_opcode)
                return KB_WS_CLOSE_PROTOCOL;            /* continuation of nothing */
        if ((p->opcode == KB_WS_OP_TEXT || p->opcode == KB_WS_OP_BINARY) && p->msg_opcode)
                return KB_WS_CLOSE_PROTOCOL;            /* a new message inside a fragmented one */
        p->hdr_need = (uint8_t) (2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
        return 0;
}

/* The whole header: length (minimal encoding only) against the limits. */
static uint16_t check_length(kb_ws_parser *p) {
        uint8_t len7 = p->hdr[1] & 0x7F;
        uint64_t len = len7;
        size_t off = 2;

        if (len7 == 126) {
                len = (uint64_t) p->hdr[2] << 8 | p->hdr[3];
                off = 4;
                if (len < 126)
                        return KB_WS_CLOSE_PROTOCOL;
        } else if (len7 == 127) {
                len = 0;
                for (int i = 0; i < 8; i++)
                        len = len << 8 | p->hdr[2 + i];
                off = 10;
                if (len >> 63 || len <= 0xFFFF)
                        return KB_WS_CLOSE_PROTOCOL;
        }
        memcpy(p->mask, p->hdr + off, 4);
        p->len = len;
        p->got = 0;
        if (is_control(p->opcode))
                return 0;
        if (len > p->max_frame)
                return KB_WS_CLOSE_TOO_BIG;
        size_t have = p->opcode == KB_WS_OP_CONT ? p->msg_len : 0;
        if (len > p->max_message - have)
                return KB_WS_CLOSE_TOO_BIG;
        return 0;
}

/* Room for this frame's payload in the message (exactly, never more). */
static uint16_t start_payload(kb_ws_parser *p) {
        if (is_control(p->opcode)) {
                p->ctl_len = 0;
                return 0;
        }
        if (p->opcode != KB_WS_OP_CONT) {
                kb_ws_parser_clear(p);
                p->msg_opcode = p->opcode;
                p->utf8 = (kb_utf8) { 0 };
        }
        if (p->len == 0)
                return 0;
        uint8_t *m = realloc(p->msg, p->msg_len + (size_t) p->len);
        if (!m)
                return KB_WS_CLOSE_INTERNAL;
        p->msg = m;
        return 0;
}

static kb_ws_event end_control(kb_ws_parser *p) {
        if (p->opcode == KB_WS_OP_PING)
                return KB_WS_PING;
        if (p->opcode == KB_WS_OP_PONG)
                return KB_WS_PONG;
        if (p->ctl_len == 0) {
                p->close_code = KB_WS_CLOSE_NO_STATUS;
                return KB_WS_CLOSE;
        }
        if (p->ctl_len == 1)
                return fail(p, KB_WS_CLOSE_PROTOCOL);
        uint16_t code = (uint16_t) (p->ctl[0] << 8 | p->ctl[1]);
        if (!kb_ws_close_code_valid(code))
                return fail(p, KB_WS_CLOSE_PROTOCOL);
        if (!kb_utf8_valid(p->ctl + 2, p->ctl_len - 2u))
                return fail(p, KB_WS_CLOSE_INVALID_DATA);
        p->close_code = code;
        return KB_WS_CLOSE;
}

/* A frame's payload is complete. */
static kb_ws_event end_frame(kb_ws_parser *p) {
        p->in_payload = false;
        p->hdr_len = 0;
        p->hdr_need = 2;
        if (is_control(p->opcode))
                return end_control(p);
        if (!p->fin)
                return KB_WS_NEED_MORE;
        if (p->msg_opcode == KB_WS_OP_TEXT && !kb_utf8_complete(&p->utf8))
                return fail(p, KB_WS_CLOSE_INVALID_DATA);
        p->msg_type = p->msg_opcode;
        p->msg_opcode = 0;
        return KB_WS_MESSAGE;
}

/* Unmask payload bytes into the message or the control buffer. */
static bool take_payload(kb_ws_parser *p, const uint8_t *buf, size_t n) {
        uint8_t *dst = is_control(p->opcode) ? p->ctl + p->got : p->msg + p->msg_len;
        for (size_t i = 0; i < n; i++)
                dst[i] = buf[i] ^ p->mask[(p->got + i) & 3];
        if (is_control(p->opcode))
                p->ctl_len = (uint8_t) (p->ctl_len + n);
        else {
                if (p->msg_opcode == KB_WS_OP_TEXT && !kb_utf8_feed(&p->utf8, dst, n))
                        return false;   /* fail fast, before the message ends */
                p->msg_len += n;
        }
        p->got += n;
        return true;
}

static kb_ws_event read_header(kb_ws_parser *p, const uint8_t *buf, size_t len, size_t *used) {
        while (p->hdr_len < p->hdr_need && *used < len) {
                p->hdr[p->hdr_len++] = buf[(*used)++];
                uint16_t code = 0;
                if (p->hdr_len == 2)
                        code = check_start(p);
                else if (p->hdr_len == p->hdr_need)
                        code = check_length(p);
                if (!code && p->hdr_len == p->hdr_need)
                        code = start_payload(p);
                if (code)
                        return fail(p, code);
        }
        if (p->hdr_len < p->hdr_need)
                return KB_WS_NEED_MORE;
        p->in_payload = true;
        return p->len == 0 ? end_frame(p) : KB_WS_NEED_MORE;
}

kb_ws_event kb_ws_parse(kb_ws_parser *p, const uint8_t *buf, size_t len, size_t *ret_used) {
        size_t used = 0;
        kb_ws_event ev = KB_WS_NEED_MORE;

        if (p->failed) {
                *ret_used = len;
                return KB_WS_ERROR;
        }
        while (used < len && ev == KB_WS_NEED_MORE) {
                if (!p->in_payload) {
                        ev = read_header(p, buf, len, &used);
                        continue;
                }
                uint64_t want = p->len - p->got;
                size_t n = len - used < want ? len - used : (size_t) want;
                if (!take_payload(p, buf + used, n))
                        ev = fail(p, KB_WS_CLOSE_INVALID_DATA);
                else if (p->got == p->len)
                        ev = end_frame(p);
                used += n;
        }
        *ret_used = used;
        return ev;
}
