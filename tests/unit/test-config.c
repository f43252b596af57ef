/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Configuration: single settings, the file syntax, the flags, and the layering
 * of system file, user file and flags with the derived defaults. */
#include <check.h>

#include "kb-check.h"
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define ERRLEN 512
#define MAX_ARGS 32
#define MAX_TEMPS 8
#define STATE_HOME "/kb-test/state"
#define RUNTIME_DIR "/kb-test/run"

#define ck_assert_err_has(err, s) \
        ck_assert_msg(strstr((err), (s)) != NULL, "error '%s' does not mention '%s'", (err), (s))

/* Temporary files of the running test, removed by the fixture. */
static char *temps[MAX_TEMPS];
static size_t n_temps;

static const char *temp_dir(void) {
        const char *t = getenv("TMPDIR");
        return t && t[0] == '/' ? t : "/tmp";
}

static const char *remember(char *path) {
        ck_assert_uint_lt(n_temps, MAX_TEMPS);
        temps[n_temps++] = path;
        return path;
}

static void write_all(const char *path, int fd, const char *text) {
        size_t len = strlen(text);
        ck_assert_msg(write(fd, text, len) == (ssize_t) len, "cannot write %s", path);
        ck_assert_int_eq(close(fd), 0);
}

static const char *temp_file(const char *text) {
        char *path;
        ck_assert_int_ge(asprintf(&path, "%s/kb-test-config-XXXXXX", temp_dir()), 0);
        int fd = mkstemp(path);
        ck_assert_msg(fd >= 0, "mkstemp %s", path);
        write_all(path, fd, text);
        return remember(path);
}

/* A fresh $XDG_CONFIG_HOME holding keybridge/keybridge.conf with text. */
static const char *temp_config_home(const char *text) {
        char *home, *sub, *file;
        ck_assert_int_ge(asprintf(&home, "%s/kb-test-home-XXXXXX", temp_dir()), 0);
        ck_assert_ptr_nonnull(mkdtemp(home));
        ck_assert_int_ge(asprintf(&sub, "%s/keybridge", home), 0);
        ck_assert_int_eq(mkdir(sub, 0700), 0);
        ck_assert_int_ge(asprintf(&file, "%s/keybridge.conf", sub), 0);
        FILE *f = fopen(file, "we");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(fputs(text, f), 0);
        ck_assert_int_eq(fclose(f), 0);
        remember(home);
        remember(sub);
        remember(file);
        return home;
}

/* A known environment: no user file, fixed state and runtime bases. */
static void setup(void) {
        n_temps = 0;
        setenv("XDG_CONFIG_HOME", "/kb-test/nonexistent-config", 1);
        setenv("XDG_STATE_HOME", STATE_HOME, 1);
        setenv("XDG_RUNTIME_DIR", RUNTIME_DIR, 1);
        setenv("HOME", "/kb-test/home", 1);
}

static void teardown(void) {
        /* Files before the directories that hold them: newest first. */
        while (n_temps > 0) {
                char *p = temps[--n_temps];
                if (unlink(p) < 0)
                        rmdir(p);
                free(p);
        }
}

/* kb_config_load with "keybridged" and the given flags (NULL-terminated). */
static int load(kb_config *c, const char *system_path, char *err, ...) {
        static char *argv[MAX_ARGS + 2];
        int argc = 0;
        va_list ap;

        argv[argc++] = (char *) "keybridged";
        va_start(ap, err);
        for (char *a; (a = va_arg(ap, char *)); argc++) {
                ck_assert_int_lt(argc, MAX_ARGS);
                argv[argc] = a;
        }
        va_end(ap);
        argv[argc] = NULL;
        err[0] = 0;
        return kb_config_load(c, system_path, argc, argv, err, ERRLEN);
}

static void assert_strv(const kb_strv *s, size_t n, const char *const *want) {
        ck_assert_uint_eq(s->n, n);
        for (size_t i = 0; i < n; i++)
                ck_assert_str_eq(s->v[i], want[i]);
}

#define ASSERT_STRV(s, ...) do { \
                static const char *const want_[] = { __VA_ARGS__ }; \
                assert_strv((s), sizeof(want_) / sizeof(want_[0]), want_); \
        } while (0)

