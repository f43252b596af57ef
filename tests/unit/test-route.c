/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* REST routing over the method table, the table itself, and the error object. */
#include <check.h>

#include "kb-check.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb-api.h"

#define MAX_PATH 512

static const char *method_name(kb_http_method m) {
        return m == KB_HTTP_GET ? "GET" : "POST";
}

static kb_http_method other_method(kb_http_method m) {
        return m == KB_HTTP_GET ? KB_HTTP_POST : KB_HTTP_GET;
}

/* A concrete path for a route: "{token}" becomes "v-token"; *ret_want gets
 * the params the router must bind. */
static void concrete_path(const char *route, char *path, size_t size, json_t **ret_want) {
        json_t *want = json_object();
        size_t o = 0;

        ck_assert_ptr_nonnull(want);
        for (const char *r = route; *r;) {
                if (*r != '{') {
                        ck_assert_uint_lt(o + 1, size);
                        path[o++] = *r++;
                        continue;
                }
                const char *close = strchr(r, '}');
                ck_assert_msg(close != NULL, "unterminated parameter in %s", route);
                char key[64], value[80];
                snprintf(key, sizeof(key), "%.*s", (int) (close - r - 1), r + 1);
                snprintf(value, sizeof(value), "v-%s", key);
                ck_assert_int_eq(json_object_set_new(want, key, json_string(value)), 0);
                ck_assert_uint_lt(o + strlen(value), size);
                memcpy(path + o, value, strlen(value));
                o += strlen(value);
                r = close + 1;
        }
        path[o] = 0;
        *ret_want = want;
}

START_TEST(test_every_table_route_resolves_to_its_own_method) {
        size_t n;
        const kb_method *table = kb_methods(&n);
        const kb_method *m = &table[_i];
        char path[MAX_PATH];
        json_t *want, *params = NULL;
        kb_error e = KB_E_INTERNAL;

        concrete_path(m->route, path, sizeof(path), &want);
        const kb_method *got = kb_route(m->http_method, path, &params, &e);
        ck_assert_msg(got == m, "%s %s routes to %s", method_name(m->http_method), path,
                      got ? got->name : "nothing");
        ck_assert_ptr_nonnull(params);
        char *dump = json_dumps(params, JSON_SORT_KEYS);
        ck_assert_msg(json_equal(params, want), "%s binds %s", path, dump);
        free(dump);
        json_decref(params);
        json_decref(want);
}
END_TEST

START_TEST(test_every_table_route_refuses_the_other_method) {
        size_t n;
        const kb_method *table = kb_methods(&n);
        const kb_method *m = &table[_i];
        kb_http_method other = other_method(m->http_method);
        char path[MAX_PATH];
        json_t *want, *params = NULL;
        kb_error e = KB_E_OK;
        bool twin = false;

        for (size_t j = 0; j < n; j++)
                twin |= j != (size_t) _i && table[j].http_method == other &&
                        strcmp(table[j].route, m->route) == 0;
        if (twin)
                return;         /* both methods are served on this route */
        concrete_path(m->route, path, sizeof(path), &want);
        ck_assert_ptr_null(kb_route(other, path, &params, &e));
        ck_assert_msg(e == KB_E_METHOD_NOT_ALLOWED, "%s %s: %s", method_name(other), path, kb_error_code(e));
        ck_assert_ptr_null(params);
        json_decref(want);
}
END_TEST

START_TEST(test_token_route_binds_the_token_id) {
        json_t *params = NULL;
        kb_error e = KB_E_INTERNAL;
        const kb_method *m = kb_route(KB_HTTP_GET, "/v1/tokens/abc", &params, &e);

        ck_assert_ptr_nonnull(m);
        ck_assert_str_eq(m->name, "token.get");
        ck_assert_uint_eq(json_object_size(params), 1);
        ck_assert_str_eq(json_string_value(json_object_get(params, "token")), "abc");
        json_decref(params);
}
END_TEST

