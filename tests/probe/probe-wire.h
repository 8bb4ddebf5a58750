/*
 * The probe's datagram header: who sent it, its place in the stream and
 * how long the stream is, so a receiver can count losses at the tail too.
 * Plain C without GLib: the probe runs statically linked in the guest.
 */
#ifndef PROBE_WIRE_H
#define PROBE_WIRE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Layout, every field big-endian:
 *   0  u32 magic    PROBE_MAGIC ("LVPR")
 *   4  u8  version  PROBE_VERSION
 *   5  u8  id_len   1..PROBE_ID_MAX
 *   6  u16 reserved 0
 *   8  u32 seq      0..count-1
 *  12  u32 count    datagrams the sender will send in all; 0 if unknown
 *  16  u64 send_ns  sender's CLOCK_REALTIME when sent
 *  24  id[id_len]   sender id, [A-Za-z0-9_.:-]
 * The rest of the datagram, up to --size, is zero padding.
 */
#define PROBE_MAGIC         0x4c565052u
#define PROBE_VERSION       1
#define PROBE_ID_MAX        32
#define PROBE_HEADER_FIXED  24
#define PROBE_DATAGRAM_MAX  65507

typedef struct {
    char id[PROBE_ID_MAX + 1];
    uint32_t seq;
    uint32_t count;
    uint64_t send_ns;
} ProbeHeader;

/* Whether @id is a valid sender id. */
int probe_id_valid(const char *id);

/* Writes @hdr at @buf; returns the header's length or -1 if it does not
 * fit in @len bytes or the id is invalid. */
int probe_header_encode(const ProbeHeader *hdr, uint8_t *buf, size_t len);

/* Reads a header from a received datagram; returns 0, or -1 if the
 * datagram is not a well-formed probe datagram. */
int probe_header_decode(const uint8_t *buf, size_t len, ProbeHeader *hdr);

#endif /* PROBE_WIRE_H */
