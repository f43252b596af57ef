/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dialog texts (see dialog-text.h). Sentences come from small tables with
 * "%s" slots filled by expand(), not printf, so a value can never act as a
 * format; values pass through put_clean() on the way in.
 */
#include "dialog-text.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb-cleanup.h"

#define ORIGIN_MAX 512     /* bytes of an origin shown; real ones are far shorter */
#define FIELD_MAX 128      /* of a CN, label or serial */
#define MESSAGE_MAX 2048   /* of a generic confirmation */
#define SUBJECT_MAX 512    /* of a subject to be written (enrollment) */
#define REPLACEMENT "\xef\xbf\xbd"   /* U+FFFD */
#define ELLIPSIS "\xe2\x80\xa6"      /* U+2026 */

/* Index [zh]: English first, then Chinese. */
typedef const char *const text2[2];

static const struct op_text {
        text2 title, ok;
        text2 action;   /* "%s" who asks, then "%s" what is used */
} op_texts[_KB_DIALOG_OP_MAX] = {
        [KB_DIALOG_OP_GENERIC] = { { "Enter PIN", "输入口令" }, { "OK", "确定" },
                { "%s asks to use %s.", "%s请求使用%s。" } },
        [KB_DIALOG_OP_SIGN] = { { "Sign", "签名" }, { "Sign", "签名" },
                { "%s asks to sign with %s.", "%s请求使用%s进行签名。" } },
        [KB_DIALOG_OP_AUTHENTICATE] = { { "Log in", "登录认证" }, { "Log in", "登录" },
                { "%s asks to log in (authenticate) with %s.", "%s请求使用%s进行登录认证。" } },
        [KB_DIALOG_OP_CHANGE_PIN] = { { "Change PIN", "修改口令" }, { "OK", "确定" },
                { "%s asks to change the PIN of %s.", "%s请求修改%s的口令。" } },
        [KB_DIALOG_OP_RENEW] = { { "Renew certificate", "证书更新" }, { "OK", "确定" },
                { "%s asks to renew %s.", "%s请求更新%s。" } },
        [KB_DIALOG_OP_SEAL] = { { "Write electronic seal", "写入电子印章" }, { "OK", "确定" },
                { "%s asks to write an electronic seal for %s.", "%s请求为%s写入电子印章。" } },
        [KB_DIALOG_OP_UNBLOCK_PIN] = { { "Unblock PIN", "解锁口令" }, { "OK", "确定" },
                { "%s asks to unblock the PIN of %s and set a new PIN.", "%s请求解锁%s的口令并设置新口令。" } },
        [KB_DIALOG_OP_RENEW_REQUEST] = { { "Renew certificate", "证书更新" }, { "OK", "确定" },
                { "%s asks to renew %s: a new key will be generated on the token.",
                  "%s请求更新%s（证书更新），将在证书介质上生成新密钥。" } },
        [KB_DIALOG_OP_DROP_KEY] = { { "Delete unused key", "删除未使用的密钥" }, { "OK", "确定" },
                { "%s asks to delete an unused key (from a request that was not installed) on %s.",
                  "%s请求删除%s上未使用的密钥（来自未完成安装的申请）。" } },
        [KB_DIALOG_OP_DECRYPT] = { { "Decrypt", "解密" }, { "Decrypt", "解密" },
                { "%s asks to decrypt with %s.", "%s请求使用%s进行解密。" } },
        /* the subject follows the colon */
        [KB_DIALOG_OP_ENROLL] = { { "Download certificate", "证书下载" }, { "OK", "确定" },
                { "%s wants to generate a new key on %s and write the certificate: ",
                  "%s要在%s上生成新密钥并写入证书：" } },
};

