/*
 * What the receive side keeps per sender: the sequence number it expects
 * next, the frames held ahead of a gap, and the runs of numbers dropped
 * for want of room.  Private to rx.c and rx-sender.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_RX_SENDER_H
#define LIMEVI_RX_SENDER_H

#include "port.h"

/* How many runs of sequence numbers a sender's resequencing queue
 * remembers having dropped, so that the guest does not wait for them. */
#define LIMEVI_RX_DROPPED_RUNS 16

/* Sequence numbers first..last, dropped for want of room. */
typedef struct {
    guint64 first;
    guint64 last;
} LimeviSeqRun;

/* What the receive side knows of one sender. */
typedef struct {
    guint64 next;               /* the sequence number expected next */
    LimeviBuffer *held;         /* ahead of a gap, by seq; NULL: none */
    gint64 gap_since;           /* when the oldest gap opened (us) */
    LimeviSeqRun dropped[LIMEVI_RX_DROPPED_RUNS];    /* by first */
    guint n_dropped;
} LimeviRxSender;

/* The sender's receive state, created if there is room: NULL when the
 * table is at its bound (a port without a key takes frames from any
 * name, and no stranger may grow it). */
LimeviRxSender *limevi_rx_sender_get(LimeviPort *port,
                                     const LimeviWireName *src,
                                     gboolean *is_new);

/* Whether @seq was dropped for want of room (so it was counted then). */
gboolean limevi_rx_sender_was_dropped(LimeviRxSender *s, guint64 seq);
/* How many numbers from next up to @end were dropped for want of room. */
guint64 limevi_rx_sender_dropped_before(LimeviRxSender *s, guint64 end);
/*
 * Remembers that @seq was dropped, in runs kept in order.  With every run
 * in use the number is not remembered: the guest then waits for it as for
 * any gap.
 */
void limevi_rx_sender_remember_dropped(LimeviRxSender *s, guint64 seq);
/* Steps over numbers dropped for want of room: nothing to wait for. */
void limevi_rx_sender_skip_dropped(LimeviRxSender *s);

#endif /* LIMEVI_RX_SENDER_H */
