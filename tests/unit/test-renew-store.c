/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The renewal journal on disk: what a save gives back, and history that
 * never overwrites a finished install's record. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kb-check.h"
#include "kb-error.h"
#include "renew-internal.h"

#define TOKEN "0123456789abcdef"

static char dir[] = "/tmp/kb-renew-store-XXXXXX";

static kb_renewals *open_store(void) {
        kb_renewals *r = NULL;
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(kb_renewals_open(dir, &r), 0);
        return r;
}

static void remove_store(kb_renewals *r) {
        char cmd[128];
        kb_renewals_free(r);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
        strcpy(dir, "/tmp/kb-renew-store-XXXXXX");
}

/* An install with each part set; der bytes need not be certificates here. */
static void fill(kb_install *j, kb_install_phase phase) {
        static unsigned char new_der[] = { 0x30, 0x03, 0x02, 0x01, 0x07 };
        static unsigned char old_der[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
        static unsigned char enc_der[] = { 0x30, 0x03, 0x02, 0x01, 0x09 };
        *j = (kb_install) { .phase = phase, .started = 1700000000, .destroy_old_key = true,
                            .enc_key_ours = true, .enc_refused = 2 };
        strcpy(j->token, TOKEN);
        strcpy(j->request_id, "00112233445566778899aabbccddeeff");
        j->label = strdup("sign-2026");
        j->new_der = malloc(sizeof(new_der));
        j->old_der = malloc(sizeof(old_der));
        j->enc_der = malloc(sizeof(enc_der));
        ck_assert(j->label && j->new_der && j->old_der && j->enc_der);
        memcpy(j->new_der, new_der, j->new_len = sizeof(new_der));
        memcpy(j->old_der, old_der, j->old_len = sizeof(old_der));
        memcpy(j->enc_der, enc_der, j->enc_len = sizeof(enc_der));
        memcpy(j->new_key.v, "keybridge-0a1b", j->new_key.len = 14);
        memcpy(j->old_key.v, "\x01\x02", j->old_key.len = 2);
        j->enc_key = j->new_key;
}

static int history_files(void) {
        char path[256];
        int n = 0;
        snprintf(path, sizeof(path), "%s/renewal/history", dir);
        DIR *d = opendir(path);
        ck_assert_ptr_nonnull(d);
        for (struct dirent *e; (e = readdir(d));)
                n += strncmp(e->d_name, TOKEN "-", strlen(TOKEN) + 1) == 0;
        closedir(d);
        return n;
}

START_TEST(test_a_saved_journal_reads_back_the_same) {
        kb_renewals *r = open_store();
        kb_install j, back;
        fill(&j, KB_INSTALL_ROLLING_BACK);
        ck_assert_int_eq(kb_journal_save(r, &j), 0);
        ck_assert_int_eq(kb_journal_load(r, TOKEN, &back), 0);
        ck_assert_int_eq(back.phase, KB_INSTALL_ROLLING_BACK);
        ck_assert_str_eq(back.request_id, j.request_id);
        ck_assert_str_eq(back.label, "sign-2026");
        ck_assert(back.new_len == j.new_len && memcmp(back.new_der, j.new_der, j.new_len) == 0);
        ck_assert(back.enc_len == j.enc_len && memcmp(back.enc_der, j.enc_der, j.enc_len) == 0);
        ck_assert(back.new_key.len == 14 && memcmp(back.new_key.v, "keybridge-0a1b", 14) == 0);
        ck_assert(back.old_key.len == 2 && memcmp(back.old_key.v, "\x01\x02", 2) == 0);
        ck_assert(back.destroy_old_key && back.enc_key_ours && !back.enc_cert_ours);
        ck_assert_int_eq(back.enc_refused, 2);
        kb_install_clear(&back);
        kb_install_clear(&j);
        remove_store(r);
}
END_TEST

START_TEST(test_installs_finished_in_one_second_each_keep_their_history) {
        kb_renewals *r = open_store();
        kb_install j;
        fill(&j, KB_INSTALL_DONE);
        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(kb_journal_save(r, &j), 0);
                ck_assert_int_eq(kb_journal_close(r, &j), 0);
                ck_assert(!kb_journal_exists(r, TOKEN));
        }
        ck_assert_int_eq(history_files(), 3);
        kb_install_clear(&j);
        remove_store(r);
}
END_TEST

START_TEST(test_a_rolled_back_install_leaves_no_history) {
        kb_renewals *r = open_store();
        kb_install j;
        fill(&j, KB_INSTALL_ROLLING_BACK);
        ck_assert_int_eq(kb_journal_save(r, &j), 0);
        ck_assert_int_eq(kb_journal_close(r, &j), 0);
        ck_assert(!kb_journal_exists(r, TOKEN));
        ck_assert_int_eq(history_files(), 0);
        kb_install_clear(&j);
        kb_install back;
        ck_assert_int_eq(kb_journal_load(r, TOKEN, &back), -KB_E_NOT_FOUND);
        remove_store(r);
}
END_TEST

int main(void) {
        Suite *s = suite_create("renew-store");
        TCase *tc = tcase_create("renew-store");
        tcase_add_test(tc, test_a_saved_journal_reads_back_the_same);
        tcase_add_test(tc, test_installs_finished_in_one_second_each_keep_their_history);
        tcase_add_test(tc, test_a_rolled_back_install_leaves_no_history);
        suite_add_tcase(s, tc);
        return kb_check_run(s);
}
