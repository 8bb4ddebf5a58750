/*
 * Rolling a VC migration back (before the release, or on --resume when
 * the sources were not released): the normal run and resume share it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_ROLLBACK_H
#define LIMEVI_ROLLBACK_H

#include "migration.h"

/* Cancels every migration of @run, waits until each source runs again
 * with no migration under way, and lets each destination go; every VM
 * not failed is then VM_ROLLED_BACK.  FALSE when a source was not seen
 * running again (each such VM said on stderr). */
gboolean limevi_vc_rollback(LimeviRun *run);
/* Says how the rollback ended: @all_back is what it returned. */
void limevi_vc_rollback_report(LimeviRun *run, gboolean all_back);

#endif /* LIMEVI_ROLLBACK_H */
