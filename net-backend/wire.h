/*
 * The LimeVI tunnel wire format, version 1: the one definition of a
 * packet's layout, sizes and byte order, its encoder and its only decoder.
 * docs/wire.md describes the same format for readers of the wire.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_WIRE_H
#define LIMEVI_WIRE_H

#include <string.h>

#include <glib.h>

/*
 * One UDP datagram = header + payload.  Every integer is big-endian
 * (network byte order).
 *
 *  offset  size  field
 *  0       2     magic       0x4c56 ("LV")
 *  2       1     version     1
 *  3       1     type        1 = DATA; 2 = CONTROL
 *  4       2     header_len  bytes from offset 0 to the payload (27..276)
 *  6       2     flags       0x0002 SEALED (below); others sent as 0 and
 *                            ignored on receipt
 *  8       4     epoch       the sender's epoch
 *  12      8     seq         sequence number, per sender -> receiver
 *  20      1+n   vc          u8 length n (1..63), then n name bytes
 *  ..      1+n   lan         1..63
 *  ..      1+n   src         source VM, 1..63
 *  ..      1+n   dst         destination VM, 0..63; 0 = flooded
 *  SEALED only:
 *  ..      1     key_id      which VC key sealed it (crypto.h)
 *  ..      8     counter     the sender's nonce counter
 *  header_len    payload     DATA: one Ethernet frame, 14..65535 bytes
 *                            CONTROL: 4 bytes, below
 *
 * CONTROL payload: u8 op, u8 acked_op, u16 reserved (sent as 0).
 *   op 1 ROUTE_INVALIDATE  src is moving: hold frames for it (epoch: new)
 *   op 2 ROUTE_UPDATE      src is now at this packet's source address
 *   op 3 ACK               acked_op (1 or 2) about VM dst at epoch was
 *                          applied; acked_op 4: the RELAY about VM src at
 *                          epoch was, dst being the VM it was relayed for
 *   op 4 RELAY             acked_op (1 or 2) about VM src at epoch, passed
 *                          on by a VM's old host to its new one, with the
 *                          endpoint written in (20 more bytes):
 *     4  u16 port   6  u8 family (4 or 6)   7  u8 reserved
 *     8  16 bytes address (IPv4: the first 4)
 *   op 5 STALE             as ACK, but not applied: the receiver holds a
 *                          newer epoch for that VM, given in epoch
 * acked_op is 0 for ops 1 and 2.
 *
 * A SEALED packet's payload is the above encrypted with AEAD (crypto.h)
 * and followed by a 16-byte tag; the header, key_id and counter included,
 * is the associated data.  limevi_wire_decode() checks the header only;
 * limevi_wire_decode_payload() checks the payload once it is opened.
 *
 * Names are not NUL-terminated on the wire; their bytes are
 * [A-Za-z0-9_.-], as limevi_name_valid() demands of the configuration.
 */
#define LIMEVI_WIRE_MAGIC           0x4c56
#define LIMEVI_WIRE_VERSION         1
#define LIMEVI_WIRE_TYPE_DATA       1
#define LIMEVI_WIRE_TYPE_CONTROL    2

#define LIMEVI_WIRE_OFF_MAGIC       0
#define LIMEVI_WIRE_OFF_VERSION     2
#define LIMEVI_WIRE_OFF_TYPE        3
#define LIMEVI_WIRE_OFF_HEADER_LEN  4
#define LIMEVI_WIRE_OFF_FLAGS       6
#define LIMEVI_WIRE_OFF_EPOCH       8
#define LIMEVI_WIRE_OFF_SEQ         12
#define LIMEVI_WIRE_OFF_NAMES       20

#define LIMEVI_WIRE_FLAG_SEALED     0x0002
/* Sent by the other host of the VM named dst about the VM named src (a
 * RELAY and its answer): sealed under dst's key, not src's. */
#define LIMEVI_WIRE_FLAG_BY_DST     0x0004
#define LIMEVI_WIRE_SEAL_LEN        9           /* key_id, counter */
#define LIMEVI_WIRE_TAG_LEN         16

#define LIMEVI_WIRE_FIXED_LEN       20
#define LIMEVI_WIRE_NAME_MAX        63
/* Fixed part, four length bytes, and vc, lan and src of one byte each. */
#define LIMEVI_WIRE_HEADER_MIN      (LIMEVI_WIRE_FIXED_LEN + 4 + 3)
#define LIMEVI_WIRE_HEADER_MAX      (LIMEVI_WIRE_FIXED_LEN + 4 + \
                                     4 * LIMEVI_WIRE_NAME_MAX)
#define LIMEVI_WIRE_FRAME_MIN       14          /* an Ethernet header */
#define LIMEVI_WIRE_FRAME_MAX       65535
#define LIMEVI_WIRE_SEALED_HEADER_MAX (LIMEVI_WIRE_HEADER_MAX + \
                                       LIMEVI_WIRE_SEAL_LEN)
