/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The error table against api.md, and the CK_RV mapping and names. */
#include <check.h>

#include "kb-check.h"
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kb-error.h"
#include "kb-ck-rv.h"
#include "pkcs11-internal.h"

/* api.md, "Errors": the contract, written out independently of the table. */
static const struct {
        kb_error e;
        const char *code;
        int http;
} contract[] = {
        { KB_E_OK,                     "OK",                     200 },
        { KB_E_BAD_REQUEST,            "BAD_REQUEST",            400 },
        { KB_E_HOST_REJECTED,          "HOST_REJECTED",          403 },
        { KB_E_ORIGIN_NOT_ALLOWED,     "ORIGIN_NOT_ALLOWED",     403 },
        { KB_E_UNAUTHORIZED,           "UNAUTHORIZED",           401 },
        { KB_E_NOT_FOUND,              "NOT_FOUND",              404 },
        { KB_E_METHOD_NOT_ALLOWED,     "METHOD_NOT_ALLOWED",     405 },
        { KB_E_TOKEN_NOT_PRESENT,      "TOKEN_NOT_PRESENT",      409 },
        { KB_E_TOKEN_BUSY,             "TOKEN_BUSY",             409 },
        { KB_E_PIN_CANCELLED,          "PIN_CANCELLED",          409 },
        { KB_E_PIN_INCORRECT,          "PIN_INCORRECT",          401 },
        { KB_E_PIN_FINAL_TRY,          "PIN_FINAL_TRY",          409 },
        { KB_E_PIN_LOCKED,             "PIN_LOCKED",             423 },
        { KB_E_PIN_POLICY,             "PIN_POLICY",             400 },
        { KB_E_CERTIFICATE_MISMATCH,   "CERTIFICATE_MISMATCH",   409 },
        { KB_E_UNSUPPORTED_ALGORITHM,  "UNSUPPORTED_ALGORITHM",  400 },
        { KB_E_TOKEN_FULL,             "TOKEN_FULL",             507 },
        { KB_E_TOKEN_READ_ONLY,        "TOKEN_READ_ONLY",        409 },
        { KB_E_UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", 415 },
        { KB_E_PAYLOAD_TOO_LARGE,      "PAYLOAD_TOO_LARGE",      413 },
        { KB_E_RATE_LIMITED,           "RATE_LIMITED",           429 },
        { KB_E_INTERNAL,               "INTERNAL",               500 },
        { KB_E_TOKEN_NOT_INITIALIZED,  "TOKEN_NOT_INITIALIZED",  409 },
        { KB_E_NOT_RECIPIENT,          "NOT_RECIPIENT",          409 },
        { KB_E_DECRYPT_FAILED,         "DECRYPT_FAILED",         400 },
};

#define N_CONTRACT (sizeof(contract) / sizeof(contract[0]))

static bool has_non_ascii(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s >= 0x80)
                        return true;
        return false;
}

START_TEST(test_each_api_code_has_its_contract_status) {
        kb_error e = contract[_i].e;

        ck_assert_str_eq(kb_error_code(e), contract[_i].code);
        ck_assert_msg(kb_error_http_status(e) == contract[_i].http, "%s answers %d, api.md says %d",
                      contract[_i].code, kb_error_http_status(e), contract[_i].http);
}
END_TEST

START_TEST(test_every_enum_value_is_in_the_contract) {
        ck_assert_int_eq(_KB_E_MAX, (int) N_CONTRACT);
        for (int e = 0; e < _KB_E_MAX; e++) {
                bool found = false;
                for (size_t i = 0; i < N_CONTRACT; i++)
                        found |= contract[i].e == (kb_error) e;
                ck_assert_msg(found, "%s is not in api.md's table", kb_error_code((kb_error) e));
        }
}
END_TEST

START_TEST(test_every_code_is_unique_and_non_empty) {
        for (int e = 0; e < _KB_E_MAX; e++) {
                const char *code = kb_error_code((kb_error) e);
                ck_assert_ptr_nonnull(code);
                ck_assert_uint_gt(strlen(code), 0);
                for (size_t i = 0; code[i]; i++)
                        ck_assert_msg((code[i] >= 'A' && code[i] <= 'Z') || code[i] == '_',
                                      "code %s is not UPPER_SNAKE", code);
                for (int f = e + 1; f < _KB_E_MAX; f++)
                        ck_assert_str_ne(code, kb_error_code((kb_error) f));
        }
}
END_TEST

