/*
 * Control messages: our VM's announcements (INVALIDATE before it moves,
 * UPDATE once it runs somewhere), sent until answered; the answers we
 * give to peers' announcements; relays of peers' moves to our VM's new
 * host; and when every peer has acknowledged (peers synced).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_CONTROL_H
#define LIMEVI_CONTROL_H

#include "port.h"

/* What a received control message means for the port's state machine. */
typedef enum {
    LIMEVI_CONTROL_HANDLED,
    /* Our VM announced itself from its new host; forward_to is set.  The
     * port moves on, then calls limevi_control_follow_own_vm(). */
    LIMEVI_CONTROL_OWN_VM_ARRIVED,
} LimeviControlOutcome;

void limevi_control_init(LimeviPort *port, guint test_drop_control);
void limevi_control_cleanup(LimeviPort *port);

/* @from NULL: unknown (crafted packets in tests); nothing is answered. */
LimeviControlOutcome limevi_control_receive(LimeviPort *port,
                                            const LimeviWirePacket *pkt,
                                            GSocketAddress *from);
/* After LIMEVI_CONTROL_OWN_VM_ARRIVED and the forwarding of what was
 * queued: relays go, and the new host's UPDATE at @epoch is answered. */
void limevi_control_follow_own_vm(LimeviPort *port, GSocketAddress *from,
                                  guint32 epoch);
/* The source's forwarding queue is empty: an UPDATE it follows is
 * answered now, behind every frame it forwarded. */
void limevi_control_forwarded_all(LimeviPort *port);

/* Announces our VM's @op at its epoch to every peer of its LAN. */
void limevi_control_announce(LimeviPort *port, guint8 op);
/* The destination's arrival: UPDATE to every peer and to the source. */
void limevi_control_announce_arrival(LimeviPort *port);
/* The move is off: our INVALIDATEs and pending RELAYs are dropped. */
void limevi_control_forget_move(LimeviPort *port);
/* How many peers have not acknowledged our UPDATE yet. */
guint limevi_control_updates_pending(LimeviPort *port);

#endif /* LIMEVI_CONTROL_H */
