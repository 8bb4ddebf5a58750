/*
 * The routing table (DESIGN.md section 2): rows keyed by VM name, updated
 * under the epoch rule so a stale announcement never undoes a newer one.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "route.h"

struct LimeviRouteTable {
    GHashTable *rows;           /* vm (owned by the row) -> LimeviRoute */
};

/* Safe when @value is the string being replaced. */
static void replace_string(char **field, const char *value)
{
    char *copy = g_strdup(value);

    g_free(*field);
    *field = copy;
}

static void route_free(gpointer data)
{
    LimeviRoute *route = data;

    g_free(route->vm);
    g_free(route->endpoint);
    g_clear_object(&route->addr);
    g_free(route->vc);
    g_free(route->lan);
    limevi_buffer_free(route->held);
    limevi_buffer_free(route->backlog);
    g_free(route);
}

LimeviRouteTable *limevi_route_table_new(void)
{
    LimeviRouteTable *table = g_new0(LimeviRouteTable, 1);

    table->rows = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                        route_free);
    return table;
}

void limevi_route_table_free(LimeviRouteTable *table)
{
    if (!table) {
        return;
    }
    g_hash_table_destroy(table->rows);
    g_free(table);
}

LimeviRoute *limevi_route_lookup(LimeviRouteTable *table, const char *vm)
{
    return g_hash_table_lookup(table->rows, vm);
}

LimeviRoute *limevi_route_update(LimeviRouteTable *table, const char *vm,
                                 GSocketAddress *addr, const char *endpoint,
                                 LimeviRouteStatus status, const char *vc,
                                 const char *lan, guint32 epoch)
{
    LimeviRoute *route = g_hash_table_lookup(table->rows, vm);

    if (!route) {
        route = g_new0(LimeviRoute, 1);
        route->vm = g_strdup(vm);
        g_hash_table_insert(table->rows, route->vm, route);
    } else if (epoch < route->epoch) {
        return NULL;
    }
    g_set_object(&route->addr, addr);
    replace_string(&route->endpoint, endpoint);
    route->status = status;
    replace_string(&route->vc, vc);
    replace_string(&route->lan, lan);
    route->epoch = epoch;
    return route;
}

gboolean limevi_route_remove(LimeviRouteTable *table, const char *vm)
{
    return g_hash_table_remove(table->rows, vm);
}

guint limevi_route_table_size(LimeviRouteTable *table)
{
    return g_hash_table_size(table->rows);
}

void limevi_route_iter_init(LimeviRouteIter *it, LimeviRouteTable *table)
{
    g_hash_table_iter_init(&it->iter, table->rows);
}

LimeviRoute *limevi_route_iter_next(LimeviRouteIter *it)
{
    gpointer value;

    if (!g_hash_table_iter_next(&it->iter, NULL, &value)) {
        return NULL;
    }
    return value;
}

LimeviRouteInfo *limevi_route_to_info(const LimeviRoute *route)
{
    LimeviRouteInfo *info = g_new0(LimeviRouteInfo, 1);

    info->vm = g_strdup(route->vm);
    info->endpoint = g_strdup(route->endpoint);
    info->status = route->status;
    info->vc = g_strdup(route->vc);
    info->lan = g_strdup(route->lan);
    info->epoch = route->epoch;
    return info;
}

void limevi_route_info_free(LimeviRouteInfo *info)
{
    if (!info) {
        return;
    }
    g_free(info->vm);
    g_free(info->endpoint);
    g_free(info->vc);
    g_free(info->lan);
    g_free(info);
}

static gint compare_info_vm(gconstpointer a, gconstpointer b)
{
    const LimeviRouteInfo *x = *(LimeviRouteInfo *const *)a;
    const LimeviRouteInfo *y = *(LimeviRouteInfo *const *)b;

    return strcmp(x->vm, y->vm);
}

GPtrArray *limevi_route_table_to_infos(LimeviRouteTable *table)
{
    GPtrArray *infos = g_ptr_array_new_with_free_func(
        (GDestroyNotify)limevi_route_info_free);
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, table->rows);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        g_ptr_array_add(infos, limevi_route_to_info(value));
    }
    g_ptr_array_sort(infos, compare_info_vm);
    return infos;
}