START_TEST(test_defaults_apply_when_nothing_is_configured) {
        kb_config c;
        char err[ERRLEN];

        ck_assert_int_eq(load(&c, "/kb-test/nonexistent-system.conf", err, NULL), 0);
        ck_assert(c.tls);
        ck_assert(!c.foreground);
        ck_assert(!c.help);
        ck_assert(!c.version);
        ck_assert_int_eq(c.expiry_warning_days, 90);
        ck_assert_uint_eq(c.max_body, 1024 * 1024);
        ck_assert_uint_eq(c.max_connections, KB_DEFAULT_MAX_CONNECTIONS);
        ck_assert_uint_eq(c.idle_timeout, KB_DEFAULT_IDLE_TIMEOUT);
        ck_assert_uint_eq(c.poll_ms, KB_DEFAULT_POLL_MS);
        ASSERT_STRV(&c.listen, "127.0.0.1:27182", "[::1]:27182");
        ck_assert(c.listen_is_default);
        ck_assert_uint_eq(c.modules.n, 0);
        ck_assert_uint_eq(c.skf_libraries.n, 0);
        ck_assert_uint_eq(c.allow_origins.n, 0);
        ck_assert_str_eq(c.state_dir, STATE_HOME "/keybridge");
        ck_assert_str_eq(c.runtime_dir, RUNTIME_DIR "/keybridge");
        ck_assert_str_eq(c.pinentry, "pinentry");
        ck_assert_str_eq(c.user_config, "/kb-test/nonexistent-config/keybridge/keybridge.conf");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_init_sets_defaults_without_a_listen_list) {
        kb_config c;
        kb_config_init(&c);
        ck_assert(c.tls);
        ck_assert_int_eq(c.expiry_warning_days, KB_DEFAULT_WARNING_DAYS);
        ck_assert_uint_eq(c.max_body, KB_DEFAULT_MAX_BODY);
        ck_assert_uint_eq(c.listen.n, 0);
        ck_assert(!c.listen_is_default);
        ck_assert_ptr_null(c.state_dir);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_state_dir_falls_back_to_home_without_xdg_state_home) {
        kb_config c;
        char err[ERRLEN];

        unsetenv("XDG_STATE_HOME");
        ck_assert_int_eq(load(&c, NULL, err, NULL), 0);
        ck_assert_str_eq(c.state_dir, "/kb-test/home/.local/state/keybridge");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_relative_xdg_state_home_is_ignored) {
        kb_config c;
        char err[ERRLEN];

        setenv("XDG_STATE_HOME", "relative/state", 1);
        ck_assert_int_eq(load(&c, NULL, err, NULL), 0);
        ck_assert_str_eq(c.state_dir, "/kb-test/home/.local/state/keybridge");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_no_state_base_at_all_asks_for_state_dir) {
        kb_config c;
        char err[ERRLEN];

        unsetenv("XDG_STATE_HOME");
        unsetenv("HOME");
        ck_assert_int_lt(load(&c, NULL, err, NULL), 0);
        ck_assert_err_has(err, "--state-dir");
        kb_config_clear(&c);

        ck_assert_int_eq(load(&c, NULL, err, "--state-dir", "/var/lib/kb", NULL), 0);
        ck_assert_str_eq(c.state_dir, "/var/lib/kb");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_runtime_dir_is_null_without_xdg_runtime_dir) {
        kb_config c;
        char err[ERRLEN];

        unsetenv("XDG_RUNTIME_DIR");
        ck_assert_int_eq(load(&c, NULL, err, NULL), 0);
        ck_assert_ptr_null(c.runtime_dir);
        ck_assert_ptr_nonnull(c.state_dir);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_relative_xdg_runtime_dir_is_ignored) {
        kb_config c;
        char err[ERRLEN];

        setenv("XDG_RUNTIME_DIR", "run", 1);
        ck_assert_int_eq(load(&c, NULL, err, NULL), 0);
        ck_assert_ptr_null(c.runtime_dir);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_explicit_dirs_win_over_the_environment) {
        kb_config c;
        char err[ERRLEN];

        ck_assert_int_eq(load(&c, NULL, err, "--state-dir", "/s", "--runtime-dir", "/r", NULL), 0);
        ck_assert_str_eq(c.state_dir, "/s");
        ck_assert_str_eq(c.runtime_dir, "/r");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_file_syntax_allows_comments_quotes_spaces_and_either_dash) {
        static const char text[] =
                "# a comment\n"
                "; another comment\n"
                "\n"
                "   \t\n"
                "   listen = 127.0.0.1:1234\n"
                "listen=\"[::1]:1234\"\n"
                "allow_origin = https://a.example\n"
                "\tallow-origin\t=\t\"https://b.example:8443\"   \n"
                "expiry_warning_days = 30\n"
                "max-body-bytes = 2048\n"
                "tls = No\r\n"
                "pinentry = /usr/bin/pinentry --opt=1\n"
                "state-dir = \"/var/tmp/kb state\"\n"
                "module = /usr/lib/a.so";       /* no final newline */
        const char *path = temp_file(text);
        kb_config c;
        char err[ERRLEN] = "";

        kb_config_init(&c);
        ck_assert_msg(kb_config_parse_file(&c, KB_CONFIG_SYSTEM, path, err, sizeof(err)) == 0, "%s", err);
        ASSERT_STRV(&c.listen, "127.0.0.1:1234", "[::1]:1234");
        ASSERT_STRV(&c.allow_origins, "https://a.example", "https://b.example:8443");
        ASSERT_STRV(&c.modules, "/usr/lib/a.so");
        ck_assert_int_eq(c.expiry_warning_days, 30);
        ck_assert_uint_eq(c.max_body, 2048);
        ck_assert(!c.tls);
        ck_assert_str_eq(c.pinentry, "/usr/bin/pinentry --opt=1");
        ck_assert_str_eq(c.state_dir, "/var/tmp/kb state");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_runtime_dir_in_single_quotes_is_a_relative_path) {
        const char *path = temp_file("runtime-dir = '/x'\n");
        kb_config c;
        char err[ERRLEN] = "";

        kb_config_init(&c);
        ck_assert_int_lt(kb_config_parse_file(&c, KB_CONFIG_SYSTEM, path, err, sizeof(err)), 0);
        ck_assert_err_has(err, "absolute path");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_missing_file_is_not_an_error) {
        kb_config c;
        char err[ERRLEN] = "";

        kb_config_init(&c);
        ck_assert_int_eq(kb_config_parse_file(&c, KB_CONFIG_SYSTEM, "/kb-test/none.conf", err, sizeof(err)), 0);
        ck_assert_str_eq(err, "");
        kb_config_clear(&c);
}
END_TEST

