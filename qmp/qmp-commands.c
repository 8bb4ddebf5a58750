/*
 * Typed QMP helpers: each builds its arguments with json-glib and reads
 * only members of the type it expects.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "qmp-commands.h"
#include "qmp-private.h"

gboolean limevi_qmp_migrate_set_capabilities(LimeviQmp *qmp,
                                             const LimeviQmpCapability *caps,
                                             gsize n, GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();
    JsonArray *list = json_array_new();

    for (gsize i = 0; i < n; i++) {
        JsonObject *c = json_object_new();

        json_object_set_string_member(c, "capability", caps[i].name);
        json_object_set_boolean_member(c, "state", caps[i].state);
        json_array_add_object_element(list, c);
    }
    json_object_set_array_member(args, "capabilities", list);
    return limevi_qmp_run_object(qmp, "migrate-set-capabilities", args,
                                 error);
}

gboolean limevi_qmp_migrate_set_parameter(LimeviQmp *qmp, const char *name,
                                          gint64 value, GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();

    json_object_set_int_member(args, name, value);
    return limevi_qmp_run_object(qmp, "migrate-set-parameters", args, error);
}

static gboolean run_uri(LimeviQmp *qmp, const char *command,
                        const char *address, guint16 port, GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autofree char *uri = g_strdup_printf("tcp:%s:%u", address, port);

    json_object_set_string_member(args, "uri", uri);
    return limevi_qmp_run_object(qmp, command, args, error);
}

guint16 limevi_qmp_migrate_incoming(LimeviQmp *qmp, const char *address,
                                    GError **error)
{
    g_auto(LimeviQmpMigration) info = { 0 };

    if (!run_uri(qmp, "migrate-incoming", address, 0, error) ||
        !limevi_qmp_query_migrate(qmp, &info, error)) {
        return 0;
    }
    if (!info.incoming_port) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "QMP %s: query-migrate names no listening port",
                    limevi_qmp_path(qmp));
    }
    return info.incoming_port;
}

gboolean limevi_qmp_migrate(LimeviQmp *qmp, const char *address,
                            guint16 port, GError **error)
{
    return run_uri(qmp, "migrate", address, port, error);
}

static gint64 int_or(JsonObject *o, const char *name, gint64 dflt)
{
    gint64 v;

    return qmp_int_member(o, name, &v) ? v : dflt;
}

static double double_or(JsonObject *o, const char *name, double dflt)
{
    JsonNode *n = qmp_member(o, name, JSON_NODE_VALUE);
    GType t = n ? json_node_get_value_type(n) : G_TYPE_INVALID;

    return t == G_TYPE_DOUBLE || t == G_TYPE_INT64 ? json_node_get_double(n)
                                                   : dflt;
}

static JsonObject *object_or_null(JsonObject *o, const char *name)
{
    JsonNode *n = qmp_member(o, name, JSON_NODE_OBJECT);

    return n ? json_node_get_object(n) : NULL;
}

/* The port of the first listening address ("socket-address"), or 0. */
static guint16 incoming_port(JsonObject *o)
{
    JsonNode *n = qmp_member(o, "socket-address", JSON_NODE_ARRAY);
    JsonArray *addrs = n ? json_node_get_array(n) : NULL;
    JsonNode *first = addrs && json_array_get_length(addrs)
                      ? json_array_get_element(addrs, 0) : NULL;
    const char *port = first && JSON_NODE_HOLDS_OBJECT(first)
                       ? qmp_string_member(json_node_get_object(first),
                                           "port") : NULL;
    char *end;
    guint64 p;

    if (!port) {
        return 0;
    }
    p = g_ascii_strtoull(port, &end, 10);
    return *end || p == 0 || p > G_MAXUINT16 ? 0 : (guint16)p;
}

void limevi_qmp_migration_parse(JsonNode *ret, LimeviQmpMigration *info)
{
    JsonObject *o = ret && JSON_NODE_HOLDS_OBJECT(ret)
                    ? json_node_get_object(ret) : NULL;
    JsonObject *ram = object_or_null(o, "ram");
    JsonObject *hold = object_or_null(o, "switchover-hold");
    const char *status = qmp_string_member(o, "status");
    JsonNode *ready = qmp_member(hold, "ready", JSON_NODE_VALUE);

    limevi_qmp_migration_clear(info);
    info->status = g_strdup(status ? status : "none");
    info->error_desc = g_strdup(qmp_string_member(o, "error-desc"));
    info->total_time_ms = int_or(o, "total-time", -1);
    info->downtime_ms = int_or(o, "downtime", -1);
    info->expected_downtime_ms = int_or(o, "expected-downtime", -1);
    info->setup_time_ms = int_or(o, "setup-time", -1);
    info->ram_transferred = int_or(ram, "transferred", -1);
    info->ram_remaining = int_or(ram, "remaining", -1);
    info->ram_total = int_or(ram, "total", -1);
    info->dirty_pages_rate = int_or(ram, "dirty-pages-rate", -1);
    info->mbps = double_or(ram, "mbps", -1);
    info->hold_ready = ready &&
                       json_node_get_value_type(ready) == G_TYPE_BOOLEAN &&
                       json_node_get_boolean(ready);
    info->incoming_port = o ? incoming_port(o) : 0;
}

gboolean limevi_qmp_query_migrate(LimeviQmp *qmp, LimeviQmpMigration *info,
                                  GError **error)
{
    g_autoptr(JsonNode) ret = limevi_qmp_call(qmp, "query-migrate", NULL,
                                              error);

    if (!ret) {
        return FALSE;
    }
    if (!JSON_NODE_HOLDS_OBJECT(ret)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "QMP %s: query-migrate returned no object",
                    limevi_qmp_path(qmp));
        return FALSE;
    }
    limevi_qmp_migration_parse(ret, info);
    return TRUE;
}

void limevi_qmp_migration_clear(LimeviQmpMigration *info)
{
    g_free(info->status);
    g_free(info->error_desc);
    *info = (LimeviQmpMigration){ 0 };
}

gboolean limevi_qmp_migration_ended(const LimeviQmpMigration *info)
{
    return !g_strcmp0(info->status, "completed") ||
           !g_strcmp0(info->status, "failed") ||
           !g_strcmp0(info->status, "cancelled");
}

JsonArray *limevi_qmp_query_limevi(LimeviQmp *qmp, GError **error)
{
    g_autoptr(JsonNode) ret = limevi_qmp_call(qmp, "query-limevi", NULL,
                                              error);

    if (!ret) {
        return NULL;
    }
    if (!JSON_NODE_HOLDS_ARRAY(ret)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "QMP %s: query-limevi returned no list",
                    limevi_qmp_path(qmp));
        return NULL;
    }
    return json_array_ref(json_node_get_array(ret));
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
