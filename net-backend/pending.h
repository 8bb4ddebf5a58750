/*
 * Control messages sent until answered: the pending list, its
 * retransmission timer, and the encoding of every control message we
 * send.  Used by control.c only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_PENDING_H
#define LIMEVI_PENDING_H

#include "port.h"

/*
 * A control message sent until answered: our VM's INVALIDATE or UPDATE
 * to a peer or to our VM's other host, or a RELAY of a peer's
 * announcement to our VM's new host.
 */
typedef struct {
    char *peer;                 /* the VM it is for; "" for our VM's other
                                 * host */
    GSocketAddress *addr;       /* NULL for a RELAY: it goes to forward_to */
    guint8 op;
    guint32 epoch;
    guint attempts;             /* sent so often; 0: not yet */
    /* RELAY only: the moving VM, its announcement's op, and where that
     * came from (written in, and answered there). */
    char *about;
    guint8 relayed_op;
    GSocketAddress *endpoint;
} Pending;

/* One control message as it goes on the wire. */
typedef struct {
    guint8 op;
    guint8 acked_op;            /* ACK, STALE: the op answered; RELAY: the
                                 * op relayed */
    guint32 epoch;
    const char *src;            /* NULL: our VM */
    const char *dst;
    GSocketAddress *endpoint;   /* RELAY only */
} ControlMsg;

void limevi_pending_init(LimeviPort *port, guint test_drop_control);
void limevi_pending_cleanup(LimeviPort *port);

/* Encodes and sends @msg once. */
void limevi_pending_send_control(LimeviPort *port, GSocketAddress *to,
                                 const ControlMsg *msg);
/* Sends @p once more; FALSE while it has nowhere to go (a RELAY before
 * our VM's new host announced itself). */
gboolean limevi_pending_send(LimeviPort *port, Pending *p);
/* Takes @p, sends it now if it can, and again until answered. */
void limevi_pending_add(LimeviPort *port, Pending *p);
/* Sends our VM's @op to @peer ("" for our VM's other host) until
 * answered; a newer message to the same peer replaces an older one. */
void limevi_pending_send_reliably(LimeviPort *port, const char *peer,
                                  GSocketAddress *addr, guint8 op,
                                  guint32 epoch);
/* @p was answered. */
void limevi_pending_remove(LimeviPort *port, Pending *p);
void limevi_pending_drop_op(LimeviPort *port, guint8 op);
guint limevi_pending_count(LimeviPort *port, guint8 op);
/* The destination's announcement is complete once nobody is missing. */
void limevi_pending_check_synced(LimeviPort *port);

#endif /* LIMEVI_PENDING_H */
