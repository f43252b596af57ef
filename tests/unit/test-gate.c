/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kb_gate_check as a table: one row per request, one TAP line per row. Also
 * the Accept-Language choice and the policy helpers. */
#include <check.h>

#include "kb-check.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"

#define PORT 27182
#define PORT_S "27182"
#define H4 "127.0.0.1:" PORT_S
#define HL "localhost:" PORT_S
#define H6 "[::1]:" PORT_S
#define PORTAL "https://portal.example.cn"
#define DEV "http://localhost:8080"
#define EVIL "https://evil.example"
#define TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define MAX_BODY 1024

/* The usual policy: two origins, a token, a 1 KiB body limit. */
#define POLICY .origins = { PORTAL, DEV }, .api_token = TOKEN, .max_body = MAX_BODY

typedef struct gate_row {
        const char *what;
        const char *origins[3];         /* the policy's allowed origins, NULL-terminated */
        const char *api_token;
        size_t max_body;
        kb_gate_request rq;
        kb_gate_verdict want;           /* allow_origin: NULL or the expected echo */
        bool approval;                  /* the policy lets unknown origins ask */
} gate_row;

#define OK_FOR(o) { .error = KB_E_OK, .allow_origin = (o) }
#define REFUSED(e) { .error = (e) }
#define REFUSED_FOR(e, o) { .error = (e), .allow_origin = (o) }

