/*
 * The routing table of a port: one row per peer VM with its endpoint,
 * status, VC, LAN and epoch, plus the sequence counter of frames sent to it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_ROUTE_H
#define LIMEVI_ROUTE_H

#include <string.h>

#include <gio/gio.h>

#include "buffer.h"
#include "limevi.h"

typedef struct {
    char *vm;
    char *endpoint;             /* @addr as "HOST:PORT", for reports */
    GSocketAddress *addr;
    LimeviRouteStatus status;
    char *vc;
    char *lan;
    guint32 epoch;
    guint64 tx_seq;             /* the next sequence number sent to @vm */
    LimeviBuffer *held;         /* frames for @vm while it moves; or NULL */
    LimeviBuffer *backlog;      /* frames the link had no room for yet, in
                                 * order, before any later one; or NULL */
} LimeviRoute;

typedef struct LimeviRouteTable LimeviRouteTable;

LimeviRouteTable *limevi_route_table_new(void);
void limevi_route_table_free(LimeviRouteTable *table);

/* The row of @vm, owned by the table; NULL when there is none. */
LimeviRoute *limevi_route_lookup(LimeviRouteTable *table, const char *vm);

/*
 * Adds or changes the row of @vm.  An update whose @epoch is lower than
 * the row's is ignored and returns NULL; otherwise returns the row, owned
 * by the table.  The table takes its own reference on @addr and copies the
 * strings.  A new row's sequence counter starts at 0; an existing row keeps
 * its counter, so a peer sees one sequence whatever its endpoint.
 */
LimeviRoute *limevi_route_update(LimeviRouteTable *table, const char *vm,
                                 GSocketAddress *addr, const char *endpoint,
                                 LimeviRouteStatus status, const char *vc,
                                 const char *lan, guint32 epoch);

/* Whether @route leads to a member of VC @vc and LAN @lan: the only
 * peers a port sends to, floods to and announces to. */
static inline gboolean limevi_route_in_lan(const LimeviRoute *route,
                                           const char *vc, const char *lan)
{
    return route && strcmp(route->vc, vc) == 0 &&
           strcmp(route->lan, lan) == 0;
}

/* Removes the row of @vm; FALSE when there was none. */
gboolean limevi_route_remove(LimeviRouteTable *table, const char *vm);

guint limevi_route_table_size(LimeviRouteTable *table);

/*
 * Iterates without allocating, for the per-frame path:
 *   LimeviRouteIter it; LimeviRoute *r;
 *   limevi_route_iter_init(&it, table);
 *   while ((r = limevi_route_iter_next(&it))) { ... }
 * The table must not change during the walk.
 */
typedef struct {
    GHashTableIter iter;
} LimeviRouteIter;

void limevi_route_iter_init(LimeviRouteIter *it, LimeviRouteTable *table);
LimeviRoute *limevi_route_iter_next(LimeviRouteIter *it);

/* A copy of @route for reports; free with limevi_route_info_free(). */
LimeviRouteInfo *limevi_route_to_info(const LimeviRoute *route);

/* Every row as LimeviRouteInfo, sorted by VM; the array frees them. */
GPtrArray *limevi_route_table_to_infos(LimeviRouteTable *table);

#endif /* LIMEVI_ROUTE_H */
