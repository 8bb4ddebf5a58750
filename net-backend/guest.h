/*
 * Frames on their way into the guest: delivered at once, or held in the
 * port's bounded buffer while the guest cannot take them or is not here.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_GUEST_H
#define LIMEVI_GUEST_H

#include "port.h"

/* Checks the config's guest-rate and starts the pace (LIMEVI_GUEST_RATE_
 * DEFAULT frames/s in bursts of LIMEVI_GUEST_BURST, or twice the guest's
 * everyday rate); FALSE with @error set names the option. */
gboolean limevi_guest_init(LimeviPort *port, const LimeviPortConfig *config,
                           GError **error);
void limevi_guest_cleanup(LimeviPort *port);
/* Whether the guest runs here, so frames may be handed to it. */
gboolean limevi_guest_here(LimeviPort *port);
/* Delivers @frame, or holds it behind what is held already. */
void limevi_guest_deliver(LimeviPort *port, const guint8 *frame, gsize len);
/* Hands held frames to the guest, oldest first, while it takes them and
 * the pace allows; the rest go when it does. */
void limevi_guest_flush(LimeviPort *port);
/* A frame for the guest dropped for want of room elsewhere: counted with
 * the guest buffer's drops, and the embedder is told. */
void limevi_guest_drop(LimeviPort *port);
/* The held frames travelled in the state: forget them here. */
void limevi_guest_discard(LimeviPort *port);

#endif /* LIMEVI_GUEST_H */
