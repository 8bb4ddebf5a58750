/*
 * What limevi start, stop and status say about the VC's gateways
 * (gateways.c runs them).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_GATEWAY_CMDS_H
#define LIMEVI_GATEWAY_CMDS_H

#include <json-glib/json-glib.h>

#include "vcfile.h"

/* Starts each gateway not running; a failure sets *@status to 1. */
void start_gateways(const LimeviVc *vc, int *status);

/* Ends each running gateway; a failure sets *@status to 1. */
void stop_gateways(const LimeviVc *vc, int *status);

/* Adds the "gateways" array to @b and, unless @json, prints a line per
 * gateway; returns the disagreements (a gateway not running, a route of
 * its not pointing where its VM runs, as @locs found them). */
guint status_gateways(const LimeviVc *vc, GPtrArray *locs, JsonBuilder *b,
                      gboolean json);

#endif /* LIMEVI_GATEWAY_CMDS_H */
