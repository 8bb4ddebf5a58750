/*
 * The QMP client: one command at a time over the per-VM unix socket,
 * events kept in arrival order until a test asks for them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "harness-private.h"

#define QMP_TIMEOUT_MS 30000
#define CONNECT_RETRY_US (10 * 1000)

/* The next message, an object; NULL with @err set otherwise. */
static JsonNode *qmp_read(HVm *vm, gint64 deadline, GError **err)
{
    g_autofree char *line = hlines_read(&vm->qmp_lines, deadline, err);
    g_autoptr(GError) local = NULL;
    JsonNode *msg;

    if (!line) {
        return NULL;
    }
    msg = json_from_string(line, &local);
    if (!msg || !JSON_NODE_HOLDS_OBJECT(msg)) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_PROTOCOL,
                    "not a QMP message: %s", line);
        if (msg) {
            json_node_unref(msg);
        }
        return NULL;
    }
    return msg;
}

static const char *event_name(JsonNode *msg)
{
    return json_object_get_string_member_with_default(
        json_node_get_object(msg), "event", NULL);
}

gboolean hvm_qmp_connect(HVm *vm, const char *path, gint64 deadline,
                         GError **err)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(JsonNode) greeting = NULL;
    g_autoptr(JsonNode) ret = NULL;

    /* QEMU creates the socket once it has parsed its options. */
    while (!vm->qmp) {
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
        if (g_file_test(path, G_FILE_TEST_EXISTS)) {
            vm->qmp = g_socket_client_connect(client,
                                              G_SOCKET_CONNECTABLE(addr),
                                              NULL, NULL);
        }
        if (!vm->qmp) {
            g_usleep(CONNECT_RETRY_US);
        }
    }
    hlines_init(&vm->qmp_lines,
                g_socket_get_fd(g_socket_connection_get_socket(vm->qmp)),
                NULL);
    greeting = qmp_read(vm, deadline, err);
    if (!greeting) {
        return FALSE;
    }
    if (!json_object_has_member(json_node_get_object(greeting), "QMP")) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_PROTOCOL,
                    "no QMP greeting");
        return FALSE;
    }
    ret = hvm_qmp(vm, "qmp_capabilities", NULL, err);
    return ret != NULL;
}

void hvm_qmp_close(HVm *vm)
{
    g_queue_clear_full(&vm->events, (GDestroyNotify)json_node_unref);
    if (vm->qmp) {
        g_io_stream_close(G_IO_STREAM(vm->qmp), NULL, NULL);
        g_clear_object(&vm->qmp);
    }
}

static gboolean qmp_send(HVm *vm, const char *cmd, const char *args_json,
                         guint id, GError **err)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) req = NULL;
    g_autofree char *json = NULL;
    g_autofree char *text = NULL;
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(vm->qmp));

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, cmd);
    if (args_json) {
        JsonNode *args = json_from_string(args_json, err);

        if (!args || !JSON_NODE_HOLDS_OBJECT(args)) {
            if (args) {
                json_node_unref(args);
            }
            g_prefix_error(err, "arguments of %s: ", cmd);
            if (err && !*err) {
                g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                            "arguments of %s are not an object", cmd);
            }
            return FALSE;
        }
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, args);
    }
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, id);
    json_builder_end_object(b);
    req = json_builder_get_root(b);
    json = json_to_string(req, FALSE);
    text = g_strconcat(json, "\n", NULL);
    return g_output_stream_write_all(out, text, strlen(text), NULL, NULL,
                                     err);
}

JsonNode *hvm_qmp(HVm *vm, const char *cmd, const char *args_json,
                  GError **err)
{
    gint64 deadline = harness_deadline(QMP_TIMEOUT_MS);
    guint id = ++vm->qmp_id;

    if (!vm->qmp) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s: QMP is not connected", vm->name);
        return NULL;
    }
    if (!qmp_send(vm, cmd, args_json, id, err)) {
        return NULL;
    }
    for (;;) {
        JsonNode *msg = qmp_read(vm, deadline, err);
        JsonObject *obj;
        JsonNode *ret;

        if (!msg) {
            g_prefix_error(err, "%s: QMP %s: ", vm->name, cmd);
            return NULL;
        }
        obj = json_node_get_object(msg);
        if (event_name(msg)) {
            g_queue_push_tail(&vm->events, msg);
            continue;
        }
        /* An answer to an earlier command that timed out. */
        if (json_object_get_int_member_with_default(obj, "id", 0) != id) {
            json_node_unref(msg);
            continue;
        }
        if ((ret = json_object_get_member(obj, "return"))) {
            ret = json_node_copy(ret);
        } else {
            JsonObject *e = json_object_get_object_member(obj, "error");

            g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_QMP, "%s: %s",
                        e ? json_object_get_string_member_with_default(
                                e, "class", "?") : "?",
                        e ? json_object_get_string_member_with_default(
                                e, "desc", "?") : "?");
        }
        json_node_unref(msg);
        return ret;
    }
}

gint64 hvm_qmp_event_time(JsonNode *event)
{
    JsonObject *ts = json_object_get_object_member(
        json_node_get_object(event), "timestamp");

    if (!ts || !json_object_has_member(ts, "seconds")) {
        return -1;
    }
    return json_object_get_int_member(ts, "seconds") * G_USEC_PER_SEC +
           json_object_get_int_member_with_default(ts, "microseconds", 0);
}

static gboolean event_matches(JsonNode *msg, const char *name, gint64 since)
{
    return !g_strcmp0(event_name(msg), name) &&
           (since == G_MININT64 || hvm_qmp_event_time(msg) >= since);
}

JsonNode *hvm_qmp_take_event(HVm *vm, const char *name, gint64 since,
                             gint64 deadline, GError **err)
{
    for (GList *l = vm->events.head; l; l = l->next) {
        if (event_matches(l->data, name, since)) {
            JsonNode *msg = l->data;

            g_queue_delete_link(&vm->events, l);
            return msg;
        }
    }
    if (!vm->qmp) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s: QMP is not connected", vm->name);
        return NULL;
    }
    for (;;) {
        JsonNode *msg = qmp_read(vm, deadline, err);

        if (!msg) {
            g_prefix_error(err, "%s: waiting for event %s: ", vm->name,
                           name);
            return NULL;
        }
        if (event_matches(msg, name, since)) {
            return msg;
        }
        if (event_name(msg)) {
            g_queue_push_tail(&vm->events, msg);
        } else {
            json_node_unref(msg);
        }
    }
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
    JsonNode *ret = hvm_qmp(vm, "query-limevi", NULL, &err);
    JsonArray *list;

    g_assert_no_error(err);
    list = json_node_get_array(ret);
    g_assert_cmpuint(json_array_get_length(list), ==, 1);
    *holder = ret;
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
