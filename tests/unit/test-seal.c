/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Seal bytes: media types against signatures and DER, and the envelope. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kb-check.h"
#include "kb-error.h"
#include "kb-seal.h"

/* A 1x1 greyscale PNG (signature, IHDR, IDAT, IEND). */
static const unsigned char png[] = {
        0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a,
        0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0, 0x3a, 0x7e, 0x9b, 0x55,
        0, 0, 0, 10, 'I', 'D', 'A', 'T', 0x78, 0x9c, 0x63, 0x60, 0, 0, 0, 2, 0, 1, 0x48, 0xaf, 0xa4, 0x71,
        0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82,
};
static const unsigned char gif[] = "GIF89a\1\0\1\0\200\0\0\0\0\0;";
static const unsigned char jpeg[] = { 0xff, 0xd8, 0xff, 0xe0, 0x00, 0x02, 0xff, 0xd9 };
/* SEQUENCE { IA5String "ES", INTEGER 4 } */
static const unsigned char der[] = { 0x30, 0x07, 0x16, 0x02, 'E', 'S', 0x02, 0x01, 0x04 };

#define MATCH(mt, b, n) kb_seal_bytes_match(mt, b, n)

START_TEST(test_each_type_accepts_its_own_bytes_only) {
        ck_assert(MATCH("image/png", png, sizeof(png)));
        ck_assert(MATCH("image/gif", gif, sizeof(gif) - 1));
        ck_assert(MATCH("image/jpeg", jpeg, sizeof(jpeg)));
        ck_assert(MATCH("application/octet-stream", der, sizeof(der)));
        ck_assert(!MATCH("image/jpeg", png, sizeof(png)));
        ck_assert(!MATCH("image/png", gif, sizeof(gif) - 1));
        ck_assert(!MATCH("image/gif", jpeg, sizeof(jpeg)));
        ck_assert(!MATCH("application/octet-stream", png, sizeof(png)));
        ck_assert(!MATCH("image/bmp", png, sizeof(png)));
}
END_TEST

START_TEST(test_truncated_images_are_refused) {
        ck_assert(!MATCH("image/png", png, sizeof(png) - 1));
        ck_assert(!MATCH("image/png", png, 8));
        ck_assert(!MATCH("image/gif", gif, sizeof(gif) - 2));
        ck_assert(!MATCH("image/jpeg", jpeg, sizeof(jpeg) - 1));
        ck_assert(!MATCH("image/jpeg", jpeg, 0));
}
END_TEST

START_TEST(test_ses_data_must_be_exactly_one_der_sequence) {
        unsigned char longer[sizeof(der) + 1], indefinite[] = { 0x30, 0x80, 0x02, 0x01, 0x04, 0x00, 0x00 };
        unsigned char set[sizeof(der)], bad_inner[sizeof(der)];
        memcpy(longer, der, sizeof(der));
        longer[sizeof(der)] = 0;
        memcpy(set, der, sizeof(der));
        set[0] = 0x31;
        memcpy(bad_inner, der, sizeof(der));
        bad_inner[3] = 0x7f; /* the IA5String claims more than the SEQUENCE holds */
        ck_assert(!MATCH("application/octet-stream", longer, sizeof(longer)));
        ck_assert(!MATCH("application/octet-stream", der, sizeof(der) - 1));
        ck_assert(!MATCH("application/octet-stream", indefinite, sizeof(indefinite)));
        ck_assert(!MATCH("application/octet-stream", set, sizeof(set)));
        ck_assert(!MATCH("application/octet-stream", bad_inner, sizeof(bad_inner)));
}
END_TEST

START_TEST(test_media_type_names_are_canonical) {
        ck_assert_str_eq(kb_seal_media_type("IMAGE/PNG"), "image/png");
        ck_assert_str_eq(kb_seal_media_type("application/octet-stream"), "application/octet-stream");
        ck_assert_ptr_null(kb_seal_media_type("image/png; charset=x"));
        ck_assert_ptr_null(kb_seal_media_type(NULL));
}
END_TEST

START_TEST(test_envelope_round_trips_and_damage_is_refused) {
        kb_seal in = { .media_type = "image/png", .data = (unsigned char *) png, .len = sizeof(png),
                       .generation = 0x0102030405060708ULL };
        unsigned char *env = NULL;
        size_t len = 0;
        kb_seal *out = NULL;
        ck_assert_int_eq(kb_seal_envelope(&in, &env, &len), 0);
        ck_assert_int_eq(kb_seal_from_envelope(env, len, &out), 0);
        ck_assert_str_eq(out->media_type, "image/png");
        ck_assert(out->generation == in.generation);
        ck_assert(out->len == sizeof(png) && memcmp(out->data, png, sizeof(png)) == 0);
        kb_seal_free(out);
        out = NULL;
        for (size_t cut = 0; cut < 8 + 8 + 1 + 9; cut++)
                ck_assert_int_eq(kb_seal_from_envelope(env, cut, &out), -KB_E_INTERNAL);
        env[0] ^= 1;
        ck_assert_int_eq(kb_seal_from_envelope(env, len, &out), -KB_E_INTERNAL);
        ck_assert_ptr_null(out);
        free(env);
}
END_TEST

int main(void) {
        Suite *s = suite_create("seal");
        TCase *tc = tcase_create("seal");
        tcase_add_test(tc, test_each_type_accepts_its_own_bytes_only);
        tcase_add_test(tc, test_truncated_images_are_refused);
        tcase_add_test(tc, test_ses_data_must_be_exactly_one_der_sequence);
        tcase_add_test(tc, test_media_type_names_are_canonical);
        tcase_add_test(tc, test_envelope_round_trips_and_damage_is_refused);
        suite_add_tcase(s, tc);
        return kb_check_run(s);
}
