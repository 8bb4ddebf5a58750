/*
 * A port's keys: the VC key from its configuration, what the port seals
 * with, the table of its members' keys and replay windows, the refusal
 * to listen beyond loopback without a key, and key rotation.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_KEYS_H
#define LIMEVI_KEYS_H

#include "port.h"

/*
 * Takes the key of @config (none: the port stays unsealed) after the
 * secure-by-default check against @listen.  FALSE with @error naming the
 * option at fault; the port's key fields are then freed by
 * limevi_keys_cleanup().
 */
gboolean limevi_keys_init(LimeviPort *port, const LimeviPortConfig *config,
                          GSocketAddress *listen, GError **error);
/* Once the socket exists: it seals from now on, at @counter (0: a new
 * first counter, see limevi_crypto_first_counter()). */
void limevi_keys_attach(LimeviPort *port, guint64 carried);
void limevi_keys_cleanup(LimeviPort *port);

/*
 * With a key, opens the decoded @pkt into port->rx_plain and checks its
 * payload, which @pkt then points to; the replay window is consulted and
 * updated unless @again (a packet accepted once already).  Without a
 * key, only unsealed packets pass.  FALSE: dropped and counted, nothing
 * else changed.
 */
gboolean limevi_keys_open(LimeviPort *port, LimeviWirePacket *pkt,
                          gboolean again);

#endif /* LIMEVI_KEYS_H */