START_TEST(test_certificate_route_binds_token_and_certificate) {
        json_t *params = NULL;
        kb_error e = KB_E_INTERNAL;
        const kb_method *m = kb_route(KB_HTTP_GET, "/v1/tokens/tok-1/certificates/AB.cd_9", &params, &e);

        ck_assert_ptr_nonnull(m);
        ck_assert_str_eq(m->name, "certificate.get");
        ck_assert_uint_eq(json_object_size(params), 2);
        ck_assert_str_eq(json_string_value(json_object_get(params, "token")), "tok-1");
        ck_assert_str_eq(json_string_value(json_object_get(params, "certificate")), "AB.cd_9");
        json_decref(params);
}
END_TEST

START_TEST(test_routes_without_parameters_bind_an_empty_object) {
        json_t *params = NULL;
        kb_error e = KB_E_INTERNAL;
        const kb_method *m = kb_route(KB_HTTP_GET, "/v1/tokens", &params, &e);

        ck_assert_ptr_nonnull(m);
        ck_assert_str_eq(m->name, "tokens.list");
        ck_assert(json_is_object(params));
        ck_assert_uint_eq(json_object_size(params), 0);
        json_decref(params);
        m = kb_route(KB_HTTP_GET, "/v1/info", &params, &e);
        ck_assert_ptr_nonnull(m);
        ck_assert_str_eq(m->name, "info");
        json_decref(params);
}
END_TEST

START_TEST(test_post_to_a_get_route_is_method_not_allowed) {
        json_t *params = NULL;
        kb_error e = KB_E_OK;

        ck_assert_ptr_null(kb_route(KB_HTTP_POST, "/v1/tokens/abc", &params, &e));
        ck_assert_int_eq(e, KB_E_METHOD_NOT_ALLOWED);
        ck_assert_ptr_null(params);
        e = KB_E_OK;
        ck_assert_ptr_null(kb_route(KB_HTTP_POST, "/v1/info", &params, &e));
        ck_assert_int_eq(e, KB_E_METHOD_NOT_ALLOWED);
        ck_assert_ptr_null(params);
}
END_TEST

static const char *const unknown_paths[] = {
        "/v1/tokens/..",
        "/v1/tokens/.",
        "/v1/tokens/abc/certificates/..",
        "/v1/unknown",
        "/v2/info",
        "/v1",
        "/v1/",
        "/",
        "",
        "v1/info",
        "/V1/INFO",
        "/v1/info/",
        "/v1/tokens/",
        "/v1/tokens/abc/",
        "//v1/info",
        "/v1//info",
        "/v1/tokens//certificates/x",
        "/v1/tokens/abc/certificates",
        "/v1/tokens/abc/certificates/",
        "/v1/tokens/abc/certificates//",
        "/v1/tokens/abc/other/x",
        "/v1/tokens/a/b",
        "/v1/../v1/info",
        "/v1/tokens/abc/../../info",
        "/v1/tokens/a%2fb",
        "/v1/tokens/a%2Fb",
        "/v1/tokens/%2e%2e",
        "/v1/tokens/a\\b",
        "/v1/tokens/a b",
        "/v1/tokens/a+b",
        "/v1/tokens/a:b",
        "/v1/tokens/abc\n",
        "/v1/tokens/\xe4\xb8\xad",
        "/v1/info?x=1",
        "/v1/info#x",
        "/v1/infox",
        "/v1/inf",
        "/v1/tokensx/abc",
};

START_TEST(test_unknown_or_malformed_path_is_not_found) {
        const char *path = unknown_paths[_i];
        json_t *params = NULL;

        for (int m = KB_HTTP_GET; m <= KB_HTTP_POST; m++) {
                kb_error e = KB_E_OK;
                const kb_method *got = kb_route((kb_http_method) m, path, &params, &e);
                ck_assert_msg(got == NULL, "%s '%s' routes to %s", method_name((kb_http_method) m), path,
                              got ? got->name : "");
                ck_assert_msg(e == KB_E_NOT_FOUND, "%s '%s': %s", method_name((kb_http_method) m), path,
                              kb_error_code(e));
                ck_assert_ptr_null(params);
        }
}
END_TEST

