/*
 * Local disks moving with a VM between QMP hosts: NBD exports at the
 * destination, block mirrors at the source, ended with the switchover.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "disks.h"
#include "launch.h"
#include "mirror.h"

/* How long the mirrors may take to end once the source stopped: they
 * are in sync, so only what the last writes left is still to go. */
#define COMPLETE_TIMEOUT_MS 30000
/* A mirror this close to in sync turns write-blocking. */
#define NEAR_SYNC_BYTES (4 << 20)

gboolean limevi_mirror_create_targets(LimeviRun *run, LimeviVmMigration *m,
                                      GError **error)
{
    g_autoptr(GPtrArray) at_src = limevi_disks_at(run->vc, m->vm, m->src,
                                                  error);
    g_autoptr(GPtrArray) at_dst = at_src ? limevi_disks_at(run->vc, m->vm,
                                                           m->dst, error)
                                         : NULL;

    for (guint i = 0; at_dst && i < at_dst->len; i++) {
        LimeviDisk *src = at_src->pdata[i];
        LimeviDisk *dst = at_dst->pdata[i];

        /* Emptying it would destroy the disk the VM runs on. */
        if (g_str_equal(src->path, dst->path)) {
            g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                        "%s:%u: [vm %s] key 'disks': disk %u: %s is the "
                        "same file on %s and %s: a local disk needs a path "
                        "of each host's own (e.g. under ${run_dir})",
                        run->vc->path, dst->conf->line, m->vm->name,
                        dst->conf->index, dst->path, m->src->name,
                        m->dst->name);
            return FALSE;
        }
        if (!limevi_disk_create(run->vc, m->vm, dst, error)) {
            return FALSE;
        }
    }
    return at_dst != NULL;
}

/* InetSocketAddress; with @typed, as a SocketAddress. */
static JsonObject *inet_address(const char *host, guint16 port,
                                gboolean typed)
{
    JsonObject *addr = json_object_new();
    g_autofree char *text = g_strdup_printf("%u", port);

    if (typed) {
        json_object_set_string_member(addr, "type", "inet");
    }
    json_object_set_string_member(addr, "host", host);
    json_object_set_string_member(addr, "port", text);
    return addr;
}

