/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kb-build-config.h"
#include "kb-cleanup.h"
#include "kb-skf-profile.h"

#define MAX_LINE 4096
#define MAX_LIST 64

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static void strv_clear(kb_strv *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (kb_strv) { 0 };
}

static int strv_add(kb_strv *s, const char *value) {
        if (s->n >= MAX_LIST)
                return -E2BIG;
        /* Always NULL-terminated, so the list can be passed on as char **. */
        char **v = realloc(s->v, (s->n + 2) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        s->v = v;
        if (!(s->v[s->n] = strdup(value)))
                return -ENOMEM;
        s->v[++s->n] = NULL;
        return 0;
}

void kb_config_init(kb_config *c) {
        *c = (kb_config) {
                .tls = true,
                .origin_approval = true,
                .expiry_warning_days = KB_DEFAULT_WARNING_DAYS,
                .max_body = KB_DEFAULT_MAX_BODY,
                .max_connections = KB_DEFAULT_MAX_CONNECTIONS,
                .idle_timeout = KB_DEFAULT_IDLE_TIMEOUT,
                .poll_ms = KB_DEFAULT_POLL_MS,
                .ws_ping_interval = KB_DEFAULT_WS_PING,
                .pin_idle_timeout = KB_DEFAULT_PIN_IDLE,
                .dialog_timeout = KB_DEFAULT_DIALOG_TIMEOUT,
                .pin_cooldown = KB_DEFAULT_PIN_COOLDOWN,
                .dialogs_per_minute = KB_DEFAULT_DIALOGS_PER_MINUTE,
                .max_seal = KB_DEFAULT_MAX_SEAL,
        };
}

void kb_config_clear(kb_config *c) {
        strv_clear(&c->listen);
        strv_clear(&c->modules);
        strv_clear(&c->skf_libraries);
        strv_clear(&c->skf_profiles);
        strv_clear(&c->allow_origins);
        strv_clear(&c->page_pin_origins);
        free(c->state_dir);
        free(c->runtime_dir);
        free(c->pinentry);
        free(c->user_config);
        kb_config_init(c);
}

static int parse_bool(const char *v, bool *ret) {
        static const char *const yes[] = { "1", "yes", "true", "on" }, *const no[] = { "0", "no", "false", "off" };
        for (size_t i = 0; i < KB_ELEMENTSOF(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0)
                        return *ret = true, 0;
                if (strcasecmp(v, no[i]) == 0)
                        return *ret = false, 0;
        }
        return -EINVAL;
}

static int parse_uint(const char *v, unsigned long min, unsigned long max, unsigned long *ret) {
        char *end;
        if (!isdigit((unsigned char) v[0]))
                return -EINVAL;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || *end || n < min || n > max)
                return -EINVAL;
        *ret = n;
        return 0;
}

static bool valid_port(const char *p) {
        unsigned long n;
        return parse_uint(p, 1, 65535, &n) == 0 && p[0] != '0';
}

static bool valid_dns_host(const char *h, size_t len) {
        if (len == 0 || len > 253 || h[0] == '.' || h[len - 1] == '.')
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = h[i];
                bool label_edge = i == 0 || h[i - 1] == '.' || i + 1 == len || h[i + 1] == '.';
                if (c == '-' && label_edge)
                        return false;
                if (c == '.' && h[i + 1] == '.')
                        return false;
                if (!(islower((unsigned char) c) || isdigit((unsigned char) c) || c == '-' || c == '.'))
                        return false;
        }
        return true;
}

static bool valid_ipv6_literal(const char *h, size_t len) {
        if (len < 4 || h[0] != '[' || h[len - 1] != ']')
                return false;
        for (size_t i = 1; i + 1 < len; i++)
                if (!(isxdigit((unsigned char) h[i]) && !isupper((unsigned char) h[i])) && h[i] != ':' && h[i] != '.')
                        return false;
        return true;
}

/* An origin as browsers serialize it: scheme://host[:port], lower-case host,
 * no path, user info, trailing dot or slash. */
