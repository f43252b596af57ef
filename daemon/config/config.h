/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Configuration: /etc/keybridge/keybridge.conf (the administrator's), the
 * per-user $XDG_CONFIG_HOME/keybridge/keybridge.conf, then command-line flags,
 * later sources winning. File lines are "key = value" with the long option
 * names as keys ('-' and '_' alike), '#' comments, repeatable list keys.
 * List options (listen, module, skf-library) are replaced by a later source;
 * allow-origin accumulates across all of them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define KB_DEFAULT_MAX_BODY (1024 * 1024)
#define KB_DEFAULT_MAX_CONNECTIONS 1024
#define KB_DEFAULT_IDLE_TIMEOUT 60
#define KB_DEFAULT_POLL_MS 1000
#define KB_DEFAULT_WS_PING 30
#define KB_DEFAULT_WARNING_DAYS 90
#define KB_DEFAULT_PIN_IDLE 60
#define KB_DEFAULT_DIALOG_TIMEOUT 60
#define KB_DEFAULT_PIN_COOLDOWN 2
#define KB_DEFAULT_DIALOGS_PER_MINUTE 5
#define KB_DEFAULT_MAX_SEAL (256 * 1024)

typedef struct kb_strv {
        char **v;               /* NULL-terminated when n > 0 */
        size_t n;
} kb_strv;

typedef struct kb_config {
        kb_strv listen;              /* "127.0.0.1:27182", "[::1]:27182" */
        bool listen_is_default;      /* [::1] may be skipped when absent */
        kb_strv modules;
        kb_strv skf_libraries;
        kb_strv skf_profiles;        /* "LIBRARY KEY=VALUE…" vendor quirks (kb-skf-profile.h) */
        kb_strv allow_origins;
        kb_strv page_pin_origins;    /* administrator only: may send "pin" */
        bool pin_must_change_after_unblock; /* administrator only: a PIN the portal
                                              * set by pin.unblock must be changed */
        bool tls;
        bool origin_approval;        /* unknown origins may ask the user (POST /v1/origins/approval) */
        bool origin_approval_locked; /* the administrator's file said no: final */
        char *state_dir;
        char *runtime_dir;
        char *pinentry;
        int expiry_warning_days;
        bool foreground;
        size_t max_body;
        unsigned max_connections;
        unsigned idle_timeout;       /* seconds a connection may idle */
        unsigned poll_ms;            /* token rescan interval (backs off to 5x while nothing changes) */
        unsigned ws_ping_interval;   /* seconds of WebSocket silence before a ping */
        unsigned pin_idle_timeout;   /* seconds a PIN authorization lives unused */
        unsigned dialog_timeout;     /* seconds a PIN dialog stays open */
        unsigned pin_cooldown;       /* seconds without login after a wrong PIN */
        unsigned dialogs_per_minute; /* PIN dialogs one origin may raise a minute */
        size_t max_seal;             /* seal image bytes (never above max_body) */
        bool seal_hidden;            /* store seals CKA_PRIVATE (read after a PIN) */
        /* Not options: */
        bool help;
        bool version;
        char *user_config;           /* which per-user file was read, if any */
        int list_source[3];          /* who last set listen/module/skf-library, +1 */
} kb_config;

typedef enum kb_config_source {
        KB_CONFIG_SYSTEM,
        KB_CONFIG_USER,
        KB_CONFIG_FLAGS,
} kb_config_source;

void kb_config_init(kb_config *c);
void kb_config_clear(kb_config *c);

/* Apply one "key = value" (or a flag). Returns 0 or -EINVAL with a reason. */
int kb_config_set(kb_config *c, kb_config_source src, const char *key, const char *value,
                  char *err, size_t errlen);
/* Parse a file; a missing file is not an error. */
int kb_config_parse_file(kb_config *c, kb_config_source src, const char *path, char *err, size_t errlen);
/* Everything: defaults, system file, user file (or --config), flags, then
 * derived defaults (state/runtime dirs) and validation. */
int kb_config_load(kb_config *c, const char *system_path, int argc, char **argv, char *err, size_t errlen);

/* Checks shared with the gate and tests. */
bool kb_origin_is_valid(const char *origin);
/* Parse a listen address; only 127.0.0.1 and [::1] are accepted. */
int kb_listen_parse(const char *s, int *ret_family, char *ret_host, size_t hostlen, unsigned *ret_port);

void kb_config_usage(const char *argv0);