START_TEST(test_segment_of_128_characters_binds_and_129_does_not) {
        char path[300], id[130];
        json_t *params = NULL;
        kb_error e = KB_E_OK;

        memset(id, 'a', 128);
        id[128] = 0;
        snprintf(path, sizeof(path), "/v1/tokens/%s", id);
        ck_assert_ptr_nonnull(kb_route(KB_HTTP_GET, path, &params, &e));
        ck_assert_str_eq(json_string_value(json_object_get(params, "token")), id);
        json_decref(params);
        params = NULL;

        snprintf(path, sizeof(path), "/v1/tokens/%sa", id);
        ck_assert_ptr_null(kb_route(KB_HTTP_GET, path, &params, &e));
        ck_assert_int_eq(e, KB_E_NOT_FOUND);
        snprintf(path, sizeof(path), "/v1/tokens/x/certificates/%sa", id);
        ck_assert_ptr_null(kb_route(KB_HTTP_GET, path, &params, &e));
        ck_assert_int_eq(e, KB_E_NOT_FOUND);
        ck_assert_ptr_null(params);
}
END_TEST

START_TEST(test_each_method_is_found_by_its_name) {
        size_t n;
        const kb_method *table = kb_methods(&n);

        ck_assert_uint_gt(n, 0);
        for (size_t i = 0; i < n; i++)
                ck_assert_ptr_eq(kb_method_by_name(table[i].name), &table[i]);
        ck_assert_ptr_null(kb_method_by_name("no.such.method"));
        ck_assert_ptr_null(kb_method_by_name(""));
        ck_assert_ptr_null(kb_method_by_name("INFO"));
        ck_assert_ptr_null(kb_method_by_name("info "));
}
END_TEST

START_TEST(test_method_names_and_routes_are_unique) {
        size_t n;
        const kb_method *table = kb_methods(&n);

        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++) {
                        ck_assert_msg(strcmp(table[i].name, table[j].name) != 0, "%s twice", table[i].name);
                        ck_assert_msg(table[i].http_method != table[j].http_method ||
                                      strcmp(table[i].route, table[j].route) != 0,
                                      "%s and %s share a route", table[i].name, table[j].name);
                }
}
END_TEST

START_TEST(test_every_method_has_a_name_a_v1_route_and_a_handler) {
        size_t n;
        const kb_method *table = kb_methods(&n);

        for (size_t i = 0; i < n; i++) {
                ck_assert_ptr_nonnull(table[i].name);
                ck_assert_uint_gt(strlen(table[i].name), 0);
                ck_assert_msg(strncmp(table[i].route, "/v1/", 4) == 0, "%s: %s", table[i].name, table[i].route);
                ck_assert_ptr_nonnull(table[i].fn);
                ck_assert(table[i].http_method == KB_HTTP_GET || table[i].http_method == KB_HTTP_POST);
        }
}
END_TEST

START_TEST(test_call_without_params_object_is_a_bad_request_naming_params) {
        const kb_method *m = kb_method_by_name("token.get");
        kb_call call = { 0 };
        json_t *result = NULL;

        ck_assert_ptr_nonnull(m);
        ck_assert_int_eq(kb_service_call(NULL, m, &call, &result), -KB_E_BAD_REQUEST);
        ck_assert_str_eq(call.error_field, "params");
        ck_assert_ptr_null(result);
        call.params = json_array();
        ck_assert_int_eq(kb_service_call(NULL, m, &call, &result), -KB_E_BAD_REQUEST);
        ck_assert_ptr_null(result);
        json_decref(call.params);
}
END_TEST

/* The "error" member of an error object, checked for its fixed shape. */
static json_t *error_member(json_t *o) {
        ck_assert_ptr_nonnull(o);
        ck_assert(json_is_object(o));
        ck_assert_uint_eq(json_object_size(o), 1);
        json_t *err = json_object_get(o, "error");
        ck_assert(json_is_object(err));
        return err;
}

START_TEST(test_error_json_has_code_and_english_message) {
        json_t *o = kb_error_json(KB_E_PIN_INCORRECT, false, NULL);
        json_t *err = error_member(o);

        ck_assert_uint_eq(json_object_size(err), 2);
        ck_assert_str_eq(json_string_value(json_object_get(err, "code")), "PIN_INCORRECT");
        ck_assert_str_eq(json_string_value(json_object_get(err, "message")),
                         kb_error_message(KB_E_PIN_INCORRECT, false));
        json_decref(o);
}
END_TEST

