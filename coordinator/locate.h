/*
 * Where each VM of a VC runs now: the VC file says where it was started;
 * after migrations the truth is whichever host's QEMU for it is running.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_LOCATE_H
#define LIMEVI_LOCATE_H

#include "qmp.h"
#include "vcfile.h"

/* One QEMU of a VM, whatever its run state. */
typedef struct {
    const LimeviVcHost *host;
    char *status;               /* QEMU's run state, "unknown" if unasked */
} LimeviQemu;

typedef struct {
    const LimeviVcVm *vm;
    const LimeviVcHost *host;   /* where it runs; NULL: nowhere */
    LimeviQmp *qmp;             /* connected to that QEMU, or NULL */
    char *status;               /* QEMU's run state there, or NULL */
    guint running;              /* how many hosts run it (1 is right) */
    /* Every QEMU of the VM on any host, in host order, running or not
     * (paused, inmigrate, postmigrate): leftovers are visible here. */
    GPtrArray *qemus;           /* LimeviQemu * */
} LimeviLocation;

/* One location per VM of @vc, in file order; the array frees them. */
GPtrArray *limevi_locate(const LimeviVc *vc);

#endif /* LIMEVI_LOCATE_H */