static const struct ask_text {
        text2 prompt;
        text2 sentence;   /* "%s" the token label, when the ask has one */
        text2 sentence_unlabelled;
} ask_texts[_KB_DIALOG_ASK_MAX] = {
        [KB_DIALOG_ASK_PIN] = { { "PIN:", "口令：" },
                { "Enter the PIN of %s.", "请输入 %s 口令。" }, { "Enter the PIN.", "请输入口令。" } },
        [KB_DIALOG_ASK_NEW_PIN] = { { "New PIN:", "新口令：" },
                { "Enter the new PIN.", "请输入新口令。" }, { "Enter the new PIN.", "请输入新口令。" } },
        [KB_DIALOG_ASK_NEW_PIN_AGAIN] = { { "Repeat new PIN:", "确认新口令：" },
                { "Enter the new PIN again.", "请再次输入新口令。" },
                { "Enter the new PIN again.", "请再次输入新口令。" } },
};

static text2 cancel_text = { "Cancel", "取消" };
static text2 website = { "The website %s", "网站 %s " };
static text2 local_program = { "A local program", "本机程序" };
static text2 retries_text = { " Retries left: ", "剩余重试次数：" };
static text2 final_try_text = { "Warning: this is the final try; a wrong PIN locks the token.",
                                "警告：这是最后一次机会，口令输错将被锁定！" };
static text2 count_low_text = { "Caution: the PIN is about to lock; enter it carefully.",
                                "注意：口令即将锁定，请谨慎输入。" };

static bool is_set(const char *s) {
        return s && s[0];
}

