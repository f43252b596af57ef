/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `keybridged trust install|remove|status` (see trust.h).
 *
 * The NSS databases are ~/.pki/nssdb (Chrome, Chromium; created on install if
 * missing) and every Firefox profile with a cert9.db under
 * ~/.mozilla/firefox/ and ~/snap/firefox/common/.mozilla/firefox/.
 *
 * Environment: KEYBRIDGE_NSSDB=<dir> replaces all of these with the single
 * NSS database in <dir> (created on install if missing). The tests use it so
 * they never touch $HOME; it also serves unusual browser setups.
 *
 * certutil (libnss3-tools) runs through posix_spawnp with an argument vector,
 * never through a shell.
 */
#include "kb-fs.h"
#include "trust.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "kb-openssl.h"
#include "tls.h"

#define NICK "keybridge local root"
#define OUTPUT_MAX (1024 * 1024)
#define REMOVE_ROUNDS 16 /* certutil -D removes one certificate per call */
#define POLICY_PATH "/etc/firefox/policies/policies.json"

extern char **environ;

typedef enum trust_action {
        ACTION_INSTALL,
        ACTION_REMOVE,
        ACTION_STATUS,
} trust_action;

typedef struct db_list {
        char **dirs;
        size_t n;
} db_list;

static void db_list_clear(db_list *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->dirs[i]);
        free(l->dirs);
        *l = (db_list) { 0 };
}

static int db_list_add(db_list *l, char *dir) {
        if (!dir)
                return -ENOMEM;
        char **d = realloc(l->dirs, (l->n + 1) * sizeof *d);
        if (!d) {
                free(dir);
                return -ENOMEM;
        }
        l->dirs = d;
        l->dirs[l->n++] = dir;
        return 0;
}

static bool is_file(const char *dir, const char *name) {
        _cleanup_free_ char *p = kb_path_join(dir, name);
        struct stat st;
        return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- running certutil ---- */

static bool certutil_on_path(void) {
        const char *path = getenv("PATH");
        _cleanup_free_ char *copy = strdup(path && path[0] ? path : "/usr/bin:/bin");
        char *save = NULL;
        for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *p = kb_path_join(d, "certutil");
                if (p && access(p, X_OK) == 0)
                        return true;
        }
        return false;
}

static int grow(char **buf, size_t *cap, size_t need) {
        if (need <= *cap)
                return 0;
        size_t c = *cap ? *cap : 4096;
        while (c < need)
                c *= 2;
        char *b = realloc(*buf, c + 1);
        if (!b)
                return -ENOMEM;
        *buf = b;
        *cap = c;
        return 0;
}

/* Read everything from fd; keep at most OUTPUT_MAX bytes, drain the rest. */
static char *read_output(int fd) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, cap = 0;
        char chunk[4096];
        if (grow(&buf, &cap, 1) < 0)
                return NULL;
        for (;;) {
                ssize_t k = read(fd, chunk, sizeof chunk);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                size_t take = (size_t) k < OUTPUT_MAX - n ? (size_t) k : OUTPUT_MAX - n;
                if (grow(&buf, &cap, n + take) < 0)
                        return NULL;
                memcpy(buf + n, chunk, take);
                n += take;
        }
        buf[n] = '\0';
        return TAKE_PTR(buf);
}

static int wait_child(pid_t pid) {
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Run certutil with argv; stdout and stderr go to *ret_out. Returns its exit
 * status, or -ENOENT when certutil cannot be found. */
static int run_certutil(char *const *argv, char **ret_out) {
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], STDERR_FILENO);
        pid_t pid;
        int r = posix_spawnp(&pid, "certutil", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(pfd[1]);
        if (r != 0) {
                close(pfd[0]);
                return -r;
        }
        char *out = read_output(pfd[0]);
        close(pfd[0]);
        r = wait_child(pid);
        if (r < 0 || !out) {
                free(out);
                return r < 0 ? r : -ENOMEM;
        }
        *ret_out = out;
        return r;
}

static bool says_not_found(const char *out) {
        return out && strcasestr(out, "could not find");
}

static void report_failure(const char *db, const char *what, int r, const char *out) {
        if (r == -ENOENT)
                fprintf(stderr, "certutil not found: install libnss3-tools\n");
        else if (r < 0)
                fprintf(stderr, "%s: cannot %s: %s\n", db, what, strerror(-r));
        else
                fprintf(stderr, "%s: cannot %s (certutil exit %d): %s", db, what, r, out ? out : "\n");
}

/* ---- one database ---- */

