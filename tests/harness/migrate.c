/*
 * Live migration between two QEMUs on this machine, over TCP on
 * 127.0.0.1 or an address of the destination's namespace, driven over
 * both QMP sockets.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "harness-private.h"

#define DEFAULT_TIMEOUT_MS 120000
#define POLL_US (50 * 1000)
#define CANCEL_TIMEOUT_MS 10000

/* A QMP client's @local as a harness error naming @vm. */
static gboolean qmp_failed(HVm *vm, GError *local, GError **err)
{
    g_set_error(err, HARNESS_ERROR,
                local->domain == LIMEVI_QMP_ERROR ? HARNESS_ERROR_QMP
                                                  : HARNESS_ERROR_FAILED,
                "%s: %s", vm->name, local->message);
    g_error_free(local);
    return FALSE;
}

/* The same capabilities on both sides ("events" always), the hold and
 * the parameters on @src only: the destination has nothing to hold. */
static gboolean migrate_setup(HVm *src, HVm *dst, const HMigrateOptions *opts,
                              GError **err)
{
    /* Every capability named, on or off: QEMU keeps them across
     * migrations, and a VM that came in with switchover-ack would, as a
     * source, wait for an ACK no destination sends. */
    const LimeviQmpCapability caps[] = {
        { "events", TRUE }, { "return-path", opts->return_path },
        { "switchover-ack", opts->switchover_ack } };
    /* A source capability: a source whose earlier migration was
     * cancelled still has it. */
    const LimeviQmpCapability hold = { "switchover-hold",
                                       opts->switchover_hold };
    gsize n = G_N_ELEMENTS(caps);
    LimeviQmp *sq = hvm_qmp_client(src), *dq = hvm_qmp_client(dst);
    GError *local = NULL;

    if (!limevi_qmp_migrate_set_capabilities(dq, caps, n, &local)) {
        return qmp_failed(dst, local, err);
    }
    if (!limevi_qmp_migrate_set_capabilities(sq, caps, n, &local) ||
        !limevi_qmp_migrate_set_capabilities(sq, &hold, 1, &local) ||
        (opts->downtime_limit_ms &&
         !limevi_qmp_migrate_set_parameter(sq, "downtime-limit",
                                           opts->downtime_limit_ms,
                                           &local)) ||
        (opts->max_bandwidth &&
         !limevi_qmp_migrate_set_parameter(sq, "max-bandwidth",
                                           opts->max_bandwidth, &local))) {
        return qmp_failed(src, local, err);
    }
    return TRUE;
}

gboolean hvm_migrate(HVm *src, HVm *dst, const HMigrateOptions *opts,
                     HMigrateResult *result, GError **err)
{
    static const HMigrateOptions defaults;
    GError *local = NULL;
    const char *address;

    if (!opts) {
        opts = &defaults;
    }
    address = opts->address ? opts->address : "127.0.0.1";
    if (!dst->incoming) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s: not started with HVmConfig.incoming", dst->name);
        return FALSE;
    }
    if (!migrate_setup(src, dst, opts, err)) {
        return FALSE;
    }
    src->migrate_port = limevi_qmp_migrate_incoming(hvm_qmp_client(dst),
                                                    address, &local);
    if (!src->migrate_port) {
        return qmp_failed(dst, local, err);
    }
    if (result) {
        *result = (HMigrateResult){ .port = src->migrate_port,
                                    .total_time_ms = -1, .downtime_ms = -1,
                                    .setup_time_ms = -1, .pause_ms = -1 };
    }
    /* Events older than this are not this migration's. */
    src->migrate_since = g_get_real_time();
    if (!limevi_qmp_migrate(hvm_qmp_client(src), address, src->migrate_port,
                            &local)) {
        return qmp_failed(src, local, err);
    }
    if (opts->no_wait) {
        return TRUE;
    }
    return hvm_migrate_wait(src, dst, opts->timeout_ms, result, err);
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
    LimeviQmp *sq = hvm_qmp_client(src);
    gint64 deadline = harness_deadline(CANCEL_TIMEOUT_MS);

    if (!limevi_qmp_run(sq, "migrate_cancel", NULL, NULL)) {
        return;
    }
    /* Cancelling is asynchronous: leave src running again, if it can. */
    while (g_get_monotonic_time() < deadline) {
        g_auto(LimeviQmpMigration) info = { 0 };

        if (!limevi_qmp_query_migrate(sq, &info, NULL) ||
            g_strcmp0(info.status, "cancelling")) {
            return;
        }
        g_usleep(POLL_US);
    }
}

gboolean hvm_migrate_wait(HVm *src, HVm *dst, guint timeout_ms,
                          HMigrateResult *result, GError **err)
{
    guint limit_ms = timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS;
    gint64 deadline = harness_deadline(limit_ms);
    g_auto(LimeviQmpMigration) info = { 0 };
    g_autoptr(JsonNode) stop = NULL;
    g_autoptr(JsonNode) resume = NULL;
    GError *local = NULL;

    for (;;) {
        if (!limevi_qmp_query_migrate(hvm_qmp_client(src), &info, &local)) {
            return qmp_failed(src, local, err);
        }
        if (limevi_qmp_migration_ended(&info)) {
            break;
        }
        if (g_get_monotonic_time() >= deadline) {
            g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_TIMEOUT,
                        "%s -> %s: migration still '%s' after %u ms: "
                        "cancelled", src->name, dst->name, info.status,
                        limit_ms);
            cancel(src);
            return FALSE;
        }
        g_usleep(POLL_US);
    }
    if (g_strcmp0(info.status, "completed")) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s -> %s: migration %s%s%s", src->name, dst->name,
                    info.status, info.error_desc ? ": " : "",
                    info.error_desc ? info.error_desc : "");
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
    /* src's late end marks are never ours. */
    dst->console.seq = src->console.seq;
    dst->resync = TRUE;
    if (result) {
        result->port = src->migrate_port;
        result->total_time_ms = info.total_time_ms;
        result->downtime_ms = info.downtime_ms;
        result->setup_time_ms = info.setup_time_ms;
        result->pause_ms = (hvm_qmp_event_time(resume) -
                            hvm_qmp_event_time(stop)) / 1000;
    }
    return TRUE;
}
