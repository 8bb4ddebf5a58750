/*
 * A mover: the way one VM's migration is driven on its hosts.  Two
 * implementations, QEMU over QMP (mover-qemu.c) and libvirt
 * (mover-libvirt.c); the VC's steps (vcmigrate.c, release.c) only call
 * these.  Both hold and release the source through QMP: libvirt knows nothing
 * of the switchover hold.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_MOVER_H
#define LIMEVI_MOVER_H

#include "migration.h"

struct LimeviMover {
    const char *name;
    /* The source stops as soon as its VM runs at the destination, so it
     * cannot pass on the moves of peers switching with it: before the
     * release, moving peers hold their frames for each other. */
    gboolean stops_source;
    /* The destination, ready to receive; FALSE: @m failed (its error). */
    gboolean (*start_destination)(LimeviRun *run, LimeviVmMigration *m);
    /* The migration, held at the source; FALSE: @m failed. */
    gboolean (*start)(LimeviRun *run, LimeviVmMigration *m);
    /* Reads progress and moves @m's phase on; FALSE once it failed.
     * Called through limevi_mover_poll(), only while it runs. */
    gboolean (*poll)(LimeviRun *run, LimeviVmMigration *m);
    /* Writes the release to the source; the id of its QMP reply. */
    guint64 (*release)(LimeviVmMigration *m, GError **error);
    /* Starts cancelling the migration; returns at once. */
    void (*abort)(LimeviVmMigration *m);
    /* After an abort, once the source runs again: the destination goes. */
    void (*drop_destination)(LimeviVmMigration *m);
    /* After the switchover: waits up to @timeout_ms until the source is
     * gone (with @quit, QEMU's is told to quit); FALSE, @error set, when
     * the migration did not end well. */
    gboolean (*wait_gone)(LimeviVmMigration *m, gboolean quit,
                          guint timeout_ms, GError **error);
    /* Whether a job of a coordinator that died still runs on @m's
     * source (QEMU's own status alone does not tell, with libvirt). */
    gboolean (*job_running)(LimeviVmMigration *m);
};

extern const LimeviMover limevi_mover_qemu;
extern const LimeviMover limevi_mover_libvirt;

/* The mover for a VM leaving @src (whose destination is of its kind). */
const LimeviMover *limevi_mover_for(const LimeviVcHost *src);

/* ---- What both movers share (mover.c) ---- */

/* Whether some VM of @run moves with a mover that stops_source. */
gboolean limevi_movers_stop_sources(LimeviRun *run);

/* The source holds its switchover until the coordinator releases it. */
gboolean limevi_mover_set_hold(LimeviQmp *qmp, GError **error);

/* The VM's share of the VC's bandwidth, 0 when none was given. */
guint64 limevi_mover_bandwidth(LimeviRun *run);

/*
 * migrate-set-parameters' arguments for a source: the downtime limit and,
 * with a bandwidth, the VM's share as avail-switchover-bandwidth (all the
 * VMs stop together, so each final copy has only its share of the WAN)
 * and, with @max_bandwidth, as max-bandwidth.  g_free() it.
 */
char *limevi_mover_parameters(LimeviRun *run, gboolean max_bandwidth);

/*
 * Reads the tls-creds of both ends' query-migrate-parameters into @m
 * (once both answered): what the report says the streams ran over.
 */
void limevi_mover_read_tls(LimeviVmMigration *m);

/* query-migrate at @m's source (the hold's events dropped); NULL with
 * @error when it did not answer.  The caller unrefs the node. */
JsonNode *limevi_mover_query(LimeviVmMigration *m, GError **error);

/* Copies the progress (ram, expected downtime, hold) of query-migrate's
 * @o into @m. */
void limevi_mover_read_progress(LimeviVmMigration *m, JsonObject *o);

/* Moves @m's phase on by @o's status: failed, completed, ready or out
 * of the barrier again; FALSE when it failed. */
gboolean limevi_mover_apply_status(LimeviVmMigration *m, JsonObject *o);

/* Polls @m through its mover unless its migration ended; FALSE once
 * it failed. */
gboolean limevi_mover_poll(LimeviRun *run, LimeviVmMigration *m);

/* How often the steps poll every VM, and how often while some VM is
 * ready or stops for its disks: the release then follows the last ready
 * VM closely, the mirrors' end the source's stop. */
#define LIMEVI_POLL_MS 200
#define LIMEVI_FAST_POLL_MS 20

/* limevi_mover_poll() for every VM of @run. */
void limevi_movers_poll(LimeviRun *run);

/* migrate-switchover written to the source; its reply is read later. */
guint64 limevi_mover_release(LimeviVmMigration *m, GError **error);

#endif /* LIMEVI_MOVER_H */
