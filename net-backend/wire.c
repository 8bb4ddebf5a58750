/*
 * Encoder and decoder of the tunnel wire format defined in wire.h.
 * The decoder is the only code that reads packets; it is fuzzed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "bytes.h"
#include "wire.h"

gboolean limevi_wire_name_chars_valid(const char *s, gsize len)
{
    for (gsize i = 0; i < len; i++) {
        char c = s[i];

        if (!g_ascii_isalnum(c) && c != '_' && c != '.' && c != '-') {
            return FALSE;
        }
    }
    return TRUE;
}

/* Reads the name at *@off, which must end within @hlen bytes. */
static LimeviWireStatus decode_name(const guint8 *buf, gsize hlen,
                                    gsize *off, gboolean may_be_empty,
                                    LimeviWireName *name)
{
    gsize n;

    if (*off >= hlen) {
        return LIMEVI_WIRE_NAME_OVERRUN;
    }
    n = buf[*off];
    if (n > LIMEVI_WIRE_NAME_MAX || (n == 0 && !may_be_empty)) {
        return LIMEVI_WIRE_BAD_NAME_LEN;
    }
    if (n > hlen - *off - 1) {
        return LIMEVI_WIRE_NAME_OVERRUN;
    }
    name->str = (const char *)buf + *off + 1;
    name->len = n;
    if (!limevi_wire_name_chars_valid(name->str, n)) {
        return LIMEVI_WIRE_BAD_NAME_CHAR;
    }
    *off += 1 + n;
    return LIMEVI_WIRE_OK;
}

static LimeviWireStatus decode_control(LimeviWirePacket *pkt)
{
    const guint8 *p = pkt->payload;

    if (pkt->payload_len < LIMEVI_WIRE_CONTROL_LEN) {
        return LIMEVI_WIRE_BAD_CONTROL;
    }
    pkt->op = p[0];
    pkt->acked_op = p[1];
    if (pkt->op == LIMEVI_CONTROL_RELAY) {
        if (pkt->payload_len != LIMEVI_WIRE_RELAY_LEN ||
            (pkt->acked_op != LIMEVI_CONTROL_INVALIDATE &&
             pkt->acked_op != LIMEVI_CONTROL_UPDATE) ||
            (p[6] != 4 && p[6] != 6)) {
            return LIMEVI_WIRE_BAD_CONTROL;
        }
        pkt->relay_port = limevi_get_be16(p + 4);
        pkt->relay_family = p[6];
        pkt->relay_addr = p + 8;
        return LIMEVI_WIRE_OK;
    }
    if (pkt->payload_len != LIMEVI_WIRE_CONTROL_LEN) {
        return LIMEVI_WIRE_BAD_CONTROL;
    }
    switch (pkt->op) {
    case LIMEVI_CONTROL_INVALIDATE:
    case LIMEVI_CONTROL_UPDATE:
        return pkt->acked_op == 0 ? LIMEVI_WIRE_OK : LIMEVI_WIRE_BAD_CONTROL;
    case LIMEVI_CONTROL_ACK:
    case LIMEVI_CONTROL_STALE:
        return pkt->acked_op == LIMEVI_CONTROL_INVALIDATE ||
               pkt->acked_op == LIMEVI_CONTROL_UPDATE ||
               pkt->acked_op == LIMEVI_CONTROL_RELAY ?
               LIMEVI_WIRE_OK : LIMEVI_WIRE_BAD_CONTROL;
    default:
        return LIMEVI_WIRE_BAD_CONTROL;
    }
}

void limevi_wire_encode_relay(guint8 relayed_op, guint8 family,
                              const guint8 *addr, guint16 port, guint8 *buf)
{
    memset(buf, 0, LIMEVI_WIRE_RELAY_LEN);
    buf[0] = LIMEVI_CONTROL_RELAY;
    buf[1] = relayed_op;
    limevi_put_be16(buf + 4, port);
    buf[6] = family;
    memcpy(buf + 8, addr, family == 4 ? 4 : 16);
}

