/*
 * What a VC migration did, per VM and for the VC: printed, written as
 * JSON, and drawn as an SVG timeline of every VM's phases.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_REPORT_H
#define LIMEVI_REPORT_H

#include "migration.h"

/* Prints the report and writes opts->report (JSON) and opts->svg. */
void limevi_report(const LimeviVc *vc, const LimeviMigrateOptions *opts,
                   GPtrArray *migs, gint64 t_start, gint64 t_end);

#endif /* LIMEVI_REPORT_H */