typedef struct file_error_row {
        const char *text;
        const char *line;       /* ":N:" */
        const char *needle;
} file_error_row;

static const file_error_row file_error_rows[] = {
        { "tls = yes\n# fine\nbogus = 1\n", ":3:", "unknown option 'bogus'" },
        { "\n\ntls = maybe\n", ":3:", "not a boolean" },
        { "# c\nlisten\n", ":2:", "expected 'key = value'" },
        { "tls = no # not a comment\n", ":1:", "not a boolean" },
        { "listen = 0.0.0.0:27182\n", ":1:", "loopback" },
        { "expiry-warning-days = 4000\n", ":1:", "from 0 to 3650" },
        { "module = lib.so\n", ":1:", "absolute path" },
        { "allow-origin = null\n", ":1:", "allow-origin" },
        { "no-tls = yes\n", ":1:", "command-line flag" },
        { "no_tls = yes\n", ":1:", "command-line flag" },
        { "TLS = no\n", ":1:", "unknown option 'TLS'" },
};

START_TEST(test_file_errors_name_the_file_and_line) {
        const file_error_row *row = &file_error_rows[_i];
        const char *path = temp_file(row->text);
        char where[600];
        kb_config c;
        char err[ERRLEN] = "";

        kb_config_init(&c);
        ck_assert_int_eq(kb_config_parse_file(&c, KB_CONFIG_USER, path, err, sizeof(err)), -EINVAL);
        snprintf(where, sizeof(where), "%s%s", path, row->line);
        ck_assert_msg(strncmp(err, where, strlen(where)) == 0, "error '%s' does not start with '%s'", err, where);
        ck_assert_err_has(err, row->needle);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_overlong_file_line_is_refused) {
        char *text = malloc(6000);
        ck_assert_ptr_nonnull(text);
        strcpy(text, "tls = yes\npinentry = /");
        size_t len = strlen(text);
        memset(text + len, 'x', 5000);
        strcpy(text + len + 5000, "\n");
        const char *path = temp_file(text);
        kb_config c;
        char err[ERRLEN] = "";

        kb_config_init(&c);
        ck_assert_int_lt(kb_config_parse_file(&c, KB_CONFIG_SYSTEM, path, err, sizeof(err)), 0);
        ck_assert_err_has(err, ":2: line too long");
        kb_config_clear(&c);
        free(text);
}
END_TEST

typedef struct set_row {
        const char *key;
        const char *value;
        bool ok;
        const char *needle;     /* in the error when refused */
} set_row;