static int db_create(const char *dir, const char *db) {
        _cleanup_free_ char *out = NULL;
        int r = kb_mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        char *argv[] = { "certutil", "-N", "-d", (char *) db, "--empty-password", NULL };
        r = run_certutil(argv, &out);
        if (r != 0)
                report_failure(db, "create the NSS database", r, out);
        return r == 0 ? 0 : -EIO;
}

/* Delete every certificate named NICK. Returns how many, or negative. */
static int db_remove_nick(const char *db) {
        for (int i = 0; i < REMOVE_ROUNDS; i++) {
                _cleanup_free_ char *out = NULL;
                char *argv[] = { "certutil", "-D", "-d", (char *) db, "-n", NICK, NULL };
                int r = run_certutil(argv, &out);
                if (r == 0)
                        continue;
                if (r > 0 && says_not_found(out))
                        return i;
                report_failure(db, "remove the old root", r, out);
                return -EIO;
        }
        return REMOVE_ROUNDS;
}

static int db_install(const char *dir, const char *db, const char *root) {
        if (!is_file(dir, "cert9.db") && db_create(dir, db) < 0)
                return -EIO;
        int removed = db_remove_nick(db);
        if (removed < 0)
                return removed;
        _cleanup_free_ char *out = NULL;
        char *argv[] = { "certutil", "-A", "-d", (char *) db, "-t", "C,,", "-n", NICK, "-i", (char *) root, NULL };
        int r = run_certutil(argv, &out);
        if (r != 0) {
                report_failure(db, "add the root", r, out);
                return -EIO;
        }
        printf("%s: installed \"%s\"%s\n", db, NICK, removed > 0 ? " (replaced the old one)" : "");
        return 0;
}

static int db_remove(const char *dir, const char *db) {
        if (!is_file(dir, "cert9.db")) {
                printf("%s: no NSS database\n", db);
                return 0;
        }
        int removed = db_remove_nick(db);
        if (removed >= 0)
                printf("%s: %s\n", db, removed > 0 ? "removed" : "not installed");
        return removed < 0 ? removed : 0;
}

static int sha256_of(X509 *x, unsigned char md[static EVP_MAX_MD_SIZE]) {
        unsigned int len = 0;
        return X509_digest(x, EVP_sha256(), md, &len) == 1 && len == 32 ? 0 : -EIO;
}

/* Does any certificate in the PEM text have the same SHA-256 as root? */
static bool pem_holds(const char *pem, X509 *root) {
        unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
        _cleanup_(BIO_freep) BIO *b = BIO_new_mem_buf(pem, -1);
        bool found = false;
        if (!root || !b || sha256_of(root, want) < 0)
                return false;
        for (X509 *x; !found && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)); X509_free(x))
                found = sha256_of(x, got) == 0 && memcmp(want, got, 32) == 0;
        ERR_clear_error();
        return found;
}

static int db_status(const char *dir, const char *db, X509 *root) {
        if (!is_file(dir, "cert9.db")) {
                printf("%s: no NSS database\n", db);
                return 0;
        }
        _cleanup_free_ char *out = NULL;
        char *argv[] = { "certutil", "-L", "-d", (char *) db, "-n", NICK, "-a", NULL };
        int r = run_certutil(argv, &out);
        if (r > 0 && says_not_found(out))
                printf("%s: not installed\n", db);
        else if (r != 0) {
                report_failure(db, "list certificates", r, out);
                return -EIO;
        } else if (pem_holds(out, root))
                printf("%s: installed, matches the current root\n", db);
        else
                printf("%s: installed, but not the current root (run `keybridged trust install`)\n", db);
        return 0;
}

/* ---- finding databases ---- */

