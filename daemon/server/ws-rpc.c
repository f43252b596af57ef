/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "ws-rpc.h"

json_t *kb_rpc_error_code(json_t *id, int rpc_code, kb_error e, bool zh, const char *field) {
        kb_call call = { 0 };
        if (field)
                snprintf(call.error_field, sizeof(call.error_field), "%s", field);
        json_t *rest = kb_error_json(e, zh, &call);
        json_t *data = json_incref(json_object_get(rest, "error"));
        json_decref(rest);
        if (!data)
                return NULL;
        return json_pack("{s:s, s:{s:i, s:s, s:o}, s:O}", "jsonrpc", "2.0", "error", "code", rpc_code,
                         "message", kb_error_message(e, zh), "data", data, "id", id ? id : json_null());
}

int kb_rpc_code(kb_error e, const kb_call *call) {
        if (e == KB_E_BAD_REQUEST)
                return KB_RPC_INVALID_PARAMS;   /* the only request data of a call is its params */
        if (e == KB_E_INTERNAL)
                return KB_RPC_INTERNAL_ERROR;
        return KB_RPC_API_ERROR;
}

json_t *kb_rpc_error(json_t *id, kb_error e, bool zh, const kb_call *call) {
        json_t *rest = kb_error_json(e, zh, call);
        json_t *data = json_incref(json_object_get(rest, "error"));
        json_decref(rest);
        if (!data)
                return NULL;
        return json_pack("{s:s, s:{s:i, s:s, s:o}, s:O}", "jsonrpc", "2.0", "error", "code",
                         kb_rpc_code(e, call), "message", kb_error_message(e, zh), "data", data,
                         "id", id ? id : json_null());
}

json_t *kb_rpc_result(json_t *id, json_t *result) {
        if (!result)
                return NULL;
        return json_pack("{s:s, s:o, s:O}", "jsonrpc", "2.0", "result", result, "id", id);
}

json_t *kb_rpc_notification(const char *method, json_t *params) {
        if (!params)
                return NULL;
        return json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params", params);
}

json_t *kb_rpc_parse(const char *text, size_t len, bool zh, bool *ret_batch, json_t **ret_error) {
        json_error_t jerr;
        /* Depth is bounded by jansson (JSON_PARSER_MAX_DEPTH, 2048). */
        json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!v) {
                *ret_error = kb_rpc_error_code(NULL, KB_RPC_PARSE_ERROR, KB_E_BAD_REQUEST, zh, "body");
                return NULL;
        }
        if (json_is_array(v) && (json_array_size(v) == 0 || json_array_size(v) > KB_RPC_MAX_BATCH)) {
                json_decref(v);
                *ret_error = kb_rpc_error_code(NULL, KB_RPC_INVALID_REQUEST, KB_E_BAD_REQUEST, zh, "batch");
                return NULL;
        }
        *ret_batch = json_is_array(v);
        return v;
}

static bool id_valid(const json_t *id) {
        /* Strings, numbers or null (the spec discourages null and fractions
         * but allows them). */
        return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

int kb_rpc_check(json_t *req, bool zh, kb_rpc_request *ret, json_t **ret_error) {
        json_t *id = json_object_get(req, "id");
        json_t *version = json_object_get(req, "jsonrpc");
        json_t *method = json_object_get(req, "method");
        json_t *params = json_object_get(req, "params");
        const char *field = NULL;

        if (!json_is_object(req))
                field = "request";
        else if (id && !id_valid(id))
                field = "id";
        else if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0)
                field = "jsonrpc";
        else if (!json_is_string(method))
                field = "method";
        else if (params && !json_is_object(params) && !json_is_array(params))
                field = "params";
        if (field) {
                *ret_error = kb_rpc_error_code(id && id_valid(id) ? id : NULL, KB_RPC_INVALID_REQUEST,
                                               KB_E_BAD_REQUEST, zh, field);
                return -1;
        }
        *ret = (kb_rpc_request) { .method = json_string_value(method), .id = id, .params = params };
        return 0;
}
