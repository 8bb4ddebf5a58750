/*
 * The coordinator's way to QEMU: the shared QMP client (qmp/), with its
 * typed helpers.  Every wait is bounded; events that arrive while waiting
 * for a reply are queued, not lost.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_QMP_H
#define LIMEVI_QMP_H

#include "qmp-client.h"
#include "qmp-commands.h"

#endif /* LIMEVI_QMP_H */
