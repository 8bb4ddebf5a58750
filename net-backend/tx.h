/*
 * Guest -> tunnel: unicast by the MAC table, flooding, and frames held
 * for a peer that moves until its new host announces itself.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_TX_H
#define LIMEVI_TX_H

#include "port.h"

/* A frame from the guest, to its peer or flooded to every peer. */
void limevi_tx_frame(LimeviPort *port, const guint8 *frame, gsize len);
/* Sends @frame to @route's peer with the next sequence number; when the
 * link is full (EAGAIN, ENOBUFS) it waits, in order, and goes when the
 * socket can write again.  Only a permanent error drops it (tx-errors). */
void limevi_tx_send_to(LimeviPort *port, LimeviRoute *route,
                       const guint8 *frame, gsize len, gboolean unicast);
/* The socket can write again: frames that waited go, in order. */
void limevi_tx_drain(LimeviPort *port);
/* @route is valid again: what was held for its peer goes first, in order. */
void limevi_tx_flush_held_for(LimeviPort *port, LimeviRoute *route);

#endif /* LIMEVI_TX_H */