static const char *home_dir(char *buf, size_t size) {
        const char *h = getenv("HOME");
        struct passwd pw, *res = NULL;
        if (h && h[0] == '/')
                return h;
        if (getpwuid_r(getuid(), &pw, buf, size, &res) == 0 && res && res->pw_dir)
                return res->pw_dir;
        return NULL;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int add_profiles(db_list *l, const char *base) {
        DIR *d = opendir(base);
        size_t first = l->n;
        int r = 0;
        if (!d)
                return 0;
        for (struct dirent *e; r == 0 && (e = readdir(d));) {
                if (e->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *dir = kb_path_join(base, e->d_name);
                if (dir && is_file(dir, "cert9.db"))
                        r = db_list_add(l, TAKE_PTR(dir));
        }
        closedir(d);
        qsort(l->dirs + first, l->n - first, sizeof *l->dirs, cmp_str);
        return r;
}

static int collect_dbs(db_list *l) {
        const char *env = getenv("KEYBRIDGE_NSSDB");
        if (env && env[0])
                return db_list_add(l, strdup(env));
        char buf[4096];
        const char *home = home_dir(buf, sizeof buf);
        if (!home) {
                fprintf(stderr, "cannot find the home directory (set HOME or KEYBRIDGE_NSSDB)\n");
                return -ENOENT;
        }
        _cleanup_free_ char *ff = kb_path_join(home, ".mozilla/firefox");
        _cleanup_free_ char *snap = kb_path_join(home, "snap/firefox/common/.mozilla/firefox");
        int r = db_list_add(l, kb_path_join(home, ".pki/nssdb"));
        if (r >= 0 && ff && snap)
                r = add_profiles(l, ff);
        if (r >= 0 && ff && snap)
                r = add_profiles(l, snap);
        return r >= 0 && ff && snap ? 0 : -ENOMEM;
}

/* ---- the command ---- */

static char *absolute_root(const char *state_dir) {
        _cleanup_free_ char *p = kb_tls_root_path(state_dir);
        char cwd[4096];
        if (!p)
                return NULL;
        char *real = realpath(p, NULL);
        if (real || p[0] == '/')
                return real ? real : TAKE_PTR(p);
        return getcwd(cwd, sizeof cwd) ? kb_path_join(cwd, p) : TAKE_PTR(p);
}

static void print_json_string(const char *s) {
        putchar('"');
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\')
                        printf("\\%c", c);
                else if (c < 0x20)
                        printf("\\u%04x", c);
                else
                        putchar(c);
        }
        putchar('"');
}

static void print_policy(const char *root) {
        printf("\nFirefox alternative (system-wide, as root): add to %s\n"
               "(merge with any \"policies\" already there):\n"
               "{\"policies\":{\"Certificates\":{\"Install\":[", POLICY_PATH);
        print_json_string(root);
        printf("]}}}\n");
}

static int parse_action(int argc, char **argv) {
        static const char *const names[] = {
                [ACTION_INSTALL] = "install", [ACTION_REMOVE] = "remove", [ACTION_STATUS] = "status",
        };
        if (argc != 2 || !argv || !argv[0] || strcmp(argv[0], "trust") != 0 || !argv[1])
                return -EINVAL;
        for (size_t i = 0; i < KB_ELEMENTSOF(names); i++)
                if (strcmp(argv[1], names[i]) == 0)
                        return (int) i;
        return -EINVAL;
}

static X509 *load_root(const char *path) {
        _cleanup_(BIO_freep) BIO *b = BIO_new_file(path, "r");
        X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
        ERR_clear_error();
        return x;
}

static int run_action(trust_action act, const db_list *l, const char *root_path, X509 *root) {
        int failed = 0;
        for (size_t i = 0; i < l->n; i++) {
                _cleanup_free_ char *db = malloc(strlen(l->dirs[i]) + 5);
                if (!db)
                        return -ENOMEM;
                sprintf(db, "sql:%s", l->dirs[i]);
                int r = act == ACTION_INSTALL ? db_install(l->dirs[i], db, root_path) :
                        act == ACTION_REMOVE ? db_remove(l->dirs[i], db) :
                        db_status(l->dirs[i], db, root);
                failed |= r < 0;
        }
        return failed ? -EIO : 0;
}

int kb_trust_main(int argc, char **argv, const char *state_dir) {
        int act = parse_action(argc, argv);
        if (act < 0) {
                fprintf(stderr, "usage: keybridged trust install|remove|status\n");
                return 2;
        }
        if (!certutil_on_path()) {
                fprintf(stderr, "certutil not found: install libnss3-tools\n");
                return 1;
        }
        _cleanup_free_ char *root_path = state_dir ? absolute_root(state_dir) : NULL;
        _cleanup_(X509_freep) X509 *root = root_path ? load_root(root_path) : NULL;
        if (!root && act != ACTION_REMOVE) {
                fprintf(stderr, "%s: no local root; run keybridged once first to create it\n",
                        root_path ? root_path : "root.pem");
                if (act == ACTION_INSTALL || !root_path)
                        return 1;
        }
        _cleanup_(db_list_clear) db_list l = { 0 };
        int r = collect_dbs(&l);
        if (r >= 0)
                r = run_action(act, &l, root_path, root);
        if (act != ACTION_REMOVE)
                print_policy(root_path);
        fflush(stdout);
        return r < 0 ? 1 : 0;
}
