/*
 * Encoding and decoding of the probe's datagram header (probe-wire.h);
 * the decoder checks every length before it reads.
 */
#include <string.h>

#include "probe-wire.h"

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static int id_char_valid(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
           c == '-';
}

int probe_id_valid(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > PROBE_ID_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!id_char_valid(id[i])) {
            return 0;
        }
    }
    return 1;
}

int probe_header_encode(const ProbeHeader *hdr, uint8_t *buf, size_t len)
{
    size_t id_len = strlen(hdr->id);

    if (!probe_id_valid(hdr->id) || len < PROBE_HEADER_FIXED + id_len) {
        return -1;
    }
    put_be32(buf, PROBE_MAGIC);
    buf[4] = PROBE_VERSION;
    buf[5] = id_len;
    buf[6] = 0;
    buf[7] = 0;
    put_be32(buf + 8, hdr->seq);
    put_be32(buf + 12, hdr->count);
    put_be32(buf + 16, hdr->send_ns >> 32);
    put_be32(buf + 20, (uint32_t)hdr->send_ns);
    memcpy(buf + PROBE_HEADER_FIXED, hdr->id, id_len);
    return PROBE_HEADER_FIXED + id_len;
}

int probe_header_decode(const uint8_t *buf, size_t len, ProbeHeader *hdr)
{
    size_t id_len;

    if (len < PROBE_HEADER_FIXED || get_be32(buf) != PROBE_MAGIC ||
        buf[4] != PROBE_VERSION) {
        return -1;
    }
    id_len = buf[5];
    if (id_len == 0 || id_len > PROBE_ID_MAX ||
        len < PROBE_HEADER_FIXED + id_len) {
        return -1;
    }
    memcpy(hdr->id, buf + PROBE_HEADER_FIXED, id_len);
    hdr->id[id_len] = '\0';
    if (!probe_id_valid(hdr->id)) {
        return -1;
    }
    hdr->seq = get_be32(buf + 8);
    hdr->count = get_be32(buf + 12);
    hdr->send_ns = (uint64_t)get_be32(buf + 16) << 32 | get_be32(buf + 20);
    if (hdr->count && hdr->seq >= hdr->count) {
        return -1;
    }
    return 0;
}
