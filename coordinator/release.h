/*
 * The VC's switchover (release.c): the steps of limevi migrate from the
 * release of every held source to the sources let go.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_RELEASE_H
#define LIMEVI_RELEASE_H

#include "migration.h"

/*
 * Every source is held and ready: writes migrate-switchover to every
 * source's QMP socket before reading any reply, so that the switchovers
 * start as close together as the sockets allow.  A source that refuses
 * is marked failed.
 */
void limevi_vc_release(LimeviRun *run);

/*
 * Waits until every migration ended (or @deadline, monotonic us), then
 * for each moved VM's LIMEVI_PEERS_SYNCED; a VM still switching at the
 * deadline is asked where it runs and otherwise marked unsettled.
 */
void limevi_vc_complete(LimeviRun *run, gint64 deadline);

/*
 * Reads what each source forwarded, lets each mover end its source, and
 * closes every QMP connection so that the route check can connect.
 */
void limevi_vc_finish_sources(LimeviRun *run);

#endif /* LIMEVI_RELEASE_H */