static const gate_row gate_rows[] = {
        /* Host: exactly one of three loopback spellings with our port. */
        { "an allowed origin may GET and is echoed", POLICY,
          { .method = "GET", .host = H4, .origin = PORTAL, .port = PORT }, OK_FOR(PORTAL) },
        { "the Host localhost:PORT is accepted", POLICY,
          { .method = "GET", .host = HL, .origin = PORTAL, .port = PORT }, OK_FOR(PORTAL) },
        { "the Host [::1]:PORT is accepted", POLICY,
          { .method = "GET", .host = H6, .origin = PORTAL, .port = PORT }, OK_FOR(PORTAL) },
        { "a second allowed origin with a port is echoed", POLICY,
          { .method = "GET", .host = H4, .origin = DEV, .port = PORT }, OK_FOR(DEV) },
        { "a missing Host is rejected", POLICY,
          { .method = "GET", .origin = PORTAL, .port = PORT }, REFUSED(KB_E_HOST_REJECTED) },
        { "an empty Host is rejected", POLICY,
          { .method = "GET", .host = "", .origin = PORTAL, .port = PORT }, REFUSED(KB_E_HOST_REJECTED) },
        { "a Host with another port is rejected", POLICY,
          { .method = "GET", .host = "127.0.0.1:27183", .origin = PORTAL, .port = PORT },
          REFUSED(KB_E_HOST_REJECTED) },
        { "a Host naming the port of another listener than the connection's is rejected", POLICY,
          { .method = "GET", .host = H4, .origin = PORTAL, .port = PORT + 1 },
          REFUSED(KB_E_HOST_REJECTED) },
        { "a rebinding Host evil.example:PORT is rejected", POLICY,
          { .method = "GET", .host = "evil.example:" PORT_S, .origin = PORTAL, .port = PORT },
          REFUSED(KB_E_HOST_REJECTED) },
        { "a Host without a port is rejected", POLICY,
          { .method = "GET", .host = "127.0.0.1", .origin = PORTAL, .port = PORT },
          REFUSED(KB_E_HOST_REJECTED) },
        { "a Host with a trailing dot is rejected", POLICY,
          { .method = "GET", .host = "localhost.:" PORT_S, .origin = PORTAL, .port = PORT },
          REFUSED(KB_E_HOST_REJECTED) },
        { "an upper-case LOCALHOST Host is rejected (exact match)", POLICY,
          { .method = "GET", .host = "LOCALHOST:" PORT_S, .origin = PORTAL, .port = PORT },
          REFUSED(KB_E_HOST_REJECTED) },
        { "an IPv6 Host without brackets is rejected", POLICY,
          { .method = "GET", .host = "::1:" PORT_S, .origin = PORTAL, .port = PORT },
          REFUSED(KB_E_HOST_REJECTED) },
        { "a short form 127.1 Host is rejected", POLICY,
          { .method = "GET", .host = "127.1:" PORT_S, .origin = PORTAL, .port = PORT },
          REFUSED(KB_E_HOST_REJECTED) },
        { "a Host with a zero-padded port is rejected", POLICY,
          { .method = "GET", .host = "127.0.0.1:0" PORT_S, .origin = PORTAL, .port = PORT },
          REFUSED(KB_E_HOST_REJECTED) },
        { "a Host with trailing text is rejected", POLICY,
          { .method = "GET", .host = H4 "@evil.example", .origin = PORTAL, .port = PORT },
          REFUSED(KB_E_HOST_REJECTED) },
        { "the Host is checked before the Origin", POLICY,
          { .method = "GET", .host = "evil.example:" PORT_S, .origin = EVIL, .port = PORT },
          REFUSED(KB_E_HOST_REJECTED) },
        { "the Host is checked before the bearer token", POLICY,
          { .method = "GET", .host = "evil.example:" PORT_S, .authorization = "Bearer " TOKEN,
            .port = PORT }, REFUSED(KB_E_HOST_REJECTED) },
        { "a preflight with a bad Host is rejected", POLICY,
          { .method = "OPTIONS", .host = "evil.example:" PORT_S, .origin = PORTAL,
            .acr_private_network = "true", .port = PORT }, REFUSED(KB_E_HOST_REJECTED) },

        /* Origin: exact match against the list, no CORS echo for others. */
        { "a foreign origin is refused without an echo", POLICY,
          { .method = "GET", .host = H4, .origin = EVIL, .port = PORT },
          REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "the origin null is refused", POLICY,
          { .method = "GET", .host = H4, .origin = "null", .port = PORT },
          REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "an empty Origin is refused", POLICY,
          { .method = "GET", .host = H4, .origin = "", .port = PORT },
          REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "an allowed origin with a trailing slash is refused", POLICY,
          { .method = "GET", .host = H4, .origin = PORTAL "/", .port = PORT },
          REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "an allowed origin on another port is refused", POLICY,
          { .method = "GET", .host = H4, .origin = PORTAL ":8443", .port = PORT },
          REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "an allowed host over http instead of https is refused", POLICY,
          { .method = "GET", .host = H4, .origin = "http://portal.example.cn", .port = PORT },
          REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "an allowed origin in upper case is refused", POLICY,
          { .method = "GET", .host = H4, .origin = "HTTPS://PORTAL.EXAMPLE.CN", .port = PORT },
          REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "an origin extending an allowed one is refused", POLICY,
          { .method = "GET", .host = H4, .origin = PORTAL ".evil.example", .port = PORT },
          REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "a prefix of an allowed origin is refused", POLICY,
          { .method = "GET", .host = H4, .origin = "https://portal.example.c", .port = PORT },
          REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "a foreign origin with a valid bearer token is still refused", POLICY,
          { .method = "GET", .host = H4, .origin = EVIL, .authorization = "Bearer " TOKEN,
            .port = PORT }, REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "an allowed origin needs no bearer token, even a wrong one", POLICY,
          { .method = "GET", .host = H4, .origin = PORTAL, .authorization = "Bearer nope",
            .port = PORT }, OK_FOR(PORTAL) },
        { "no origin is allowed by an empty policy", .api_token = TOKEN, .max_body = MAX_BODY,
          { .method = "GET", .host = H4, .origin = PORTAL, .port = PORT },
          REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },

        /* No Origin: a local tool with the bearer token. */
        { "a request without origin or token is unauthorized", POLICY,
          { .method = "GET", .host = H4, .port = PORT }, REFUSED(KB_E_UNAUTHORIZED) },
        { "a request without origin but with the bearer token passes without an echo", POLICY,
          { .method = "GET", .host = H4, .authorization = "Bearer " TOKEN, .port = PORT }, OK_FOR(NULL) },
        { "the bearer scheme is case-insensitive (lower case)", POLICY,
          { .method = "GET", .host = H4, .authorization = "bearer " TOKEN, .port = PORT }, OK_FOR(NULL) },
        { "the bearer scheme is case-insensitive (upper case)", POLICY,
          { .method = "GET", .host = H4, .authorization = "BEARER " TOKEN, .port = PORT }, OK_FOR(NULL) },
        { "a local tool may POST JSON with the bearer token", POLICY,
          { .method = "POST", .host = H4, .authorization = "Bearer " TOKEN,
            .content_type = "application/json", .content_length = "2", .port = PORT }, OK_FOR(NULL) },
        { "a wrong token of the right length is unauthorized", POLICY,
          { .method = "GET", .host = H4,
            .authorization = "Bearer 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdee",
            .port = PORT }, REFUSED(KB_E_UNAUTHORIZED) },
        { "a prefix of the token is unauthorized", POLICY,
          { .method = "GET", .host = H4, .authorization = "Bearer 0123456789abcdef", .port = PORT },
          REFUSED(KB_E_UNAUTHORIZED) },
        { "the token with extra characters is unauthorized", POLICY,
          { .method = "GET", .host = H4, .authorization = "Bearer " TOKEN "0", .port = PORT },
          REFUSED(KB_E_UNAUTHORIZED) },
        { "the token with a trailing space is unauthorized", POLICY,
          { .method = "GET", .host = H4, .authorization = "Bearer " TOKEN " ", .port = PORT },
          REFUSED(KB_E_UNAUTHORIZED) },
        { "the token after two spaces is unauthorized", POLICY,
          { .method = "GET", .host = H4, .authorization = "Bearer  " TOKEN, .port = PORT },
          REFUSED(KB_E_UNAUTHORIZED) },
        { "the token under the Basic scheme is unauthorized", POLICY,
          { .method = "GET", .host = H4, .authorization = "Basic " TOKEN, .port = PORT },
          REFUSED(KB_E_UNAUTHORIZED) },
        { "the bare token without a scheme is unauthorized", POLICY,
          { .method = "GET", .host = H4, .authorization = TOKEN, .port = PORT },
          REFUSED(KB_E_UNAUTHORIZED) },
        { "an empty Authorization is unauthorized", POLICY,
          { .method = "GET", .host = H4, .authorization = "", .port = PORT },
          REFUSED(KB_E_UNAUTHORIZED) },
        { "an empty bearer is unauthorized when the policy has no token",
          .origins = { PORTAL }, .api_token = "", .max_body = MAX_BODY,
          { .method = "GET", .host = H4, .authorization = "Bearer ", .port = PORT },
          REFUSED(KB_E_UNAUTHORIZED) },
        { "a bare Bearer is unauthorized when the policy has no token",
          .origins = { PORTAL }, .api_token = "", .max_body = MAX_BODY,
          { .method = "GET", .host = H4, .authorization = "Bearer", .port = PORT },
          REFUSED(KB_E_UNAUTHORIZED) },

        /* CORS preflight. */
        { "a preflight from an allowed origin is answered with an echo", POLICY,
          { .method = "OPTIONS", .host = H4, .origin = PORTAL, .port = PORT },
          { .error = KB_E_OK, .preflight = true, .allow_origin = PORTAL } },
        { "a preflight asking for private network access gets it", POLICY,
          { .method = "OPTIONS", .host = H4, .origin = PORTAL, .acr_private_network = "true", .port = PORT },
          { .error = KB_E_OK, .preflight = true, .allow_origin = PORTAL, .allow_private_network = true } },
        { "the private network request value is case-insensitive", POLICY,
          { .method = "OPTIONS", .host = H4, .origin = PORTAL, .acr_private_network = "TRUE", .port = PORT },
          { .error = KB_E_OK, .preflight = true, .allow_origin = PORTAL, .allow_private_network = true } },
        { "a preflight with private network false does not get it", POLICY,
          { .method = "OPTIONS", .host = H4, .origin = PORTAL, .acr_private_network = "false", .port = PORT },
          { .error = KB_E_OK, .preflight = true, .allow_origin = PORTAL } },
        { "a preflight with an empty private network value does not get it", POLICY,
          { .method = "OPTIONS", .host = H4, .origin = PORTAL, .acr_private_network = "", .port = PORT },
          { .error = KB_E_OK, .preflight = true, .allow_origin = PORTAL } },
        { "a preflight from a foreign origin is refused, not answered", POLICY,
          { .method = "OPTIONS", .host = H4, .origin = EVIL, .acr_private_network = "true", .port = PORT },
          REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "a preflight from the null origin is refused", POLICY,
          { .method = "OPTIONS", .host = H4, .origin = "null", .port = PORT },
          REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "a preflight without origin or token is unauthorized", POLICY,
          { .method = "OPTIONS", .host = H4, .port = PORT }, REFUSED(KB_E_UNAUTHORIZED) },

        /* Methods: GET, POST and OPTIONS only, spelled exactly. */
        { "PUT is not allowed", POLICY,
          { .method = "PUT", .host = H4, .origin = PORTAL, .content_type = "application/json", .port = PORT },
          REFUSED_FOR(KB_E_METHOD_NOT_ALLOWED, PORTAL) },
        { "DELETE is not allowed", POLICY,
          { .method = "DELETE", .host = H4, .origin = PORTAL, .port = PORT },
          REFUSED_FOR(KB_E_METHOD_NOT_ALLOWED, PORTAL) },
        { "HEAD is not allowed", POLICY,
          { .method = "HEAD", .host = H4, .origin = PORTAL, .port = PORT },
          REFUSED_FOR(KB_E_METHOD_NOT_ALLOWED, PORTAL) },
        { "PATCH is not allowed", POLICY,
          { .method = "PATCH", .host = H4, .origin = PORTAL, .port = PORT },
          REFUSED_FOR(KB_E_METHOD_NOT_ALLOWED, PORTAL) },
        { "a lower-case get is not allowed", POLICY,
          { .method = "get", .host = H4, .origin = PORTAL, .port = PORT },
          REFUSED_FOR(KB_E_METHOD_NOT_ALLOWED, PORTAL) },
        { "a missing method is not allowed", POLICY,
          { .host = H4, .origin = PORTAL, .port = PORT },
          REFUSED_FOR(KB_E_METHOD_NOT_ALLOWED, PORTAL) },
        { "a disallowed method from a foreign origin is refused for the origin first", POLICY,
          { .method = "DELETE", .host = H4, .origin = EVIL, .port = PORT },
          REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },

        /* POST bodies must be JSON: no form or text/plain CSRF. */
        { "a POST of application/json passes", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .content_length = "2", .port = PORT }, OK_FOR(PORTAL) },
        { "a POST of application/json with a charset passes", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL,
            .content_type = "application/json; charset=utf-8", .content_length = "2", .port = PORT },
          OK_FOR(PORTAL) },
        { "a POST of application/json with a charset and no space passes", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL,
            .content_type = "application/json;charset=utf-8", .content_length = "2", .port = PORT },
          OK_FOR(PORTAL) },
        { "the media type is case-insensitive", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "Application/JSON",
            .content_length = "2", .port = PORT }, OK_FOR(PORTAL) },
        { "a POST of text/plain is refused", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "text/plain",
            .content_length = "2", .port = PORT },
          REFUSED_FOR(KB_E_UNSUPPORTED_MEDIA_TYPE, PORTAL) },
        { "a form POST is refused", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL,
            .content_type = "application/x-www-form-urlencoded", .content_length = "2", .port = PORT },
          REFUSED_FOR(KB_E_UNSUPPORTED_MEDIA_TYPE, PORTAL) },
        { "a multipart POST is refused", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL,
            .content_type = "multipart/form-data; boundary=x", .content_length = "2", .port = PORT },
          REFUSED_FOR(KB_E_UNSUPPORTED_MEDIA_TYPE, PORTAL) },
        { "a POST of application/jsonp is refused", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/jsonp",
            .content_length = "2", .port = PORT },
          REFUSED_FOR(KB_E_UNSUPPORTED_MEDIA_TYPE, PORTAL) },
        { "a POST of a truncated application/jso is refused", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/jso",
            .content_length = "2", .port = PORT },
          REFUSED_FOR(KB_E_UNSUPPORTED_MEDIA_TYPE, PORTAL) },
        { "a POST without a Content-Type is refused", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_length = "2", .port = PORT },
          REFUSED_FOR(KB_E_UNSUPPORTED_MEDIA_TYPE, PORTAL) },
        { "a POST with an empty Content-Type is refused", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "", .content_length = "2",
            .port = PORT }, REFUSED_FOR(KB_E_UNSUPPORTED_MEDIA_TYPE, PORTAL) },
        { "a GET does not care about the Content-Type", POLICY,
          { .method = "GET", .host = H4, .origin = PORTAL, .content_type = "text/plain", .port = PORT },
          OK_FOR(PORTAL) },

        /* Body size from Content-Length; anything unparsable counts as too large. */
        { "a body one byte over the limit is too large", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .content_length = "1025", .port = PORT }, REFUSED_FOR(KB_E_PAYLOAD_TOO_LARGE, PORTAL) },
        { "a body exactly at the limit passes", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .content_length = "1024", .port = PORT }, OK_FOR(PORTAL) },
        { "an empty body passes", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .content_length = "0", .port = PORT }, OK_FOR(PORTAL) },
        { "a POST without Content-Length passes the gate (the reader enforces the limit)", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .port = PORT }, OK_FOR(PORTAL) },
        { "the limit comes from the policy", .origins = { PORTAL }, .api_token = TOKEN, .max_body = 10,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .content_length = "11", .port = PORT }, REFUSED_FOR(KB_E_PAYLOAD_TOO_LARGE, PORTAL) },
        { "a non-numeric Content-Length counts as too large", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .content_length = "abc", .port = PORT }, REFUSED_FOR(KB_E_PAYLOAD_TOO_LARGE, PORTAL) },
        { "a negative Content-Length counts as too large", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .content_length = "-1", .port = PORT }, REFUSED_FOR(KB_E_PAYLOAD_TOO_LARGE, PORTAL) },
        { "an empty Content-Length counts as too large", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .content_length = "", .port = PORT }, REFUSED_FOR(KB_E_PAYLOAD_TOO_LARGE, PORTAL) },
        { "a Content-Length with a plus sign counts as too large", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .content_length = "+5", .port = PORT }, REFUSED_FOR(KB_E_PAYLOAD_TOO_LARGE, PORTAL) },
        { "a Content-Length with a leading space counts as too large", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .content_length = " 5", .port = PORT }, REFUSED_FOR(KB_E_PAYLOAD_TOO_LARGE, PORTAL) },
        { "a Content-Length with trailing text counts as too large", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .content_length = "5x", .port = PORT }, REFUSED_FOR(KB_E_PAYLOAD_TOO_LARGE, PORTAL) },
        { "a Content-Length past 2^64 counts as too large", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .content_length = "18446744073709551616", .port = PORT },
          REFUSED_FOR(KB_E_PAYLOAD_TOO_LARGE, PORTAL) },
        { "an overflowing Content-Length is too large even without a limit",
          .origins = { PORTAL }, .api_token = TOKEN, .max_body = SIZE_MAX,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json",
            .content_length = "99999999999999999999999", .port = PORT },
          REFUSED_FOR(KB_E_PAYLOAD_TOO_LARGE, PORTAL) },
        { "the size is checked before the media type", POLICY,
          { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "text/plain",
            .content_length = "1025", .port = PORT }, REFUSED_FOR(KB_E_PAYLOAD_TOO_LARGE, PORTAL) },
        { "a GET with an oversized body is too large as well", POLICY,
          { .method = "GET", .host = H4, .origin = PORTAL, .content_length = "1025", .port = PORT },
          REFUSED_FOR(KB_E_PAYLOAD_TOO_LARGE, PORTAL) },
        /* First use of an unknown origin: only the approval path, only when enabled. */
        { "an unknown origin may ask for approval when approvals are on", POLICY,
          .approval = true, .rq = { .method = "POST", .host = H4, .origin = EVIL, .content_type = "application/json", .port = PORT,
            .path = KB_APPROVAL_PATH },
          .want = { .error = KB_E_OK, .allow_origin = EVIL, .approval_only = true } },
        { "an unknown origin may preflight the approval", POLICY,
          .approval = true, .rq = { .method = "OPTIONS", .host = H4, .origin = EVIL, .port = PORT, .path = KB_APPROVAL_PATH },
          .want = { .error = KB_E_OK, .preflight = true, .allow_origin = EVIL, .approval_only = true } },
        { "an unknown origin is refused anywhere else", POLICY,
          .approval = true, .rq = { .method = "GET", .host = H4, .origin = EVIL, .port = PORT, .path = "/v1/tokens" },
          .want = REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "an unknown origin is refused a path that only starts like the approval", POLICY,
          .approval = true, .rq = { .method = "POST", .host = H4, .origin = EVIL, .content_type = "application/json", .port = PORT,
            .path = KB_APPROVAL_PATH "/x" },
          .want = REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "approvals turned off refuse the approval path too", POLICY,
          .rq = { .method = "POST", .host = H4, .origin = EVIL, .content_type = "application/json", .port = PORT,
            .path = KB_APPROVAL_PATH },
          .want = REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "the null origin can never ask for approval", POLICY,
          .approval = true, .rq = { .method = "POST", .host = H4, .origin = "null", .content_type = "application/json", .port = PORT,
            .path = KB_APPROVAL_PATH },
          .want = REFUSED(KB_E_ORIGIN_NOT_ALLOWED) },
        { "a bad Host is refused before the approval exception", POLICY,
          .approval = true, .rq = { .method = "POST", .host = "evil.example", .origin = EVIL, .content_type = "application/json",
            .port = PORT, .path = KB_APPROVAL_PATH },
          .want = REFUSED(KB_E_HOST_REJECTED) },
        { "an allowed origin on the approval path is not approval-only", POLICY,
          .approval = true, .rq = { .method = "POST", .host = H4, .origin = PORTAL, .content_type = "application/json", .port = PORT,
            .path = KB_APPROVAL_PATH },
          .want = OK_FOR(PORTAL) },
};