void limevi_wire_encode_control(guint8 op, guint8 acked_op, guint8 *buf)
{
    buf[0] = op;
    buf[1] = acked_op;
    buf[2] = 0;
    buf[3] = 0;
}

LimeviWireStatus limevi_wire_decode(const guint8 *buf, gsize len,
                                    LimeviWirePacket *pkt)
{
    LimeviWireStatus status;
    gsize hlen, off;

    /* The version decides the rest of the layout, so it is read first. */
    if (len < LIMEVI_WIRE_OFF_TYPE) {
        return LIMEVI_WIRE_TOO_SHORT;
    }
    if (limevi_get_be16(buf + LIMEVI_WIRE_OFF_MAGIC) != LIMEVI_WIRE_MAGIC) {
        return LIMEVI_WIRE_BAD_MAGIC;
    }
    if (buf[LIMEVI_WIRE_OFF_VERSION] != LIMEVI_WIRE_VERSION) {
        return LIMEVI_WIRE_BAD_VERSION;
    }
    if (len < LIMEVI_WIRE_FIXED_LEN) {
        return LIMEVI_WIRE_TOO_SHORT;
    }
    pkt->type = buf[LIMEVI_WIRE_OFF_TYPE];
    if (pkt->type != LIMEVI_WIRE_TYPE_DATA &&
        pkt->type != LIMEVI_WIRE_TYPE_CONTROL) {
        return LIMEVI_WIRE_BAD_TYPE;
    }
    hlen = limevi_get_be16(buf + LIMEVI_WIRE_OFF_HEADER_LEN);
    pkt->flags = limevi_get_be16(buf + LIMEVI_WIRE_OFF_FLAGS);
    pkt->sealed = (pkt->flags & LIMEVI_WIRE_FLAG_SEALED) != 0;
    if (hlen < LIMEVI_WIRE_HEADER_MIN || hlen > len ||
        hlen > (pkt->sealed ? LIMEVI_WIRE_SEALED_HEADER_MAX
                            : LIMEVI_WIRE_HEADER_MAX)) {
        return LIMEVI_WIRE_BAD_HEADER_LEN;
    }
    pkt->epoch = limevi_get_be32(buf + LIMEVI_WIRE_OFF_EPOCH);
    pkt->seq = limevi_get_be64(buf + LIMEVI_WIRE_OFF_SEQ);

    off = LIMEVI_WIRE_OFF_NAMES;
    if ((status = decode_name(buf, hlen, &off, FALSE, &pkt->vc)) ||
        (status = decode_name(buf, hlen, &off, FALSE, &pkt->lan)) ||
        (status = decode_name(buf, hlen, &off, FALSE, &pkt->src)) ||
        (status = decode_name(buf, hlen, &off, TRUE, &pkt->dst))) {
        return status;
    }
    if (pkt->sealed) {
        if (hlen - off != LIMEVI_WIRE_SEAL_LEN) {
            return LIMEVI_WIRE_BAD_HEADER_LEN;
        }
        pkt->key_id = buf[off];
        pkt->counter = limevi_get_be64(buf + off + 1);
        off += LIMEVI_WIRE_SEAL_LEN;
    }
    if (off != hlen) {
        return LIMEVI_WIRE_BAD_HEADER_LEN;
    }

    pkt->header = buf;
    pkt->header_len = hlen;
    pkt->op = pkt->acked_op = 0;
    if (pkt->sealed) {
        pkt->payload = buf + hlen;
        pkt->payload_len = len - hlen;
        return pkt->payload_len < LIMEVI_WIRE_TAG_LEN ? LIMEVI_WIRE_BAD_SEAL
                                                      : LIMEVI_WIRE_OK;
    }
    return limevi_wire_decode_payload(pkt, buf + hlen, len - hlen);
}

