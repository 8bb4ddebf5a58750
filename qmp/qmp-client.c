/*
 * QMP client: connecting, commands and their answers, one JSON object per
 * line each way, built and parsed by json-glib.  Nothing QEMU sends is
 * trusted: a message is checked for the members and types read, and a
 * line is bounded.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>

#include "qmp-private.h"

#define QMP_REPLY_TIMEOUT_MS 30000
#define QMP_GREETING_MIN_MS 5000
#define QMP_CONNECT_RETRY_US (20 * 1000)

G_DEFINE_QUARK(limevi-qmp-error-quark, limevi_qmp_error)

gboolean qmp_fail(GError **error, LimeviQmp *qmp, GIOErrorEnum code,
                         const char *what)
{
    g_set_error(error, G_IO_ERROR, code, "QMP %s: %s", qmp->path, what);
    return FALSE;
}

/* Reads one line within @timeout_ms; NULL on timeout (error unset) or on
 * a broken connection (error set). */
char *qmp_read_line(LimeviQmp *qmp, guint timeout_ms, GError **error)
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
        if (qmp->in->len > LIMEVI_QMP_LINE_MAX) {
            qmp_fail(error, qmp, G_IO_ERROR_MESSAGE_TOO_LARGE,
                     "message too long");
            return NULL;
        }
        left = MAX(deadline - g_get_monotonic_time(), 0);
        if (!g_socket_condition_timed_wait(qmp->socket, G_IO_IN, left, NULL,
                                           NULL)) {
            return NULL;
        }
        n = g_socket_receive(qmp->socket, buf, sizeof(buf), NULL, error);
        if (n < 0) {
            return NULL;
        }
        if (n == 0) {
            qmp_fail(error, qmp, G_IO_ERROR_CONNECTION_CLOSED,
                     "connection closed by QEMU");
            return NULL;
        }
        g_string_append_len(qmp->in, buf, n);
    }
}

/* @o's member @name if it has the JSON type @type, else NULL. */
JsonNode *qmp_member(JsonObject *o, const char *name, JsonNodeType type)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    return n && JSON_NODE_TYPE(n) == type ? n : NULL;
}

const char *qmp_string_member(JsonObject *o, const char *name)
{
    JsonNode *n = qmp_member(o, name, JSON_NODE_VALUE);

    return n && json_node_get_value_type(n) == G_TYPE_STRING
           ? json_node_get_string(n) : NULL;
}

gboolean qmp_int_member(JsonObject *o, const char *name, gint64 *value)
{
    JsonNode *n = qmp_member(o, name, JSON_NODE_VALUE);

    if (!n || json_node_get_value_type(n) != G_TYPE_INT64) {
        return FALSE;
    }
    *value = json_node_get_int(n);
    return TRUE;
}

JsonObject *qmp_parse(LimeviQmp *qmp, const char *line,
                             GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonNode *root;

    if (!json_parser_load_from_data(parser, line, -1, NULL) ||
        !(root = json_parser_get_root(parser)) ||
        !JSON_NODE_HOLDS_OBJECT(root)) {
        qmp_fail(error, qmp, G_IO_ERROR_INVALID_DATA,
                 "not a JSON object from QEMU");
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

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
    const char *cls = qmp_string_member(e, "class");
    const char *desc = qmp_string_member(e, "desc");
    LimeviQmpError code = LIMEVI_QMP_ERROR_GENERIC;

    for (gsize i = 0; cls && i < G_N_ELEMENTS(error_classes); i++) {
        if (!strcmp(cls, error_classes[i])) {
            code = i;
        }
    }
    g_set_error(error, LIMEVI_QMP_ERROR, code, "%s: %s",
                cls ? cls : "GenericError", desc ? desc : "(no description)");
}

/* Sends {"execute", "arguments", "id"}, built by json-glib so that every
 * string is escaped; @args is an object or NULL. */
static gboolean qmp_send_object(LimeviQmp *qmp, const char *command,
                                JsonObject *args, guint64 id, GError **error)
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
        json_builder_add_value(b, json_node_init_object(json_node_alloc(),
                                                        args));
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

/* @args_json parsed as an object into *@args (NULL stays NULL). */
static gboolean parse_args(LimeviQmp *qmp, const char *command,
                           const char *args_json, JsonObject **args,
                           GError **error)
{
    g_autoptr(JsonNode) node = NULL;

    *args = NULL;
    if (!args_json) {
        return TRUE;
    }
    node = json_from_string(args_json, NULL);
    if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "QMP %s: arguments of %s are not a JSON object",
                    qmp->path, command);
        return FALSE;
    }
    *args = json_object_ref(json_node_get_object(node));
    return TRUE;
}

static guint64 send_object(LimeviQmp *qmp, const char *command,
                           JsonObject *args, GError **error)
{
    guint64 id = ++qmp->next_id;

    return qmp_send_object(qmp, command, args, id, error) ? id : 0;
}

guint64 limevi_qmp_send(LimeviQmp *qmp, const char *command,
                        const char *args_json, GError **error)
{
    g_autoptr(JsonObject) args = NULL;

    if (!parse_args(qmp, command, args_json, &args, error)) {
        return 0;
    }
    return send_object(qmp, command, args, error);
}