bool kb_origin_is_valid(const char *o) {
        const char *host;
        if (strncmp(o, "https://", 8) == 0)
                host = o + 8;
        else if (strncmp(o, "http://", 7) == 0)
                host = o + 7;
        else
                return false;
        const char *colon = host[0] == '[' ? strstr(host, "]:") : strchr(host, ':');
        if (colon && host[0] == '[')
                colon++;
        size_t hl = colon ? (size_t) (colon - host) : strlen(host);
        if (colon && !valid_port(colon + 1))
                return false;
        return host[0] == '[' ? valid_ipv6_literal(host, hl) : valid_dns_host(host, hl);
}

int kb_listen_parse(const char *s, int *ret_family, char *ret_host, size_t hostlen, unsigned *ret_port) {
        const char *port;
        int family;
        if (strncmp(s, "127.0.0.1:", 10) == 0) {
                family = 4, port = s + 10;
                snprintf(ret_host, hostlen, "127.0.0.1");
        } else if (strncmp(s, "[::1]:", 6) == 0) {
                family = 6, port = s + 6;
                snprintf(ret_host, hostlen, "::1");
        } else {
                return -EINVAL;
        }
        unsigned long p;
        if (parse_uint(port, 1, 65535, &p) < 0)
                return -ERANGE;
        *ret_family = family;
        *ret_port = (unsigned) p;
        return 0;
}

typedef enum kind {
        K_LIST,         /* replaced by a later source */
        K_ORIGIN,       /* accumulates */
        K_SKF_PROFILE,  /* accumulates */
        K_PAGE_PIN,     /* accumulates, administrator's file only */
        K_ADMIN_BOOL,   /* administrator's file only */
        K_BOOL,
        K_NO_TLS,
        K_DIR,
        K_PROGRAM,
        K_UINT,
} kind;

static const struct def {
        const char *name;
        kind kind;
        unsigned long min, max;
} defs[] = {
        { "listen",              K_LIST },
        { "module",              K_LIST },
        { "skf-library",         K_LIST },
        { "skf-profile",         K_SKF_PROFILE },
        { "allow-origin",        K_ORIGIN },
        { "tls",                 K_BOOL },
        { "origin-approval",     K_BOOL },
        { "no-tls",              K_NO_TLS },
        { "foreground",          K_BOOL },
        { "state-dir",           K_DIR },
        { "runtime-dir",         K_DIR },
        { "pinentry",            K_PROGRAM },
        { "expiry-warning-days", K_UINT, 0, 3650 },
        { "max-body-bytes",      K_UINT, 1024, 64UL * 1024 * 1024 },
        { "max-connections",     K_UINT, 16, 65536 },
        { "idle-timeout",        K_UINT, 1, 3600 },
        { "poll-interval-ms",    K_UINT, 100, 600000 },
        { "ws-ping-interval",    K_UINT, 1, 3600 },
        { "page-pin-origin",     K_PAGE_PIN },
        { "pin-must-change-after-unblock", K_ADMIN_BOOL },
        { "pin-idle-timeout",    K_UINT, 1, 3600 },
        { "dialog-timeout",      K_UINT, 5, 600 },
        { "pin-cooldown",        K_UINT, 0, 60 },
        { "dialogs-per-minute",  K_UINT, 1, 1000 },
        { "max-seal-bytes",      K_UINT, 1024, 64UL * 1024 * 1024 },
        { "seal-hidden",         K_BOOL },
};

static const struct def *find_def(const char *key) {
        char norm[64];
        size_t i;
        for (i = 0; key[i] && i < sizeof(norm) - 1; i++)
                norm[i] = key[i] == '_' ? '-' : key[i];
        norm[i] = 0;
        for (size_t j = 0; j < KB_ELEMENTSOF(defs); j++)
                if (strcmp(defs[j].name, norm) == 0)
                        return &defs[j];
        return NULL;
}

