/*
 * The QEMU mover: the coordinator starts the destination QEMU itself and
 * drives the migration over QMP at both ends.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <signal.h>

#include "launch.h"
#include "mirror.h"
#include "mover.h"

#define CONNECT_TIMEOUT_MS 10000

static gboolean set_caps(LimeviQmp *qmp, GError **error)
{
    return limevi_qmp_run(qmp, "migrate-set-capabilities",
        "{\"capabilities\":["
        "{\"capability\":\"return-path\",\"state\":true},"
        "{\"capability\":\"events\",\"state\":true}]}", error);
}

/* Whether @qmp's QEMU has an object @id. */
static gboolean has_object(LimeviQmp *qmp, const char *id, GError **error)
{
    JsonNode *ret = limevi_qmp_call(qmp, "qom-list",
                                    "{\"path\":\"/objects\"}", error);
    JsonArray *props;
    gboolean found = FALSE;

    if (!ret) {
        return FALSE;
    }
    props = json_node_get_array(ret);
    for (guint i = 0; !found && i < json_array_get_length(props); i++) {
        found = !g_strcmp0(json_object_get_string_member(
            json_array_get_object_element(props, i), "name"), id);
    }
    json_node_unref(ret);
    return found;
}

/*
 * Both ends' streams over TLS: the destination has its server object
 * from its command line (launch.c); the source gets a client object of
 * the same directory, kept for its next migration.  Each end checks the
 * other's certificate against the VC's CA, and the source the server's
 * against the address it connects to.
 */
static gboolean set_tls(LimeviRun *run, LimeviVmMigration *m,
                        GError **error)
{
    g_autoptr(JsonObject) creds = NULL;
    g_autoptr(GError) local = NULL;
    g_autofree char *src_params = NULL;

    if (!m->tls) {
        return TRUE;
    }
    if (!has_object(m->sq, LIMEVI_TLS_CLIENT_ID, &local)) {
        if (local) {
            g_propagate_error(error, g_steal_pointer(&local));
            return FALSE;
        }
        creds = json_object_new();
        json_object_set_string_member(creds, "qom-type", "tls-creds-x509");
        json_object_set_string_member(creds, "id", LIMEVI_TLS_CLIENT_ID);
        json_object_set_string_member(creds, "dir", run->vc->tls);
        json_object_set_string_member(creds, "endpoint", "client");
        json_object_set_boolean_member(creds, "verify-peer", TRUE);
        if (!limevi_qmp_run_object(m->sq, "object-add", creds, error)) {
            g_prefix_error(error, "TLS credentials of %s: ", run->vc->tls);
            return FALSE;
        }
    }
    src_params = g_strdup_printf("{\"tls-creds\":\"" LIMEVI_TLS_CLIENT_ID
                                 "\",\"tls-hostname\":\"%s\"}",
                                 m->dst->address);
    return limevi_qmp_run(m->sq, "migrate-set-parameters", src_params,
                          error) &&
           limevi_qmp_run(m->dq, "migrate-set-parameters",
                          "{\"tls-creds\":\"" LIMEVI_TLS_SERVER_ID "\"}",
                          error);
}

static gboolean qemu_start_destination(LimeviRun *run, LimeviVmMigration *m)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    g_autofree char *qmp = limevi_launch_path(m->dst, m->vm, "qmp");

    m->tls = run->vc->tls != NULL;
    limevi_vm_set_phase(m, VM_STARTING);
    argv = limevi_launch_argv(run->vc, m->vm, m->dst, TRUE, &error);
    if (!argv || !limevi_mirror_create_targets(run, m, &error) ||
        !(m->dst_pid = limevi_launch(argv, m->vm, m->dst, &error)) ||
        !(m->dq = limevi_qmp_connect(qmp, CONNECT_TIMEOUT_MS, &error)) ||
        !limevi_mirror_export(m, &error)) {
        return limevi_vm_fail(m, error);
    }
    return TRUE;
}

/* The port the destination listens on (it picked a free one). */
static char *incoming_uri(LimeviVmMigration *m, GError **error)
{
    JsonNode *ret = limevi_qmp_call(m->dq, "query-migrate", NULL, error);
    JsonArray *addrs;
    const char *port;
    char *uri;

    if (!ret) {
        return NULL;
    }
    addrs = json_object_get_array_member(json_node_get_object(ret),
                                         "socket-address");
    port = addrs && json_array_get_length(addrs) ?
           json_object_get_string_member(
               json_array_get_object_element(addrs, 0), "port") : NULL;
    uri = port ? g_strdup_printf("{\"uri\":\"tcp:%s:%s\"}", m->dst->address,
                                 port) : NULL;
    json_node_unref(ret);
    if (!uri) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "the destination reports no listening port");
    }
    return uri;
}

