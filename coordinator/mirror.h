/*
 * Local disks moving with a VM between QMP hosts (docs/disks.md), the
 * NBD flow libvirt uses for non-shared storage: the destination exports
 * its empty copies over NBD, the source mirrors each disk into them
 * while RAM is pre-copied, the switchover waits until every mirror is in
 * sync, and the mirrors end while the source is stopped before its
 * device state goes (pause-before-switchover), so the destination has
 * every write.  Any failure before that cancels them: the source's
 * disks stay the VM's.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_MIRROR_H
#define LIMEVI_MIRROR_H

#include "migration.h"

/* Before the destination QEMU starts: an empty qcow2 image of each disk
 * at its path there, which must not be the source's file. */
gboolean limevi_mirror_create_targets(LimeviRun *run, LimeviVmMigration *m,
                                      GError **error);

/* The destination QEMU runs (incoming): an NBD server on its host's
 * address, TCP port the VM's 'port', exporting every disk writable. */
gboolean limevi_mirror_export(LimeviVmMigration *m, GError **error);

/* At the source: the switchover pauses once the guest stopped, and each
 * disk is mirrored (sync full) into the destination's export. */
gboolean limevi_mirror_start(LimeviVmMigration *m, GError **error);

/* Reads the mirrors' progress and whether all are in sync; a mirror
 * near sync turns write-blocking, or a guest that keeps writing would
 * keep it behind for ever.  FALSE, @error set, when a mirror failed. */
gboolean limevi_mirror_poll(LimeviVmMigration *m, GError **error);

/* The source stopped in pre-switchover: every mirror ends in sync
 * (block-job-cancel of a ready mirror), then the migration goes on. */
gboolean limevi_mirror_complete(LimeviVmMigration *m, GError **error);

/* Cancels every mirror of LimeVI at @sq's QEMU at once (also a
 * coordinator's before it died); returns at once. */
void limevi_mirror_cancel(LimeviQmp *sq);

/* After a cancel, once the jobs ended: the source's NBD clients go. */
void limevi_mirror_drop(LimeviQmp *sq, const LimeviVcVm *vm);

#endif /* LIMEVI_MIRROR_H */