static int set_list(kb_config *c, kb_config_source src, const char *name, const char *value,
                    char *err, size_t errlen) {
        int idx = strcmp(name, "listen") == 0 ? 0 : strcmp(name, "module") == 0 ? 1 : 2;
        kb_strv *list = idx == 0 ? &c->listen : idx == 1 ? &c->modules : &c->skf_libraries;
        char host[16];
        int family;
        unsigned port;

        if (idx == 0) {
                int r = kb_listen_parse(value, &family, host, sizeof(host), &port);
                if (r == -ERANGE)
                        return fail(err, errlen, "listen: bad port in '%s'", value);
                if (r < 0)
                        return fail(err, errlen, "listen: refusing '%s': only 127.0.0.1:PORT and [::1]:PORT (loopback) are allowed", value);
        }
        if (idx != 0 && value[0] != '/')
                return fail(err, errlen, "%s: '%s' is not an absolute path", name, value);
        if (c->list_source[idx] != (int) src + 1) {
                strv_clear(list);
                c->list_source[idx] = (int) src + 1;
        }
        if (strv_add(list, value) < 0)
                return fail(err, errlen, "%s: too many values", name);
        return 0;
}

static int set_string(char **field, const char *value) {
        char *v = strdup(value);
        if (!v)
                return -ENOMEM;
        free(*field);
        *field = v;
        return 0;
}

static int set_uint(kb_config *c, const struct def *d, const char *value, char *err, size_t errlen) {
        unsigned long n;
        if (parse_uint(value, d->min, d->max, &n) < 0)
                return fail(err, errlen, "%s: '%s' is not a number from %lu to %lu", d->name, value, d->min, d->max);
        if (strcmp(d->name, "expiry-warning-days") == 0)
                c->expiry_warning_days = (int) n;
        else if (strcmp(d->name, "max-body-bytes") == 0)
                c->max_body = n;
        else if (strcmp(d->name, "max-connections") == 0)
                c->max_connections = (unsigned) n;
        else if (strcmp(d->name, "idle-timeout") == 0)
                c->idle_timeout = (unsigned) n;
        else if (strcmp(d->name, "pin-idle-timeout") == 0)
                c->pin_idle_timeout = (unsigned) n;
        else if (strcmp(d->name, "dialog-timeout") == 0)
                c->dialog_timeout = (unsigned) n;
        else if (strcmp(d->name, "pin-cooldown") == 0)
                c->pin_cooldown = (unsigned) n;
        else if (strcmp(d->name, "dialogs-per-minute") == 0)
                c->dialogs_per_minute = (unsigned) n;
        else if (strcmp(d->name, "max-seal-bytes") == 0)
                c->max_seal = n;
        else if (strcmp(d->name, "ws-ping-interval") == 0)
                c->ws_ping_interval = (unsigned) n;
        else
                c->poll_ms = (unsigned) n;
        return 0;
}

static int set_bool(kb_config *c, kb_config_source src, const struct def *d, const char *value,
                    char *err, size_t errlen) {
        bool b;
        if (parse_bool(value, &b) < 0)
                return fail(err, errlen, "%s: '%s' is not a boolean (yes/no, true/false)", d->name, value);
        if (strcmp(d->name, "tls") == 0)
                c->tls = b;
        else if (strcmp(d->name, "origin-approval") == 0) {
                /* The administrator's "no" is final: a page must not be able to
                 * talk the user into approving it where policy forbids it. */
                if (src == KB_CONFIG_SYSTEM && !b)
                        c->origin_approval_locked = true;
                c->origin_approval = b && !c->origin_approval_locked;
        }
        else if (strcmp(d->name, "pin-must-change-after-unblock") == 0)
                c->pin_must_change_after_unblock = b;
        else if (strcmp(d->name, "seal-hidden") == 0)
                c->seal_hidden = b;
        else
                c->foreground = b;
        return 0;
}

