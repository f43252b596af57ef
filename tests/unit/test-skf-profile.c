/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SKF vendor quirk profiles: what a line may say, and which library it is for. */
#include <check.h>
#include <string.h>

#include "kb-check.h"
#include "kb-error.h"
#include "kb-skf-profile.h"

START_TEST(test_good_lines_pass_the_check) {
        char err[256];
        ck_assert_int_eq(kb_skf_profile_check("libgm.so sm2-sign-alg=0x00020200", err, sizeof(err)), 0);
        ck_assert_int_eq(kb_skf_profile_check("/opt/v/lib.so error=0x0A00F001:PIN_LOCKED ulong=32", err,
                                              sizeof(err)), 0);
        ck_assert_int_eq(kb_skf_profile_check("  lib.so\terror=167833601:TOKEN_NOT_PRESENT", err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_bad_lines_say_which_word) {
        static const char *const bad[] = {
                "libgm.so", "", "libgm.so sm2-sign-alg", "libgm.so sm2-sign-alg=zz", "libgm.so colour=red",
                "libgm.so error=0x0A00F001", "libgm.so error=0x0A00F001:NO_SUCH_CODE", "libgm.so error=0:PIN_LOCKED",
                "libgm.so ulong=16", "libgm.so sm2-sign-alg=0x100000000", "libgm.so sm2-sign-alg=-1",
        };
        char err[256];
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                ck_assert_int_eq(kb_skf_profile_check(bad[i], err, sizeof(err)), -KB_E_BAD_REQUEST);
                ck_assert_msg(strstr(err, "skf-profile") != NULL, "%s: %s", bad[i], err);
        }
        kb_skf_profile_check("libgm.so ulong=32 colour=red", err, sizeof(err));
        ck_assert_ptr_nonnull(strstr(err, "'colour=red'"));
}
END_TEST

START_TEST(test_lines_apply_to_the_library_they_name) {
        char *lines[] = { "libgm.so sm2-sign-alg=0x00020200 error=0x0A00F001:PIN_LOCKED",
                          "/opt/other/libx.so ulong=64", "libgm.so error=0x0A00F002:TOKEN_FULL", "bad line" };
        kb_skf_profile p;
        kb_skf_profile_init(&p);
        kb_skf_profile_apply(&p, "/usr/lib/libgm.so", lines, 4);
        ck_assert_uint_eq(p.sm2_sign_alg, 0x00020200);
        ck_assert_uint_eq(p.ulong_bits, 32);
        ck_assert_int_eq(kb_skf_profile_error(&p, 0x0A00F001), KB_E_PIN_LOCKED);
        ck_assert_int_eq(kb_skf_profile_error(&p, 0x0A00F002), KB_E_TOKEN_FULL);
        ck_assert_int_eq(kb_skf_profile_error(&p, 0x0A00F003), -1);

        kb_skf_profile_init(&p);
        kb_skf_profile_apply(&p, "/opt/other/libx.so", lines, 4);
        ck_assert_uint_eq(p.ulong_bits, 64);
        ck_assert_uint_eq(p.sm2_sign_alg, SGD_SM2_1);
        ck_assert_uint_eq(p.n_errors, 0);

        kb_skf_profile_init(&p);     /* a path names that path only */
        kb_skf_profile_apply(&p, "/usr/lib/libx.so", lines, 4);
        ck_assert_uint_eq(p.ulong_bits, 32);
}
END_TEST

int main(void) {
        Suite *s = suite_create("skf-profile");
        TCase *tc = tcase_create("skf-profile");
        tcase_add_test(tc, test_good_lines_pass_the_check);
        tcase_add_test(tc, test_bad_lines_say_which_word);
        tcase_add_test(tc, test_lines_apply_to_the_library_they_name);
        suite_add_tcase(s, tc);
        return kb_check_run(s);
}