static const set_row set_rows[] = {
        { "tls", "yes", true, NULL },
        { "tls", "NO", true, NULL },
        { "tls", "true", true, NULL },
        { "tls", "False", true, NULL },
        { "tls", "on", true, NULL },
        { "tls", "off", true, NULL },
        { "tls", "1", true, NULL },
        { "tls", "0", true, NULL },
        { "tls", "maybe", false, "not a boolean" },
        { "tls", "", false, "not a boolean" },
        { "tls", "yes please", false, "not a boolean" },
        { "bogus", "1", false, "unknown option 'bogus'" },
        { "", "1", false, "unknown option" },
        { "expiry-warning-days", "0", true, NULL },
        { "expiry-warning-days", "3650", true, NULL },
        { "expiry-warning-days", "3651", false, "from 0 to 3650" },
        { "expiry-warning-days", "-1", false, "not a number" },
        { "expiry-warning-days", "", false, "not a number" },
        { "expiry-warning-days", "12x", false, "not a number" },
        { "expiry-warning-days", " 5", false, "not a number" },
        { "expiry-warning-days", "+5", false, "not a number" },
        { "expiry-warning-days", "99999999999999999999999", false, "not a number" },
        { "max-body-bytes", "1023", false, "from 1024 to 67108864" },
        { "max-body-bytes", "1024", true, NULL },
        { "max-body-bytes", "67108864", true, NULL },
        { "max-body-bytes", "67108865", false, "not a number" },
        { "max-connections", "15", false, "not a number" },
        { "max-connections", "16", true, NULL },
        { "max-connections", "65536", true, NULL },
        { "max-connections", "65537", false, "not a number" },
        { "idle-timeout", "0", false, "not a number" },
        { "idle-timeout", "1", true, NULL },
        { "idle-timeout", "3600", true, NULL },
        { "idle-timeout", "3601", false, "not a number" },
        { "poll-interval-ms", "99", false, "not a number" },
        { "poll-interval-ms", "100", true, NULL },
        { "poll-interval-ms", "600000", true, NULL },
        { "poll-interval-ms", "600001", false, "not a number" },
        { "poll_interval_ms", "100", true, NULL },
        /* Listen: loopback addresses with a port from 1 to 65535 only. */
        { "listen", "127.0.0.1:1", true, NULL },
        { "listen", "127.0.0.1:65535", true, NULL },
        { "listen", "[::1]:1", true, NULL },
        { "listen", "0.0.0.0:1", false, "loopback" },
        { "listen", "[::]:1", false, "loopback" },
        { "listen", "localhost:1", false, "loopback" },
        { "listen", "127.0.0.2:1", false, "loopback" },
        { "listen", "::1:1", false, "loopback" },
        { "listen", "[::ffff:127.0.0.1]:1", false, "loopback" },
        { "listen", " 127.0.0.1:1", false, "loopback" },
        { "listen", ":70000", false, "loopback" },
        { "listen", "", false, "loopback" },
        { "listen", "127.0.0.1:0", false, "bad port" },
        { "listen", "127.0.0.1:65536", false, "bad port" },
        { "listen", "127.0.0.1:70000", false, "bad port" },
        { "listen", "127.0.0.1:x", false, "bad port" },
        { "listen", "127.0.0.1:", false, "bad port" },
        { "listen", "127.0.0.1:-1", false, "bad port" },
        { "listen", "127.0.0.1:80 ", false, "bad port" },
        { "listen", "[::1]:99999999999999999999", false, "bad port" },
        /* Paths: absolute, except the pinentry program which may be a name. */
        { "module", "/usr/lib/p11.so", true, NULL },
        { "module", "lib.so", false, "absolute path" },
        { "skf-library", "./skf.so", false, "absolute path" },
        { "skf_library", "/opt/skf.so", true, NULL },
        { "state-dir", "state", false, "absolute path" },
        { "runtime-dir", "", false, "absolute path" },
        { "pinentry", "pinentry-curses", true, NULL },
        /* Origins as browsers serialize them. */
        { "allow-origin", "https://portal.example.cn", true, NULL },
        { "allow-origin", "null", false, "allow-origin" },
        { "allow-origin", "https://portal.example.cn/", false, "allow-origin" },
};