int kb_config_set(kb_config *c, kb_config_source src, const char *key, const char *value,
                  char *err, size_t errlen) {
        const struct def *d = find_def(key);
        if (!d)
                return fail(err, errlen, "unknown option '%s'", key);
        switch (d->kind) {
        case K_LIST:
                return set_list(c, src, d->name, value, err, errlen);
        case K_ORIGIN:
                if (!kb_origin_is_valid(value))
                        return fail(err, errlen, "allow-origin: '%s' is not an origin like https://portal.example.cn[:port]", value);
                return strv_add(&c->allow_origins, value) < 0 ? fail(err, errlen, "allow-origin: too many values") : 0;
        case K_SKF_PROFILE:
                if (kb_skf_profile_check(value, err, errlen) < 0)
                        return -EINVAL;
                return strv_add(&c->skf_profiles, value) < 0 ? fail(err, errlen, "skf-profile: too many values") : 0;
        case K_PAGE_PIN:
                /* A page that sees PINs is the administrator's decision alone. */
                if (src != KB_CONFIG_SYSTEM)
                        return fail(err, errlen, "page-pin-origin is set only in the administrator's file (%s)",
                                    KB_SYSCONFDIR "/keybridge/keybridge.conf");
                if (!kb_origin_is_valid(value))
                        return fail(err, errlen, "page-pin-origin: '%s' is not an origin", value);
                return strv_add(&c->page_pin_origins, value) < 0 ? fail(err, errlen, "page-pin-origin: too many values") : 0;
        case K_ADMIN_BOOL:
                if (src != KB_CONFIG_SYSTEM)
                        return fail(err, errlen, "%s is set only in the administrator's file (%s)", d->name,
                                    KB_SYSCONFDIR "/keybridge/keybridge.conf");
                return set_bool(c, src, d, value, err, errlen);
        case K_BOOL:
                return set_bool(c, src, d, value, err, errlen);
        case K_NO_TLS:
                c->tls = false;
                return 0;
        case K_DIR:
                if (value[0] != '/')
                        return fail(err, errlen, "%s: '%s' is not an absolute path", d->name, value);
                if (set_string(strcmp(d->name, "state-dir") == 0 ? &c->state_dir : &c->runtime_dir, value) < 0)
                        return fail(err, errlen, "%s: out of memory", d->name);
                return 0;
        case K_PROGRAM:
                return set_string(&c->pinentry, value) < 0 ? fail(err, errlen, "pinentry: out of memory") : 0;
        case K_UINT:
                return set_uint(c, d, value, err, errlen);
        }
        return -EINVAL;
}

static char *trim(char *s) {
        while (isspace((unsigned char) *s))
                s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = 0;
        return s;
}

static int parse_line(kb_config *c, kb_config_source src, char *line, char *err, size_t errlen) {
        char *s = trim(line);
        if (*s == 0 || *s == '#' || *s == ';')
                return 0;
        char *eq = strchr(s, '=');
        if (!eq)
                return fail(err, errlen, "expected 'key = value'");
        *eq = 0;
        char *key = trim(s), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
                value[vl - 1] = 0;
                value++;
        }
        const struct def *d = find_def(key);
        if (d && d->kind == K_NO_TLS)
                return fail(err, errlen, "'%s' is a command-line flag; in a file write 'tls = false'", key);
        return kb_config_set(c, src, key, value, err, errlen);
}

int kb_config_parse_file(kb_config *c, kb_config_source src, const char *path, char *err, size_t errlen) {
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        unsigned lineno = 0;
        char why[256];
        FILE *f = fopen(path, "re");

        if (!f)
                return errno == ENOENT ? 0 : fail(err, errlen, "%s: %s", path, strerror(errno));
        while ((len = getline(&line, &cap, f)) >= 0) {
                lineno++;
                if (len > MAX_LINE || parse_line(c, src, line, why, sizeof(why)) < 0) {
                        fclose(f);
                        return fail(err, errlen, "%s:%u: %s", path, lineno, len > MAX_LINE ? "line too long" : why);
                }
        }
        fclose(f);
        return 0;
}

#define MAX_FLAGS 256

