/*
 * The VC's migration bandwidth (--bandwidth), shared while it converges:
 * a VM that is ready and held needs only what keeps it converged; the
 * rest goes to the VMs still copying, by what each still has to send.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_SHARE_H
#define LIMEVI_SHARE_H

#include "migration.h"

typedef struct {
    gboolean ready;             /* converged and held */
    guint64 remaining;          /* bytes it still has to send */
    guint64 dirty_bytes;        /* bytes/s its guest dirties */
} LimeviShareVm;

/*
 * Fills @out[i], bytes/s, for each of @n VMs, summing to at most @total:
 * a ready VM gets twice its dirty rate, at least an eighth and at most
 * all of its even share; each VM still copying gets at least a quarter
 * of its even share, and what is left in proportion to its @remaining.
 */
void limevi_share_bandwidth(guint64 total, const LimeviShareVm *vms,
                            guint n, guint64 *out);

/*
 * With --bandwidth, sets each QMP-moved source's max-bandwidth to its
 * share now, when it changed by more than a tenth.  libvirt's sources
 * keep the even share libvirt set.  The threshold of every VM stays
 * from its even share (avail-switchover-bandwidth), so the final copies
 * of all VMs together fit the link within the downtime limit.
 */
void limevi_share_apply(LimeviRun *run);

/*
 * At the release: gives @m back its even share if it was cut (written,
 * not waited for, so that it goes ahead of migrate-switchover on the
 * same socket and the final passes are not held to a held VM's rate).
 * Returns the request's id for limevi_share_restored(), or 0.
 */
guint64 limevi_share_restore(LimeviRun *run, LimeviVmMigration *m);
void limevi_share_restored(LimeviVmMigration *m, guint64 id);

#endif /* LIMEVI_SHARE_H */
