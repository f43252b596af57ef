/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the Check unit tests: run a suite, TAP on stdout (meson sets
 * CK_TAP_LOG_FILE_NAME=-), exit status for meson. */
#pragma once

#include <check.h>
#include <stdlib.h>

static inline int kb_check_run(Suite *s) {
        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_ENV);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
