/*
 * One direction of an emulated WAN link: loss, a token-bucket shaper with
 * a bounded queue, one-way delay and jitter, in that order.  Pure: the
 * caller passes the time and the random source, so unit tests can drive it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_WAN_PATH_H
#define LIMEVI_WAN_PATH_H

#include <glib.h>

#define WAN_QUEUE_DEFAULT   (2 * 1024 * 1024)
/* What the shaper lets through at line rate before it paces. */
#define WAN_BURST_BYTES     (2 * 1514)
/* Frames in flight on the delay line, whatever the rate: a bound on
 * memory when a fast link has a long delay. */
#define WAN_INFLIGHT_MAX    (64 * 1024 * 1024)

typedef struct {
    gint64 delay_ns;            /* one way */
    gint64 jitter_ns;           /* uniform in [-jitter, +jitter] */
    double loss;                /* probability, 0..1 */
    guint64 rate_bps;           /* 0: not shaped */
    guint64 queue_bytes;        /* the shaper's queue */
} WanParams;

typedef struct {
    guint64 frames;             /* delivered */
    guint64 bytes;
    guint64 dropped_loss;
    guint64 dropped_queue;
    guint64 send_errors;        /* the destination socket refused it */
} WanStats;

typedef struct {
    gint64 release_ns;
    guint len;                  /* of data */
    guint wire_len;             /* what the stats and the shaper count */
    guint8 data[];
} WanFrame;

typedef struct {
    WanParams params;
    GQueue frames;              /* WanFrame *, by release time */
    guint64 inflight_bytes;
    gint64 tat_ns;              /* the shaper's theoretical arrival time */
    gint64 last_release_ns;     /* nothing overtakes an earlier frame */
    WanStats stats;
} WanPath;

void wan_params_init(WanParams *p);
/* Applies "delay=25ms,jitter=2ms,loss=0.5%,rate=100mbit,queue=2mb" to @p;
 * keys not named keep their value. */
gboolean wan_params_parse(const char *spec, WanParams *p, GError **err);

void wan_path_init(WanPath *path, const WanParams *params);
void wan_path_clear(WanPath *path);
/* Queues a copy of @data (@len bytes, of which @wire_len count on the
 * wire); FALSE when lost or the queue is full (counted). */
gboolean wan_path_push(WanPath *path, GRand *rand, gint64 now_ns,
                       const guint8 *data, guint len, guint wire_len);
/* The oldest frame if due at @now_ns, else NULL; it stays queued. */
WanFrame *wan_path_due(WanPath *path, gint64 now_ns);
/* Removes the oldest frame; the caller frees it with g_free(). */
WanFrame *wan_path_pop(WanPath *path);
/* When the oldest frame is due, or G_MAXINT64 when none is queued. */
gint64 wan_path_next_ns(const WanPath *path);

#endif