START_TEST(test_each_setting_accepts_or_refuses_its_value) {
        const set_row *row = &set_rows[_i];
        kb_config c;
        char err[ERRLEN] = "";

        kb_config_init(&c);
        int r = kb_config_set(&c, KB_CONFIG_FLAGS, row->key, row->value, err, sizeof(err));
        if (row->ok) {
                ck_assert_msg(r == 0, "%s = '%s' refused: %s", row->key, row->value, err);
        } else {
                ck_assert_msg(r == -EINVAL, "%s = '%s' accepted", row->key, row->value);
                ck_assert_err_has(err, row->needle);
        }
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_settings_are_stored_in_their_fields) {
        kb_config c;
        char err[ERRLEN] = "";

        kb_config_init(&c);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "tls", "off", err, sizeof(err)), 0);
        ck_assert(!c.tls);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "tls", "on", err, sizeof(err)), 0);
        ck_assert(c.tls);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "no-tls", "yes", err, sizeof(err)), 0);
        ck_assert(!c.tls);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "foreground", "yes", err, sizeof(err)), 0);
        ck_assert(c.foreground);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "expiry-warning-days", "7", err, sizeof(err)), 0);
        ck_assert_int_eq(c.expiry_warning_days, 7);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "max_body_bytes", "4096", err, sizeof(err)), 0);
        ck_assert_uint_eq(c.max_body, 4096);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "max-connections", "32", err, sizeof(err)), 0);
        ck_assert_uint_eq(c.max_connections, 32);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "idle-timeout", "5", err, sizeof(err)), 0);
        ck_assert_uint_eq(c.idle_timeout, 5);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "poll-interval-ms", "250", err, sizeof(err)), 0);
        ck_assert_uint_eq(c.poll_ms, 250);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "state-dir", "/a", err, sizeof(err)), 0);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "state-dir", "/b", err, sizeof(err)), 0);
        ck_assert_str_eq(c.state_dir, "/b");
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "runtime-dir", "/r", err, sizeof(err)), 0);
        ck_assert_str_eq(c.runtime_dir, "/r");
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "pinentry", "pinentry-qt", err, sizeof(err)), 0);
        ck_assert_str_eq(c.pinentry, "pinentry-qt");
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "skf-library", "/opt/skf.so", err, sizeof(err)), 0);
        ASSERT_STRV(&c.skf_libraries, "/opt/skf.so");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_pin_must_change_after_unblock_is_the_administrators_alone) {
        kb_config c;
        char err[ERRLEN] = "";

        kb_config_init(&c);
        ck_assert(!c.pin_must_change_after_unblock);
        ck_assert_int_lt(kb_config_set(&c, KB_CONFIG_USER, "pin-must-change-after-unblock", "yes", err, sizeof(err)), 0);
        ck_assert_ptr_nonnull(strstr(err, "administrator"));
        ck_assert_int_lt(kb_config_set(&c, KB_CONFIG_FLAGS, "pin_must_change_after_unblock", "yes", err, sizeof(err)), 0);
        ck_assert(!c.pin_must_change_after_unblock);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_SYSTEM, "pin-must-change-after-unblock", "yes", err, sizeof(err)), 0);
        ck_assert(c.pin_must_change_after_unblock);
        ck_assert_int_lt(kb_config_set(&c, KB_CONFIG_SYSTEM, "pin-must-change-after-unblock", "maybe", err, sizeof(err)), 0);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_refused_value_leaves_the_setting_alone) {
        kb_config c;
        char err[ERRLEN] = "";

        kb_config_init(&c);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_USER, "listen", "127.0.0.1:1", err, sizeof(err)), 0);
        ck_assert_int_lt(kb_config_set(&c, KB_CONFIG_USER, "listen", "0.0.0.0:1", err, sizeof(err)), 0);
        ck_assert_int_lt(kb_config_set(&c, KB_CONFIG_FLAGS, "listen", "0.0.0.0:1", err, sizeof(err)), 0);
        ASSERT_STRV(&c.listen, "127.0.0.1:1");
        ck_assert_int_lt(kb_config_set(&c, KB_CONFIG_FLAGS, "expiry-warning-days", "9999", err, sizeof(err)), 0);
        ck_assert_int_eq(c.expiry_warning_days, KB_DEFAULT_WARNING_DAYS);
        ck_assert_int_lt(kb_config_set(&c, KB_CONFIG_FLAGS, "tls", "nope", err, sizeof(err)), 0);
        ck_assert(c.tls);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_list_values_from_one_source_accumulate_and_a_later_source_replaces_them) {
        kb_config c;
        char err[ERRLEN] = "";

        kb_config_init(&c);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_SYSTEM, "listen", "127.0.0.1:1", err, sizeof(err)), 0);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_SYSTEM, "listen", "[::1]:1", err, sizeof(err)), 0);
        ASSERT_STRV(&c.listen, "127.0.0.1:1", "[::1]:1");
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_USER, "listen", "127.0.0.1:2", err, sizeof(err)), 0);
        ASSERT_STRV(&c.listen, "127.0.0.1:2");
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "listen", "127.0.0.1:3", err, sizeof(err)), 0);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "listen", "[::1]:3", err, sizeof(err)), 0);
        ASSERT_STRV(&c.listen, "127.0.0.1:3", "[::1]:3");

        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_SYSTEM, "allow-origin", "https://a.example", err, sizeof(err)), 0);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_USER, "allow-origin", "https://b.example", err, sizeof(err)), 0);
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "allow-origin", "https://c.example", err, sizeof(err)), 0);
        ASSERT_STRV(&c.allow_origins, "https://a.example", "https://b.example", "https://c.example");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_a_list_holds_at_most_64_values) {
        kb_config c;
        char err[ERRLEN] = "", v[32];

        kb_config_init(&c);
        for (int i = 1; i <= 64; i++) {
                snprintf(v, sizeof(v), "127.0.0.1:%d", i);
                ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "listen", v, err, sizeof(err)), 0);
        }
        ck_assert_int_eq(kb_config_set(&c, KB_CONFIG_FLAGS, "listen", "127.0.0.1:65", err, sizeof(err)), -EINVAL);
        ck_assert_err_has(err, "too many values");
        ck_assert_uint_eq(c.listen.n, 64);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_listen_parse_returns_family_host_and_port) {
        int family = 0;
        char host[16];
        unsigned port = 0;

        ck_assert_int_eq(kb_listen_parse("127.0.0.1:27182", &family, host, sizeof(host), &port), 0);
        ck_assert_int_eq(family, 4);
        ck_assert_str_eq(host, "127.0.0.1");
        ck_assert_uint_eq(port, 27182);
        ck_assert_int_eq(kb_listen_parse("[::1]:443", &family, host, sizeof(host), &port), 0);
        ck_assert_int_eq(family, 6);
        ck_assert_str_eq(host, "::1");
        ck_assert_uint_eq(port, 443);
        ck_assert_int_eq(kb_listen_parse("0.0.0.0:443", &family, host, sizeof(host), &port), -EINVAL);
        ck_assert_int_eq(kb_listen_parse("127.0.0.1:0", &family, host, sizeof(host), &port), -ERANGE);
        ck_assert_uint_eq(port, 443);   /* untouched on failure */
}
END_TEST

