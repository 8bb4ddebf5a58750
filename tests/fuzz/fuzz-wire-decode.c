/*
 * libFuzzer target: the wire decoder, limevi_wire_decode(), and for a
 * SEALED packet limevi_wire_decode_payload() of what would be its opened
 * payload.  What either accepts must keep every promise of wire.h
 * (wire-check.c); what it rejects has a known status.
 *
 * Seeds: tests/fuzz/corpus/wire-decode, real encoded packets of every
 * type and op (fuzz-seeds.c).
 */
#include <string.h>

#include "fuzz-common.h"
#include "wire-check.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    LimeviWirePacket pkt;
    LimeviWireStatus status;

    fuzz_init();
    status = limevi_wire_decode(data, size, &pkt);
    g_assert_cmpint(status, <=, LIMEVI_WIRE_BAD_SEAL);
    g_assert_nonnull(limevi_wire_status_name(status));
    if (status != LIMEVI_WIRE_OK) {
        return 0;
    }
    fuzz_check_decoded(data, size, &pkt);
    if (pkt.sealed) {
        /* The header is the associated data, the payload what follows. */
        g_assert_true(pkt.header == data);
        g_assert_true(pkt.header + pkt.header_len == pkt.payload);
        /* Read the ciphertext as if it were the opened payload. */
        status = limevi_wire_decode_payload(&pkt, pkt.payload,
                                            pkt.payload_len -
                                            LIMEVI_WIRE_TAG_LEN);
        if (status == LIMEVI_WIRE_OK) {
            g_assert_true(pkt.payload + pkt.payload_len +
                          LIMEVI_WIRE_TAG_LEN == data + size);
            if (pkt.type == LIMEVI_WIRE_TYPE_CONTROL) {
                g_assert_true(pkt.op >= LIMEVI_CONTROL_INVALIDATE &&
                              pkt.op <= LIMEVI_CONTROL_STALE);
                g_assert_cmpuint(pkt.payload_len, ==,
                                 pkt.op == LIMEVI_CONTROL_RELAY ?
                                 LIMEVI_WIRE_RELAY_LEN :
                                 LIMEVI_WIRE_CONTROL_LEN);
            } else {
                g_assert_cmpuint(pkt.payload_len, >=, LIMEVI_WIRE_FRAME_MIN);
                g_assert_cmpuint(pkt.payload_len, <=, LIMEVI_WIRE_FRAME_MAX);
            }
        }
    }
    if (pkt.type == LIMEVI_WIRE_TYPE_CONTROL && pkt.op == LIMEVI_CONTROL_RELAY
        && status == LIMEVI_WIRE_OK) {
        guint8 copy[16];

        g_assert_true(pkt.relay_family == 4 || pkt.relay_family == 6);
        /* The address is inside the packet, all of it. */
        memcpy(copy, pkt.relay_addr, pkt.relay_family == 4 ? 4 : 16);
    }
    return 0;
}