static const struct option long_options[] = {
        { "listen",              required_argument, NULL, 0 },
        { "module",              required_argument, NULL, 0 },
        { "skf-library",         required_argument, NULL, 0 },
        { "skf-profile",         required_argument, NULL, 0 },
        { "allow-origin",        required_argument, NULL, 0 },
        { "no-tls",              no_argument,       NULL, 0 },
        { "origin-approval",     required_argument, NULL, 0 },
        { "state-dir",           required_argument, NULL, 0 },
        { "runtime-dir",         required_argument, NULL, 0 },
        { "pinentry",            required_argument, NULL, 0 },
        { "expiry-warning-days", required_argument, NULL, 0 },
        { "foreground",          no_argument,       NULL, 0 },
        { "max-body-bytes",      required_argument, NULL, 0 },
        { "max-connections",     required_argument, NULL, 0 },
        { "idle-timeout",        required_argument, NULL, 0 },
        { "poll-interval-ms",    required_argument, NULL, 0 },
        { "ws-ping-interval",    required_argument, NULL, 0 },
        { "pin-idle-timeout",    required_argument, NULL, 0 },
        { "dialog-timeout",      required_argument, NULL, 0 },
        { "pin-cooldown",        required_argument, NULL, 0 },
        { "dialogs-per-minute",  required_argument, NULL, 0 },
        { "max-seal-bytes",      required_argument, NULL, 0 },
        { "seal-hidden",         required_argument, NULL, 0 },
        { "config",              required_argument, NULL, 'c' },
        { "help",                no_argument,       NULL, 'h' },
        { "version",             no_argument,       NULL, 'V' },
        { 0 },
};

typedef struct flag {
        const char *key;
        const char *value;
} flag;

