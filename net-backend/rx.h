/*
 * Tunnel -> guest: isolation, MAC learning, each sender's sequence (in
 * order and without duplicates after a migration), and forwarding to our
 * VM's new host once its state left.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_RX_H
#define LIMEVI_RX_H

#include "port.h"

/* The most senders whose sequence a port follows: its peers, and its own
 * VM's other host. */
#define LIMEVI_RX_SENDERS_MAX (LIMEVI_PEERS_MAX + 1)

void limevi_rx_init(LimeviPort *port);
void limevi_rx_cleanup(LimeviPort *port);

/*
 * Decodes @data and applies isolation (VC, LAN, destination), counting
 * what it drops.  TRUE when @pkt is for this port.
 */
gboolean limevi_rx_check(LimeviPort *port, const guint8 *data, gsize len,
                         LimeviWirePacket *pkt);
/* A DATA packet for us: delivered, held or forwarded as the state says. */
void limevi_rx_data(LimeviPort *port, const LimeviWirePacket *pkt,
                    const guint8 *data, gsize len);

/* Forwarding: sends what was queued for our VM's new host, once known. */
void limevi_rx_forward_flush(LimeviPort *port);
/* The VM stays: what was queued for its new host is received here, in
 * its order, after what the guest holds. */
void limevi_rx_take_back_forwarded(LimeviPort *port);

/* Resequencing, from the state's arrival on; ends @ms after this call
 * once nothing is held. */
void limevi_rx_reseq_begin(LimeviPort *port);
void limevi_rx_reseq_end_after(LimeviPort *port, guint ms);
/* Gives up on every open gap now: what waits for one goes to the guest,
 * in order. */
void limevi_rx_give_up_gaps(LimeviPort *port);

/* The per-sender receive state (rx-sender.c), for the migration state:
 * the next number expected and what waits for a gap before it, with its
 * numbers (limevi_buffer_save_seq(); NULL: nothing waits). */
typedef void (*LimeviRxSenderFunc)(const char *vm, guint64 next,
                                   GBytes *held, gpointer data);
void limevi_rx_senders_foreach(LimeviPort *port, LimeviRxSenderFunc func,
                               gpointer data);
GHashTable *limevi_rx_senders_new(void);
/* @held (may be NULL or empty) as saved; FALSE with @error when it is
 * malformed, and @senders is then unchanged. */
gboolean limevi_rx_senders_add(LimeviPort *port, GHashTable *senders,
                               const char *vm, guint64 next, GBytes *held,
                               GError **error);
/* Replaces the port's table with @senders (taken); what waits for a gap
 * in it waits on, the gaps' time starting now. */
void limevi_rx_senders_replace(LimeviPort *port, GHashTable *senders);

#endif /* LIMEVI_RX_H */
