/*
 * A VM's local disks at one host (docs/disks.md): their files, made or
 * checked with qemu-img, and the QEMU arguments that attach them under
 * node names every host shares, so that a migration's two ends match.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_DISKS_H
#define LIMEVI_DISKS_H

#include "vcfile.h"

/* The node, device and mirror names of a VM's disk @index (1, 2, ...). */
#define LIMEVI_DISK_NODE "limevi-disk%u"
#define LIMEVI_DISK_DEVICE "limevi-vd%u"
#define LIMEVI_DISK_MIRROR "limevi-mirror%u"
#define LIMEVI_DISK_NBD_NODE "limevi-nbd%u"

/* One disk of a VM as a host sees it. */
typedef struct {
    const LimeviVcDisk *conf;   /* the VC file's */
    char *path;                 /* expanded for the host */
} LimeviDisk;

void limevi_disk_free(LimeviDisk *disk);

/* @vm's disks at @host (of LimeviDisk *, maybe empty; the caller unrefs
 * it), or NULL with @error when a path does not expand. */
GPtrArray *limevi_disks_at(const LimeviVc *vc, const LimeviVcVm *vm,
                           const LimeviVcHost *host, GError **error);

/*
 * limevi start: a missing file is created (qemu-img, qcow2, the VC file's
 * size); one that is there must be a qcow2 image of that size.  Errors
 * are one line "FILE:LINE: [vm VM] key 'disks': disk N: PATH ...".
 */
gboolean limevi_disk_prepare(const LimeviVc *vc, const LimeviVcVm *vm,
                             const LimeviDisk *disk, GError **error);

/* limevi_disk_prepare() for each disk of @vm at @host. */
gboolean limevi_disks_prepare(const LimeviVc *vc, const LimeviVcVm *vm,
                              const LimeviVcHost *host, GError **error);

/* An empty qcow2 image of the disk's size at its path, replacing what
 * was there: a migration's destination, which the mirror fills. */
gboolean limevi_disk_create(const LimeviVc *vc, const LimeviVcVm *vm,
                            const LimeviDisk *disk, GError **error);

/* Appends -blockdev and -device virtio-blk-pci for each of @disks to
 * @argv (of g_free'd strings). */
void limevi_disks_launch_args(GPtrArray *argv, GPtrArray *disks);

#endif /* LIMEVI_DISKS_H */