static kb_gate_policy *policy_of(const gate_row *row) {
        kb_gate_policy *p = kb_gate_policy_new();
        ck_assert_ptr_nonnull(p);
        for (size_t i = 0; i < sizeof(row->origins) / sizeof(row->origins[0]) && row->origins[i]; i++)
                ck_assert_int_eq(kb_gate_policy_add_origin(p, row->origins[i]), 0);
        ck_assert_uint_lt(strlen(row->api_token), sizeof(p->api_token));
        strcpy(p->api_token, row->api_token);
        p->max_body = row->max_body;
        p->origin_approval = row->approval;
        return p;
}

static const char *or_null(const char *s) {
        return s ? s : "(null)";
}

START_TEST(test_gate_decides_each_row_of_the_table) {
        const gate_row *row = &gate_rows[_i];
        kb_gate_policy *p = policy_of(row);
        kb_gate_verdict v;

        /* Garbage in the verdict must not survive the check. */
        memset(&v, 0xa5, sizeof(v));
        kb_gate_check(p, &row->rq, &v);
        ck_assert_msg(v.error == row->want.error, "%s: error %s, want %s", row->what,
                      or_null(kb_error_code(v.error)), kb_error_code(row->want.error));
        ck_assert_msg(v.preflight == row->want.preflight, "%s: preflight %d", row->what, v.preflight);
        ck_assert_msg(v.approval_only == row->want.approval_only, "%s: approval_only %d", row->what, v.approval_only);
        ck_assert_msg(v.allow_private_network == row->want.allow_private_network,
                      "%s: allow_private_network %d", row->what, v.allow_private_network);
        if (row->want.allow_origin)
                ck_assert_msg(v.allow_origin && strcmp(v.allow_origin, row->want.allow_origin) == 0,
                              "%s: allow_origin %s, want %s", row->what, or_null(v.allow_origin),
                              row->want.allow_origin);
        else
                ck_assert_msg(v.allow_origin == NULL, "%s: allow_origin %s, want none", row->what,
                              v.allow_origin);
        kb_gate_policy_free(p);
}
END_TEST

