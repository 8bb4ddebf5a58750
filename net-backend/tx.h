/*
 * Guest -> tunnel: unicast by the MAC table, flooding, and frames held
 * for a peer that moves until its new host announces itself.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_TX_H
#define LIMEVI_TX_H

#include "port.h"

/* Checks the config's flush-rate and starts the pace; FALSE with @error
 * set names the option. */
gboolean limevi_tx_init(LimeviPort *port, const LimeviPortConfig *config,
                        GError **error);
void limevi_tx_cleanup(LimeviPort *port);
/* Whether a frame of @len bytes that waited may go now; when not, the
 * port tries again once the pace allows (limevi_tx_drain and
 * limevi_rx_forward_flush). */
gboolean limevi_tx_paced(LimeviPort *port, gsize len);
/* The link refused a frame that will wait: slower, and retried when the
 * socket can write. */
void limevi_tx_refused(LimeviPort *port);
/* A frame from the guest, to its peer or flooded to every peer. */
void limevi_tx_frame(LimeviPort *port, const guint8 *frame, gsize len);
/* Sends @frame to @route's peer with the next sequence number; when the
 * link is full (EAGAIN, ENOBUFS) it waits, in order, and goes when the
 * socket can write again.  Only a permanent error drops it (tx-errors). */
void limevi_tx_send_to(LimeviPort *port, LimeviRoute *route,
                       const guint8 *frame, gsize len, gboolean unicast);
/* Between these, fresh frames for a route with no backlog leave in
 * batches (one sendmmsg each); the frames must stay valid until _end. */
void limevi_tx_batch_begin(LimeviPort *port);
void limevi_tx_batch_end(LimeviPort *port);
/* The socket can write again, or this host sends for our VM again:
 * frames that waited go, in order.  Between the state's save and the
 * VM's running here (or staying) they wait. */
void limevi_tx_drain(LimeviPort *port);
/* @route is valid again: what was held for its peer goes first, in
 * order, at the pace (LIMEVI_FLUSH_RATE_DEFAULT). */
void limevi_tx_flush_held_for(LimeviPort *port, LimeviRoute *route);

/* What waited for peers travelled in the state: forget it here. */
void limevi_tx_discard(LimeviPort *port);

#endif /* LIMEVI_TX_H */