typedef struct origin_row {
        const char *origin;
        bool valid;
} origin_row;

static const origin_row origin_rows[] = {
        { "https://portal.example.cn", true },
        { "http://portal.example.cn", true },
        { "https://portal.example.cn:8443", true },
        { "http://localhost:8080", true },
        { "http://127.0.0.1:3000", true },
        { "https://[::1]:8443", true },
        { "https://a-b.example", true },
        { "null", false },
        { "https://portal.example.cn/path", false },
        { "https://portal.example.cn/", false },
        { "https://Portal.example.cn", false },
        { "HTTPS://portal.example.cn", false },
        { "portal.example.cn", false },
        { "file://x", false },
        { "ftp://portal.example.cn", false },
        { "", false },
        { "https://", false },
        { "https://portal.example.cn:", false },
        { "https://portal.example.cn.", false },
        { "https://.portal.example.cn", false },
        { "https://user@portal.example.cn", false },
        { "https://portal.example.cn?x=1", false },
        { "https://portal.example.cn#x", false },
        { "https://portal example.cn", false },
        { "https://*.example.cn", false },
        { " https://portal.example.cn", false },
        { "https://:443", false },
        { "https://[", false },
        { "http://a:b:c", false },
        { "https://-", false },
        { "https://a..b", false },
        { "https://-a.example", false },
        { "https://portal.example.cn:0", false },
        { "https://portal.example.cn:65536", false },
        { "https://portal.example.cn:08443", false },
        { "https://[::1]", true },
        { "https://[::G]:1", false },
};

