/*
 * Finding the running QEMU of every VM: its QMP socket in each host's
 * run-dir, and QEMU's own run state.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "launch.h"
#include "locate.h"

#define LOCATE_TIMEOUT_MS 2000

static void qemu_free(gpointer data)
{
    LimeviQemu *q = data;

    g_free(q->status);
    g_free(q);
}

static void location_free(gpointer data)
{
    LimeviLocation *loc = data;

    g_ptr_array_unref(loc->qemus);
    limevi_qmp_free(loc->qmp);
    g_free(loc->status);
    g_free(loc);
}

/* QEMU's run state at @qmp, or NULL. */
static char *run_state(LimeviQmp *qmp)
{
    JsonNode *ret = limevi_qmp_call(qmp, "query-status", NULL, NULL);
    char *status;

    if (!ret) {
        return NULL;
    }
    status = g_strdup(json_object_get_string_member(
        json_node_get_object(ret), "status"));
    json_node_unref(ret);
    return status;
}

GPtrArray *limevi_locate(const LimeviVc *vc)
{
    GPtrArray *locs = g_ptr_array_new_with_free_func(location_free);

    for (guint i = 0; i < vc->vms->len; i++) {
        const LimeviVcVm *vm = vc->vms->pdata[i];
        LimeviLocation *loc = g_new0(LimeviLocation, 1);

        loc->vm = vm;
        loc->qemus = g_ptr_array_new_with_free_func(qemu_free);
        for (guint h = 0; h < vc->hosts->len; h++) {
            const LimeviVcHost *host = vc->hosts->pdata[h];
            g_autofree char *path = limevi_launch_path(host, vm, "qmp");
            g_autoptr(LimeviQmp) qmp = NULL;
            g_autofree char *status = NULL;

            if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
                continue;
            }
            qmp = limevi_qmp_connect(path, LOCATE_TIMEOUT_MS, NULL);
            status = qmp ? run_state(qmp) : NULL;
            if (qmp) {
                LimeviQemu *q = g_new0(LimeviQemu, 1);

                q->host = host;
                q->status = g_strdup(status ? status : "unknown");
                g_ptr_array_add(loc->qemus, q);
            }
            /* A source left after its VM moved is "postmigrate". */
            if (!status || !g_str_equal(status, "running")) {
                if (!loc->host && status) {
                    loc->status = g_steal_pointer(&status);
                }
                continue;
            }
            loc->running++;
            if (!loc->qmp) {
                limevi_qmp_free(loc->qmp);
                g_free(loc->status);
                loc->host = host;
                loc->qmp = g_steal_pointer(&qmp);
                loc->status = g_steal_pointer(&status);
            }
        }
        g_ptr_array_add(locs, loc);
    }
    return locs;
}
