/*
 * Per-sender stream accounting for the probe (stream-stats.h).  A bitmap
 * of sequence numbers tells a duplicate from a late arrival.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream-stats.h"

void stream_stats_init(StreamStats *s, const char *sender)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->sender, sizeof(s->sender), "%s", sender);
}

void stream_stats_clear(StreamStats *s)
{
    free(s->seen);
    s->seen = NULL;
    s->seen_bits = 0;
}

/* Grows the bitmap to hold @seq; doubles so a stream costs O(log n)
 * reallocations. */
static int seen_reserve(StreamStats *s, uint32_t seq)
{
    uint32_t bits = s->seen_bits ? s->seen_bits : 1024;
    uint8_t *seen;

    if (seq < s->seen_bits) {
        return 0;
    }
    while (bits <= seq) {
        bits *= 2;
    }
    seen = realloc(s->seen, bits / 8);
    if (!seen) {
        return -1;
    }
    memset(seen + s->seen_bits / 8, 0, (bits - s->seen_bits) / 8);
    s->seen = seen;
    s->seen_bits = bits;
    return 0;
}

int stream_stats_add(StreamStats *s, uint32_t seq, uint32_t count,
                     int64_t arrival_ns)
{
    uint8_t mask = 1u << (seq % 8);

    if (seq >= STREAM_SEQ_LIMIT || count > STREAM_SEQ_LIMIT ||
        seen_reserve(s, seq) < 0) {
        return -1;
    }
    if (count > s->expected) {
        s->expected = count;
    }
    if (s->received + s->duplicated > 0) {
        int64_t gap = arrival_ns - s->last_arrival_ns;

        if (gap > s->max_gap_ns) {
            s->max_gap_ns = gap;
        }
    }
    s->last_arrival_ns = arrival_ns;

    if (s->seen[seq / 8] & mask) {
        s->duplicated++;
        return 0;
    }
    s->seen[seq / 8] |= mask;
    if (s->received == 0) {
        s->first_seq = seq;
        s->last_seq = seq;
    } else if (seq < s->last_seq) {
        s->reordered++;
    }
    if (seq < s->first_seq) {
        s->first_seq = seq;
    }
    if (seq > s->last_seq) {
        s->last_seq = seq;
    }
    s->received++;
    return 0;
}

uint64_t stream_stats_lost(const StreamStats *s)
{
    uint64_t end = s->expected;

    if (s->received && (uint64_t)s->last_seq + 1 > end) {
        end = (uint64_t)s->last_seq + 1;
    }
    return end - s->received;
}

int stream_stats_saw_last(const StreamStats *s)
{
    uint32_t last = s->expected - 1;

    return s->expected && last < s->seen_bits &&
           (s->seen[last / 8] & (1u << (last % 8)));
}

int stream_stats_format(const StreamStats *s, char *buf, size_t len)
{
    return snprintf(buf, len,
                    "{\"sender\":\"%s\",\"received\":%llu,\"lost\":%llu,"
                    "\"duplicated\":%llu,\"reordered\":%llu,"
                    "\"max_gap_ms\":%.3f,\"first_seq\":%lu,"
                    "\"last_seq\":%lu,\"expected\":%lu}",
                    s->sender, (unsigned long long)s->received,
                    (unsigned long long)stream_stats_lost(s),
                    (unsigned long long)s->duplicated,
                    (unsigned long long)s->reordered,
                    s->max_gap_ns / 1e6, (unsigned long)s->first_seq,
                    (unsigned long)s->last_seq, (unsigned long)s->expected);
}
