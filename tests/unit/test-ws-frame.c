/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The WebSocket frame codec: UTF-8, the encoder, the handshake key, and the
 * parser on well-formed and malformed frames, whole and a byte at a time. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb-check.h"
#include "kb-ws-frame.h"

#define MAX_FRAME 4096
#define MAX_MESSAGE 8192

static const uint8_t MASK[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* A client frame: b0 (FIN, RSV, opcode), masked unless b1 says otherwise.
 * lenform 0 picks the minimal length encoding, 126 or 127 force one. */
static size_t frame_ex(uint8_t *out, uint8_t b0, const void *payload, size_t len, int lenform, bool masked) {
        size_t off = 0;
        out[off++] = b0;
        uint8_t m = masked ? 0x80 : 0;
        if (!lenform)
                lenform = len < 126 ? 0 : len <= 0xFFFF ? 126 : 127;
        if (lenform == 0) {
                out[off++] = (uint8_t) (m | len);
        } else if (lenform == 126) {
                out[off++] = m | 126;
                out[off++] = (uint8_t) (len >> 8);
                out[off++] = (uint8_t) len;
        } else {
                out[off++] = m | 127;
                for (int i = 0; i < 8; i++)
                        out[off++] = (uint8_t) ((uint64_t) len >> (56 - 8 * i));
        }
        if (masked) {
                memcpy(out + off, MASK, 4);
                off += 4;
        }
        for (size_t i = 0; i < len; i++)
                out[off + i] = ((const uint8_t *) payload)[i] ^ (masked ? MASK[i & 3] : 0);
        return off + len;
}

static size_t frame(uint8_t *out, uint8_t b0, const void *payload, size_t len) {
        return frame_ex(out, b0, payload, len, 0, true);
}

/* Run the parser over buf in chunks of step bytes; record events. */
typedef struct run {
        kb_ws_event ev[16];
        size_t n;
        char msg[MAX_MESSAGE + 1];
        size_t msg_len;
        uint16_t code;
} run;

static void parse_steps(kb_ws_parser *p, const uint8_t *buf, size_t len, size_t step, run *r) {
        memset(r, 0, sizeof(*r));
        for (size_t off = 0; off < len;) {
                size_t chunk = len - off < step ? len - off : step, used = 0;
                kb_ws_event ev = kb_ws_parse(p, buf + off, chunk, &used);
                ck_assert_uint_le(used, chunk);
                off += used;
                if (ev == KB_WS_NEED_MORE) {
                        ck_assert_uint_eq(used, chunk);
                        continue;
                }
                ck_assert_uint_lt(r->n, 16);
                r->ev[r->n++] = ev;
                if (ev == KB_WS_MESSAGE) {
                        memcpy(r->msg, p->msg ? (const char *) p->msg : "", p->msg_len);
                        r->msg_len = p->msg_len;
                }
                if (ev == KB_WS_CLOSE || ev == KB_WS_ERROR)
                        r->code = p->close_code;
                if (ev == KB_WS_ERROR)
                        break;
        }
}

/* Parse whole, then a byte at a time: the same events either way. */
static void parse(const uint8_t *buf, size_t len, run *r) {
        kb_ws_parser p;
        run bytewise;
        kb_ws_parser_init(&p, MAX_FRAME, MAX_MESSAGE);
        parse_steps(&p, buf, len, len, r);
        kb_ws_parser_clear(&p);
        kb_ws_parser_init(&p, MAX_FRAME, MAX_MESSAGE);
        parse_steps(&p, buf, len, 1, &bytewise);
        kb_ws_parser_clear(&p);
        ck_assert_uint_eq(r->n, bytewise.n);
        for (size_t i = 0; i < r->n; i++)
                ck_assert_int_eq(r->ev[i], bytewise.ev[i]);
        ck_assert_uint_eq(r->code, bytewise.code);
        ck_assert_uint_eq(r->msg_len, bytewise.msg_len);
}

static void expect_error(const uint8_t *buf, size_t len, uint16_t code) {
        run r;
        parse(buf, len, &r);
        ck_assert_uint_ge(r.n, 1);
        ck_assert_int_eq(r.ev[r.n - 1], KB_WS_ERROR);
        ck_assert_uint_eq(r.code, code);
}

START_TEST(utf8_accepts_every_length_of_character) {
        const char *ok[] = { "", "ascii", "\xc3\xa9", "\xe5\xbc\xa0\xe4\xb8\x89", "\xf0\x9f\x94\x91",
                             "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf" };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                ck_assert_msg(kb_utf8_valid((const uint8_t *) ok[i], strlen(ok[i])), "case %zu", i);
}
END_TEST

START_TEST(utf8_refuses_overlong_surrogate_and_out_of_range_forms) {
        const char *bad[] = { "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80",
                              "\xf0\x80\x80\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\x80",
                              "\xe5\xbc", "a\xc3" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(!kb_utf8_valid((const uint8_t *) bad[i], strlen(bad[i])), "case %zu", i);
}
END_TEST

START_TEST(utf8_checks_a_character_split_between_feeds) {
        kb_utf8 u = { 0 };
        ck_assert(kb_utf8_feed(&u, (const uint8_t *) "\xe5", 1));
        ck_assert(!kb_utf8_complete(&u));
        ck_assert(kb_utf8_feed(&u, (const uint8_t *) "\xbc\xa0", 2));
        ck_assert(kb_utf8_complete(&u));
        ck_assert(kb_utf8_feed(&u, (const uint8_t *) "\xed", 1));
        ck_assert(!kb_utf8_feed(&u, (const uint8_t *) "\xa0", 1));
}
END_TEST

START_TEST(the_encoder_uses_the_shortest_length_form) {
        uint8_t h[10];
        ck_assert_uint_eq(kb_ws_header(h, KB_WS_OP_TEXT, 0), 2);
        ck_assert_uint_eq(h[0], 0x81);
        ck_assert_uint_eq(kb_ws_header(h, KB_WS_OP_TEXT, 125), 2);
        ck_assert_uint_eq(h[1], 125);
        ck_assert_uint_eq(kb_ws_header(h, KB_WS_OP_BINARY, 126), 4);
        ck_assert_uint_eq(h[1], 126);
        ck_assert_uint_eq(h[3], 126);
        ck_assert_uint_eq(kb_ws_header(h, KB_WS_OP_PING, 65535), 4);
        ck_assert_uint_eq(kb_ws_header(h, KB_WS_OP_TEXT, 65536), 10);
        ck_assert_uint_eq(h[1], 127);
        ck_assert_uint_eq(h[7], 1);
        ck_assert_uint_eq(h[9], 0);
}
END_TEST

START_TEST(the_accept_key_matches_rfc_6455) {
        char acc[KB_WS_ACCEPT_LEN + 1];
        ck_assert(kb_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", acc));
        ck_assert_str_eq(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        ck_assert(!kb_ws_accept_key(NULL, acc));
        ck_assert(!kb_ws_accept_key("", acc));
        ck_assert(!kb_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ", acc));
        ck_assert(!kb_ws_accept_key("dGhlIHNhbXBsZSBub25jZ!==", acc));
        ck_assert(!kb_ws_accept_key("dGhlIHNhbXBsZSBub25jZSE=", acc)); /* 17 bytes */
}
END_TEST

START_TEST(close_codes_follow_the_registry) {
        unsigned ok[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1014, 3000, 4999 };
        unsigned bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535 };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                ck_assert_msg(kb_ws_close_code_valid(ok[i]), "%u", ok[i]);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_msg(!kb_ws_close_code_valid(bad[i]), "%u", bad[i]);
}
END_TEST

START_TEST(a_close_reason_is_cut_at_a_character_boundary) {
        uint8_t out[KB_WS_MAX_CONTROL];
        char reason[200] = "";
        for (int i = 0; i < 60; i++)
                strcat(reason, "\xe5\xbc\xa0"); /* 180 bytes */
        size_t n = kb_ws_close_payload(out, 1001, reason);
        ck_assert_uint_le(n, KB_WS_MAX_CONTROL);
        ck_assert_uint_eq(out[0] << 8 | out[1], 1001);
        ck_assert(kb_utf8_valid(out + 2, n - 2));
        ck_assert_uint_eq(n - 2, 123 / 3 * 3);
        ck_assert_uint_eq(kb_ws_close_payload(out, 1000, NULL), 2);
}
END_TEST

START_TEST(a_masked_text_frame_from_the_rfc_parses) {
        /* RFC 6455 §5.7: "Hello", masked. */
        static const uint8_t hello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
        run r;
        parse(hello, sizeof(hello), &r);
        ck_assert_uint_eq(r.n, 1);
        ck_assert_int_eq(r.ev[0], KB_WS_MESSAGE);
        ck_assert_uint_eq(r.msg_len, 5);
        ck_assert(memcmp(r.msg, "Hello", 5) == 0);
        kb_ws_parser p;
        size_t used;
        kb_ws_parser_init(&p, MAX_FRAME, MAX_MESSAGE);
        ck_assert_int_eq(kb_ws_parse(&p, hello, sizeof(hello), &used), KB_WS_MESSAGE);
        ck_assert_uint_eq(p.msg_type, KB_WS_OP_TEXT);
        kb_ws_parser_clear(&p);
}
END_TEST

START_TEST(sixteen_and_sixty_four_bit_lengths_parse) {
        static uint8_t payload[MAX_FRAME], buf[MAX_FRAME + 32];
        memset(payload, 'x', sizeof(payload));
        run r;
        size_t n = frame(buf, 0x82, payload, 300);
        ck_assert_uint_eq(buf[1] & 0x7f, 126);
        parse(buf, n, &r);
        ck_assert_int_eq(r.ev[0], KB_WS_MESSAGE);
        ck_assert_uint_eq(r.msg_len, 300);
        /* A 64-bit length is allowed above 65535 only: with a large limit. */
        kb_ws_parser p;
        static uint8_t big[70000 + 16];
        static uint8_t bigp[70000];
        memset(bigp, 'y', sizeof(bigp));
        n = frame(big, 0x82, bigp, sizeof(bigp));
        ck_assert_uint_eq(big[1] & 0x7f, 127);
        kb_ws_parser_init(&p, 100000, 100000);
        size_t used;
        ck_assert_int_eq(kb_ws_parse(&p, big, n, &used), KB_WS_MESSAGE);
        ck_assert_uint_eq(used, n);
        ck_assert_uint_eq(p.msg_len, sizeof(bigp));
        ck_assert(memcmp(p.msg, bigp, sizeof(bigp)) == 0);
        kb_ws_parser_clear(&p);
}
END_TEST

START_TEST(fragments_with_a_ping_between_them_make_one_message) {
        uint8_t buf[256];
        size_t n = frame(buf, 0x01, "\xe5\xbc", 2);            /* text, not final, split character */
        n += frame(buf + n, 0x89, "hb", 2);                     /* ping between fragments */
        n += frame(buf + n, 0x00, "\xa0 ok", 4);                /* continuation, not final */
        n += frame(buf + n, 0x8A, "", 0);                       /* pong */
        n += frame(buf + n, 0x80, "!", 1);                      /* continuation, final */
        run r;
        parse(buf, n, &r);
        ck_assert_uint_eq(r.n, 3);
        ck_assert_int_eq(r.ev[0], KB_WS_PING);
        ck_assert_int_eq(r.ev[1], KB_WS_PONG);
        ck_assert_int_eq(r.ev[2], KB_WS_MESSAGE);
        ck_assert_uint_eq(r.msg_len, 7);
        ck_assert(memcmp(r.msg, "\xe5\xbc\xa0 ok!", 7) == 0);
}
END_TEST

START_TEST(two_messages_in_one_read_come_out_one_by_one) {
        uint8_t buf[64];
        size_t n = frame(buf, 0x81, "one", 3);
        n += frame(buf + n, 0x82, "", 0);
        n += frame(buf + n, 0x81, "three", 5);
        run r;
        parse(buf, n, &r);
        ck_assert_uint_eq(r.n, 3);
        ck_assert_uint_eq(r.msg_len, 5);
}
END_TEST

START_TEST(an_unmasked_frame_is_a_protocol_error) {
        uint8_t buf[32];
        expect_error(buf, frame_ex(buf, 0x81, "hi", 2, 0, false), KB_WS_CLOSE_PROTOCOL);
}
END_TEST

START_TEST(reserved_opcodes_and_bits_are_protocol_errors) {
        uint8_t buf[32];
        uint8_t b0s[] = { 0x83, 0x87, 0x8B, 0x8F, 0xC1, 0xA1, 0x91 };
        for (size_t i = 0; i < sizeof(b0s); i++)
                expect_error(buf, frame(buf, b0s[i], "x", 1), KB_WS_CLOSE_PROTOCOL);
}
END_TEST

START_TEST(fragmented_or_long_control_frames_are_protocol_errors) {
        uint8_t buf[256], payload[126] = { 0 };
        expect_error(buf, frame(buf, 0x09, "x", 1), KB_WS_CLOSE_PROTOCOL);     /* ping without FIN */
        expect_error(buf, frame(buf, 0x08, "", 0), KB_WS_CLOSE_PROTOCOL);      /* close without FIN */
        expect_error(buf, frame(buf, 0x89, payload, 126), KB_WS_CLOSE_PROTOCOL);
}
END_TEST

START_TEST(an_oversize_length_is_refused_from_the_header_alone) {
        uint8_t buf[16];
        size_t n = frame_ex(buf, 0x82, "", 0, 127, true);
        buf[2] = 0;
        buf[3] = 0x10;  /* 2^44 bytes announced, none sent */
        expect_error(buf, n, KB_WS_CLOSE_TOO_BIG);
        n = frame_ex(buf, 0x82, "", 0, 127, true);
        buf[2] = 0x80;  /* most significant bit set */
        expect_error(buf, n, KB_WS_CLOSE_PROTOCOL);
        n = frame_ex(buf, 0x81, "", 0, 126, true);
        buf[2] = 0x10;
        buf[3] = 0x01;  /* 4097 > MAX_FRAME */
        expect_error(buf, n, KB_WS_CLOSE_TOO_BIG);
}
END_TEST

START_TEST(non_minimal_lengths_are_protocol_errors) {
        uint8_t buf[256];
        expect_error(buf, frame_ex(buf, 0x81, "hi", 2, 126, true), KB_WS_CLOSE_PROTOCOL);
        expect_error(buf, frame_ex(buf, 0x81, "hi", 2, 127, true), KB_WS_CLOSE_PROTOCOL);
}
END_TEST

START_TEST(a_message_over_the_limit_across_fragments_is_too_big) {
        static uint8_t buf[3 * MAX_FRAME + 64], payload[MAX_FRAME];
        size_t n = frame(buf, 0x02, payload, MAX_FRAME);
        n += frame(buf + n, 0x00, payload, MAX_FRAME);
        n += frame(buf + n, 0x80, payload, 1);
        expect_error(buf, n, KB_WS_CLOSE_TOO_BIG);
}
END_TEST

START_TEST(continuations_out_of_order_are_protocol_errors) {
        uint8_t buf[64];
        expect_error(buf, frame(buf, 0x80, "x", 1), KB_WS_CLOSE_PROTOCOL);    /* continuation of nothing */
        size_t n = frame(buf, 0x01, "a", 1);
        n += frame(buf + n, 0x81, "b", 1);                                     /* new text inside a message */
        expect_error(buf, n, KB_WS_CLOSE_PROTOCOL);
}
END_TEST

START_TEST(invalid_utf8_fails_fast_and_at_the_end_of_a_message) {
        uint8_t buf[64];
        size_t n = frame(buf, 0x01, "ok\xc0\x80", 4);    /* the first fragment already is invalid */
        run r;
        parse(buf, n, &r);
        ck_assert_uint_eq(r.n, 1);
        ck_assert_int_eq(r.ev[0], KB_WS_ERROR);
        ck_assert_uint_eq(r.code, KB_WS_CLOSE_INVALID_DATA);
        expect_error(buf, frame(buf, 0x81, "\xe5\xbc", 2), KB_WS_CLOSE_INVALID_DATA); /* ends mid-character */
        n = frame(buf, 0x82, "\xc0\x80", 2);      /* binary is not checked */
        parse(buf, n, &r);
        ck_assert_int_eq(r.ev[0], KB_WS_MESSAGE);
}
END_TEST

START_TEST(close_frames_carry_a_valid_code_and_reason) {
        uint8_t buf[256], p[KB_WS_MAX_CONTROL];
        run r;
        parse(buf, frame(buf, 0x88, "", 0), &r);
        ck_assert_int_eq(r.ev[0], KB_WS_CLOSE);
        ck_assert_uint_eq(r.code, KB_WS_CLOSE_NO_STATUS);
        size_t pl = kb_ws_close_payload(p, 1000, "bye");
        parse(buf, frame(buf, 0x88, p, pl), &r);
        ck_assert_int_eq(r.ev[0], KB_WS_CLOSE);
        ck_assert_uint_eq(r.code, 1000);
        expect_error(buf, frame(buf, 0x88, "\x03", 1), KB_WS_CLOSE_PROTOCOL);
        expect_error(buf, frame(buf, 0x88, "\x03\xed", 2), KB_WS_CLOSE_PROTOCOL);       /* 1005 */
        expect_error(buf, frame(buf, 0x88, "\x03\xe7", 2), KB_WS_CLOSE_PROTOCOL);       /* 999 */
        expect_error(buf, frame(buf, 0x88, "\x03\xe8\xc0", 3), KB_WS_CLOSE_INVALID_DATA);
}
END_TEST

START_TEST(a_failed_parser_stays_failed) {
        uint8_t buf[32];
        kb_ws_parser p;
        size_t used;
        kb_ws_parser_init(&p, MAX_FRAME, MAX_MESSAGE);
        size_t n = frame_ex(buf, 0x81, "x", 1, 0, false);
        ck_assert_int_eq(kb_ws_parse(&p, buf, n, &used), KB_WS_ERROR);
        n = frame(buf, 0x81, "x", 1);
        ck_assert_int_eq(kb_ws_parse(&p, buf, n, &used), KB_WS_ERROR);
        ck_assert_uint_eq(used, n);
        kb_ws_parser_clear(&p);
}
END_TEST

START_TEST(a_taken_message_belongs_to_the_caller) {
        uint8_t buf[32];
        kb_ws_parser p;
        size_t used, len;
        kb_ws_parser_init(&p, MAX_FRAME, MAX_MESSAGE);
        size_t n = frame(buf, 0x81, "mine", 4);
        ck_assert_int_eq(kb_ws_parse(&p, buf, n, &used), KB_WS_MESSAGE);
        uint8_t *m = kb_ws_parser_take(&p, &len);
        ck_assert_ptr_null(p.msg);
        ck_assert_uint_eq(len, 4);
        ck_assert(memcmp(m, "mine", 4) == 0);
        free(m);
        kb_ws_parser_clear(&p);
}
END_TEST

int main(void) {
        Suite *s = suite_create("ws-frame");
        TCase *tc = tcase_create("ws-frame");
        tcase_add_test(tc, utf8_accepts_every_length_of_character);
        tcase_add_test(tc, utf8_refuses_overlong_surrogate_and_out_of_range_forms);
        tcase_add_test(tc, utf8_checks_a_character_split_between_feeds);
        tcase_add_test(tc, the_encoder_uses_the_shortest_length_form);
        tcase_add_test(tc, the_accept_key_matches_rfc_6455);
        tcase_add_test(tc, close_codes_follow_the_registry);
        tcase_add_test(tc, a_close_reason_is_cut_at_a_character_boundary);
        tcase_add_test(tc, a_masked_text_frame_from_the_rfc_parses);
        tcase_add_test(tc, sixteen_and_sixty_four_bit_lengths_parse);
        tcase_add_test(tc, fragments_with_a_ping_between_them_make_one_message);
        tcase_add_test(tc, two_messages_in_one_read_come_out_one_by_one);
        tcase_add_test(tc, an_unmasked_frame_is_a_protocol_error);
        tcase_add_test(tc, reserved_opcodes_and_bits_are_protocol_errors);
        tcase_add_test(tc, fragmented_or_long_control_frames_are_protocol_errors);
        tcase_add_test(tc, an_oversize_length_is_refused_from_the_header_alone);
        tcase_add_test(tc, non_minimal_lengths_are_protocol_errors);
        tcase_add_test(tc, a_message_over_the_limit_across_fragments_is_too_big);
        tcase_add_test(tc, continuations_out_of_order_are_protocol_errors);
        tcase_add_test(tc, invalid_utf8_fails_fast_and_at_the_end_of_a_message);
        tcase_add_test(tc, close_frames_carry_a_valid_code_and_reason);
        tcase_add_test(tc, a_failed_parser_stays_failed);
        tcase_add_test(tc, a_taken_message_belongs_to_the_caller);
        suite_add_tcase(s, tc);
        return kb_check_run(s);
}
