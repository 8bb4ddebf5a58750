/*
 * libvirt as the way to a host's QEMUs (a [host] with `libvirt = URI`):
 * libvirt starts the VM from its domain XML and runs its migration
 * (peer to peer, as `virsh migrate --p2p --live`), while the coordinator
 * still follows, holds and releases it through a QMP socket of its own
 * that the domain XML gives QEMU: libvirt knows nothing of the source's
 * switchover-hold, and refuses monitor commands to a domain that is
 * migrating in.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_VIRT_H
#define LIMEVI_VIRT_H

#include "vcfile.h"

/*
 * The domain XML of @vm on @host: its template with the VC file's
 * variables expanded, a UUID derived from the VC and VM names when the
 * template has none (the destination's must equal the source's), and
 * QEMU arguments for -netdev limevi, the NIC and QMP at RUN-DIR/VM.qmp.
 */
char *limevi_virt_domain_xml(const LimeviVc *vc, const LimeviVcVm *vm,
                             const LimeviVcHost *host, GError **error);

/* Starts @vm on @host as a transient domain. */
gboolean limevi_virt_start(const LimeviVc *vc, const LimeviVcVm *vm,
                           const LimeviVcHost *host, GError **error);

typedef struct LimeviVirtMigration LimeviVirtMigration;

/*
 * Starts @vm's live migration from @src to @dst in a thread of its own
 * (the libvirt call blocks until the VM moved or failed); @bandwidth in
 * bytes/s, 0 for libvirt's default.
 */
LimeviVirtMigration *limevi_virt_migrate(const LimeviVc *vc,
                                         const LimeviVcVm *vm,
                                         const LimeviVcHost *src,
                                         const LimeviVcHost *dst,
                                         guint64 bandwidth, GError **error);

/* Waits up to @timeout_ms for the migration to end; FALSE while it runs.
 * When it ended, @error says why it failed (unset: it succeeded). */
gboolean limevi_virt_migration_ended(LimeviVirtMigration *mig,
                                     guint timeout_ms, GError **error);

/* With @abort, cancels libvirt's job on @vm at @host (a migration a
 * killed coordinator started, wherever libvirt is in it); then waits up
 * to @timeout_ms until libvirt runs no job on it. */
gboolean limevi_virt_wait_idle(const LimeviVcHost *host,
                               const LimeviVcVm *vm, gboolean abort,
                               guint timeout_ms);

/* Whether libvirt runs a job (a migration) on @vm at @host now. */
gboolean limevi_virt_job_active(const LimeviVcHost *host,
                                const LimeviVcVm *vm);

/* Cancels the migration (libvirt removes the destination domain). */
void limevi_virt_migration_abort(LimeviVirtMigration *mig);

/* Waits for the migration thread (abort it first if it may hang). */
void limevi_virt_migration_free(LimeviVirtMigration *mig);

#endif /* LIMEVI_VIRT_H */
