/*
 * Live migration between two QEMUs on this machine, over TCP on
 * 127.0.0.1 or an address of the destination's namespace, driven over
 * both QMP sockets.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdlib.h>

#include "harness-private.h"

#define DEFAULT_TIMEOUT_MS 120000
#define POLL_US (50 * 1000)
#define CANCEL_TIMEOUT_MS 10000

/* Runs a QMP command whose answer does not matter beyond success. */
static gboolean qmp_ok(HVm *vm, const char *cmd, const char *args_json,
                       GError **err)
{
    JsonNode *ret = hvm_qmp(vm, cmd, args_json, err);

    if (!ret) {
        return FALSE;
    }
    json_node_unref(ret);
    return TRUE;
}

static char *capabilities_json(const HMigrateOptions *opts)
{
    GString *s = g_string_new("{\"capabilities\":["
                              "{\"capability\":\"events\",\"state\":true}");

    g_string_append_printf(s, ",{\"capability\":\"return-path\","
                           "\"state\":%s}",
                           opts->return_path ? "true" : "false");
    /* Always named: a VM that came in with switchover-ack keeps it, and
     * as a source it would then wait for an ACK no destination sends. */
    g_string_append_printf(s, ",{\"capability\":\"switchover-ack\","
                           "\"state\":%s}",
                           opts->switchover_ack ? "true" : "false");
    g_string_append(s, "]}");
    return g_string_free(s, FALSE);
}

/* The port of dst's listening socket, as its query-migrate reports it. */
static guint16 incoming_port(HVm *dst, GError **err)
{
    g_autoptr(JsonNode) info = hvm_qmp(dst, "query-migrate", NULL, err);
    JsonArray *addrs;
    JsonObject *addr;
    const char *port;

    if (!info) {
        return 0;
    }
    addrs = json_object_get_array_member(json_node_get_object(info),
                                         "socket-address");
    addr = addrs && json_array_get_length(addrs) > 0
               ? json_array_get_object_element(addrs, 0) : NULL;
    port = addr ? json_object_get_string_member_with_default(addr, "port",
                                                             NULL) : NULL;
    if (!port || atoi(port) <= 0 || atoi(port) > G_MAXUINT16) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_PROTOCOL,
                    "%s: query-migrate names no listening port", dst->name);
        return 0;
    }
    return (guint16)atoi(port);
}

gboolean hvm_migrate(HVm *src, HVm *dst, const HMigrateOptions *opts,
                     HMigrateResult *result, GError **err)
{
    static const HMigrateOptions defaults;
    g_autofree char *caps = NULL;
    g_autofree char *uri = NULL;
    g_autofree char *args = NULL;
    g_autofree char *listen = NULL;
    const char *address;
    GString *params;
    gboolean ok;

    if (!opts) {
        opts = &defaults;
    }
    address = opts->address ? opts->address : "127.0.0.1";
    if (!dst->incoming) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s: not started with HVmConfig.incoming", dst->name);
        return FALSE;
    }
    caps = capabilities_json(opts);
    if (!qmp_ok(src, "migrate-set-capabilities", caps, err) ||
        !qmp_ok(dst, "migrate-set-capabilities", caps, err)) {
        return FALSE;
    }
    /* A source capability, always named: a source whose earlier
     * migration was cancelled still has it. */
    if (!qmp_ok(src, "migrate-set-capabilities",
                opts->switchover_hold
                    ? "{\"capabilities\":[{\"capability\":"
                      "\"switchover-hold\",\"state\":true}]}"
                    : "{\"capabilities\":[{\"capability\":"
                      "\"switchover-hold\",\"state\":false}]}",
                err)) {
        return FALSE;
    }
    params = g_string_new(NULL);
    if (opts->downtime_limit_ms) {
        g_string_append_printf(params, ",\"downtime-limit\":%u",
                               opts->downtime_limit_ms);
    }
    if (opts->max_bandwidth) {
        g_string_append_printf(params, ",\"max-bandwidth\":%" G_GUINT64_FORMAT,
                               opts->max_bandwidth);
    }
    if (params->len) {
        params->str[0] = '{';
        g_string_append_c(params, '}');
        ok = qmp_ok(src, "migrate-set-parameters", params->str, err);
    } else {
        ok = TRUE;
    }
    g_string_free(params, TRUE);
    if (!ok) {
        return FALSE;
    }

    /* Port 0: QEMU binds a free one and says which, with no window for
     * another process to take it as a probed port would leave. */
    listen = g_strdup_printf("{\"uri\":\"tcp:%s:0\"}", address);
    if (!qmp_ok(dst, "migrate-incoming", listen, err)) {
        return FALSE;
    }
    src->migrate_port = incoming_port(dst, err);
    if (!src->migrate_port) {
        return FALSE;
    }
    if (result) {
        *result = (HMigrateResult){ .port = src->migrate_port,
                                    .total_time_ms = -1, .downtime_ms = -1,
                                    .setup_time_ms = -1, .pause_ms = -1 };
    }
    uri = g_strdup_printf("tcp:%s:%u", address, src->migrate_port);
    args = g_strdup_printf("{\"uri\":\"%s\"}", uri);
    /* Events older than this are not this migration's. */
    src->migrate_since = g_get_real_time();
    if (!qmp_ok(src, "migrate", args, err)) {
        return FALSE;
    }
    if (opts->no_wait) {
        return TRUE;
    }
    return hvm_migrate_wait(src, dst, opts->timeout_ms, result, err);
}