START_TEST(test_every_code_has_distinct_english_and_chinese_messages) {
        for (int e = 0; e < _KB_E_MAX; e++) {
                const char *en = kb_error_message((kb_error) e, false);
                const char *zh = kb_error_message((kb_error) e, true);
                const char *code = kb_error_code((kb_error) e);

                ck_assert_msg(en && en[0], "%s has no English message", code);
                ck_assert_msg(zh && zh[0], "%s has no Chinese message", code);
                ck_assert_msg(strcmp(en, zh) != 0, "%s: the Chinese message is the English one", code);
                ck_assert_msg(!has_non_ascii(en), "%s: the English message is not ASCII", code);
                ck_assert_msg(has_non_ascii(zh), "%s: the Chinese message is plain ASCII", code);
        }
}
END_TEST

START_TEST(test_code_names_round_trip) {
        for (int e = 0; e < _KB_E_MAX; e++)
                ck_assert_int_eq(kb_error_from_code(kb_error_code((kb_error) e)), e);
}
END_TEST

START_TEST(test_unknown_code_name_is_minus_one) {
        ck_assert_int_eq(kb_error_from_code("NO_SUCH_CODE"), -1);
        ck_assert_int_eq(kb_error_from_code(""), -1);
        ck_assert_int_eq(kb_error_from_code("pin_incorrect"), -1);
        ck_assert_int_eq(kb_error_from_code("PIN_INCORRECT "), -1);
        ck_assert_int_eq(kb_error_from_code(NULL), -1);
}
END_TEST

START_TEST(test_return_values_normalise_to_errors) {
        ck_assert_int_eq(kb_error_from_ret(0), KB_E_OK);
        ck_assert_int_eq(kb_error_from_ret(7), KB_E_OK);
        ck_assert_int_eq(kb_error_from_ret(-KB_E_PIN_LOCKED), KB_E_PIN_LOCKED);
        ck_assert_int_eq(kb_error_from_ret(-KB_E_BAD_REQUEST), KB_E_BAD_REQUEST);
        ck_assert_int_eq(kb_error_from_ret(-KB_E_INTERNAL), KB_E_INTERNAL);
        ck_assert_int_eq(kb_error_from_ret(-(int) _KB_E_MAX), KB_E_INTERNAL);
        ck_assert_int_eq(kb_error_from_ret(-9999), KB_E_INTERNAL);
        ck_assert_int_eq(kb_error_from_ret(INT_MIN), KB_E_INTERNAL);
        for (int e = 0; e < _KB_E_MAX; e++)
                ck_assert_int_eq(kb_error_from_ret(-e), e);
}
END_TEST

START_TEST(test_out_of_range_error_has_no_code_and_is_internal) {
        kb_error bad[] = { _KB_E_MAX, (kb_error) (_KB_E_MAX + 100), (kb_error) -1 };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_ptr_null(kb_error_code(bad[i]));
                ck_assert_int_eq(kb_error_http_status(bad[i]), 500);
                ck_assert_str_eq(kb_error_message(bad[i], false), kb_error_message(KB_E_INTERNAL, false));
                ck_assert_str_eq(kb_error_message(bad[i], true), kb_error_message(KB_E_INTERNAL, true));
        }
}
END_TEST

static const struct {
        CK_RV rv;
        kb_error e;
} rv_rows[] = {
        { CKR_OK,                       KB_E_OK },
        { CKR_PIN_INCORRECT,            KB_E_PIN_INCORRECT },
        { CKR_PIN_LOCKED,               KB_E_PIN_LOCKED },
        { CKR_PIN_LEN_RANGE,            KB_E_PIN_POLICY },
        { CKR_PIN_INVALID,              KB_E_PIN_POLICY },
        { CKR_DEVICE_REMOVED,           KB_E_TOKEN_NOT_PRESENT },
        { CKR_TOKEN_NOT_PRESENT,        KB_E_TOKEN_NOT_PRESENT },
        { CKR_SESSION_HANDLE_INVALID,   KB_E_TOKEN_NOT_PRESENT },
        { CKR_DEVICE_MEMORY,            KB_E_TOKEN_FULL },
        { CKR_TOKEN_WRITE_PROTECTED,    KB_E_TOKEN_READ_ONLY },
        { CKR_MECHANISM_INVALID,        KB_E_UNSUPPORTED_ALGORITHM },
        { CKR_FUNCTION_CANCELED,        KB_E_PIN_CANCELLED },
        { CKR_GENERAL_ERROR,            KB_E_INTERNAL },
        { CKR_FUNCTION_FAILED,          KB_E_INTERNAL },
        { CKR_HOST_MEMORY,              KB_E_INTERNAL },
        { 0x8000abcdUL,                 KB_E_INTERNAL },
};