typedef struct lang_row {
        const char *accept_language;
        bool zh;
} lang_row;

static const lang_row lang_rows[] = {
        { "zh-CN,zh;q=0.9,en;q=0.8", true },
        { "en-US,en;q=0.9,zh-CN;q=0.8", false },
        { "zh", true },
        { "zh-TW", true },
        { "ZH-cn", true },
        { "zh-Hans-CN", true },
        { "zh;q=0.9", true },
        { "zhx", false },
        { "zh;q=1e999", false },
        { "zh;q=nan, en;q=0.1", false },
        { "zh;q=0, en", false },
        { "zh;q=-1", false },
        { "en;q=0, zh;q=0.001", true },
        { "z", false },
        { "en", false },
        { "en;q=0.5, zh;q=0.9", true },
        { "en;q=0.5,zh-CN;q=0.6", true },
        { "zh;q=0.5, en;q=0.9", false },
        { "en, zh", false },                    /* a tie goes to the first */
        { "zh, en", true },
        { "en;q=0.8, zh;q=0.8", false },
        { " , ,zh", true },
        { NULL, false },
        { "", false },
        { "*", false },
        { "*, zh;q=0.5", false },
};

START_TEST(test_accept_language_preference_is_decided_by_quality) {
        const lang_row *row = &lang_rows[_i];
        ck_assert_msg(kb_prefers_chinese(row->accept_language) == row->zh, "'%s' should%s prefer Chinese",
                      or_null(row->accept_language), row->zh ? "" : " not");
}
END_TEST

