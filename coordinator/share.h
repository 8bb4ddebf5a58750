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
 * Without --bandwidth QEMU would take each VM's threshold (what may be
 * left for the final copy) from the bandwidth that VM measured in its
 * last window.  With N migrations sharing one WAN that swings from
 * window to window, and a held VM fell out of convergence again and
 * again (bench/vc-switchover: up to 21 times; no 8-VM barrier in
 * 300 s).  So the coordinator measures the VC's aggregate instead: the
 * RAM every source sent, summed, over windows of
 * LIMEVI_THROUGHPUT_WINDOW_MS, and keeps the fastest window (8 VMs on
 * 100 Mbit/s: windows of 6 to 12 MB/s, a peak of 11.8 MB/s, where
 * QEMU's own mbps, summed, swung from 5 to 14.5 MB/s; timed at the end
 * of the poll rather than at the sources' answers, one window read
 * 13.8 MB/s, above the link).  The first window does not count: with 4
 * VMs it read 14.2 MB/s, the sources' socket buffers filling, and the
 * next ones 10 to 12.7.  Its even
 * share is what each final copy gets when all N stop at once, and as a
 * peak it only grows: a threshold it sets never shrinks under a held
 * VM, and a VM that is held sends less without lowering it.
 */
#define LIMEVI_THROUGHPUT_WINDOW_MS 2000

/* Adds what the VC has @sent in all, bytes, at @now (monotonic us);
 * returns @tp's peak, bytes/s (0 until a second window ended). */
guint64 limevi_throughput_sample(LimeviThroughput *tp, gint64 now,
                                 guint64 sent);

/* The avail-switchover-bandwidth for each of @n VMs from the VC's
 * @peak: its even share, or 0 to keep @current (0: none set), which it
 * differs from by no more than a tenth. */
guint64 limevi_share_switchover(guint64 peak, guint n, guint64 current);

/* Without --bandwidth, at each poll: samples the VC's throughput and
 * sets every source's avail-switchover-bandwidth when
 * limevi_share_switchover() says so. */
void limevi_share_derive(LimeviRun *run);

/*
 * At the release: gives @m back its even share if it was cut (written,
 * not waited for, so that it goes ahead of migrate-switchover on the
 * same socket and the final passes are not held to a held VM's rate).
 * Returns the request's id for limevi_share_restored(), or 0.
 */
guint64 limevi_share_restore(LimeviRun *run, LimeviVmMigration *m);
void limevi_share_restored(LimeviVmMigration *m, guint64 id);

#endif /* LIMEVI_SHARE_H */
