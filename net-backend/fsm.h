/*
 * The port's state machine (fsm.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_FSM_H
#define LIMEVI_FSM_H

#include "port.h"

/* Handles a LimeviPortEvent or one of the library's own PORT_EVENT_*. */
void limevi_port_handle(LimeviPort *port, guint event);
/* What reports show of @state. */
LimeviPortState limevi_port_public_state(PortState state);

#endif /* LIMEVI_FSM_H */
