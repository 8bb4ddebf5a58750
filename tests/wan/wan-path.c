/*
 * One direction of an emulated WAN link.  The shaper is a token bucket in
 * its virtual-clock form (GCRA): a frame may leave once the bucket's
 * theoretical arrival time, less the burst it allows, has passed.  The
 * bytes still waiting for the shaper are the queue, bounded like a
 * router's.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <string.h>

#include "wan-path.h"

#define NS_PER_S 1000000000LL

void wan_params_init(WanParams *p)
{
    memset(p, 0, sizeof(*p));
    p->queue_bytes = WAN_QUEUE_DEFAULT;
}

typedef struct {
    const char *suffix;
    double scale;
} Unit;

static const Unit time_units[] = {
    { "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { NULL, 0 }
};
static const Unit rate_units[] = {
    { "bit", 1 }, { "kbit", 1e3 }, { "mbit", 1e6 }, { "gbit", 1e9 },
    { NULL, 0 }
};
static const Unit size_units[] = {
    { "b", 1 }, { "kb", 1024 }, { "mb", 1024 * 1024 }, { "k", 1024 },
    { "m", 1024 * 1024 }, { NULL, 0 }
};

/* A non-negative number followed by one of @units; a bare 0 is fine. */
static gboolean parse_unit(const char *key, const char *val,
                           const Unit *units, const char *hint,
                           double max, double *out, GError **err)
{
    char *end;
    double num = g_ascii_strtod(val, &end);

    if (end == val || !isfinite(num) || num < 0) {
        goto bad;
    }
    if (!*end && num == 0) {
        *out = 0;
        return TRUE;
    }
    for (const Unit *u = units; u->suffix; u++) {
        if (g_ascii_strcasecmp(end, u->suffix) == 0 &&
            num * u->scale <= max) {
            *out = num * u->scale;
            return TRUE;
        }
    }
bad:
    g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "'%s=%s': expected %s", key, val, hint);
    return FALSE;
}

gboolean wan_params_parse(const char *spec, WanParams *p, GError **err)
{
    g_auto(GStrv) items = g_strsplit(spec, ",", -1);
    WanParams next = *p;

    if (!items[0]) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "empty link parameters");
        return FALSE;
    }
    for (guint i = 0; items[i]; i++) {
        const char *eq = strchr(items[i], '=');
        g_autofree char *key = NULL;
        const char *val;
        double num;

        if (!eq || eq == items[i]) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "'%s': expected KEY=VALUE", items[i]);
            return FALSE;
        }
        key = g_strndup(items[i], eq - items[i]);
        val = eq + 1;
        if (!strcmp(key, "delay") || !strcmp(key, "jitter")) {
            if (!parse_unit(key, val, time_units, "a time like 25ms "
                            "(ns, us, ms, s; at most 60s)", 60e9, &num,
                            err)) {
                return FALSE;
            }
            *(!strcmp(key, "delay") ? &next.delay_ns : &next.jitter_ns) =
                (gint64)(num + 0.5);
        } else if (!strcmp(key, "loss")) {
            char *end;

            num = g_ascii_strtod(val, &end);
            if (end == val || (*end && strcmp(end, "%")) || !isfinite(num) ||
                num < 0 || num > 100) {
                g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "'loss=%s': expected a percentage like 0.5%%",
                            val);
                return FALSE;
            }
            next.loss = num / 100;
        } else if (!strcmp(key, "rate")) {
            if (!parse_unit(key, val, rate_units, "a rate like 100mbit "
                            "(bit, kbit, mbit, gbit; 0 for none)", 1e12,
                            &num, err)) {
                return FALSE;
            }
            next.rate_bps = (guint64)(num + 0.5);
            if (num > 0 && next.rate_bps < 8000) {
                g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "'rate=%s': at least 8kbit", val);
                return FALSE;
            }
        } else if (!strcmp(key, "queue")) {
            if (!parse_unit(key, val, size_units, "a size like 2mb "
                            "(b, kb, mb; 64kb to 1024mb)",
                            1024.0 * 1024 * 1024, &num, err)) {
                return FALSE;
            }
            if (num < 64 * 1024) {
                g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "'queue=%s': at least 64kb", val);
                return FALSE;
            }
            next.queue_bytes = (guint64)num;
        } else {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "unknown link parameter '%s' (delay, jitter, loss, "
                        "rate, queue)", key);
            return FALSE;
        }
    }
    *p = next;
    return TRUE;
}

void wan_path_init(WanPath *path, const WanParams *params)
{
    memset(path, 0, sizeof(*path));
    path->params = *params;
    g_queue_init(&path->frames);
    path->tat_ns = G_MININT64;
    path->last_release_ns = G_MININT64;
}

void wan_path_clear(WanPath *path)
{
    g_queue_clear_full(&path->frames, g_free);
    path->inflight_bytes = 0;
}

/* The time the shaper needs for @bytes. */
static gint64 wire_time_ns(const WanPath *path, guint64 bytes)
{
    return (gint64)(bytes * 8 * (guint64)NS_PER_S / path->params.rate_bps);
}

gboolean wan_path_push(WanPath *path, GRand *rand, gint64 now_ns,
                       const guint8 *data, guint len, guint wire_len)
{
    const WanParams *p = &path->params;
    gint64 depart = now_ns, release, jitter = 0;
    WanFrame *frame;

    /* Draw only for what is configured, so a seed replays a run. */
    if (p->loss > 0 && g_rand_double(rand) < p->loss) {
        path->stats.dropped_loss++;
        return FALSE;
    }
    if (p->rate_bps) {
        gint64 burst = wire_time_ns(path, WAN_BURST_BYTES);
        gint64 tat = MAX(path->tat_ns, now_ns);
        guint64 backlog;

        depart = MAX(now_ns, tat - burst);
        /* What must leave before this frame may: the queue ahead of it. */
        backlog = (guint64)((double)(depart - now_ns) * p->rate_bps / 8 /
                            NS_PER_S);
        if (backlog + wire_len > p->queue_bytes) {
            path->stats.dropped_queue++;
            return FALSE;
        }
        path->tat_ns = tat + wire_time_ns(path, wire_len);
    }
    if (path->inflight_bytes + len > WAN_INFLIGHT_MAX) {
        path->stats.dropped_queue++;
        return FALSE;
    }
    if (p->jitter_ns > 0) {
        jitter = (gint64)g_rand_double_range(rand, -(double)p->jitter_ns,
                                             (double)p->jitter_ns);
    }
    release = depart + MAX(p->delay_ns + jitter, 0);
    release = MAX(release, path->last_release_ns);
    path->last_release_ns = release;

    frame = g_malloc(sizeof(*frame) + len);
    frame->release_ns = release;
    frame->len = len;
    frame->wire_len = wire_len;
    memcpy(frame->data, data, len);
    g_queue_push_tail(&path->frames, frame);
    path->inflight_bytes += len;
    return TRUE;
}

WanFrame *wan_path_due(WanPath *path, gint64 now_ns)
{
    WanFrame *frame = g_queue_peek_head(&path->frames);

    return frame && frame->release_ns <= now_ns ? frame : NULL;
}

WanFrame *wan_path_pop(WanPath *path)
{
    WanFrame *frame = g_queue_pop_head(&path->frames);

    if (frame) {
        path->inflight_bytes -= frame->len;
    }
    return frame;
}

gint64 wan_path_next_ns(const WanPath *path)
{
    const WanFrame *frame = path->frames.head ? path->frames.head->data : NULL;

    return frame ? frame->release_ns : G_MAXINT64;
}