START_TEST(test_error_json_speaks_chinese_when_asked) {
        json_t *o = kb_error_json(KB_E_PIN_INCORRECT, true, NULL);
        json_t *err = error_member(o);

        ck_assert_str_eq(json_string_value(json_object_get(err, "code")), "PIN_INCORRECT");
        ck_assert_str_eq(json_string_value(json_object_get(err, "message")),
                         kb_error_message(KB_E_PIN_INCORRECT, true));
        ck_assert_str_ne(json_string_value(json_object_get(err, "message")),
                         kb_error_message(KB_E_PIN_INCORRECT, false));
        json_decref(o);
}
END_TEST

START_TEST(test_error_json_carries_field_and_details_without_overriding_code) {
        kb_call call = { 0 };
        snprintf(call.error_field, sizeof(call.error_field), "pin");
        call.error_details = json_pack("{s:s, s:i, s:s, s:s}", "pinStatus", "countLow", "retriesLeft", 2,
                                       "code", "OK", "message", "spoofed");
        ck_assert_ptr_nonnull(call.error_details);

        json_t *o = kb_error_json(KB_E_PIN_INCORRECT, false, &call);
        json_t *err = error_member(o);
        ck_assert_uint_eq(json_object_size(err), 5);
        ck_assert_str_eq(json_string_value(json_object_get(err, "code")), "PIN_INCORRECT");
        ck_assert_str_eq(json_string_value(json_object_get(err, "message")),
                         kb_error_message(KB_E_PIN_INCORRECT, false));
        ck_assert_str_eq(json_string_value(json_object_get(err, "field")), "pin");
        ck_assert_str_eq(json_string_value(json_object_get(err, "pinStatus")), "countLow");
        ck_assert_int_eq(json_integer_value(json_object_get(err, "retriesLeft")), 2);
        json_decref(o);
        /* The details stay the caller's. */
        ck_assert_uint_eq(json_object_size(call.error_details), 4);
        json_decref(call.error_details);
}
END_TEST

START_TEST(test_error_json_without_field_or_with_non_object_details_adds_nothing) {
        kb_call call = { 0 };
        call.error_details = json_pack("[i]", 1);
        ck_assert_ptr_nonnull(call.error_details);

        json_t *o = kb_error_json(KB_E_BAD_REQUEST, false, &call);
        json_t *err = error_member(o);
        ck_assert_uint_eq(json_object_size(err), 2);
        ck_assert_str_eq(json_string_value(json_object_get(err, "code")), "BAD_REQUEST");
        ck_assert_ptr_null(json_object_get(err, "field"));
        json_decref(o);
        json_decref(call.error_details);
}
END_TEST

int main(void) {
        Suite *s = suite_create("route");
        TCase *tc = tcase_create("core");
        size_t n;

        kb_methods(&n);
        tcase_add_loop_test(tc, test_every_table_route_resolves_to_its_own_method, 0, (int) n);
        tcase_add_loop_test(tc, test_every_table_route_refuses_the_other_method, 0, (int) n);
        tcase_add_test(tc, test_token_route_binds_the_token_id);
        tcase_add_test(tc, test_certificate_route_binds_token_and_certificate);
        tcase_add_test(tc, test_routes_without_parameters_bind_an_empty_object);
        tcase_add_test(tc, test_post_to_a_get_route_is_method_not_allowed);
        tcase_add_loop_test(tc, test_unknown_or_malformed_path_is_not_found, 0,
                            (int) (sizeof(unknown_paths) / sizeof(unknown_paths[0])));
        tcase_add_test(tc, test_segment_of_128_characters_binds_and_129_does_not);
        tcase_add_test(tc, test_each_method_is_found_by_its_name);
        tcase_add_test(tc, test_method_names_and_routes_are_unique);
        tcase_add_test(tc, test_every_method_has_a_name_a_v1_route_and_a_handler);
        tcase_add_test(tc, test_call_without_params_object_is_a_bad_request_naming_params);
        tcase_add_test(tc, test_error_json_has_code_and_english_message);
        tcase_add_test(tc, test_error_json_speaks_chinese_when_asked);
        tcase_add_test(tc, test_error_json_carries_field_and_details_without_overriding_code);
        tcase_add_test(tc, test_error_json_without_field_or_with_non_object_details_adds_nothing);
        suite_add_tcase(s, tc);

        return kb_check_run(s);
}
