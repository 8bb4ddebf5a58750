/*
 * The routes of a VC around a migration: frames held between VMs that
 * move together, and the check (and repair) that every member's route
 * to every moved VM points at where it runs now.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_ROUTES_H
#define LIMEVI_ROUTES_H

#include "migration.h"

/*
 * Before the release: every moving VM holds its frames for the other
 * moving VMs of its LAN (for movers whose sources stop at once, which
 * cannot pass on their peers' moves).
 */
void limevi_routes_hold_between_movers(LimeviRun *run);

/* Every member's route to every VM of the run must point at the host it
 * runs on (its destination once VM_DONE, else its source); wrong ones
 * are set.  Returns how many are wrong and could not be set, or whose
 * VM runs on no host or on several; a moved VM with none wrong is
 * journaled as routes-verified. */
guint limevi_routes_verify(LimeviRun *run);

#endif /* LIMEVI_ROUTES_H */
