/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JSON-RPC 2.0 framing of the WebSocket: parse errors, invalid requests,
 * batches, and API errors carrying the REST error object in data. */
#include <check.h>
#include <string.h>

#include "kb-check.h"
#include "ws-rpc.h"

static json_t *parse(const char *text, bool *batch, json_t **err) {
        *err = NULL;
        return kb_rpc_parse(text, strlen(text), false, batch, err);
}

static int error_code(const json_t *resp) {
        return (int) json_integer_value(json_object_get(json_object_get(resp, "error"), "code"));
}

static const char *data_code(const json_t *resp) {
        return json_string_value(json_object_get(json_object_get(json_object_get(resp, "error"), "data"), "code"));
}

START_TEST(malformed_json_is_a_parse_error_with_a_null_id) {
        bool batch;
        json_t *err;
        ck_assert_ptr_null(parse("{\"jsonrpc\":", &batch, &err));
        ck_assert_int_eq(error_code(err), KB_RPC_PARSE_ERROR);
        ck_assert_str_eq(data_code(err), "BAD_REQUEST");
        ck_assert(json_is_null(json_object_get(err, "id")));
        json_decref(err);
        ck_assert_ptr_null(parse("{\"a\":1,\"a\":2}", &batch, &err)); /* duplicate keys */
        ck_assert_int_eq(error_code(err), KB_RPC_PARSE_ERROR);
        json_decref(err);
}
END_TEST

START_TEST(an_empty_or_oversized_batch_is_an_invalid_request) {
        bool batch;
        json_t *err;
        ck_assert_ptr_null(parse("[]", &batch, &err));
        ck_assert_int_eq(error_code(err), KB_RPC_INVALID_REQUEST);
        json_decref(err);
        char big[KB_RPC_MAX_BATCH * 2 + 8] = "[";
        for (int i = 0; i <= KB_RPC_MAX_BATCH; i++)
                strcat(big, i ? ",1" : "1");
        strcat(big, "]");
        ck_assert_ptr_null(parse(big, &batch, &err));
        ck_assert_int_eq(error_code(err), KB_RPC_INVALID_REQUEST);
        json_decref(err);
        json_t *v = parse("[1,2]", &batch, &err);
        ck_assert(batch);
        json_decref(v);
}
END_TEST

START_TEST(requests_need_version_method_and_a_scalar_id) {
        static const char *const bad[] = {
                "1", "{\"method\":\"info\",\"id\":1}", "{\"jsonrpc\":\"1.0\",\"method\":\"info\",\"id\":1}",
                "{\"jsonrpc\":\"2.0\",\"method\":1,\"id\":1}", "{\"jsonrpc\":\"2.0\",\"method\":\"info\",\"id\":{}}",
                "{\"jsonrpc\":\"2.0\",\"method\":\"info\",\"params\":\"x\"}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                bool batch;
                json_t *err, *v = parse(bad[i], &batch, &err);
                kb_rpc_request rq;
                ck_assert_ptr_nonnull(v);
                ck_assert_int_lt(kb_rpc_check(v, false, &rq, &err), 0);
                ck_assert_int_eq(error_code(err), KB_RPC_INVALID_REQUEST);
                json_decref(err);
                json_decref(v);
        }
}
END_TEST

START_TEST(a_valid_request_and_a_notification_are_told_apart) {
        bool batch;
        json_t *err, *v = parse("{\"jsonrpc\":\"2.0\",\"method\":\"sign\",\"params\":{\"token\":\"t\"},\"id\":\"a\"}", &batch, &err);
        kb_rpc_request rq;
        ck_assert_int_eq(kb_rpc_check(v, false, &rq, &err), 0);
        ck_assert_str_eq(rq.method, "sign");
        ck_assert_str_eq(json_string_value(rq.id), "a");
        ck_assert(json_is_object(rq.params));
        json_decref(v);
        v = parse("{\"jsonrpc\":\"2.0\",\"method\":\"info\"}", &batch, &err);
        ck_assert_int_eq(kb_rpc_check(v, false, &rq, &err), 0);
        ck_assert_ptr_null(rq.id);
        ck_assert_ptr_null(rq.params);
        json_decref(v);
}
END_TEST

START_TEST(api_errors_carry_the_rest_error_object_in_data) {
        kb_call call = { 0 };
        json_t *id = json_integer(7);
        call.error_details = json_pack("{s:s, s:i}", "pinStatus", "countLow", "retriesLeft", 2);
        json_t *r = kb_rpc_error(id, KB_E_PIN_INCORRECT, true, &call);
        ck_assert_int_eq(error_code(r), KB_RPC_API_ERROR);
        ck_assert_str_eq(data_code(r), "PIN_INCORRECT");
        json_t *data = json_object_get(json_object_get(r, "error"), "data");
        ck_assert_int_eq(json_integer_value(json_object_get(data, "retriesLeft")), 2);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
                         kb_error_message(KB_E_PIN_INCORRECT, true));
        ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 7);
        json_decref(r);
        json_decref(call.error_details);
        snprintf(call.error_field, sizeof(call.error_field), "items");
        call.error_details = NULL;
        r = kb_rpc_error(id, KB_E_BAD_REQUEST, false, &call);
        ck_assert_int_eq(error_code(r), KB_RPC_INVALID_PARAMS);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r, "error"), "data"), "field")), "items");
        json_decref(r);
        r = kb_rpc_error(NULL, KB_E_INTERNAL, false, NULL);
        ck_assert_int_eq(error_code(r), KB_RPC_INTERNAL_ERROR);
        ck_assert(json_is_null(json_object_get(r, "id")));
        json_decref(r);
        json_decref(id);
}
END_TEST

START_TEST(results_and_notifications_have_the_version_member) {
        json_t *id = json_string("x");
        json_t *r = kb_rpc_result(id, json_pack("{s:b}", "ok", 1));
        ck_assert_str_eq(json_string_value(json_object_get(r, "jsonrpc")), "2.0");
        ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "x");
        json_decref(r);
        json_t *n = kb_rpc_notification("operation.progress", json_pack("{s:O, s:s, s:i}", "requestId", id, "stage", "keygen", "percent", 40));
        ck_assert_ptr_null(json_object_get(n, "id"));
        ck_assert_str_eq(json_string_value(json_object_get(n, "method")), "operation.progress");
        json_decref(n);
        json_decref(id);
}
END_TEST

int main(void) {
        Suite *s = suite_create("ws-rpc");
        TCase *tc = tcase_create("ws-rpc");
        tcase_add_test(tc, malformed_json_is_a_parse_error_with_a_null_id);
        tcase_add_test(tc, an_empty_or_oversized_batch_is_an_invalid_request);
        tcase_add_test(tc, requests_need_version_method_and_a_scalar_id);
        tcase_add_test(tc, a_valid_request_and_a_notification_are_told_apart);
        tcase_add_test(tc, api_errors_carry_the_rest_error_object_in_data);
        tcase_add_test(tc, results_and_notifications_have_the_version_member);
        suite_add_tcase(s, tc);
        return kb_check_run(s);
}