gboolean limevi_mirror_export(LimeviVmMigration *m, GError **error)
{
    g_autoptr(JsonObject) server = json_object_new();
    JsonObject *addr;

    if (!m->vm->disks->len) {
        return TRUE;
    }
    /* nbd-server-start takes SocketAddressLegacy: {type, data}. */
    addr = json_object_new();
    json_object_set_string_member(addr, "type", "inet");
    json_object_set_object_member(addr, "data",
                                  inet_address(m->dst->address,
                                               m->vm->port, FALSE));
    json_object_set_object_member(server, "addr", addr);
    /* With [vc] tls the disks travel as RAM does: only a source with a
     * certificate of the VC's CA may connect. */
    if (m->tls) {
        json_object_set_string_member(server, "tls-creds",
                                      LIMEVI_TLS_SERVER_ID);
    }
    if (!limevi_qmp_run_object(m->dq, "nbd-server-start", server, error)) {
        g_prefix_error(error, "NBD server at %s:%u: ", m->dst->address,
                       m->vm->port);
        return FALSE;
    }
    for (guint i = 1; i <= m->vm->disks->len; i++) {
        g_autoptr(JsonObject) exp = json_object_new();
        g_autofree char *node = g_strdup_printf(LIMEVI_DISK_NODE, i);

        json_object_set_string_member(exp, "type", "nbd");
        json_object_set_string_member(exp, "id", node);
        json_object_set_string_member(exp, "node-name", node);
        json_object_set_string_member(exp, "name", node);
        json_object_set_boolean_member(exp, "writable", TRUE);
        if (!limevi_qmp_run_object(m->dq, "block-export-add", exp, error)) {
            g_prefix_error(error, "disk %u: NBD export: ", i);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean drop_nbd_node(LimeviQmp *sq, guint index, gint64 deadline,
                              GError **error);

gboolean limevi_mirror_start(LimeviVmMigration *m, GError **error)
{
    const LimeviQmpCapability pause[] = {
        { "pause-before-switchover", TRUE },
    };

    if (!m->vm->disks->len) {
        return TRUE;
    }
    if (!limevi_qmp_migrate_set_capabilities(m->sq, pause, 1, error)) {
        return FALSE;
    }
    for (guint i = 1; i <= m->vm->disks->len; i++) {
        g_autoptr(JsonObject) nbd = json_object_new();
        g_autoptr(JsonObject) mirror = json_object_new();
        g_autofree char *node = g_strdup_printf(LIMEVI_DISK_NODE, i);
        g_autofree char *target = g_strdup_printf(LIMEVI_DISK_NBD_NODE, i);
        g_autofree char *job = g_strdup_printf(LIMEVI_DISK_MIRROR, i);

        /* One a coordinator left that died, or a rollback could not
         * remove, would take the name. */
        if (!drop_nbd_node(m->sq, i, g_get_monotonic_time() +
                           10 * G_USEC_PER_SEC, error)) {
            g_prefix_error(error, "disk %u: an earlier NBD client: ", i);
            return FALSE;
        }
        json_object_set_string_member(nbd, "driver", "nbd");
        json_object_set_string_member(nbd, "node-name", target);
        json_object_set_object_member(nbd, "server",
                                      inet_address(m->dst->address,
                                                   m->vm->port, TRUE));
        json_object_set_string_member(nbd, "export", node);
        if (m->tls) {
            json_object_set_string_member(nbd, "tls-creds",
                                          LIMEVI_TLS_CLIENT_ID);
            json_object_set_string_member(nbd, "tls-hostname",
                                          m->dst->address);
        }
        if (!limevi_qmp_run_object(m->sq, "blockdev-add", nbd, error)) {
            g_prefix_error(error, "disk %u: NBD client of %s:%u: ", i,
                           m->dst->address, m->vm->port);
            return FALSE;
        }
        /* Background copy, as libvirt's default: write-blocking would
         * make every guest write wait a WAN round trip from the start;
         * it turns write-blocking only near sync (limevi_mirror_poll()). */
        json_object_set_string_member(mirror, "job-id", job);
        json_object_set_string_member(mirror, "device", node);
        json_object_set_string_member(mirror, "target", target);
        json_object_set_string_member(mirror, "sync", "full");
        json_object_set_string_member(mirror, "copy-mode", "background");
        if (!limevi_qmp_run_object(m->sq, "blockdev-mirror", mirror,
                                   error)) {
            g_prefix_error(error, "disk %u: mirror: ", i);
            return FALSE;
        }
    }
    return TRUE;
}

/* The index of a job named LIMEVI_DISK_MIRROR, or 0. */
static guint mirror_index(const char *job)
{
    guint64 n;

    if (!job || !g_str_has_prefix(job, "limevi-mirror") ||
        !g_ascii_string_to_unsigned(job + strlen("limevi-mirror"), 10, 1,
                                    G_MAXUINT, &n, NULL)) {
        return 0;
    }
    return n;
}

/* Why mirror @index ended on its own: its BLOCK_JOB_COMPLETED, queued. */
static char *mirror_failure(LimeviQmp *sq, guint index)
{
    JsonObject *e;
    char *why = NULL;

    while (!why && (e = limevi_qmp_event(sq, "BLOCK_JOB_COMPLETED", 0,
                                         NULL))) {
        JsonObject *data = json_object_get_object_member(e, "data");

        if (data && mirror_index(json_object_get_string_member_with_default(
                data, "device", NULL)) == index) {
            why = g_strdup(json_object_get_string_member_with_default(
                data, "error", "it ended"));
        }
        json_object_unref(e);
    }
    return why ? why : g_strdup("its job is gone");
}

gboolean limevi_mirror_poll(LimeviVmMigration *m, GError **error)
{
    guint n = m->vm->disks->len;
    g_autofree gboolean *seen = g_new0(gboolean, n + 1);
    gint64 done = 0, total = 0;
    gboolean ready = TRUE;
    JsonNode *ret;
    JsonArray *jobs;

    if (!n || m->disks_completed) {
        return TRUE;
    }
    ret = limevi_qmp_call(m->sq, "query-block-jobs", NULL, error);
    if (!ret) {
        return FALSE;
    }
    jobs = json_node_get_array(ret);
    for (guint j = 0; j < json_array_get_length(jobs); j++) {
        JsonObject *job = json_array_get_object_element(jobs, j);
        guint i = mirror_index(json_object_get_string_member_with_default(
            job, "device", NULL));
        gboolean job_ready = json_object_get_boolean_member_with_default(
            job, "ready", FALSE);

        if (!i || i > n) {
            continue;
        }
        seen[i] = TRUE;
        done += json_object_get_int_member_with_default(job, "offset", 0);
        total += json_object_get_int_member_with_default(job, "len", 0);
        ready &= job_ready;
        /* A guest that keeps writing keeps a background mirror one
         * WAN round trip behind, never in sync.  Close to it, each
         * write goes through to the destination before the guest sees
         * it done, so the mirror gets in sync and stays so. */
        if (!job_ready && !(m->disks_blocking & (1u << i)) &&
            json_object_get_int_member_with_default(job, "len", 0) -
            json_object_get_int_member_with_default(job, "offset", 0) <=
            NEAR_SYNC_BYTES) {
            g_autoptr(JsonObject) change = json_object_new();

            json_object_set_string_member(change, "id",
                json_object_get_string_member(job, "device"));
            json_object_set_string_member(change, "type", "mirror");
            json_object_set_string_member(change, "copy-mode",
                                          "write-blocking");
            if (limevi_qmp_run_object(m->sq, "block-job-change", change,
                                      error)) {
                m->disks_blocking |= 1u << i;
            } else {
                g_prefix_error(error, "disk %u: ", i);
                json_node_unref(ret);
                return FALSE;
            }
        }
    }
    json_node_unref(ret);
    for (guint i = 1; i <= n; i++) {
        if (!seen[i]) {
            g_autofree char *why = mirror_failure(m->sq, i);

            g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                        "disk %u: the mirror to %s failed: %s", i,
                        m->dst->name, why);
            return FALSE;
        }
    }
    m->disk_transferred = done;
    m->disk_total = total;
    m->disks_ready = ready;
    return TRUE;
}

gboolean limevi_mirror_complete(LimeviVmMigration *m, GError **error)
{
    guint n = m->vm->disks->len;
    guint ended = 0;
    gint64 deadline = g_get_monotonic_time() +
                      COMPLETE_TIMEOUT_MS * (gint64)1000;

    if (!n || m->disks_completed) {
        return TRUE;
    }
    /* A ready mirror that is cancelled copies what is left and ends
     * with the destination a copy of the source at that moment: the
     * guest is stopped, so of its last state. */
    for (guint i = 1; i <= n; i++) {
        g_autoptr(JsonObject) args = json_object_new();
        g_autofree char *job = g_strdup_printf(LIMEVI_DISK_MIRROR, i);

        json_object_set_string_member(args, "device", job);
        if (!limevi_qmp_run_object(m->sq, "block-job-cancel", args, error)) {
            g_prefix_error(error, "disk %u: ending its mirror: ", i);
            return FALSE;
        }
    }
    while (ended < n) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        JsonObject *e = left > 0 ? limevi_qmp_wait_event(m->sq,
            "BLOCK_JOB_COMPLETED", G_MININT64, left, NULL, NULL) : NULL;
        JsonObject *data;
        guint i;

        if (!e) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "%u of %u disk mirrors did not end within %u s "
                        "after the source stopped", n - ended, n,
                        COMPLETE_TIMEOUT_MS / 1000);
            return FALSE;
        }
        data = json_object_get_object_member(e, "data");
        i = data ? mirror_index(json_object_get_string_member_with_default(
                       data, "device", NULL)) : 0;
        if (i && json_object_has_member(data, "error")) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                        "disk %u: its mirror failed at the switchover: %s",
                        i, json_object_get_string_member(data, "error"));
            json_object_unref(e);
            return FALSE;
        }
        if (i) {
            ended++;
            m->disk_transferred = m->disk_total =
                json_object_get_int_member_with_default(data, "len",
                                                        m->disk_total);
        }
        json_object_unref(e);
    }
    m->disks_completed = TRUE;
    {
        g_autoptr(JsonObject) args = json_object_new();

        json_object_set_string_member(args, "state", "pre-switchover");
        return limevi_qmp_run_object(m->sq, "migrate-continue", args, error);
    }
}

