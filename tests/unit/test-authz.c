/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PIN authorizations per (origin, token), the idle timeout, cool-down, and
 * the PIN guard's decisions as a table. */
#include <check.h>

#include "kb-authz.h"
#include "kb-check.h"

#define T1 "0123456789abcdef"
#define T2 "fedcba9876543210"
#define A "https://a.example.cn"
#define B "https://b.example.cn"

START_TEST(a_grant_authorizes_that_origin_on_that_token_only) {
        kb_authz *a = kb_authz_new(60);
        ck_assert_int_eq(kb_authz_grant(a, T1, A, 1000), 0);
        ck_assert(kb_authz_check(a, T1, A, 1001));
        ck_assert(!kb_authz_check(a, T1, B, 1001));
        ck_assert(!kb_authz_check(a, T2, A, 1001));
        ck_assert(!kb_authz_check(a, T1, NULL, 1001));
        kb_authz_free(a);
}
END_TEST

START_TEST(use_restarts_the_idle_timeout_and_idleness_ends_it) {
        kb_authz *a = kb_authz_new(60);
        kb_authz_grant(a, T1, A, 1000);
        ck_assert(kb_authz_check(a, T1, A, 1059));      /* used at 1059 */
        ck_assert(kb_authz_check(a, T1, A, 1118));      /* 59 s later: still */
        ck_assert(!kb_authz_peek(a, T1, A, 1178));      /* 60 s idle: gone */
        ck_assert(!kb_authz_check(a, T1, A, 1178));
        kb_authz_free(a);
}
END_TEST

START_TEST(peek_does_not_count_as_use) {
        kb_authz *a = kb_authz_new(10);
        kb_authz_grant(a, T1, A, 0);
        ck_assert(kb_authz_peek(a, T1, A, 9));
        ck_assert(!kb_authz_peek(a, T1, A, 10));
        kb_authz_free(a);
}
END_TEST

START_TEST(revoking_a_token_ends_every_origins_authorization_on_it) {
        kb_authz *a = kb_authz_new(60);
        kb_authz_grant(a, T1, A, 0);
        kb_authz_grant(a, T1, B, 0);
        kb_authz_grant(a, T2, A, 0);
        kb_authz_revoke_token(a, T1);
        ck_assert(!kb_authz_check(a, T1, A, 1));
        ck_assert(!kb_authz_check(a, T1, B, 1));
        ck_assert(kb_authz_check(a, T2, A, 1));
        ck_assert(!kb_authz_token_in_use(a, T1, 1));
        ck_assert(kb_authz_token_in_use(a, T2, 1));
        kb_authz_free(a);
}
END_TEST

START_TEST(expire_drops_idle_entries_and_says_when_to_look_again) {
        kb_authz *a = kb_authz_new(60);
        ck_assert_int_eq(kb_authz_expire(a, 0), 0);
        kb_authz_grant(a, T1, A, 100);
        kb_authz_grant(a, T2, B, 130);
        ck_assert_int_eq(kb_authz_expire(a, 150), 160);
        ck_assert_int_eq(kb_authz_expire(a, 161), 190);
        ck_assert(!kb_authz_token_in_use(a, T1, 161));
        ck_assert_int_eq(kb_authz_expire(a, 200), 0);
        kb_authz_free(a);
}
END_TEST

START_TEST(a_cooldown_is_per_token_and_survives_revocation) {
        kb_authz *a = kb_authz_new(60);
        kb_authz_set_cooldown(a, T1, 105);
        kb_authz_revoke_token(a, T1);
        ck_assert_int_eq(kb_authz_cooldown(a, T1), 105);
        ck_assert_int_eq(kb_authz_cooldown(a, T2), 0);
        ck_assert_int_eq(kb_authz_expire(a, 100), 105);
        ck_assert_int_eq(kb_authz_expire(a, 106), 0);
        ck_assert_int_eq(kb_authz_cooldown(a, T1), 0);
        kb_authz_free(a);
}
END_TEST

START_TEST(an_empty_or_missing_origin_is_never_granted) {
        kb_authz *a = kb_authz_new(60);
        ck_assert_int_lt(kb_authz_grant(a, T1, "", 0), 0);
        ck_assert_int_lt(kb_authz_grant(a, T1, NULL, 0), 0);
        ck_assert(!kb_authz_token_in_use(a, T1, 0));
        kb_authz_free(a);
}
END_TEST

static const struct guard_row {
        const char *why;
        kb_pin_status status;
        bool confirm;
        int64_t now, cooldown;
        kb_error want;
} guard_rows[] = {
        { "an ok PIN may be tried", KB_PIN_OK, false, 10, 0, KB_E_OK },
        { "a low count may be tried", KB_PIN_COUNT_LOW, false, 10, 0, KB_E_OK },
        { "a must-change PIN may be tried", KB_PIN_MUST_CHANGE, false, 10, 0, KB_E_OK },
        { "the final try needs confirmation", KB_PIN_FINAL_TRY, false, 10, 0, KB_E_PIN_FINAL_TRY },
        { "a confirmed final try may be spent", KB_PIN_FINAL_TRY, true, 10, 0, KB_E_OK },
        { "a locked PIN is never tried", KB_PIN_LOCKED, false, 10, 0, KB_E_PIN_LOCKED },
        { "a locked PIN is never tried, confirmed or not", KB_PIN_LOCKED, true, 10, 0, KB_E_PIN_LOCKED },
        { "locked wins over cool-down", KB_PIN_LOCKED, false, 10, 20, KB_E_PIN_LOCKED },
        { "no try during the cool-down", KB_PIN_OK, false, 10, 11, KB_E_RATE_LIMITED },
        { "cool-down comes before the final-try question", KB_PIN_FINAL_TRY, false, 10, 11, KB_E_RATE_LIMITED },
        { "the cool-down ends at its time", KB_PIN_OK, false, 11, 11, KB_E_OK },
};

START_TEST(the_pin_guard_decides_as_the_table_says) {
        const struct guard_row *r = &guard_rows[_i];
        kb_error got = kb_pin_guard(r->status, r->confirm, r->now, r->cooldown);
        ck_assert_msg(got == r->want, "%s: got %s, want %s", r->why, kb_error_code(got), kb_error_code(r->want));
}
END_TEST

int main(void) {
        Suite *s = suite_create("authz");
        TCase *tc = tcase_create("authz");
        tcase_add_test(tc, a_grant_authorizes_that_origin_on_that_token_only);
        tcase_add_test(tc, use_restarts_the_idle_timeout_and_idleness_ends_it);
        tcase_add_test(tc, peek_does_not_count_as_use);
        tcase_add_test(tc, revoking_a_token_ends_every_origins_authorization_on_it);
        tcase_add_test(tc, expire_drops_idle_entries_and_says_when_to_look_again);
        tcase_add_test(tc, a_cooldown_is_per_token_and_survives_revocation);
        tcase_add_test(tc, an_empty_or_missing_origin_is_never_granted);
        tcase_add_loop_test(tc, the_pin_guard_decides_as_the_table_says, 0, (int) (sizeof(guard_rows) / sizeof(guard_rows[0])));
        suite_add_tcase(s, tc);
        return kb_check_run(s);
}