static gint64 int_member(JsonObject *o, const char *name)
{
    return json_object_get_int_member_with_default(o, name, -1);
}

/* Adds dst's stderr to @err: a failed load is only explained there. */
static void add_dst_stderr(HVm *dst, GError **err)
{
    g_autofree char *text = hvm_stderr(dst);

    if (err && *err && *g_strstrip(text)) {
        g_autofree char *old = (*err)->message;

        (*err)->message = g_strdup_printf("%s; %s stderr: %s", old,
                                          dst->name, text);
    }
}

static void cancel(HVm *src)
{
    g_autoptr(GError) ignored = NULL;
    gint64 deadline = harness_deadline(CANCEL_TIMEOUT_MS);

    if (!qmp_ok(src, "migrate_cancel", NULL, &ignored)) {
        return;
    }
    /* Cancelling is asynchronous: leave src running again, if it can. */
    while (g_get_monotonic_time() < deadline) {
        g_autoptr(JsonNode) info = hvm_qmp(src, "query-migrate", NULL, NULL);
        const char *status = info ? json_object_get_string_member_with_default(
                                        json_node_get_object(info), "status",
                                        "") : "";

        if (!info || g_strcmp0(status, "cancelling")) {
            return;
        }
        g_usleep(POLL_US);
    }
}

gboolean hvm_migrate_wait(HVm *src, HVm *dst, guint timeout_ms,
                          HMigrateResult *result, GError **err)
{
    gint64 deadline = harness_deadline(timeout_ms ? timeout_ms
                                                  : DEFAULT_TIMEOUT_MS);
    g_autoptr(JsonNode) info = NULL;
    g_autoptr(JsonNode) stop = NULL;
    g_autoptr(JsonNode) resume = NULL;
    JsonObject *o;
    const char *status = "";

    for (;;) {
        g_clear_pointer(&info, json_node_unref);
        info = hvm_qmp(src, "query-migrate", NULL, err);
        if (!info) {
            return FALSE;
        }
        o = json_node_get_object(info);
        status = json_object_get_string_member_with_default(o, "status", "");
        if (!g_strcmp0(status, "completed") || !g_strcmp0(status, "failed") ||
            !g_strcmp0(status, "cancelled")) {
            break;
        }
        if (g_get_monotonic_time() >= deadline) {
            g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_TIMEOUT,
                        "%s -> %s: migration still '%s' after %u ms: "
                        "cancelled", src->name, dst->name, status,
                        timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS);
            cancel(src);
            return FALSE;
        }
        g_usleep(POLL_US);
    }
    if (g_strcmp0(status, "completed")) {
        const char *desc = json_object_get_string_member_with_default(
            o, "error-desc", NULL);

        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s -> %s: migration %s%s%s", src->name, dst->name,
                    status, desc ? ": " : "", desc ? desc : "");
        add_dst_stderr(dst, err);
        return FALSE;
    }

    /* src is done once it has sent everything; dst runs a bit later. */
    resume = hvm_qmp_take_event(dst, "RESUME", src->migrate_since, deadline,
                                err);
    if (!resume) {
        g_prefix_error(err, "%s -> %s: completed on the source, but: ",
                       src->name, dst->name);
        add_dst_stderr(dst, err);
        return FALSE;
    }
    /* Queued by now: src stops before it completes.  Without it the
     * guest never froze, or events are lost: either way not a
     * migration the caller may trust. */
    stop = hvm_qmp_take_event(src, "STOP", src->migrate_since, deadline,
                              err);
    if (!stop) {
        g_prefix_error(err, "%s -> %s: completed, but no STOP from %s: ",
                       src->name, dst->name, src->name);
        return FALSE;
    }
    if (hvm_qmp_event_time(resume) < hvm_qmp_event_time(stop)) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s -> %s: %s resumed before %s stopped", src->name,
                    dst->name, dst->name, src->name);
        return FALSE;
    }

    dst->ready = src->ready;
    dst->seq = src->seq;        /* src's late end marks are never ours */
    dst->resync = TRUE;
    if (result) {
        result->port = src->migrate_port;
        result->total_time_ms = int_member(o, "total-time");
        result->downtime_ms = int_member(o, "downtime");
        result->setup_time_ms = int_member(o, "setup-time");
        result->pause_ms = (hvm_qmp_event_time(resume) -
                            hvm_qmp_event_time(stop)) / 1000;
    }
    return TRUE;
}
