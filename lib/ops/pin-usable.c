/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tokens whose PIN must be changed before any private-key operation: the
 * token says so (a default PIN), or the daemon remembers an unblock to a
 * portal-given PIN (pin-must-change-after-unblock). The PIN flow checks it
 * (tokenop.c); rendered tokens show it.
 */
#include <string.h>

#include "kb-service.h"

static bool remembered_must_change(kb_service *svc, const char *token_id) {
        return svc->pin_must_change && svc->pin_must_change(svc->userdata, token_id);
}

int kb_pin_check_usable(kb_service *svc, kb_call *call, const kb_token *t, kb_pin_status status) {
        if (status != KB_PIN_MUST_CHANGE && !remembered_must_change(svc, t->id))
                return 0;
        json_decref(call->error_details);
        call->error_details = json_pack("{s:s}", "reason", "mustChange");
        return -KB_E_PIN_POLICY;
}

static void render_one(kb_service *svc, json_t *token) {
        json_t *pin = json_object_get(token, "pin");
        const char *id = json_string_value(json_object_get(token, "id"));
        const char *st = json_string_value(json_object_get(pin, "status"));
        /* A locked or final-try state says more than "change it". */
        if (!id || !st || (strcmp(st, "ok") != 0 && strcmp(st, "countLow") != 0))
                return;
        if (remembered_must_change(svc, id))
                json_object_set_new(pin, "status", json_string(kb_pin_status_name(KB_PIN_MUST_CHANGE)));
}

void kb_pin_render(kb_service *svc, json_t *tokens) {
        size_t i;
        json_t *t;
        if (!svc->pin_must_change)
                return;
        if (json_is_object(tokens))
                render_one(svc, tokens);
        json_array_foreach(tokens, i, t)
                render_one(svc, t);
}