void limevi_mirror_cancel(LimeviQmp *sq)
{
    JsonNode *ret = sq ? limevi_qmp_call(sq, "query-block-jobs", NULL, NULL)
                       : NULL;
    JsonArray *jobs = ret ? json_node_get_array(ret) : NULL;

    for (guint j = 0; jobs && j < json_array_get_length(jobs); j++) {
        const char *id = json_object_get_string_member_with_default(
            json_array_get_object_element(jobs, j), "device", NULL);
        g_autoptr(JsonObject) args = json_object_new();

        if (!mirror_index(id)) {
            continue;
        }
        /* Forced: a ready mirror would otherwise first catch up. */
        json_object_set_string_member(args, "device", id);
        json_object_set_boolean_member(args, "force", TRUE);
        limevi_qmp_run_object(sq, "block-job-cancel", args, NULL);
    }
    if (ret) {
        json_node_unref(ret);
    }
}

/* blockdev-del of the NBD client of disk @index: TRUE once it is gone
 * (or never was); retried while its cancelled job ends. */
static gboolean drop_nbd_node(LimeviQmp *sq, guint index, gint64 deadline,
                              GError **error)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autofree char *node = g_strdup_printf(LIMEVI_DISK_NBD_NODE, index);

    json_object_set_string_member(args, "node-name", node);
    for (;;) {
        g_autoptr(GError) local = NULL;

        if (limevi_qmp_run_object(sq, "blockdev-del", args, &local) ||
            (local->domain == LIMEVI_QMP_ERROR &&
             strstr(local->message, "Failed to find node"))) {
            return TRUE;
        }
        if (local->domain != LIMEVI_QMP_ERROR ||
            g_get_monotonic_time() >= deadline) {
            g_propagate_error(error, g_steal_pointer(&local));
            return FALSE;
        }
        g_usleep(100 * 1000);
    }
}

void limevi_mirror_drop(LimeviQmp *sq, const LimeviVcVm *vm)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (guint i = 1; sq && i <= vm->disks->len; i++) {
        g_autoptr(GError) error = NULL;

        if (!drop_nbd_node(sq, i, deadline, &error)) {
            g_printerr("limevi: VM %s: disk %u: its NBD client stays at the "
                       "source: %s\n", vm->name, i, error->message);
        }
    }
}