/* The code point of the UTF-8 sequence at p and its length; 0 when invalid. */
static size_t utf8_decode(const unsigned char *p, uint32_t *ret) {
        uint32_t c = p[0], min;
        size_t n;

        if (c < 0x80) {
                *ret = c;
                return 1;
        }
        if ((c & 0xe0) == 0xc0)
                n = 2, c &= 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
                n = 3, c &= 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
                n = 4, c &= 0x07, min = 0x10000;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)   /* also stops at the NUL */
                        return 0;
                c = c << 6 | (p[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return 0;
        *ret = c;
        return n;
}

/* Control characters (C0, DEL, C1), invisible format characters and
 * bidirectional controls: nothing a dialog should show as is. */
static bool is_unsafe(uint32_t c, bool keep_newline) {
        if (c == '\n')
                return !keep_newline;
        return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c || (c >= 0x200b && c <= 0x200f) ||
               (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x2069) || c == 0xfeff;
}

/* Write s sanitized, at most max bytes of it (then "…"). */
static void put_clean(FILE *f, const char *s, size_t max, bool keep_newline) {
        const unsigned char *p = (const unsigned char *) s;
        size_t written = 0;

        while (*p) {
                uint32_t c = 0;
                size_t n = utf8_decode(p, &c);
                bool bad = n == 0 || is_unsafe(c, keep_newline);
                size_t width = bad ? strlen(REPLACEMENT) : n;

                if (width > max - written) {
                        fputs(ELLIPSIS, f);
                        return;
                }
                if (bad)
                        fputs(REPLACEMENT, f);
                else
                        fwrite(p, 1, n, f);
                written += width;
                p += n ? n : 1;
        }
}

/* tmpl with its first two "%s" replaced by a and b (already clean). */
static void expand(FILE *f, const char *tmpl, const char *a, const char *b) {
        const char *args[2] = { a, b };
        size_t i = 0;

        for (const char *p; i < 2 && (p = strstr(tmpl, "%s")); tmpl = p + 2, i++) {
                fwrite(tmpl, 1, (size_t) (p - tmpl), f);
                fputs(args[i] ? args[i] : "", f);
        }
        fputs(tmpl, f);
}

/* A memstream: text built with stdio, returned as one allocated string. */
typedef struct out {
        FILE *f;
        char *buf;
        size_t len;
} out;

static bool out_open(out *o) {
        o->buf = NULL;
        o->f = open_memstream(&o->buf, &o->len);
        return o->f != NULL;
}

static char *out_close(out *o) {
        bool failed = ferror(o->f);

        if (fclose(o->f) != 0 || failed) {
                free(o->buf);
                return NULL;
        }
        return o->buf;
}

static char *clean(const char *s, size_t max) {
        out o;

        if (!out_open(&o))
                return NULL;
        put_clean(o.f, s ? s : "", max, false);
        return out_close(&o);
}

/* "网站 https://x " / "The website https://x", or the local program. */
static char *requester_text(const char *origin, bool zh) {
        _cleanup_free_ char *o = NULL;
        out t;

        if (!origin)
                return strdup(local_program[zh]);
        if (!(o = clean(origin, ORIGIN_MAX)) || !out_open(&t))
                return NULL;
        expand(t.f, website[zh], o, NULL);
        return out_close(&t);
}

/* "（UKey 签名证书，序列号 123）" / " (UKey signing certificate, serial 123)" */
static void put_details(FILE *f, const kb_pin_request *r, bool with_label, bool zh) {
        static text2 sign = { "signing certificate", "签名证书" };
        static text2 encrypt = { "encryption certificate", "加密证书" };
        const char *usage = r->cert_usage == KB_USAGE_SIGN ? sign[zh] :
                            r->cert_usage == KB_USAGE_ENCRYPT ? encrypt[zh] : NULL;
        bool label = with_label && is_set(r->token_label);

        if (!label && !usage && !is_set(r->token_serial))
                return;
        fputs(zh ? "（" : " (", f);
        if (label)
                put_clean(f, r->token_label, FIELD_MAX, false);
        if (usage)
                fprintf(f, "%s%s", label ? " " : "", usage);
        if ((label || usage) && is_set(r->token_serial))
                fputs(zh ? "，" : ", ", f);
        if (is_set(r->token_serial)) {
                fputs(zh ? "序列号 " : "serial ", f);
                put_clean(f, r->token_serial, FIELD_MAX, false);
        }
        fputs(zh ? "）" : ")", f);
}

/* "证书“张三”（…）" or "证书介质“UKey”（…）", in English likewise. */
static char *subject_text(const kb_pin_request *r, bool zh) {
        bool cert = is_set(r->cert_cn);
        out t;

        if (!out_open(&t))
                return NULL;
        if (cert)
                fputs(zh ? "证书“" : "the certificate “", t.f);
        else
                fputs(zh ? "证书介质" : "the token", t.f);
        if (!cert && is_set(r->token_label))
                fputs(zh ? "“" : " “", t.f);
        if (cert || is_set(r->token_label)) {
                put_clean(t.f, cert ? r->cert_cn : r->token_label, FIELD_MAX, false);
                fputs("”", t.f);
        }
        put_details(t.f, cert ? r : &(kb_pin_request) { .token_serial = r->token_serial }, cert, zh);
        return out_close(&t);
}

/* "请输入 UKey 口令。剩余重试次数：3", then a warning line when one applies. */
static void put_ask(FILE *f, const kb_pin_request *r, kb_dialog_ask ask, bool zh) {
        _cleanup_free_ char *label = is_set(r->token_label) ? clean(r->token_label, FIELD_MAX) : NULL;
        bool final = r->pin_status == KB_PIN_FINAL_TRY || r->retries_left == 1;

        if (label)
                expand(f, ask_texts[ask].sentence[zh], label, NULL);
        else
                fputs(ask_texts[ask].sentence_unlabelled[zh], f);
        if (ask != KB_DIALOG_ASK_PIN)
                return;
        if (r->retries_left >= 0)
                fprintf(f, "%s%d", retries_text[zh], r->retries_left);
        if (final)
                fprintf(f, "\n%s", final_try_text[zh]);
        else if (r->pin_status == KB_PIN_COUNT_LOW)
                fprintf(f, "\n%s", count_low_text[zh]);
}

static char *pin_description(const kb_pin_request *r, kb_dialog_op op, kb_dialog_ask ask, bool zh) {
        _cleanup_free_ char *who = requester_text(r->origin, zh);
        _cleanup_free_ char *what = subject_text(r, zh);
        out t;

        if (!who || !what || !out_open(&t))
                return NULL;
        expand(t.f, op_texts[op].action[zh], who, what);
        if (op == KB_DIALOG_OP_ENROLL)
                put_clean(t.f, is_set(r->subject) ? r->subject : "?", SUBJECT_MAX, false);
        if (r->items > 1)
                fprintf(t.f, zh ? "共 %u 份文件。" : " %u documents.", r->items);
        fputc('\n', t.f);
        put_ask(t.f, r, ask, zh);
        return out_close(&t);
}

void kb_dialog_text_clear(kb_dialog_text *t) {
        if (!t)
                return;
        free(t->title);
        free(t->description);
        free(t->prompt);
        free(t->ok);
        free(t->cancel);
        *t = (kb_dialog_text) { 0 };
}

void kb_dialog_text_apply(const kb_dialog_text *t, kb_dialog *d) {
        d->title = t->title;
        d->description = t->description;
        d->prompt = t->prompt;
        d->ok = t->ok;
        d->cancel = t->cancel;
}

bool kb_locale_is_chinese(void) {
        static const char *const vars[] = { "LC_ALL", "LC_MESSAGES", "LANG" };

        for (size_t i = 0; i < KB_ELEMENTSOF(vars); i++) {
                const char *v = getenv(vars[i]);
                if (is_set(v))
                        return strncmp(v, "zh", 2) == 0;
        }
        return false;
}

/* Take ownership of the strings (prompt only when wanted); all or nothing. */
static int fill(kb_dialog_text *ret, bool want_prompt, char *title, char *description,
                char *prompt, char *ok, char *cancel) {
        kb_dialog_text t = { title, description, prompt, ok, cancel };

        *ret = (kb_dialog_text) { 0 };
        if (!title || !description || !ok || !cancel || (want_prompt && !prompt)) {
                kb_dialog_text_clear(&t);
                return -ENOMEM;
        }
        *ret = t;
        return 0;
}

int kb_dialog_text_pin(const kb_pin_request *r, bool zh, kb_dialog_text *ret) {
        kb_dialog_op op = (unsigned) r->op < _KB_DIALOG_OP_MAX ? r->op : KB_DIALOG_OP_GENERIC;
        kb_dialog_ask ask = (unsigned) r->ask < _KB_DIALOG_ASK_MAX ? r->ask : KB_DIALOG_ASK_PIN;

        zh = !!zh;
        return fill(ret, true, strdup(op_texts[op].title[zh]), pin_description(r, op, ask, zh),
                    strdup(ask_texts[ask].prompt[zh]), strdup(op_texts[op].ok[zh]),
                    strdup(cancel_text[zh]));
}

int kb_dialog_text_origin_approval(const char *origin, bool zh, kb_dialog_text *ret) {
        static text2 title = { "Website access request", "网站访问请求" };
        static text2 question = { "Allow %s to use your certificates (UKey)?\nAllow only websites you trust.",
                                  "是否允许网站 %s 使用您的证书（UKey）？\n请只允许您信任的网站。" };
        static text2 allow = { "Allow", "允许" }, deny = { "Deny", "拒绝" };
        _cleanup_free_ char *o = clean(origin, ORIGIN_MAX);
        out t;
        char *description = NULL;

        zh = !!zh;
        if (o && out_open(&t)) {
                expand(t.f, question[zh], o, NULL);
                description = out_close(&t);
        }
        return fill(ret, false, strdup(title[zh]), description, NULL, strdup(allow[zh]),
                    strdup(deny[zh]));
}

int kb_dialog_text_confirm(const char *message, bool zh, kb_dialog_text *ret) {
        static text2 title = { "Please confirm", "请确认" }, ok = { "OK", "确定" };
        out t;
        char *description = NULL;

        zh = !!zh;
        if (out_open(&t)) {
                put_clean(t.f, message ? message : "", MESSAGE_MAX, true);
                description = out_close(&t);
        }
        return fill(ret, false, strdup(title[zh]), description, NULL, strdup(ok[zh]),
                    strdup(cancel_text[zh]));
}