static gboolean qemu_start(LimeviRun *run, LimeviVmMigration *m)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *incoming = NULL;
    g_autofree char *params = NULL;
    g_autofree char *uri = NULL;

    if (!set_caps(m->sq, &error) || !limevi_mover_set_hold(m->sq, &error) ||
        !set_caps(m->dq, &error) || !set_tls(run, m, &error)) {
        return limevi_vm_fail(m, error);
    }
    params = limevi_mover_parameters(run, TRUE);
    if (!limevi_qmp_run(m->sq, "migrate-set-parameters", params, &error)) {
        return limevi_vm_fail(m, error);
    }
    /* The disks' mirrors run while RAM is pre-copied. */
    if (!limevi_mirror_start(m, &error)) {
        return limevi_vm_fail(m, error);
    }
    /* Port 0: the destination picks a free one and tells us. */
    incoming = g_strdup_printf("{\"uri\":\"tcp:%s:0\"}", m->dst->address);
    if (!limevi_qmp_run(m->dq, "migrate-incoming", incoming, &error) ||
        !(uri = incoming_uri(m, &error)) ||
        !limevi_qmp_run(m->sq, "migrate", uri, &error)) {
        return limevi_vm_fail(m, error);
    }
    limevi_mover_read_tls(m);
    return TRUE;
}

static gboolean qemu_poll(LimeviRun *run, LimeviVmMigration *m)
{
    g_autoptr(GError) error = NULL;
    JsonNode *ret;
    gboolean ok;

    ret = limevi_mover_query(m, &error);
    if (!ret || !limevi_mirror_poll(m, &error)) {
        g_clear_pointer(&ret, json_node_unref);
        return limevi_vm_fail(m, error);
    }
    limevi_mover_read_progress(m, json_node_get_object(ret));
    ok = limevi_mover_apply_status(m, json_node_get_object(ret));
    /* Released, stopped, its device state not sent yet: the disks end
     * their mirrors now, so that the destination starts on every
     * write. */
    if (ok && !g_strcmp0(json_object_get_string_member_with_default(
            json_node_get_object(ret), "status", ""), "pre-switchover") &&
        !limevi_mirror_complete(m, &error)) {
        limevi_qmp_run(m->sq, "migrate_cancel", NULL, NULL);
        ok = limevi_vm_fail(m, error);
    }
    json_node_unref(ret);
    return ok;
}

static void qemu_abort(LimeviVmMigration *m)
{
    if (m->sq && m->phase >= VM_MIGRATING) {
        limevi_mirror_cancel(m->sq);
        limevi_qmp_run(m->sq, "migrate_cancel", NULL, NULL);
    }
}

static void qemu_drop_destination(LimeviVmMigration *m)
{
    limevi_mirror_drop(m->sq, m->vm);
    if (m->dq) {
        limevi_qmp_run(m->dq, "quit", NULL, NULL);
    } else if (m->dst_pid) {
        kill(m->dst_pid, SIGTERM);
    }
}

/* The destination runs the VM: the source has nothing left to do. */
static gboolean qemu_wait_gone(LimeviVmMigration *m, gboolean quit,
                               guint timeout_ms, GError **error)
{
    if (m->phase == VM_DONE && m->vm->disks->len) {
        /* The disks are the destination's own now. */
        limevi_qmp_run(m->dq, "nbd-server-stop", NULL, NULL);
    }
    if (m->phase == VM_DONE && quit) {
        limevi_qmp_run(m->sq, "quit", NULL, NULL);
    }
    return TRUE;
}

static gboolean qemu_job_running(LimeviVmMigration *m)
{
    return FALSE;
}

const LimeviMover limevi_mover_qemu = {
    .name = "qemu",
    .start_destination = qemu_start_destination,
    .start = qemu_start,
    .poll = qemu_poll,
    .release = limevi_mover_release,
    .abort = qemu_abort,
    .drop_destination = qemu_drop_destination,
    .wait_gone = qemu_wait_gone,
    .job_running = qemu_job_running,
};
