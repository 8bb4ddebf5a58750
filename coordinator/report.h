/*
 * What a VC migration did, per VM and for the VC: printed, written as
 * JSON, and drawn as an SVG timeline of every VM's phases.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_REPORT_H
#define LIMEVI_REPORT_H

#include "qmp.h"
#include "vcfile.h"
#include "vcmigrate.h"
#include "virt.h"

typedef enum {
    VM_PLANNED,
    VM_STARTING,                /* its destination QEMU starts */
    VM_MIGRATING,               /* pre-copy */
    VM_READY,                   /* converged; the source's hold keeps it */
    VM_SWITCHING,               /* its source released */
    VM_DONE,
    VM_FAILED,
    VM_ROLLED_BACK,
    VM_N_PHASES
} LimeviVmPhase;

typedef struct {
    const LimeviVcVm *vm;
    const LimeviVcHost *src;
    const LimeviVcHost *dst;
    LimeviQmp *sq;              /* source QEMU */
    LimeviQmp *dq;              /* destination QEMU */
    LimeviVirtMigration *virt;  /* libvirt's migration job, or NULL */
    GPid dst_pid;
    LimeviVmPhase phase;
    char *error;
    /* Progress from the source's query-migrate. */
    gint64 transferred, remaining, total, dirty_rate, eta_ms;
    gint64 expected_downtime;
    guint syncs;
    gboolean hold_ready;        /* switchover-hold: converged and held */
    guint fell_out;             /* times it fell out of the barrier */
    /* Real time (us) each phase began; QMP event times. */
    gint64 t_phase[VM_N_PHASES];
    gint64 t_stop, t_resume, t_synced;
    gint64 total_ms, downtime_ms;
    gint64 forwarded;           /* frames the source forwarded */
    guint repaired;             /* peers' routes to it limevi had to set */
} LimeviVmMigration;

/* Prints the report and writes opts->report (JSON) and opts->svg. */
void limevi_report(const LimeviVc *vc, const LimeviMigrateOptions *opts,
                   GPtrArray *migs, gint64 t_start, gint64 t_end);

#endif /* LIMEVI_REPORT_H */