LimeviWireStatus limevi_wire_decode_payload(LimeviWirePacket *pkt,
                                            const guint8 *payload,
                                            gsize len)
{
    pkt->payload = payload;
    pkt->payload_len = len;
    if (pkt->type == LIMEVI_WIRE_TYPE_CONTROL) {
        return decode_control(pkt);
    }
    if (pkt->payload_len < LIMEVI_WIRE_FRAME_MIN) {
        return LIMEVI_WIRE_PAYLOAD_SHORT;
    }
    if (pkt->payload_len > LIMEVI_WIRE_FRAME_MAX) {
        return LIMEVI_WIRE_PAYLOAD_LONG;
    }
    return LIMEVI_WIRE_OK;
}

static gsize encode_name(guint8 *p, const char *name, gsize min)
{
    gsize n = name ? strlen(name) : 0;

    if (n < min || n > LIMEVI_WIRE_NAME_MAX) {
        return 0;
    }
    p[0] = n;
    /* A NULL dst floods; memcpy() from NULL is undefined even for 0. */
    if (n) {
        memcpy(p + 1, name, n);
    }
    return 1 + n;
}

gsize limevi_wire_encode(const LimeviWireHeader *hdr, guint8 *buf,
                         gsize size)
{
    gsize off = LIMEVI_WIRE_OFF_NAMES, n;

    /* Checking against the largest header keeps the name writes simple. */
    if (size < LIMEVI_WIRE_HEADER_MAX) {
        return 0;
    }
    limevi_put_be16(buf + LIMEVI_WIRE_OFF_MAGIC, LIMEVI_WIRE_MAGIC);
    buf[LIMEVI_WIRE_OFF_VERSION] = LIMEVI_WIRE_VERSION;
    buf[LIMEVI_WIRE_OFF_TYPE] = hdr->type;
    limevi_put_be16(buf + LIMEVI_WIRE_OFF_FLAGS,
                    hdr->flags & LIMEVI_WIRE_FLAG_BY_DST);
    limevi_put_be32(buf + LIMEVI_WIRE_OFF_EPOCH, hdr->epoch);
    limevi_put_be64(buf + LIMEVI_WIRE_OFF_SEQ, hdr->seq);

    if (!(n = encode_name(buf + off, hdr->vc, 1))) {
        return 0;
    }
    off += n;
    if (!(n = encode_name(buf + off, hdr->lan, 1))) {
        return 0;
    }
    off += n;
    if (!(n = encode_name(buf + off, hdr->src, 1))) {
        return 0;
    }
    off += n;
    if (!(n = encode_name(buf + off, hdr->dst, 0))) {
        return 0;
    }
    off += n;
    limevi_put_be16(buf + LIMEVI_WIRE_OFF_HEADER_LEN, off);
    return off;
}

const char *limevi_wire_status_name(LimeviWireStatus status)
{
    switch (status) {
    case LIMEVI_WIRE_OK:
        return "ok";
    case LIMEVI_WIRE_TOO_SHORT:
        return "too-short";
    case LIMEVI_WIRE_BAD_MAGIC:
        return "bad-magic";
    case LIMEVI_WIRE_BAD_VERSION:
        return "bad-version";
    case LIMEVI_WIRE_BAD_TYPE:
        return "bad-type";
    case LIMEVI_WIRE_BAD_HEADER_LEN:
        return "bad-header-len";
    case LIMEVI_WIRE_NAME_OVERRUN:
        return "name-overrun";
    case LIMEVI_WIRE_BAD_NAME_LEN:
        return "bad-name-len";
    case LIMEVI_WIRE_BAD_NAME_CHAR:
        return "bad-name-char";
    case LIMEVI_WIRE_PAYLOAD_SHORT:
        return "payload-short";
    case LIMEVI_WIRE_PAYLOAD_LONG:
        return "payload-long";
    case LIMEVI_WIRE_BAD_CONTROL:
        return "bad-control";
    case LIMEVI_WIRE_BAD_SEAL:
        return "bad-seal";
    }
    return "unknown";
}
