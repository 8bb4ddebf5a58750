/*
 * What the library's own tests and fuzzer reach inside a LimeviPort, on
 * top of the public API in limevi.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_PORT_H
#define LIMEVI_PORT_H

#include "limevi.h"

/*
 * Handles one datagram as if the port's socket had just received it, so
 * crafted packets reach the receive path without a socket in between.
 */
void limevi_port_receive(LimeviPort *port, const guint8 *data, gsize len);

#endif /* LIMEVI_PORT_H */