/* The answer @msg to @command: its "return", or an error. */
static JsonNode *answer(LimeviQmp *qmp, JsonObject *msg, const char *command,
                        GError **error)
{
    JsonNode *e = qmp_member(msg, "error", JSON_NODE_OBJECT);
    JsonNode *ret = json_object_get_member(msg, "return");

    if (e) {
        qmp_set_error(error, json_node_get_object(e));
        return NULL;
    }
    if (!ret) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "QMP %s: answer to %s has neither return nor error",
                    qmp->path, command);
        return NULL;
    }
    return json_node_copy(ret);
}

JsonNode *limevi_qmp_reply(LimeviQmp *qmp, guint64 id, const char *command,
                           GError **error)
{
    gint64 deadline = g_get_monotonic_time() +
                      (gint64)qmp->reply_timeout_ms * 1000;

    for (;;) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        g_autofree char *line = NULL;
        g_autoptr(JsonObject) msg = NULL;
        GError *local = NULL;
        gint64 got;

        line = qmp_read_line(qmp, MAX(left, 0), &local);
        if (!line) {
            if (!local) {
                g_set_error(&local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                            "QMP %s: no reply to %s in %u ms", qmp->path,
                            command, qmp->reply_timeout_ms);
            }
            g_propagate_error(error, local);
            return NULL;
        }
        if (!(msg = qmp_parse(qmp, line, error))) {
            return NULL;
        }
        if (qmp_event_name(msg)) {
            qmp_queue_event(qmp, g_steal_pointer(&msg));
            continue;
        }
        if (!qmp_int_member(msg, "id", &got) || (guint64)got != id) {
            continue;           /* a late reply to a timed-out call */
        }
        return answer(qmp, msg, command, error);
    }
}

JsonNode *limevi_qmp_call_object(LimeviQmp *qmp, const char *command,
                                 JsonObject *args, GError **error)
{
    guint64 id = send_object(qmp, command, args, error);

    return id ? limevi_qmp_reply(qmp, id, command, error) : NULL;
}

JsonNode *limevi_qmp_call(LimeviQmp *qmp, const char *command,
                          const char *args_json, GError **error)
{
    g_autoptr(JsonObject) args = NULL;

    if (!parse_args(qmp, command, args_json, &args, error)) {
        return NULL;
    }
    return limevi_qmp_call_object(qmp, command, args, error);
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
    JsonNode *ret = limevi_qmp_call_object(qmp, command, args, error);

    if (!ret) {
        return FALSE;
    }
    json_node_unref(ret);
    return TRUE;
}

static LimeviQmp *qmp_new(const char *path)
{
    LimeviQmp *qmp = g_new0(LimeviQmp, 1);

    qmp->path = g_strdup(path);
    qmp->in = g_string_new(NULL);
    qmp->reply_timeout_ms = QMP_REPLY_TIMEOUT_MS;
    g_queue_init(&qmp->events);
    return qmp;
}

/* Reads the greeting and leaves capabilities negotiation mode. */
static gboolean qmp_handshake(LimeviQmp *qmp, guint timeout_ms,
                              GError **error)
{
    g_autofree char *line = NULL;
    g_autoptr(JsonObject) greeting = NULL;
    GError *local = NULL;

    qmp->socket = g_socket_connection_get_socket(qmp->conn);
    line = qmp_read_line(qmp, MAX(timeout_ms, QMP_GREETING_MIN_MS), &local);
    if (!line) {
        if (!local) {
            qmp_fail(&local, qmp, G_IO_ERROR_TIMED_OUT, "no QMP greeting");
        }
        g_propagate_error(error, local);
        return FALSE;
    }
    if (!(greeting = qmp_parse(qmp, line, error))) {
        return FALSE;
    }
    if (!qmp_member(greeting, "QMP", JSON_NODE_OBJECT)) {
        return qmp_fail(error, qmp, G_IO_ERROR_INVALID_DATA,
                        "no QMP greeting");
    }
    return limevi_qmp_run(qmp, "qmp_capabilities", NULL, error);
}

LimeviQmp *limevi_qmp_connect(const char *path, guint timeout_ms,
                              GError **error)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_autoptr(LimeviQmp) qmp = qmp_new(path);

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
        g_usleep(QMP_CONNECT_RETRY_US);
    }
    if (!qmp_handshake(qmp, timeout_ms, error)) {
        return NULL;
    }
    return g_steal_pointer(&qmp);
}

LimeviQmp *limevi_qmp_open_fd(int fd, const char *name, guint timeout_ms,
                              GError **error)
{
    g_autoptr(LimeviQmp) qmp = qmp_new(name);
    g_autoptr(GSocket) socket = g_socket_new_from_fd(fd, error);

    if (!socket) {
        close(fd);
        return NULL;
    }
    qmp->conn = g_socket_connection_factory_create_connection(socket);
    if (!qmp_handshake(qmp, timeout_ms, error)) {
        return NULL;
    }
    return g_steal_pointer(&qmp);
}

const char *limevi_qmp_path(LimeviQmp *qmp)
{
    return qmp->path;
}

void limevi_qmp_set_reply_timeout(LimeviQmp *qmp, guint timeout_ms)
{
    qmp->reply_timeout_ms = timeout_ms;
}

void limevi_qmp_free(LimeviQmp *qmp)
{
    if (!qmp) {
        return;
    }
    if (qmp->conn) {
        g_io_stream_close(G_IO_STREAM(qmp->conn), NULL, NULL);
        g_object_unref(qmp->conn);
    }
    if (qmp->in) {
        g_string_free(qmp->in, TRUE);
    }
    g_queue_clear_full(&qmp->events, (GDestroyNotify)json_object_unref);
    g_free(qmp->path);
    g_free(qmp);
}
