/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * JSON-RPC 2.0 over the WebSocket: reading requests (single or batch) and
 * writing results, errors and notifications. Pure JSON in, JSON out; the
 * dispatch to the method table is in ws-call.c.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "kb-api.h"

/* JSON-RPC 2.0 error codes (the spec's), and ours for API errors. */
enum {
        KB_RPC_PARSE_ERROR = -32700,
        KB_RPC_INVALID_REQUEST = -32600,
        KB_RPC_METHOD_NOT_FOUND = -32601,
        KB_RPC_INVALID_PARAMS = -32602,
        KB_RPC_INTERNAL_ERROR = -32603,
        KB_RPC_API_ERROR = -32000,      /* every other API error: see data.code */
};

#define KB_RPC_MAX_BATCH 64

/* A text message: the request or the array of a batch in *ret (a new
 * reference; *ret_batch tells which). On failure NULL, and *ret_error the
 * response to send (parse error, empty or oversized batch). */
json_t *kb_rpc_parse(const char *text, size_t len, bool zh, bool *ret_batch, json_t **ret_error);

/* Check one request object. On success 0 with borrowed method name, id (NULL
 * for a notification) and params (NULL when absent). Otherwise the error
 * response to send (Invalid Request: id null unless the id was valid). */
typedef struct kb_rpc_request {
        const char *method;
        json_t *id;
        json_t *params;
} kb_rpc_request;
int kb_rpc_check(json_t *req, bool zh, kb_rpc_request *ret, json_t **ret_error);

/* {"jsonrpc":"2.0","result":result,"id":id}; steals result. */
json_t *kb_rpc_result(json_t *id, json_t *result);
/* An API error as a JSON-RPC error: code from kb_rpc_code(e, call), message
 * the localized message, data the REST error object ({code, message, field,
 * details}). id NULL means null. */
json_t *kb_rpc_error(json_t *id, kb_error e, bool zh, const kb_call *call);
/* An error with a JSON-RPC code of the spec's (parse, invalid request,
 * method not found) and data {code: e, …}. */
json_t *kb_rpc_error_code(json_t *id, int rpc_code, kb_error e, bool zh, const char *field);
/* The JSON-RPC code for an API error. */
int kb_rpc_code(kb_error e, const kb_call *call);
/* {"jsonrpc":"2.0","method":method,"params":params}; steals params. */
json_t *kb_rpc_notification(const char *method, json_t *params);
