/*
 * Progress of a VC migration while it runs: a block of bars on a
 * terminal (redrawn in place), a block every few seconds without one,
 * or one JSON line per VM and poll with --json.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_PROGRESS_H
#define LIMEVI_PROGRESS_H

#include "migration.h"

/* The phase as progress, the report and --json name it. */
const char *limevi_phase_name(LimeviVmPhase phase);

/* Prints every VM's progress; @final: the last time, always printed. */
void limevi_progress_print(LimeviRun *run, gboolean final);

#endif /* LIMEVI_PROGRESS_H */
