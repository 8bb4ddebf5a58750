/*
 * QMP client: one JSON object per line each way.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <gio/gunixsocketaddress.h>

#include "qmp.h"

/* A reply longer than this is not QEMU talking. */
#define QMP_LINE_MAX (16 * 1024 * 1024)
#define QMP_REPLY_TIMEOUT_MS 30000

struct LimeviQmp {
    char *path;
    GSocketConnection *conn;
    GSocket *socket;
    GString *in;                /* bytes read, not yet a whole line */
    GQueue events;              /* JsonObject *, oldest first */
    guint64 next_id;
};

static gboolean qmp_fail(GError **error, LimeviQmp *qmp, const char *what)
{
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "QMP %s: %s",
                qmp->path, what);
    return FALSE;
}

/* Reads one line within @timeout_ms; NULL on timeout (error unset) or on
 * a broken connection (error set). */
static char *qmp_read_line(LimeviQmp *qmp, guint timeout_ms, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        char *nl = memchr(qmp->in->str, '\n', qmp->in->len);
        char buf[65536];
        gint64 left;
        gssize n;

        if (nl) {
            gsize len = nl - qmp->in->str;
            char *line = g_strndup(qmp->in->str, len);

            g_string_erase(qmp->in, 0, len + 1);
            return line;
        }
        if (qmp->in->len > QMP_LINE_MAX) {
            qmp_fail(error, qmp, "reply too long");
            return NULL;
        }
        left = deadline - g_get_monotonic_time();
        if (left < 0) {
            left = 0;
        }
        if (!g_socket_condition_timed_wait(qmp->socket, G_IO_IN, left, NULL,
                                           NULL)) {
            return NULL;
        }
        n = g_socket_receive(qmp->socket, buf, sizeof(buf), NULL, error);
        if (n < 0) {
            return NULL;
        }
        if (n == 0) {
            qmp_fail(error, qmp, "connection closed by QEMU");
            return NULL;
        }
        g_string_append_len(qmp->in, buf, n);
    }
}

static JsonObject *qmp_parse(LimeviQmp *qmp, const char *line,
                             GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonNode *root;

    if (!json_parser_load_from_data(parser, line, -1, error) ||
        !(root = json_parser_get_root(parser)) || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_clear_error(error);
        qmp_fail(error, qmp, "not a JSON object from QEMU");
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

G_DEFINE_QUARK(limevi-qmp-error-quark, limevi_qmp_error)

static const char *const error_classes[] = {
    [LIMEVI_QMP_ERROR_GENERIC] = "GenericError",
    [LIMEVI_QMP_ERROR_COMMAND_NOT_FOUND] = "CommandNotFound",
    [LIMEVI_QMP_ERROR_DEVICE_NOT_FOUND] = "DeviceNotFound",
    [LIMEVI_QMP_ERROR_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
    [LIMEVI_QMP_ERROR_KVM_MISSING_CAP] = "KVMMissingCap",
};

/* QEMU's answer {"error": {"class", "desc"}} as a LIMEVI_QMP_ERROR. */
static void qmp_set_error(GError **error, JsonObject *e)
{
    const char *cls = json_object_get_string_member_with_default(
        e, "class", "GenericError");
    LimeviQmpError code = LIMEVI_QMP_ERROR_GENERIC;

    for (gsize i = 0; i < G_N_ELEMENTS(error_classes); i++) {
        if (!strcmp(cls, error_classes[i])) {
            code = i;
        }
    }
    g_set_error(error, LIMEVI_QMP_ERROR, code, "%s: %s", cls,
                json_object_get_string_member_with_default(
                    e, "desc", "(no description)"));
}

/* Sends {"execute", "arguments", "id"}, built by json-glib so that every
 * string is escaped; @args is an object node or NULL. */
static gboolean qmp_send_node(LimeviQmp *qmp, const char *command,
                              JsonNode *args, guint64 id, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) req = NULL;
    g_autofree char *json = NULL;
    g_autofree char *msg = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, command);
    if (args) {
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, json_node_copy(args));
    }
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, (gint64)id);
    json_builder_end_object(b);
    req = json_builder_get_root(b);
    json = json_to_string(req, FALSE);
    msg = g_strconcat(json, "\n", NULL);
    return g_output_stream_write_all(
        g_io_stream_get_output_stream(G_IO_STREAM(qmp->conn)), msg,
        strlen(msg), NULL, NULL, error);
}

static gboolean qmp_send(LimeviQmp *qmp, const char *command,
                         const char *args_json, guint64 id, GError **error)
{
    g_autoptr(JsonNode) args = NULL;

    if (args_json) {
        g_autoptr(GError) local = NULL;

        args = json_from_string(args_json, &local);
        if (!args || !JSON_NODE_HOLDS_OBJECT(args)) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "QMP %s: arguments of %s are not a JSON object",
                        qmp->path, command);
            return FALSE;
        }
    }
    return qmp_send_node(qmp, command, args, id, error);
}

guint64 limevi_qmp_send(LimeviQmp *qmp, const char *command,
                        const char *args_json, GError **error)
{
    guint64 id = ++qmp->next_id;

    return qmp_send(qmp, command, args_json, id, error) ? id : 0;
}

