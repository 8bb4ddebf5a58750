/*
 * The migration record: one VC migration run and, per VM, where it moves,
 * the phase it is in and what was measured on the way.  Shared by the
 * steps (vcmigrate.c), the movers, progress, routes, resume and report.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_MIGRATION_H
#define LIMEVI_MIGRATION_H

#include "journal.h"
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

typedef struct LimeviMover LimeviMover;

typedef struct {
    const LimeviVcVm *vm;
    const LimeviVcHost *src;
    const LimeviVcHost *dst;
    const LimeviMover *mover;   /* how it moves: QMP or libvirt */
    LimeviQmp *sq;              /* source QEMU */
    LimeviQmp *dq;              /* destination QEMU */
    LimeviVirtMigration *virt;  /* libvirt's migration job, or NULL */
    GPid dst_pid;
    LimeviVmPhase phase;
    char *error;
    /* Progress from the source's query-migrate. */
    gint64 transferred, remaining, total, dirty_rate, eta_ms;
    gint64 expected_downtime;
    double mbps;                /* QEMU's rate over its last window */
    gint64 polled_at;           /* monotonic us query-migrate answered */
    guint syncs;
    gboolean hold_ready;        /* switchover-hold: converged and held */
    guint64 max_bandwidth;      /* bytes/s share.c last set; 0: none */
    /* Its local disks' mirrors (mirror.c), from query-block-jobs. */
    gint64 disk_transferred, disk_total;
    gboolean disks_ready;       /* every mirror in sync (no disk: TRUE) */
    gboolean disks_completed;   /* mirrors ended with the switchover */
    guint disks_blocking;       /* bit N: mirror N is write-blocking */
    guint fell_out;             /* times it fell out of the barrier */
    /* From its MIGRATION_SWITCHOVER_READY events, also between polls:
     * how often it said ready:false, and what it said last (1, 0; -1:
     * none).  None comes after the release, so the last says whether
     * QEMU had it converged when the release came. */
    guint unready_events;
    int ready_event;
    /* Real time (us) each phase began; QMP event times. */
    gint64 t_phase[VM_N_PHASES];
    gint64 t_stop, t_resume, t_synced;
    gint64 total_ms, downtime_ms;
    gint64 forwarded;           /* frames the source forwarded */
    guint repaired;             /* peers' routes to it limevi had to set */
    guint wrong_routes;         /* routes to it that could not be set */
    gboolean tls;               /* its streams over TLS ([vc] tls) */
    /* tls-creds as each end's query-migrate-parameters reported it
     * during the move ("" for none); NULL: not read. */
    char *tls_creds_src, *tls_creds_dst;
    const char *journaled;      /* the last phase in the journal */
    gboolean unsettled;         /* released, not done at the deadline */
} LimeviVmMigration;

/* The VC's RAM migration throughput as the coordinator measures it, in
 * windows (share.c). */
typedef struct {
    gint64 since;               /* monotonic us the window began; 0: none */
    guint64 sent;               /* bytes the VC had sent then */
    guint64 last;               /* bytes/s, the last window */
    guint64 peak;               /* bytes/s, the fastest window so far */
    guint windows;              /* windows ended */
} LimeviThroughput;

/* One run of limevi migrate (or of its --resume). */
typedef struct {
    LimeviVc *vc;
    const LimeviMigrateOptions *opts;
    LimeviJournal *journal;
    gint64 run_id;
    GPtrArray *migs;            /* LimeviVmMigration *, freed with it */
    int interrupted;            /* the signal (SIGINT, SIGTERM) or 0 */
    gboolean journal_failed;    /* a step or phase could not be recorded */
    gboolean tty;
    guint drawn;                /* progress lines on screen */
    gint64 last_print;
    gint64 t0;                  /* real start time, us */
    /* Without --bandwidth: what the VC's sources move, and the
     * avail-switchover-bandwidth derived from it (0: none set yet). */
    LimeviThroughput throughput;
    guint64 switchover_bandwidth;
} LimeviRun;

/* A record for @vm moving from @src to @dst; limevi_vm_migration_free()
 * (the run's array) frees it, aborting a libvirt job still running. */
LimeviVmMigration *limevi_vm_migration_new(const LimeviVcVm *vm,
                                           const LimeviVcHost *src,
                                           const LimeviVcHost *dst);
void limevi_vm_migration_free(gpointer m);

void limevi_vm_set_phase(LimeviVmMigration *m, LimeviVmPhase phase);
/* Marks @m failed, keeping its first error; returns FALSE. */
gboolean limevi_vm_fail(LimeviVmMigration *m, GError *error);

gboolean limevi_run_all_at_least(LimeviRun *run, LimeviVmPhase phase);
LimeviVmMigration *limevi_run_first_failed(LimeviRun *run);

/* Records @step in the journal, durable before its effects (a crash
 * right after is resumable); says why on stderr when it cannot, and
 * marks run->journal_failed. */
gboolean limevi_run_step(LimeviRun *run, const char *step);

/* Records that @m reached @phase (LIMEVI_PHASE_*), unless that was the
 * last phase recorded; like limevi_run_step() when it cannot. */
gboolean limevi_run_vm_phase(LimeviRun *run, LimeviVmMigration *m,
                             const char *phase);

/* Opens opts->journal for a new run: FALSE, said on stderr, when it
 * cannot be read, another coordinator holds the VC, or a run of it was
 * interrupted (it asks for --resume). */
gboolean limevi_run_open_journal(LimeviRun *run);

/* The VC's lock, the run and its VMs, in one transaction (journal.h). */
gboolean limevi_run_record_plan(LimeviRun *run);

#endif /* LIMEVI_MIGRATION_H */
