/*
 * QMP for the harness's guests: the shared client (qmp/), with its
 * errors in the harness's terms (HARNESS_ERROR_QMP for QEMU's refusals,
 * HARNESS_ERROR_TIMEOUT when no answer came).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "harness-private.h"

#define CONNECT_RETRY_US (10 * 1000)

/* @local, from the QMP client, as a harness error in @err. */
static void harness_qmp_error(GError **err, GError *local)
{
    int code = HARNESS_ERROR_FAILED;

    if (local->domain == LIMEVI_QMP_ERROR) {
        code = HARNESS_ERROR_QMP;
    } else if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
        code = HARNESS_ERROR_TIMEOUT;
    } else if (g_error_matches(local, G_IO_ERROR,
                               G_IO_ERROR_CONNECTION_CLOSED)) {
        code = HARNESS_ERROR_EXITED;
    } else if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_INVALID_DATA)) {
        code = HARNESS_ERROR_PROTOCOL;
    }
    g_set_error_literal(err, HARNESS_ERROR, code, local->message);
    g_error_free(local);
}

gboolean hvm_qmp_connect(HVm *vm, const char *path, gint64 deadline,
                         GError **err)
{
    GError *local = NULL;

    /* QEMU creates the socket once it has parsed its options. */
    while (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        if (!g_subprocess_get_identifier(vm->proc)) {
            g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_EXITED,
                        "QEMU exited before QMP was up");
            return FALSE;
        }
        if (g_get_monotonic_time() >= deadline) {
            g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_TIMEOUT,
                        "no QMP socket at %s", path);
            return FALSE;
        }
        g_usleep(CONNECT_RETRY_US);
    }
    vm->qmp = limevi_qmp_connect(path, harness_remaining_ms(deadline),
                                 &local);
    if (!vm->qmp) {
        harness_qmp_error(err, local);
        return FALSE;
    }
    return TRUE;
}

void hvm_qmp_close(HVm *vm)
{
    g_clear_pointer(&vm->qmp, limevi_qmp_free);
}

LimeviQmp *hvm_qmp_client(HVm *vm)
{
    return vm->qmp;
}

JsonNode *hvm_qmp(HVm *vm, const char *cmd, const char *args_json,
                  GError **err)
{
    GError *local = NULL;
    JsonNode *ret;

    if (!vm->qmp) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s: QMP is not connected", vm->name);
        return NULL;
    }
    ret = limevi_qmp_call(vm->qmp, cmd, args_json, &local);
    if (!ret) {
        /* QEMU's refusal reads "Class: desc", as tests match it. */
        if (local->domain != LIMEVI_QMP_ERROR) {
            g_prefix_error(&local, "%s: QMP %s: ", vm->name, cmd);
        }
        harness_qmp_error(err, local);
    }
    return ret;
}

gboolean hvm_qmp_ok(HVm *vm, const char *cmd, const char *args_json,
                    GError **err)
{
    JsonNode *ret = hvm_qmp(vm, cmd, args_json, err);

    if (!ret) {
        return FALSE;
    }
    json_node_unref(ret);
    return TRUE;
}

JsonNode *hvm_qmp_take_event(HVm *vm, const char *name, gint64 since,
                             gint64 deadline, GError **err)
{
    GError *local = NULL;
    JsonObject *e;
    JsonNode *node;

    if (!vm->qmp) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s: QMP is not connected", vm->name);
        return NULL;
    }
    e = limevi_qmp_wait_event(vm->qmp, name, since,
                              harness_remaining_ms(deadline), NULL, &local);
    if (!e) {
        g_prefix_error(&local, "%s: waiting for event %s: ", vm->name, name);
        harness_qmp_error(err, local);
        return NULL;
    }
    node = json_node_init_object(json_node_alloc(), e);
    json_object_unref(e);
    return node;
}

gint64 hvm_qmp_event_time(JsonNode *event)
{
    return limevi_qmp_event_time(json_node_get_object(event));
}

JsonNode *hvm_qmp_wait_event(HVm *vm, const char *name, guint timeout_ms,
                             GError **err)
{
    return hvm_qmp_take_event(vm, name, G_MININT64,
                              harness_deadline(timeout_ms), err);
}

JsonObject *hvm_limevi_port(HVm *vm, JsonNode **holder)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonArray) list = limevi_qmp_query_limevi(vm->qmp, &err);

    g_assert_no_error(err);
    g_assert_cmpuint(json_array_get_length(list), ==, 1);
    *holder = json_node_init_array(json_node_alloc(), list);
    return json_array_get_object_element(list, 0);
}

JsonObject *hvm_limevi_route(HVm *vm, const char *peer, JsonNode **holder)
{
    JsonObject *o = hvm_limevi_port(vm, holder);
    JsonArray *routes = json_object_get_array_member(o, "routes");

    for (guint i = 0; i < json_array_get_length(routes); i++) {
        JsonObject *r = json_array_get_object_element(routes, i);

        if (!strcmp(json_object_get_string_member(r, "vm"), peer)) {
            return r;
        }
    }
    g_error("%s has no route to %s", hvm_name(vm), peer);
}