START_TEST(test_adding_an_origin_twice_keeps_one_copy) {
        kb_gate_policy *p = kb_gate_policy_new();
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(p->n_origins, 0);
        ck_assert_int_eq(kb_gate_policy_add_origin(p, PORTAL), 0);
        ck_assert_int_eq(kb_gate_policy_add_origin(p, DEV), 0);
        ck_assert_int_eq(kb_gate_policy_add_origin(p, PORTAL), 0);
        ck_assert_uint_eq(p->n_origins, 2);
        ck_assert_str_eq(p->origins[0], PORTAL);
        ck_assert_str_eq(p->origins[1], DEV);
        kb_gate_policy_free(p);
}
END_TEST

START_TEST(test_added_origin_is_a_copy) {
        kb_gate_policy *p = kb_gate_policy_new();
        char origin[] = PORTAL;
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(kb_gate_policy_add_origin(p, origin), 0);
        origin[8] = 'x';
        ck_assert(kb_gate_origin_allowed(p, PORTAL));
        ck_assert(!kb_gate_origin_allowed(p, origin));
        kb_gate_policy_free(p);
}
END_TEST

START_TEST(test_origin_allowed_matches_exactly) {
        kb_gate_policy *p = kb_gate_policy_new();
        ck_assert_ptr_nonnull(p);
        ck_assert(!kb_gate_origin_allowed(p, PORTAL));
        ck_assert_int_eq(kb_gate_policy_add_origin(p, PORTAL), 0);
        ck_assert(kb_gate_origin_allowed(p, PORTAL));
        ck_assert(!kb_gate_origin_allowed(p, PORTAL "/"));
        ck_assert(!kb_gate_origin_allowed(p, "https://PORTAL.example.cn"));
        ck_assert(!kb_gate_origin_allowed(p, "https://portal.example"));
        ck_assert(!kb_gate_origin_allowed(p, PORTAL ":443"));
        ck_assert(!kb_gate_origin_allowed(p, ""));
        ck_assert(!kb_gate_origin_allowed(p, "null"));
        kb_gate_policy_free(p);
}
END_TEST

START_TEST(test_freeing_no_policy_is_harmless) {
        kb_gate_policy_free(NULL);
        kb_gate_policy *p = kb_gate_policy_new();
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(p->n_origins, 0);
        ck_assert_str_eq(p->api_token, "");
        kb_gate_policy_free(p);
}
END_TEST

int main(void) {
        Suite *s = suite_create("gate");
        TCase *tc = tcase_create("core");

        tcase_add_loop_test(tc, test_gate_decides_each_row_of_the_table, 0,
                            (int) (sizeof(gate_rows) / sizeof(gate_rows[0])));
        tcase_add_loop_test(tc, test_accept_language_preference_is_decided_by_quality, 0,
                            (int) (sizeof(lang_rows) / sizeof(lang_rows[0])));
        tcase_add_test(tc, test_adding_an_origin_twice_keeps_one_copy);
        tcase_add_test(tc, test_added_origin_is_a_copy);
        tcase_add_test(tc, test_origin_allowed_matches_exactly);
        tcase_add_test(tc, test_freeing_no_policy_is_harmless);
        suite_add_tcase(s, tc);

        return kb_check_run(s);
}
