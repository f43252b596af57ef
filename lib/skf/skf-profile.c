/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Vendor quirk profiles of SKF libraries (kb-skf-profile.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb-core.h"
#include "kb-skf-profile.h"

#define MAX_WORD 96

void kb_skf_profile_init(kb_skf_profile *p) {
        *p = (kb_skf_profile) { .sm2_sign_alg = SGD_SM2_1, .ulong_bits = 32 };
}

static bool parse_ulong(const char *s, SKF_ULONG *ret) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 0);
        if (errno || end == s || *end || v > UINT32_MAX || s[0] == '-')
                return false;
        *ret = (SKF_ULONG) v;
        return true;
}

/* error=SAR:CODE */
static int add_error(kb_skf_profile *p, const char *value) {
        char sar_text[32];
        const char *colon = strchr(value, ':');
        SKF_ULONG sar;
        if (!colon || (size_t) (colon - value) >= sizeof(sar_text))
                return -1;
        memcpy(sar_text, value, (size_t) (colon - value));
        sar_text[colon - value] = '\0';
        int error = kb_error_from_code(colon + 1);
        if (!parse_ulong(sar_text, &sar) || sar == SAR_OK || error <= 0 ||
            p->n_errors == KB_SKF_PROFILE_MAX_ERRORS)
                return -1;
        p->errors[p->n_errors].sar = sar;
        p->errors[p->n_errors++].error = error;
        return 0;
}

static int apply_word(kb_skf_profile *p, const char *word) {
        const char *eq = strchr(word, '=');
        if (!eq)
                return -1;
        size_t klen = (size_t) (eq - word);
        const char *value = eq + 1;
        SKF_ULONG v;
        if (klen == 12 && strncmp(word, "sm2-sign-alg", klen) == 0)
                return parse_ulong(value, &p->sm2_sign_alg) ? 0 : -1;
        if (klen == 5 && strncmp(word, "ulong", klen) == 0) {
                if (!parse_ulong(value, &v) || (v != 32 && v != 64))
                        return -1;
                p->ulong_bits = v;
                return 0;
        }
        if (klen == 5 && strncmp(word, "error", klen) == 0)
                return add_error(p, value);
        return -1;
}

/* Split "LIBRARY WORD…"; calls apply_word on each word; the failing word
 * in bad (empty when the line has no words). */
static int parse_line(const char *line, kb_skf_profile *p, char library[static 256], char bad[static MAX_WORD]) {
        const char *s = line + strspn(line, " \t");
        size_t n = strcspn(s, " \t");
        bad[0] = '\0';
        if (n == 0 || n >= 256)
                return -1;
        memcpy(library, s, n);
        library[n] = '\0';
        int words = 0;
        for (s += n; *(s += strspn(s, " \t")); s += n, words++) {
                n = strcspn(s, " \t");
                snprintf(bad, MAX_WORD, "%.*s", (int) n, s);
                if (n >= MAX_WORD || apply_word(p, bad) < 0)
                        return -1;
        }
        bad[0] = '\0';
        return words > 0 ? 0 : -1;
}

int kb_skf_profile_check(const char *line, char *err, size_t errlen) {
        kb_skf_profile p;
        char library[256], bad[MAX_WORD];
        kb_skf_profile_init(&p);
        if (parse_line(line, &p, library, bad) >= 0)
                return 0;
        if (bad[0])
                snprintf(err, errlen, "skf-profile: '%s' is not sm2-sign-alg=NUMBER, error=NUMBER:ERROR_CODE "
                         "or ulong=32|64", bad);
        else
                snprintf(err, errlen, "skf-profile: '%s' is not 'LIBRARY KEY=VALUE…'", line);
        return -KB_E_BAD_REQUEST;
}

static bool names(const char *library, const char *path) {
        const char *slash = strrchr(path, '/');
        return strcmp(library, path) == 0 || (!strchr(library, '/') && strcmp(library, slash ? slash + 1 : path) == 0);
}

void kb_skf_profile_apply(kb_skf_profile *p, const char *path, char *const *lines, size_t n_lines) {
        for (size_t i = 0; i < n_lines; i++) {
                kb_skf_profile q = *p;
                char library[256], bad[MAX_WORD];
                if (parse_line(lines[i], &q, library, bad) >= 0 && names(library, path))
                        *p = q;
        }
}

int kb_skf_profile_error(const kb_skf_profile *p, SKF_ULONG sar) {
        for (size_t i = 0; i < p->n_errors; i++)
                if (p->errors[i].sar == sar)
                        return p->errors[i].error;
        return -1;
}