JsonNode *limevi_qmp_reply(LimeviQmp *qmp, guint64 id, const char *command,
                           GError **error)
{
    gint64 deadline = g_get_monotonic_time() +
                      QMP_REPLY_TIMEOUT_MS * G_GINT64_CONSTANT(1000);

    for (;;) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        g_autofree char *line = NULL;
        g_autoptr(JsonObject) msg = NULL;

        line = qmp_read_line(qmp, MAX(left, 0), error);
        if (!line) {
            if (error && !*error) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                            "QMP %s: no reply to %s in %d s", qmp->path,
                            command, QMP_REPLY_TIMEOUT_MS / 1000);
            }
            return NULL;
        }
        /* One per pre-copy pass, and nobody here waits for them. */
        if (strstr(line, "\"MIGRATION_PASS\"")) {
            continue;
        }
        if (!(msg = qmp_parse(qmp, line, error))) {
            return NULL;
        }
        if (json_object_has_member(msg, "event")) {
            g_queue_push_tail(&qmp->events, g_steal_pointer(&msg));
            continue;
        }
        if (!json_object_has_member(msg, "id") ||
            (guint64)json_object_get_int_member(msg, "id") != id) {
            continue;           /* a late reply to a timed-out call */
        }
        if (json_object_has_member(msg, "error")) {
            qmp_set_error(error,
                          json_object_get_object_member(msg, "error"));
            return NULL;
        }
        return json_node_copy(json_object_get_member(msg, "return"));
    }
}

JsonNode *limevi_qmp_call(LimeviQmp *qmp, const char *command,
                          const char *args_json, GError **error)
{
    guint64 id = limevi_qmp_send(qmp, command, args_json, error);

    return id ? limevi_qmp_reply(qmp, id, command, error) : NULL;
}

gboolean limevi_qmp_run(LimeviQmp *qmp, const char *command,
                        const char *args_json, GError **error)
{
    JsonNode *ret = limevi_qmp_call(qmp, command, args_json, error);

    if (!ret) {
        return FALSE;
    }
    json_node_unref(ret);
    return TRUE;
}

gboolean limevi_qmp_run_object(LimeviQmp *qmp, const char *command,
                               JsonObject *args, GError **error)
{
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(),
                                                     args);
    g_autofree char *text = json_to_string(node, FALSE);

    return limevi_qmp_run(qmp, command, text, error);
}

gboolean limevi_qmp_route_set(LimeviQmp *qmp, const char *vm,
                              const char *endpoint, const char *status,
                              GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();

    json_object_set_string_member(args, "netdev", LIMEVI_NETDEV_ID);
    json_object_set_string_member(args, "vm", vm);
    json_object_set_string_member(args, "endpoint", endpoint);
    if (status) {
        json_object_set_string_member(args, "status", status);
    }
    return limevi_qmp_run_object(qmp, "limevi-route-set", args, error);
}

static JsonObject *take_event(LimeviQmp *qmp, const char *name)
{
    for (GList *l = qmp->events.head; l; l = l->next) {
        JsonObject *e = l->data;

        if (!name || !g_strcmp0(json_object_get_string_member(e, "event"),
                                name)) {
            g_queue_delete_link(&qmp->events, l);
            return e;
        }
    }
    return NULL;
}

JsonObject *limevi_qmp_event(LimeviQmp *qmp, const char *name,
                             guint timeout_ms, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    JsonObject *e;

    while (!(e = take_event(qmp, name))) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        g_autofree char *line = qmp_read_line(qmp, MAX(left, 0), error);
        JsonObject *msg;

        if (!line) {
            return NULL;
        }
        if (!(msg = qmp_parse(qmp, line, error))) {
            return NULL;
        }
        if (json_object_has_member(msg, "event")) {
            g_queue_push_tail(&qmp->events, msg);
        } else {
            json_object_unref(msg);
        }
    }
    return e;
}

gint64 limevi_qmp_event_time(JsonObject *event)
{
    JsonObject *ts = json_object_get_object_member(event, "timestamp");

    if (!ts) {
        return -1;
    }
    return json_object_get_int_member(ts, "seconds") * G_USEC_PER_SEC +
           json_object_get_int_member(ts, "microseconds");
}

LimeviQmp *limevi_qmp_connect(const char *path, guint timeout_ms,
                              GError **error)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_autoptr(LimeviQmp) qmp = g_new0(LimeviQmp, 1);
    g_autofree char *greeting = NULL;

    qmp->path = g_strdup(path);
    qmp->in = g_string_new(NULL);
    g_queue_init(&qmp->events);
    for (;;) {
        g_autoptr(GError) local = NULL;

        qmp->conn = g_socket_client_connect(client,
                                            G_SOCKET_CONNECTABLE(addr),
                                            NULL, &local);
        if (qmp->conn) {
            break;
        }
        if (g_get_monotonic_time() > deadline) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                        "QMP %s: %s", path, local->message);
            return NULL;
        }
        g_usleep(50 * 1000);
    }
    qmp->socket = g_socket_connection_get_socket(qmp->conn);
    greeting = qmp_read_line(qmp, MAX(timeout_ms, 5000), error);
    if (!greeting || !strstr(greeting, "\"QMP\"")) {
        if (error && !*error) {
            qmp_fail(error, qmp, "no QMP greeting");
        }
        return NULL;
    }
    if (!limevi_qmp_run(qmp, "qmp_capabilities", NULL, error)) {
        return NULL;
    }
    return g_steal_pointer(&qmp);
}

const char *limevi_qmp_path(LimeviQmp *qmp)
{
    return qmp->path;
}

void limevi_qmp_free(LimeviQmp *qmp)
{
    if (!qmp) {
        return;
    }
    g_clear_object(&qmp->conn);
    if (qmp->in) {
        g_string_free(qmp->in, TRUE);
    }
    g_queue_clear_full(&qmp->events, (GDestroyNotify)json_object_unref);
    g_free(qmp->path);
    g_free(qmp);
}
