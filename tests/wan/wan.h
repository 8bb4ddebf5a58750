/*
 * limevi-wan's state, shared by its main loop (limevi-wan.c), its
 * command line (wan-config.c) and its statistics (wan-stats.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_WAN_H
#define LIMEVI_WAN_H

#include <glib.h>

#include "wan-path.h"

typedef struct Wan Wan;

typedef struct {
    Wan *wan;
    guint index;
    char *name;
    char *ifname;
    int ifindex;
    int fd;
    guint64 rx_frames;
    guint64 rx_bytes;
} WanSite;

typedef struct {
    guint a, b;                 /* site indexes, a < b */
    WanPath path[2];            /* a to b, b to a */
} WanLink;

struct Wan {
    WanSite *sites;
    guint n_sites;
    WanLink *links;             /* one per pair of sites */
    guint n_links;
    WanLink **pair;             /* [src * n_sites + dst] */
    GHashTable *macs;           /* MAC as guint64 -> site index + 1 */
    GRand *rand;
    guint32 seed;
    int timer_fd;
    gint64 armed_ns;            /* G_MAXINT64: disarmed */
    GMainLoop *loop;
    guint8 *buf;
};

/* --site NAME=IFNAME, each; at least two, names and interfaces unique. */
gboolean wan_parse_sites(Wan *wan, char **specs, GError **err);
/* A link per pair of sites: @defaults, or a --link A-B:KEY=VALUE,... */
gboolean wan_parse_links(Wan *wan, const char *defaults, char **specs,
                         GError **err);
/* Every link's and site's counters, as the JSON of docs/wan.md. */
char *wan_stats_json(Wan *wan);

#endif