START_TEST(test_origin_validity_follows_browser_serialization) {
        const origin_row *row = &origin_rows[_i];
        kb_config c;
        char err[ERRLEN] = "";

        ck_assert_msg(kb_origin_is_valid(row->origin) == row->valid, "'%s' should be %s", row->origin,
                      row->valid ? "valid" : "invalid");
        kb_config_init(&c);
        int r = kb_config_set(&c, KB_CONFIG_FLAGS, "allow-origin", row->origin, err, sizeof(err));
        ck_assert_int_eq(r, row->valid ? 0 : -EINVAL);
        ck_assert_uint_eq(c.allow_origins.n, row->valid ? 1 : 0);
        if (!row->valid)
                ck_assert_err_has(err, "allow-origin");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_flags_win_over_user_file_and_user_file_over_system_file) {
        const char *sys = temp_file("listen = 127.0.0.1:1000\n"
                                    "module = /sys/mod.so\n"
                                    "skf-library = /sys/skf.so\n"
                                    "allow-origin = https://sys.example\n"
                                    "expiry-warning-days = 10\n"
                                    "pinentry = /sys/pinentry\n"
                                    "tls = no\n");
        const char *user = temp_file("listen = 127.0.0.1:2000\n"
                                     "listen = [::1]:2000\n"
                                     "allow-origin = https://user.example\n"
                                     "expiry-warning-days = 20\n"
                                     "tls = yes\n");
        kb_config c;
        char err[ERRLEN];

        ck_assert_msg(load(&c, sys, err, "--config", user, "--module", "/flag/a.so", "--module", "/flag/b.so",
                           "--allow-origin", "https://flag.example", "--expiry-warning-days", "30",
                           NULL) == 0, "%s", err);
        ASSERT_STRV(&c.listen, "127.0.0.1:2000", "[::1]:2000");
        ck_assert(!c.listen_is_default);
        ASSERT_STRV(&c.modules, "/flag/a.so", "/flag/b.so");
        ASSERT_STRV(&c.skf_libraries, "/sys/skf.so");
        ASSERT_STRV(&c.allow_origins, "https://sys.example", "https://user.example", "https://flag.example");
        ck_assert_int_eq(c.expiry_warning_days, 30);
        ck_assert_str_eq(c.pinentry, "/sys/pinentry");
        ck_assert(c.tls);
        ck_assert_str_eq(c.user_config, user);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_user_file_comes_from_xdg_config_home) {
        const char *home = temp_config_home("allow-origin = https://user.example\nlisten = 127.0.0.1:3000\n");
        kb_config c;
        char err[ERRLEN];
        char *want;

        setenv("XDG_CONFIG_HOME", home, 1);
        ck_assert_msg(load(&c, NULL, err, NULL) == 0, "%s", err);
        ASSERT_STRV(&c.allow_origins, "https://user.example");
        ASSERT_STRV(&c.listen, "127.0.0.1:3000");
        ck_assert(!c.listen_is_default);
        ck_assert_int_ge(asprintf(&want, "%s/keybridge/keybridge.conf", home), 0);
        ck_assert_str_eq(c.user_config, want);
        free(want);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_config_flag_replaces_the_xdg_user_file) {
        const char *home = temp_config_home("allow-origin = https://xdg.example\n");
        const char *other = temp_file("allow-origin = https://other.example\n");
        kb_config c;
        char err[ERRLEN];

        setenv("XDG_CONFIG_HOME", home, 1);
        ck_assert_msg(load(&c, NULL, err, "--config", other, NULL) == 0, "%s", err);
        ASSERT_STRV(&c.allow_origins, "https://other.example");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_user_file_under_home_without_xdg_config_home) {
        kb_config c;
        char err[ERRLEN];

        unsetenv("XDG_CONFIG_HOME");
        ck_assert_int_eq(load(&c, NULL, err, NULL), 0);
        ck_assert_str_eq(c.user_config, "/kb-test/home/.config/keybridge/keybridge.conf");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_error_in_system_file_stops_loading) {
        const char *sys = temp_file("listen = 127.0.0.1:1\nlisten = 0.0.0.0:1\n");
        kb_config c;
        char err[ERRLEN];
        char *where;

        ck_assert_int_eq(load(&c, sys, err, NULL), -EINVAL);
        ck_assert_int_ge(asprintf(&where, "%s:2:", sys), 0);
        ck_assert_err_has(err, where);
        ck_assert_err_has(err, "loopback");
        free(where);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_error_in_user_file_names_it) {
        const char *user = temp_file("\n\nno-tls = yes\n");
        kb_config c;
        char err[ERRLEN];
        char *where;

        ck_assert_int_eq(load(&c, NULL, err, "--config", user, NULL), -EINVAL);
        ck_assert_int_ge(asprintf(&where, "%s:3:", user), 0);
        ck_assert_err_has(err, where);
        free(where);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_no_tls_flag_turns_tls_off) {
        kb_config c;
        char err[ERRLEN];

        ck_assert_int_eq(load(&c, NULL, err, "--no-tls", NULL), 0);
        ck_assert(!c.tls);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_no_tls_flag_wins_over_tls_in_a_file) {
        const char *user = temp_file("tls = yes\n");
        kb_config c;
        char err[ERRLEN];

        ck_assert_int_eq(load(&c, NULL, err, "--config", user, "--no-tls", NULL), 0);
        ck_assert(!c.tls);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_foreground_flag_is_set) {
        kb_config c;
        char err[ERRLEN];

        ck_assert_int_eq(load(&c, NULL, err, "--foreground", NULL), 0);
        ck_assert(c.foreground);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_repeated_listen_flags_accumulate) {
        kb_config c;
        char err[ERRLEN];

        ck_assert_int_eq(load(&c, NULL, err, "--listen", "127.0.0.1:5000", "--listen=[::1]:5000", NULL), 0);
        ASSERT_STRV(&c.listen, "127.0.0.1:5000", "[::1]:5000");
        ck_assert(!c.listen_is_default);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_help_flag_sets_help_and_reads_no_file) {
        const char *sys = temp_file("bogus = 1\n");
        kb_config c;
        char err[ERRLEN];

        ck_assert_int_eq(load(&c, sys, err, "--help", NULL), 0);
        ck_assert(c.help);
        ck_assert_uint_eq(c.listen.n, 0);
        kb_config_clear(&c);
        ck_assert_int_eq(load(&c, sys, err, "-h", NULL), 0);
        ck_assert(c.help);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_version_flag_sets_version) {
        kb_config c;
        char err[ERRLEN];

        ck_assert_int_eq(load(&c, NULL, err, "--version", NULL), 0);
        ck_assert(c.version);
        ck_assert(!c.help);
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_unknown_flag_is_an_error) {
        kb_config c;
        char err[ERRLEN];

        ck_assert_int_eq(load(&c, NULL, err, "--bogus", NULL), -EINVAL);
        ck_assert_err_has(err, "--bogus");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_flag_without_its_argument_is_an_error) {
        kb_config c;
        char err[ERRLEN];

        ck_assert_int_eq(load(&c, NULL, err, "--listen", NULL), -EINVAL);
        ck_assert_err_has(err, "--listen");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_positional_argument_is_an_error) {
        kb_config c;
        char err[ERRLEN];

        ck_assert_int_eq(load(&c, NULL, err, "--no-tls", "extra", NULL), -EINVAL);
        ck_assert_err_has(err, "unexpected argument 'extra'");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_bad_flag_value_names_the_flag) {
        kb_config c;
        char err[ERRLEN];

        ck_assert_int_eq(load(&c, NULL, err, "--listen", "0.0.0.0:27182", NULL), -EINVAL);
        ck_assert_msg(strncmp(err, "--listen", 8) == 0, "error '%s' does not start with --listen", err);
        ck_assert_err_has(err, "loopback");
        kb_config_clear(&c);
        ck_assert_int_eq(load(&c, NULL, err, "--module", "relative.so", NULL), -EINVAL);
        ck_assert_err_has(err, "absolute path");
        kb_config_clear(&c);
}
END_TEST

