/*
 * The checks of a decoded packet the wire fuzzers share (wire-check.c).
 */
#ifndef WIRE_CHECK_H
#define WIRE_CHECK_H

#include "wire.h"

/* Asserts everything @pkt, decoded from @len bytes at @buf, promises. */
void fuzz_check_decoded(const guint8 *buf, gsize len,
                        const LimeviWirePacket *pkt);

#endif /* WIRE_CHECK_H */