START_TEST(test_pkcs11_return_value_maps_to_its_error) {
        CK_RV rv = rv_rows[_i].rv;
        kb_error got = kb_pkcs11_rv_error(rv);

        ck_assert_msg(got == rv_rows[_i].e, "%s maps to %s, want %s", kb_pkcs11_rv_name(rv),
                      kb_error_code(got), kb_error_code(rv_rows[_i].e));
}
END_TEST

START_TEST(test_pkcs11_return_values_are_named_for_logs) {
        ck_assert_str_eq(kb_pkcs11_rv_name(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
        ck_assert_str_eq(kb_pkcs11_rv_name(CKR_OK), "CKR_OK");
        ck_assert_str_eq(kb_pkcs11_rv_name(CKR_DEVICE_REMOVED), "CKR_DEVICE_REMOVED");
        ck_assert_str_eq(kb_pkcs11_rv_name(0x8000abcdUL), "CKR_0x8000abcd");
        ck_assert_str_eq(kb_pkcs11_rv_name(0x1234UL), "CKR_0x00001234");
        /* from the one table shared with the fault module: named since lib/
         * and tests/p11fault keep no tables of their own */
        ck_assert_str_eq(kb_pkcs11_rv_name(CKR_PIN_TOO_WEAK), "CKR_PIN_TOO_WEAK");
        ck_assert_str_eq(kb_pkcs11_rv_name(CKR_CANT_LOCK), "CKR_CANT_LOCK");
}
END_TEST

/* Every value of pkcs11.h from CKR_OK to CKR_FUNCTION_REJECTED (0x200) that
 * has a name goes to it and back; the fault module parses its rules so. */
START_TEST(test_ckr_names_round_trip_through_the_one_table) {
        unsigned named = 0;

        for (CK_RV rv = 0; rv <= CKR_FUNCTION_REJECTED; rv++) {
                const char *name = kb_ck_rv_name(rv);
                CK_RV back = (CK_RV) -1;

                if (!name)
                        continue;
                named++;
                ck_assert_msg(strncmp(name, "CKR_", 4) == 0, "0x%lx is named %s", (unsigned long) rv, name);
                ck_assert_int_eq(kb_ck_rv_from_name(name, &back), 0);
                ck_assert_msg(back == rv, "%s parses to 0x%lx, not 0x%lx", name, (unsigned long) back,
                              (unsigned long) rv);
        }
        ck_assert_uint_ge(named, 90);
        CK_RV untouched = 7;
        ck_assert_int_eq(kb_ck_rv_from_name("CKR_NO_SUCH_THING", &untouched), -1);
        ck_assert_int_eq(untouched, 7);
}
END_TEST

int main(void) {
        Suite *s = suite_create("error");
        TCase *tc = tcase_create("core");

        tcase_add_loop_test(tc, test_each_api_code_has_its_contract_status, 0, (int) N_CONTRACT);
        tcase_add_test(tc, test_every_enum_value_is_in_the_contract);
        tcase_add_test(tc, test_every_code_is_unique_and_non_empty);
        tcase_add_test(tc, test_every_code_has_distinct_english_and_chinese_messages);
        tcase_add_test(tc, test_code_names_round_trip);
        tcase_add_test(tc, test_unknown_code_name_is_minus_one);
        tcase_add_test(tc, test_return_values_normalise_to_errors);
        tcase_add_test(tc, test_out_of_range_error_has_no_code_and_is_internal);
        tcase_add_loop_test(tc, test_pkcs11_return_value_maps_to_its_error, 0,
                            (int) (sizeof(rv_rows) / sizeof(rv_rows[0])));
        tcase_add_test(tc, test_pkcs11_return_values_are_named_for_logs);
        tcase_add_test(tc, test_ckr_names_round_trip_through_the_one_table);
        suite_add_tcase(s, tc);

        return kb_check_run(s);
}