/* First pass: collect flags, so files can be read before flags apply. */
static int collect_flags(kb_config *c, int argc, char **argv, flag *flags, size_t *ret_n,
                         const char **ret_config, char *err, size_t errlen) {
        size_t n = 0;
        int opt, idx;

        opterr = 0;
        optind = 1;
        while ((opt = getopt_long(argc, argv, "c:hV", long_options, &idx)) != -1) {
                if (opt == 'h')
                        c->help = true;
                else if (opt == 'V')
                        c->version = true;
                else if (opt == 'c')
                        *ret_config = optarg;
                else if (opt == '?')
                        return fail(err, errlen, "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
                else if (n < MAX_FLAGS)
                        flags[n++] = (flag) { long_options[idx].name, optarg ? optarg : "yes" };
                else
                        return fail(err, errlen, "too many options");
        }
        if (optind < argc)
                return fail(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
        *ret_n = n;
        return 0;
}

static char *xdg_path(const char *env, const char *fallback, const char *leaf) {
        const char *base = getenv(env), *home = getenv("HOME");
        char *p = NULL;
        if (base && base[0] == '/')
                return asprintf(&p, "%s/%s", base, leaf) < 0 ? NULL : p;
        if (!fallback || !home || home[0] != '/')
                return NULL;
        return asprintf(&p, "%s/%s/%s", home, fallback, leaf) < 0 ? NULL : p;
}

static int fill_defaults(kb_config *c, char *err, size_t errlen) {
        if (c->listen.n == 0) {
                if (strv_add(&c->listen, "127.0.0.1:27182") < 0 || strv_add(&c->listen, "[::1]:27182") < 0)
                        return -ENOMEM;
                c->listen_is_default = true;
        }
        if (!c->state_dir && !(c->state_dir = xdg_path("XDG_STATE_HOME", ".local/state", "keybridge")))
                return fail(err, errlen, "neither XDG_STATE_HOME nor HOME is set: pass --state-dir");
        /* Left NULL when XDG_RUNTIME_DIR is unset: only the daemon needs it. */
        if (!c->runtime_dir)
                c->runtime_dir = xdg_path("XDG_RUNTIME_DIR", NULL, "keybridge");
        if (!c->pinentry && !(c->pinentry = strdup("pinentry")))
                return -ENOMEM;
        return 0;
}

int kb_config_load(kb_config *c, const char *system_path, int argc, char **argv, char *err, size_t errlen) {
        flag flags[MAX_FLAGS];
        size_t n = 0;
        const char *user = NULL;
        char why[512];

        kb_config_init(c);
        int r = collect_flags(c, argc, argv, flags, &n, &user, err, errlen);
        if (r < 0 || c->help || c->version)
                return r;
        if (system_path && (r = kb_config_parse_file(c, KB_CONFIG_SYSTEM, system_path, err, errlen)) < 0)
                return r;
        if (user && access(user, R_OK) < 0)
                return fail(err, errlen, "--config %s: %s", user, strerror(errno));
        c->user_config = user ? strdup(user) : xdg_path("XDG_CONFIG_HOME", ".config", "keybridge/keybridge.conf");
        if (c->user_config && (r = kb_config_parse_file(c, KB_CONFIG_USER, c->user_config, err, errlen)) < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (kb_config_set(c, KB_CONFIG_FLAGS, flags[i].key, flags[i].value, why, sizeof(why)) < 0)
                        return fail(err, errlen, "--%s", why);
        return fill_defaults(c, err, errlen);
}

void kb_config_usage(const char *argv0) {
        printf("Usage: %s [OPTIONS]\n"
               "       %s trust install|remove|status\n"
               "       %s origins list|revoke ORIGIN\n\n"
               "keybridge daemon: lets allowed web pages use the user's crypto tokens (UKey)\n"
               "through a loopback HTTPS/WSS API.\n\n"
               "  --listen ADDR:PORT         loopback address to serve, repeatable\n"
               "                             (default 127.0.0.1:27182 and [::1]:27182)\n"
               "  --module PATH              PKCS#11 module, repeatable (default: p11-kit's modules)\n"
               "  --skf-library PATH         SKF (GM/T 0016) library, repeatable\n"
               "  --skf-profile 'LIBRARY KEY=VALUE...'  a library's vendor quirks: sm2-sign-alg=N,\n"
               "                             error=SAR:ERROR_CODE, ulong=32|64; repeatable\n"
               "  --allow-origin ORIGIN      allowed web origin, exact, repeatable\n"
               "  --no-tls                   serve plain HTTP/WS instead of HTTPS/WSS\n"
               "  --origin-approval yes|no   let unknown origins ask you to approve them (yes)\n"
               "  --state-dir DIR            TLS material, approvals, journal (default $XDG_STATE_HOME/keybridge)\n"
               "  --runtime-dir DIR          api-token for local tools (default $XDG_RUNTIME_DIR/keybridge)\n"
               "  --pinentry PROGRAM         PIN dialog program (default pinentry)\n"
               "  --expiry-warning-days N    certificates expiring within N days are \"expiring\" (90)\n"
               "  --foreground               do not detach; log to stderr as well\n"
               "  --max-body-bytes N         request body limit (1048576)\n"
               "  --max-connections N        connection limit (1024)\n"
               "  --idle-timeout SECONDS     idle connection timeout (60)\n"
               "  --poll-interval-ms N       token rescan interval, backing off to 5x while\n"
               "                             nothing changes (1000)\n"
               "  --ws-ping-interval SECONDS ping a silent WebSocket after this; close it\n"
               "                             after twice this without an answer (30)\n"
               "  --pin-idle-timeout SECONDS a PIN authorizes an origin on a token until unused this long (60)\n"
               "  --dialog-timeout SECONDS   a PIN dialog closes itself after this (60)\n"
               "  --pin-cooldown SECONDS     no new login attempt this long after a wrong PIN (2)\n"
               "  --dialogs-per-minute N     PIN dialogs one origin may raise per minute (5)\n"
               "  --max-seal-bytes N         electronic seal size limit, at most the body limit (262144)\n"
               "  --seal-hidden yes|no       store seals private: reading them needs the PIN (no)\n"
               "  --config FILE              per-user config file instead of\n"
               "                             $XDG_CONFIG_HOME/keybridge/keybridge.conf\n"
               "  -h, --help                 this text\n"
               "  -V, --version              print the version\n\n"
               "System configuration: %s/keybridge/keybridge.conf. See keybridged(8).\n",
               argv0, argv0, argv0, KB_SYSCONFDIR);
}
