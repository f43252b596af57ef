/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The subject of an enrollment: the name fields the RA gives, as a JSON
 * object, into an X.509 name. Only the fields a CA of this kind issues
 * are taken, each within its X.520 upper bound (RFC 5280 appendix A), in
 * one fixed order whatever the object's order: C, ST, L, O, OU, CN,
 * serialNumber, emailAddress (OU may repeat). Country and serialNumber are
 * PrintableString, emailAddress IA5String, the rest UTF8String.
 */
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <string.h>

#include "kb-core.h"
#include "renew-internal.h"

#define MAX_OU 8

static const struct field {
        const char *name;
        int nid;
        size_t max_chars;       /* the X.520 upper bound, in characters */
        bool multiple;          /* an array of values is allowed */
} fields[] = {
        { "C", NID_countryName, 2, false },
        { "ST", NID_stateOrProvinceName, 128, false },
        { "L", NID_localityName, 128, false },
        { "O", NID_organizationName, 64, false },
        { "OU", NID_organizationalUnitName, 64, true },
        { "CN", NID_commonName, 64, false },
        { "serialNumber", NID_serialNumber, 64, false },
        { "emailAddress", NID_pkcs9_emailAddress, 128, false },
};

static const struct field *find_field(const char *name) {
        for (size_t i = 0; i < KB_ELEMENTSOF(fields); i++)
                if (strcmp(fields[i].name, name) == 0)
                        return &fields[i];
        return NULL;
}

/* Characters of valid UTF-8 (jansson's strings are). */
static size_t utf8_chars(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                n += ((unsigned char) *s & 0xc0) != 0x80;
        return n;
}

static bool has_control(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

static int refuse(kb_call *call, const struct field *f, const char *key, const char *reason) {
        char field[64];
        snprintf(field, sizeof(field), "subject.%s", f ? f->name : key);
        return kb_call_refuse(call, -KB_E_BAD_REQUEST, field, reason);
}

/* One value of field f onto name; OpenSSL picks the string type from its
 * table (PrintableString for C and serialNumber) and refuses what the type
 * cannot hold. */
static int add_value(kb_call *call, X509_NAME *name, const struct field *f, json_t *v) {
        const char *s = json_string_value(v);
        if (!s)
                return refuse(call, f, NULL, "not-a-string");
        size_t chars = utf8_chars(s);
        if (chars == 0)
                return refuse(call, f, NULL, "empty");
        if (chars > f->max_chars || (f->nid == NID_countryName && chars != f->max_chars))
                return refuse(call, f, NULL, "too-long");
        if (has_control(s) || strlen(s) != json_string_length(v))
                return refuse(call, f, NULL, "control-character");
        if (!X509_NAME_add_entry_by_NID(name, f->nid, MBSTRING_UTF8, (const unsigned char *) s, -1, -1, 0))
                return refuse(call, f, NULL, "not-printable");
        return 0;
}

static int add_field(kb_call *call, X509_NAME *name, const struct field *f, json_t *v) {
        size_t i;
        json_t *one;
        if (!v)
                return 0;
        if (!json_is_array(v))
                return add_value(call, name, f, v);
        if (!f->multiple || json_array_size(v) == 0 || json_array_size(v) > MAX_OU)
                return refuse(call, f, NULL, f->multiple ? "bad-array" : "not-a-string");
        json_array_foreach(v, i, one) {
                int r = add_value(call, name, f, one);
                if (r < 0)
                        return r;
        }
        return 0;
}

char *kb_enroll_name_text(const X509_NAME *name) {
        unsigned long flags = XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_DN_REV | XN_FLAG_FN_SN |
                              (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
        BIO *b = BIO_new(BIO_s_mem());
        char *text = NULL, *out = NULL;
        if (b && X509_NAME_print_ex(b, name, 0, flags) >= 0) {
                long len = BIO_get_mem_data(b, &text);
                out = len >= 0 ? strndup(text, (size_t) len) : NULL;
        }
        BIO_free(b);
        return out;
}

int kb_enroll_subject(kb_call *call, X509_NAME **ret_name, char **ret_text) {
        json_t *subject = json_object_get(call->params, "subject");
        const char *key;
        json_t *v;
        if (!json_is_object(subject))
                return kb_call_refuse(call, -KB_E_BAD_REQUEST, "subject", "not-an-object");
        if (json_object_size(subject) == 0)
                return kb_call_refuse(call, -KB_E_BAD_REQUEST, "subject", "empty");
        json_object_foreach(subject, key, v)
                if (!find_field(key))
                        return refuse(call, NULL, key, "unknown-field");
        _cleanup_(X509_NAME_freep) X509_NAME *name = X509_NAME_new();
        if (!name)
                return -KB_E_INTERNAL;
        for (size_t i = 0; i < KB_ELEMENTSOF(fields); i++) {
                int r = add_field(call, name, &fields[i], json_object_get(subject, fields[i].name));
                if (r < 0)
                        return r;
        }
        char *text = kb_enroll_name_text(name);
        if (!text)
                return -KB_E_INTERNAL;
        *ret_text = text;
        *ret_name = TAKE_PTR(name);
        return 0;
}
