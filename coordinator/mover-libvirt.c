/*
 * The libvirt mover: libvirt starts the destination as it migrates
 * (peer to peer) and stops the source when its VM runs at the
 * destination; the coordinator follows, holds and releases the source
 * through a QMP socket of its own in the domain (virt.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "launch.h"
#include "mover.h"

#define CONNECT_TIMEOUT_MS 10000

static gboolean virt_start_destination(LimeviRun *run, LimeviVmMigration *m)
{
    limevi_vm_set_phase(m, VM_STARTING);
    return TRUE;                /* libvirt starts it as it migrates */
}

/* QMP to the destination QEMU once libvirt started it. */
static gboolean connect_destination(LimeviVmMigration *m, GError **error)
{
    g_autofree char *qmp = limevi_launch_path(m->dst, m->vm, "qmp");
    gint64 deadline = g_get_monotonic_time() +
                      CONNECT_TIMEOUT_MS * G_GINT64_CONSTANT(1000);

    while (!(m->dq = limevi_qmp_connect(qmp, 200, NULL))) {
        if (limevi_virt_migration_ended(m->virt, 100, error)) {
            if (!*error) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                            "libvirt ended the migration before the hold");
            }
            return FALSE;
        }
        if (g_get_monotonic_time() > deadline) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "no QMP at %s: libvirt did not start the "
                        "destination in %d s", qmp, CONNECT_TIMEOUT_MS / 1000);
            return FALSE;
        }
    }
    return TRUE;
}

/*
 * libvirt sets the capabilities itself (return-path and switchover-ack
 * when both QEMUs have them, events) and starts the destination; it sets
 * only the capabilities it knows: the hold is ours, through the
 * coordinator's QMP socket in the source domain.
 */
static gboolean virt_start(LimeviRun *run, LimeviVmMigration *m)
{
    g_autoptr(GError) error = NULL;
    /* libvirt sets max-bandwidth from its own parameter. */
    g_autofree char *params = limevi_mover_parameters(run, FALSE);

    /* libvirt keeps QEMU's own times to itself. */
    m->total_ms = m->downtime_ms = -1;
    if (!limevi_qmp_run(m->sq, "migrate-set-parameters", params, &error) ||
        !limevi_mover_set_hold(m->sq, &error) ||
        !(m->virt = limevi_virt_migrate(run->vc, m->vm, m->src, m->dst,
                                        limevi_mover_bandwidth(run),
                                        &error)) ||
        !connect_destination(m, &error)) {
        return limevi_vm_fail(m, error);
    }
    return TRUE;
}

static gboolean virt_poll(LimeviRun *run, LimeviVmMigration *m)
{
    g_autoptr(GError) error = NULL;
    JsonNode *ret;
    JsonObject *o;
    const char *status;
    gboolean ok;

    if (!m->virt) {
        /* Not started (another VM failed first): QEMU's status only. */
        return limevi_mover_qemu.poll(run, m);
    }
    /* libvirt's job ends after QEMU's: then the source QEMU is gone. */
    if (limevi_virt_migration_ended(m->virt, 0, &error)) {
        if (error) {
            return limevi_vm_fail(m, error);
        }
        limevi_vm_set_phase(m, VM_DONE);
        return TRUE;
    }
    ret = limevi_mover_query(m, &error);
    if (!ret) {
        /* libvirt may have just ended it and stopped the source. */
        g_clear_error(&error);
        if (limevi_virt_migration_ended(m->virt, 10000, &error) && !error) {
            limevi_vm_set_phase(m, VM_DONE);
            return TRUE;
        }
        if (!error) {
            g_set_error(&error, G_IO_ERROR, G_IO_ERROR_FAILED,
                        "the source QEMU went away during migration");
        }
        return limevi_vm_fail(m, error);
    }
    o = json_node_get_object(ret);
    status = json_object_get_string_member_with_default(o, "status", "");
    limevi_mover_read_progress(m, o);
    /* Until libvirt issues `migrate`, QEMU still shows the outcome of
     * the VM's last migration: libvirt's own end says whether this one
     * failed. */
    if (!strcmp(status, "failed") || !strcmp(status, "cancelled")) {
        json_node_unref(ret);
        if (limevi_virt_migration_ended(m->virt, 0, &error) && error) {
            return limevi_vm_fail(m, error);
        }
        return TRUE;
    }
    /* libvirt sets tls-creds at both ends before `migrate` and clears
     * them when it ends: read them while QEMU migrates. */
    if (!strcmp(status, "active") || !strcmp(status, "pre-switchover")) {
        limevi_mover_read_tls(m);
    }
    ok = limevi_mover_apply_status(m, o);
    json_node_unref(ret);
    return ok;
}

/* A migration of this coordinator, or one a killed coordinator started
 * (wherever libvirt is in it). */
static void virt_abort(LimeviVmMigration *m)
{
    if (m->virt) {
        limevi_virt_migration_abort(m->virt);
    } else {
        limevi_virt_wait_idle(m->src, m->vm, TRUE, 0);
    }
}

/* libvirt removes the destination domain with its job; a job of a
 * coordinator that died must be over before the next migration. */
static void virt_drop_destination(LimeviVmMigration *m)
{
    if (m->virt) {
        limevi_virt_migration_ended(m->virt, 30000, NULL);
    } else {
        limevi_virt_wait_idle(m->src, m->vm, FALSE, 30000);
    }
}

/*
 * libvirt resumes the destination, then stops the source itself; a
 * source quit before would fail its job.  Without our own job (resumed)
 * the source's QMP answering tells that it is still there.
 */
static gboolean virt_wait_gone(LimeviVmMigration *m, gboolean quit,
                               guint timeout_ms, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    if (!m->virt) {
        while (g_get_monotonic_time() < deadline &&
               limevi_qmp_run(m->sq, "query-status", NULL, NULL)) {
            g_usleep(200 * 1000);
        }
        return TRUE;
    }
    if (!limevi_virt_migration_ended(m->virt, timeout_ms, error)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                    "libvirt did not finish the migration");
        return FALSE;
    }
    return !*error;
}

static gboolean virt_job_running(LimeviVmMigration *m)
{
    return limevi_virt_job_active(m->src, m->vm);
}

const LimeviMover limevi_mover_libvirt = {
    .name = "libvirt",
    .stops_source = TRUE,
    .start_destination = virt_start_destination,
    .start = virt_start,
    .poll = virt_poll,
    .release = limevi_mover_release,
    .abort = virt_abort,
    .drop_destination = virt_drop_destination,
    .wait_gone = virt_wait_gone,
    .job_running = virt_job_running,
};
