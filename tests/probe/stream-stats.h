/*
 * Per-sender accounting of a sequenced stream: received, lost (gaps and
 * an announced tail), duplicated, reordered, the longest silence.  Kept
 * apart from the socket code so unit tests feed it sequences directly.
 */
#ifndef STREAM_STATS_H
#define STREAM_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "probe-wire.h"

/* Sequence numbers at or above this are refused: it bounds the bitmap
 * (2 MiB) whatever arrives on the wire. */
#define STREAM_SEQ_LIMIT (1u << 24)

typedef struct {
    char sender[PROBE_ID_MAX + 1];
    uint32_t expected;          /* largest count announced; 0: unknown */
    uint8_t *seen;              /* bitmap of sequence numbers received */
    uint32_t seen_bits;
    uint64_t received;          /* distinct sequence numbers */
    uint64_t duplicated;
    uint64_t reordered;         /* arrived after a higher sequence number */
    uint32_t first_seq;         /* lowest received */
    uint32_t last_seq;          /* highest received */
    int64_t last_arrival_ns;
    int64_t max_gap_ns;         /* longest time between two arrivals */
} StreamStats;

void stream_stats_init(StreamStats *s, const char *sender);
void stream_stats_clear(StreamStats *s);

/*
 * Accounts one datagram: @seq of a stream of @count (0 if unknown) that
 * arrived at @arrival_ns (any monotonic clock).  Returns 0, or -1 when
 * @seq is out of range or memory ran out (the datagram is not counted).
 */
int stream_stats_add(StreamStats *s, uint32_t seq, uint32_t count,
                     int64_t arrival_ns);

/* Sequence numbers below the expected end never received; the end is
 * the announced count, or the highest received plus one. */
uint64_t stream_stats_lost(const StreamStats *s);

/* Whether the sender's announced last datagram has arrived. */
int stream_stats_saw_last(const StreamStats *s);

/* One JSON object, no newline, into @buf; returns snprintf's result. */
int stream_stats_format(const StreamStats *s, char *buf, size_t len);

#endif /* STREAM_STATS_H */
