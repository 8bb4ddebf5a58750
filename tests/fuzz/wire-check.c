/*
 * What a packet limevi_wire_decode() accepted promises its reader: every
 * field as the bytes say, the names back to back up to the payload, and
 * the same header when encoded again.  Shared by the seeded loop
 * (fuzz-wire.c) and the libFuzzer target (fuzz-wire-decode.c).
 */
#include <string.h>

#include "wire-check.h"

static guint64 get_be(const guint8 *p, gsize n)
{
    guint64 v = 0;

    for (gsize i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

void fuzz_check_decoded(const guint8 *buf, gsize len,
                        const LimeviWirePacket *pkt)
{
    const LimeviWireName *names[] = { &pkt->vc, &pkt->lan, &pkt->src,
                                      &pkt->dst };
    const guint8 *p = buf + LIMEVI_WIRE_OFF_NAMES;
    gsize hlen = get_be(buf + LIMEVI_WIRE_OFF_HEADER_LEN, 2);
    LimeviWireHeader hdr = {
        .type = pkt->type,
        .epoch = pkt->epoch,
        .seq = pkt->seq,
    };
    char copies[4][LIMEVI_WIRE_NAME_MAX + 1];
    guint8 again[LIMEVI_WIRE_HEADER_MAX];
    gsize again_len;

    g_assert_cmpuint(len, >=, LIMEVI_WIRE_HEADER_MIN + LIMEVI_WIRE_CONTROL_LEN);
    g_assert_cmpuint(get_be(buf, 2), ==, LIMEVI_WIRE_MAGIC);
    g_assert_cmpuint(buf[LIMEVI_WIRE_OFF_VERSION], ==, LIMEVI_WIRE_VERSION);
    g_assert_true(pkt->type == LIMEVI_WIRE_TYPE_DATA ||
                  pkt->type == LIMEVI_WIRE_TYPE_CONTROL);
    g_assert_cmpuint(pkt->flags, ==, get_be(buf + LIMEVI_WIRE_OFF_FLAGS, 2));
    g_assert_cmpuint(pkt->epoch, ==, get_be(buf + LIMEVI_WIRE_OFF_EPOCH, 4));
    g_assert_cmpuint(pkt->seq, ==, get_be(buf + LIMEVI_WIRE_OFF_SEQ, 8));

    g_assert_cmpuint(hlen, >=, LIMEVI_WIRE_HEADER_MIN);
    g_assert_cmpuint(hlen, <=, pkt->sealed ? LIMEVI_WIRE_SEALED_HEADER_MAX
                                           : LIMEVI_WIRE_HEADER_MAX);
    g_assert_true(pkt->payload == buf + hlen);
    g_assert_true(pkt->payload + pkt->payload_len == buf + len);
    g_assert_cmpint(pkt->sealed, ==,
                    (pkt->flags & LIMEVI_WIRE_FLAG_SEALED) != 0);
    if (pkt->sealed) {
        /* The payload is checked once opened; a tag must fit. */
        g_assert_cmpuint(pkt->payload_len, >=, LIMEVI_WIRE_TAG_LEN);
        g_assert_cmpuint(pkt->counter, ==,
                         get_be(buf + hlen - LIMEVI_WIRE_SEAL_LEN + 1, 8));
        g_assert_cmpuint(pkt->key_id, ==, buf[hlen - LIMEVI_WIRE_SEAL_LEN]);
        hlen -= LIMEVI_WIRE_SEAL_LEN;
    } else if (pkt->type == LIMEVI_WIRE_TYPE_CONTROL) {
        g_assert_cmpuint(pkt->payload_len, ==,
                         pkt->op == LIMEVI_CONTROL_RELAY ?
                         LIMEVI_WIRE_RELAY_LEN : LIMEVI_WIRE_CONTROL_LEN);
        g_assert_true(pkt->op >= LIMEVI_CONTROL_INVALIDATE &&
                      pkt->op <= LIMEVI_CONTROL_STALE);
        g_assert_cmpuint(pkt->acked_op, ==, pkt->payload[1]);
        /* Only announcements are answered or relayed, and only relays
         * are answered besides. */
        if (pkt->op == LIMEVI_CONTROL_INVALIDATE ||
            pkt->op == LIMEVI_CONTROL_UPDATE) {
            g_assert_cmpuint(pkt->acked_op, ==, 0);
        } else {
            g_assert_true(pkt->acked_op == LIMEVI_CONTROL_INVALIDATE ||
                          pkt->acked_op == LIMEVI_CONTROL_UPDATE ||
                          (pkt->acked_op == LIMEVI_CONTROL_RELAY &&
                           pkt->op != LIMEVI_CONTROL_RELAY));
        }
    } else {
        g_assert_cmpuint(pkt->payload_len, >=, LIMEVI_WIRE_FRAME_MIN);
        g_assert_cmpuint(pkt->payload_len, <=, LIMEVI_WIRE_FRAME_MAX);
    }

    /* The names follow each other exactly and end where the payload
     * starts; only dst may be empty. */
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        const LimeviWireName *name = names[i];

        g_assert_cmpuint(*p, ==, name->len);
        g_assert_true((const guint8 *)name->str == p + 1);
        g_assert_cmpuint(name->len, <=, LIMEVI_WIRE_NAME_MAX);
        g_assert_cmpuint(name->len, >=, i == 3 ? 0 : 1);
        g_assert_true(limevi_wire_name_chars_valid(name->str, name->len));
        memcpy(copies[i], name->str, name->len);
        copies[i][name->len] = '\0';
        p += 1 + name->len;
    }
    g_assert_true(p == buf + hlen);

    /* Encoding what was decoded gives the same header, flags aside. */
    hdr.vc = copies[0];
    hdr.lan = copies[1];
    hdr.src = copies[2];
    hdr.dst = copies[3];
    again_len = limevi_wire_encode(&hdr, again, sizeof(again));
    g_assert_cmpuint(again_len, ==, hlen);
    /* header_len aside too when sealed: the seal follows the names. */
    g_assert_cmpmem(again, LIMEVI_WIRE_OFF_HEADER_LEN, buf,
                    LIMEVI_WIRE_OFF_HEADER_LEN);
    if (!pkt->sealed) {
        g_assert_cmpmem(again, LIMEVI_WIRE_OFF_FLAGS, buf,
                        LIMEVI_WIRE_OFF_FLAGS);
    }
    g_assert_cmpmem(again + LIMEVI_WIRE_OFF_EPOCH,
                    hlen - LIMEVI_WIRE_OFF_EPOCH,
                    buf + LIMEVI_WIRE_OFF_EPOCH,
                    hlen - LIMEVI_WIRE_OFF_EPOCH);
}
