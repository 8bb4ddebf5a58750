/*
 * Saving and loading a port's migration state (docs/state.md).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_STATE_H
#define LIMEVI_STATE_H

#include "port.h"

#define LIMEVI_STATE_VERSION        1
#define LIMEVI_STATE_VERSION_MIN    1

/* The migration state's GVariant type (version 1): version, epoch, the
 * source's endpoint, routes, receive sequence, learnt MACs, held frames. */
#define LIMEVI_STATE_TYPE           "(uusa(ssssuutay)a(st)a(ays)ay)"

/* Free with g_bytes_unref(). */
GBytes *limevi_state_save(LimeviPort *port);
/* Replaces the port's tables with the state's; on error changes nothing. */
gboolean limevi_state_load(LimeviPort *port, const guint8 *data, gsize len,
                           GError **error);

#endif /* LIMEVI_STATE_H */