START_TEST(test_clear_frees_everything_and_restores_defaults) {
        const char *sys = temp_file("module = /m.so\nskf-library = /s.so\nallow-origin = https://a.example\n");
        kb_config c;
        char err[ERRLEN];

        ck_assert_int_eq(load(&c, sys, err, "--state-dir", "/s", "--runtime-dir", "/r", "--pinentry", "/p",
                              "--no-tls", "--listen", "127.0.0.1:9", NULL), 0);
        kb_config_clear(&c);
        ck_assert(c.tls);
        ck_assert_uint_eq(c.listen.n, 0);
        ck_assert_ptr_null(c.listen.v);
        ck_assert_uint_eq(c.modules.n, 0);
        ck_assert_uint_eq(c.skf_libraries.n, 0);
        ck_assert_uint_eq(c.allow_origins.n, 0);
        ck_assert_ptr_null(c.state_dir);
        ck_assert_ptr_null(c.runtime_dir);
        ck_assert_ptr_null(c.pinentry);
        ck_assert_ptr_null(c.user_config);
        ck_assert_int_eq(c.expiry_warning_days, KB_DEFAULT_WARNING_DAYS);
        kb_config_clear(&c);    /* twice is harmless */
}
END_TEST

int main(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_defaults_apply_when_nothing_is_configured);
        tcase_add_test(tc, test_init_sets_defaults_without_a_listen_list);
        tcase_add_test(tc, test_state_dir_falls_back_to_home_without_xdg_state_home);
        tcase_add_test(tc, test_relative_xdg_state_home_is_ignored);
        tcase_add_test(tc, test_no_state_base_at_all_asks_for_state_dir);
        tcase_add_test(tc, test_runtime_dir_is_null_without_xdg_runtime_dir);
        tcase_add_test(tc, test_relative_xdg_runtime_dir_is_ignored);
        tcase_add_test(tc, test_explicit_dirs_win_over_the_environment);
        tcase_add_test(tc, test_file_syntax_allows_comments_quotes_spaces_and_either_dash);
        tcase_add_test(tc, test_runtime_dir_in_single_quotes_is_a_relative_path);
        tcase_add_test(tc, test_missing_file_is_not_an_error);
        tcase_add_loop_test(tc, test_file_errors_name_the_file_and_line, 0,
                            (int) (sizeof(file_error_rows) / sizeof(file_error_rows[0])));
        tcase_add_test(tc, test_overlong_file_line_is_refused);
        tcase_add_loop_test(tc, test_each_setting_accepts_or_refuses_its_value, 0,
                            (int) (sizeof(set_rows) / sizeof(set_rows[0])));
        tcase_add_test(tc, test_settings_are_stored_in_their_fields);
        tcase_add_test(tc, test_refused_value_leaves_the_setting_alone);
        tcase_add_test(tc, test_list_values_from_one_source_accumulate_and_a_later_source_replaces_them);
        tcase_add_test(tc, test_a_list_holds_at_most_64_values);
        tcase_add_test(tc, test_listen_parse_returns_family_host_and_port);
        tcase_add_loop_test(tc, test_origin_validity_follows_browser_serialization, 0,
                            (int) (sizeof(origin_rows) / sizeof(origin_rows[0])));
        tcase_add_test(tc, test_flags_win_over_user_file_and_user_file_over_system_file);
        tcase_add_test(tc, test_user_file_comes_from_xdg_config_home);
        tcase_add_test(tc, test_config_flag_replaces_the_xdg_user_file);
        tcase_add_test(tc, test_user_file_under_home_without_xdg_config_home);
        tcase_add_test(tc, test_error_in_system_file_stops_loading);
        tcase_add_test(tc, test_error_in_user_file_names_it);
        tcase_add_test(tc, test_no_tls_flag_turns_tls_off);
        tcase_add_test(tc, test_no_tls_flag_wins_over_tls_in_a_file);
        tcase_add_test(tc, test_foreground_flag_is_set);
        tcase_add_test(tc, test_repeated_listen_flags_accumulate);
        tcase_add_test(tc, test_help_flag_sets_help_and_reads_no_file);
        tcase_add_test(tc, test_version_flag_sets_version);
        tcase_add_test(tc, test_unknown_flag_is_an_error);
        tcase_add_test(tc, test_flag_without_its_argument_is_an_error);
        tcase_add_test(tc, test_positional_argument_is_an_error);
        tcase_add_test(tc, test_bad_flag_value_names_the_flag);
        tcase_add_test(tc, test_clear_frees_everything_and_restores_defaults);
        tcase_add_test(tc, test_pin_must_change_after_unblock_is_the_administrators_alone);
        suite_add_tcase(s, tc);

        return kb_check_run(s);
}