#define LIMEVI_WIRE_PACKET_MAX      (LIMEVI_WIRE_SEALED_HEADER_MAX + \
                                     LIMEVI_WIRE_FRAME_MAX + \
                                     LIMEVI_WIRE_TAG_LEN)

#define LIMEVI_WIRE_CONTROL_LEN     4
#define LIMEVI_WIRE_RELAY_LEN       24
#define LIMEVI_CONTROL_INVALIDATE   1
#define LIMEVI_CONTROL_UPDATE       2
#define LIMEVI_CONTROL_ACK          3
#define LIMEVI_CONTROL_RELAY        4
#define LIMEVI_CONTROL_STALE        5

/* Why a packet was rejected; the port counts BAD_VERSION in rx_bad_version
 * and every other rejection in rx_malformed. */
typedef enum {
    LIMEVI_WIRE_OK,
    LIMEVI_WIRE_TOO_SHORT,      /* shorter than the fixed header */
    LIMEVI_WIRE_BAD_MAGIC,
    LIMEVI_WIRE_BAD_VERSION,
    LIMEVI_WIRE_BAD_TYPE,       /* unknown type */
    LIMEVI_WIRE_BAD_HEADER_LEN, /* out of range, past the packet, or not
                                 * where the names end */
    LIMEVI_WIRE_NAME_OVERRUN,   /* a name runs past header_len */
    LIMEVI_WIRE_BAD_NAME_LEN,   /* zero (except dst) or above 63 */
    LIMEVI_WIRE_BAD_NAME_CHAR,
    LIMEVI_WIRE_PAYLOAD_SHORT,  /* frame shorter than an Ethernet header */
    LIMEVI_WIRE_PAYLOAD_LONG,
    LIMEVI_WIRE_BAD_CONTROL,    /* wrong length, unknown op or acked_op */
    LIMEVI_WIRE_BAD_SEAL,       /* SEALED, but its payload holds no tag */
} LimeviWireStatus;

/* A name inside a packet: points into the packet, not NUL-terminated. */
typedef struct {
    const char *str;
    gsize len;
} LimeviWireName;

/* A decoded packet; every pointer points into the decoded buffer. */
typedef struct {
    guint8 type;
    guint16 flags;
    guint32 epoch;
    guint64 seq;
    LimeviWireName vc;
    LimeviWireName lan;
    LimeviWireName src;
    LimeviWireName dst;         /* len 0: flooded */
    const guint8 *payload;
    gsize payload_len;
    guint8 op;                  /* CONTROL only */
    guint8 acked_op;            /* CONTROL ACK, RELAY and STALE only */
    /* RELAY only: the endpoint; family 4 or 6, address in network order. */
    guint8 relay_family;
    guint16 relay_port;
    const guint8 *relay_addr;
    /* SEALED only: payload is ciphertext and tag until opened. */
    gboolean sealed;
    guint8 key_id;
    guint64 counter;
    const guint8 *header;       /* the associated data */
    gsize header_len;
} LimeviWirePacket;

/* What the encoder needs; dst NULL or "" floods. */
typedef struct {
    guint8 type;
    guint16 flags;              /* LIMEVI_WIRE_FLAG_BY_DST or 0 */
    guint32 epoch;
    guint64 seq;
    const char *vc;
    const char *lan;
    const char *src;
    const char *dst;
} LimeviWireHeader;

/*
 * Decodes @buf into @pkt without copying; checks every length before
 * reading it.  @pkt is only meaningful when LIMEVI_WIRE_OK is returned.
 * A SEALED packet's payload is checked only for room for its tag.
 */
LimeviWireStatus limevi_wire_decode(const guint8 *buf, gsize len,
                                    LimeviWirePacket *pkt);

/* Checks @len bytes at @payload, a SEALED packet's opened payload, as
 * the payload of @pkt, which then points to it. */
LimeviWireStatus limevi_wire_decode_payload(LimeviWirePacket *pkt,
                                            const guint8 *payload,
                                            gsize len);

/*
 * Writes the header for @hdr into @buf, so the payload can follow in a
 * second I/O vector.  Returns the header length, or 0 when a name is out
 * of range or @size is too small.
 */
gsize limevi_wire_encode(const LimeviWireHeader *hdr, guint8 *buf,
                         gsize size);

/* Writes the 4-byte CONTROL payload for @op into @buf. */
void limevi_wire_encode_control(guint8 op, guint8 acked_op, guint8 *buf);

/* Writes the 24-byte RELAY payload of @relayed_op with the endpoint
 * @family (4 or 6), @addr (4 or 16 bytes) and @port into @buf. */
void limevi_wire_encode_relay(guint8 relayed_op, guint8 family,
                              const guint8 *addr, guint16 port, guint8 *buf);

const char *limevi_wire_status_name(LimeviWireStatus status);

/* Whether @len bytes at @s are all allowed in a name (any length). */
gboolean limevi_wire_name_chars_valid(const char *s, gsize len);

static inline gboolean limevi_wire_name_equal(const LimeviWireName *name,
                                              const char *s, gsize len)
{
    return name->len == len && memcmp(name->str, s, len) == 0;
}

#endif /* LIMEVI_WIRE_H */
