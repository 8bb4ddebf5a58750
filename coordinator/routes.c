/*
 * Routes around a VC migration.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "locate.h"
#include "routes.h"

/*
 * libvirt stops each source as soon as its VM runs at the destination,
 * so an old host cannot pass on the moves of peers that switch over with
 * it, and frames sent to it then are lost.  So before the release, every
 * moving VM holds its frames for the other moving VMs of its LAN (the
 * held frames travel with its state); each such route turns valid when
 * the peer's announcement arrives, or when the route check after the
 * migration sets it.
 */
void limevi_routes_hold_between_movers(LimeviRun *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        /* A VM no longer reachable at its source is not released. */
        if (!m->sq) {
            continue;
        }
        for (guint k = 0; k < run->migs->len; k++) {
            LimeviVmMigration *p = run->migs->pdata[k];
            g_autofree char *endpoint = NULL;
            g_autoptr(GError) error = NULL;

            if (p == m || strcmp(p->vm->lan, m->vm->lan) != 0) {
                continue;
            }
            endpoint = g_strdup_printf("%s:%u", p->src->address,
                                       p->vm->port);
            if (!limevi_qmp_route_set(m->sq, p->vm->name, endpoint,
                                      "invalid", &error)) {
                g_printerr("limevi: VM %s: holding frames for %s: %s\n",
                           m->vm->name, p->vm->name, error->message);
            }
        }
    }
}

/* One route of @loc's QEMU to @m: right, repaired, or wrong (counted). */
static guint check_route(LimeviLocation *loc, LimeviVmMigration *m,
                         JsonObject *route)
{
    const char *peer = json_object_get_string_member(route, "vm");
    const char *endpoint = json_object_get_string_member(route, "endpoint");
    const char *status = json_object_get_string_member(route, "status");
    g_autoptr(GError) error = NULL;
    /* A VM whose move failed still runs at its source. */
    g_autofree char *want = g_strdup_printf(
        "%s:%u", m->phase == VM_DONE ? m->dst->address : m->src->address,
        m->vm->port);

    if (!strcmp(endpoint, want) && !strcmp(status, "valid")) {
        return 0;
    }
    /* A move the VMs missed (its old host gone before it passed it on):
     * set it, which also sends the frames held for the VM. */
    if (limevi_qmp_route_set(loc->qmp, peer, want, "valid", &error)) {
        g_printerr("limevi: repaired %s's route to %s: was %s %s, now %s "
                   "valid\n", loc->vm->name, peer, endpoint, status, want);
        m->repaired++;
        return 0;
    }
    g_printerr("limevi: %s's route to %s is %s %s, expected %s valid, and "
               "setting it failed: %s\n", loc->vm->name, peer, endpoint,
               status, want, error->message);
    m->wrong_routes++;
    return 1;
}

static guint check_member(LimeviRun *run, LimeviLocation *loc)
{
    JsonNode *ret = limevi_qmp_call(loc->qmp, "query-limevi", NULL, NULL);
    JsonArray *list, *routes;
    guint wrong = 0;

    if (!ret) {
        return 1;
    }
    list = json_node_get_array(ret);
    routes = json_array_get_length(list) ?
             json_object_get_array_member(
                 json_array_get_object_element(list, 0), "routes") : NULL;
    for (guint r = 0; routes && r < json_array_get_length(routes); r++) {
        JsonObject *route = json_array_get_object_element(routes, r);
        const char *peer = json_object_get_string_member(route, "vm");

        for (guint k = 0; k < run->migs->len; k++) {
            LimeviVmMigration *m = run->migs->pdata[k];

            if (!strcmp(m->vm->name, peer)) {
                wrong += check_route(loc, m, route);
            }
        }
    }
    json_node_unref(ret);
    return wrong;
}

static LimeviVmMigration *find_vm(LimeviRun *run, const LimeviVcVm *vm)
{
    for (guint k = 0; k < run->migs->len; k++) {
        LimeviVmMigration *m = run->migs->pdata[k];

        if (m->vm == vm) {
            return m;
        }
    }
    return NULL;
}

guint limevi_routes_verify(LimeviRun *run)
{
    g_autoptr(GPtrArray) locs = limevi_locate(run->vc);
    guint wrong = 0;

    for (guint i = 0; i < locs->len; i++) {
        LimeviLocation *loc = locs->pdata[i];

        if (!loc->qmp || loc->running != 1) {
            LimeviVmMigration *m = find_vm(run, loc->vm);

            g_printerr("limevi: VM %s runs on %u hosts\n", loc->vm->name,
                       loc->running);
            if (m) {
                m->wrong_routes++;
            }
            wrong++;
            continue;
        }
        wrong += check_member(run, loc);
    }
    for (guint k = 0; k < run->migs->len; k++) {
        LimeviVmMigration *m = run->migs->pdata[k];

        if (m->phase == VM_DONE && !m->wrong_routes) {
            limevi_run_vm_phase(run, m, LIMEVI_PHASE_ROUTES_OK);
        }
    }
    return wrong;
}
