/*
 * The VC's migration bandwidth, shared while it converges (share.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "mover.h"
#include "share.h"

#define PAGE_SIZE 4096

void limevi_share_bandwidth(guint64 total, const LimeviShareVm *vms,
                            guint n, guint64 *out)
{
    guint64 even = n ? total / n : 0, left = total, weights = 0, floor;
    guint copying = 0;

    for (guint i = 0; i < n; i++) {
        if (vms[i].ready) {
            /* Twice what it dirties keeps what it has to send small. */
            out[i] = CLAMP(vms[i].dirty_bytes * 2, MAX(even / 8, 1), even);
            left -= MIN(left, out[i]);
        } else {
            copying++;
            weights += vms[i].remaining + 1;
        }
    }
    if (!copying) {
        return;
    }
    floor = MAX(MIN(even / 4, left / copying), 1);
    left -= MIN(left, floor * copying);
    for (guint i = 0; i < n; i++) {
        if (!vms[i].ready) {
            out[i] = floor + (guint64)((double)left *
                                       (vms[i].remaining + 1) / weights);
        }
    }
}

static gboolean set_max_bandwidth(LimeviVmMigration *m, guint64 bytes)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *args = g_strdup_printf("{\"max-bandwidth\":%"
                                            G_GUINT64_FORMAT "}", bytes);

    if (!limevi_qmp_run(m->sq, "migrate-set-parameters", args, &error)) {
        /* The next poll sees what is wrong with its QEMU. */
        g_debug("VM %s: max-bandwidth %" G_GUINT64_FORMAT ": %s",
                m->vm->name, bytes, error->message);
        return FALSE;
    }
    m->max_bandwidth = bytes;
    return TRUE;
}

void limevi_share_apply(LimeviRun *run)
{
    guint n = run->migs->len;
    g_autofree LimeviShareVm *vms = g_new0(LimeviShareVm, n);
    g_autofree guint64 *share = g_new0(guint64, n);
    guint64 even = limevi_mover_bandwidth(run);

    if (!run->opts->bandwidth) {
        return;
    }
    for (guint i = 0; i < n; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        vms[i].ready = m->phase == VM_READY;
        vms[i].remaining = MAX(m->remaining, 0);
        vms[i].dirty_bytes = MAX(m->dirty_rate, 0) * PAGE_SIZE;
    }
    limevi_share_bandwidth(run->opts->bandwidth, vms, n, share);
    for (guint i = 0; i < n; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];
        guint64 now = m->max_bandwidth ? m->max_bandwidth : even;

        if (m->mover != &limevi_mover_qemu || m->phase < VM_MIGRATING ||
            m->phase > VM_READY) {
            continue;
        }
        if (share[i] * 10 < now * 9 || share[i] * 10 > now * 11) {
            set_max_bandwidth(m, share[i]);
        }
    }
}

guint64 limevi_share_restore(LimeviRun *run, LimeviVmMigration *m)
{
    guint64 even = limevi_mover_bandwidth(run);
    g_autofree char *args = NULL;

    if (!m->max_bandwidth || m->max_bandwidth >= even) {
        return 0;
    }
    args = g_strdup_printf("{\"max-bandwidth\":%" G_GUINT64_FORMAT "}", even);
    m->max_bandwidth = even;
    return limevi_qmp_send(m->sq, "migrate-set-parameters", args, NULL);
}

void limevi_share_restored(LimeviVmMigration *m, guint64 id)
{
    g_autoptr(GError) error = NULL;
    JsonNode *ret;

    if (!id) {
        return;
    }
    /* A refusal leaves the VM at its held rate: slower, not wrong. */
    ret = limevi_qmp_reply(m->sq, id, "migrate-set-parameters", &error);
    if (ret) {
        json_node_unref(ret);
    } else {
        g_debug("VM %s: max-bandwidth back: %s", m->vm->name,
                error->message);
    }
}
