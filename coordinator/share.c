/*
 * The VC's migration bandwidth, shared while it converges, and without
 * --bandwidth the switchover bandwidth derived from it (share.h).
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

/* Whether @to differs from @from by more than a tenth (or @from is 0). */
static gboolean moved_by_a_tenth(guint64 from, guint64 to)
{
    return !from || to * 10 < from * 9 || to * 10 > from * 11;
}

guint64 limevi_throughput_sample(LimeviThroughput *tp, gint64 now,
                                 guint64 sent)
{
    if (tp->since && sent >= tp->sent &&
        now - tp->since < LIMEVI_THROUGHPUT_WINDOW_MS * 1000) {
        return tp->peak;
    }
    if (tp->since && sent >= tp->sent) {
        tp->last = (sent - tp->sent) * G_USEC_PER_SEC / (now - tp->since);
        /* Not the first: the sources' socket buffers fill in it. */
        if (tp->windows++) {
            tp->peak = MAX(tp->peak, tp->last);
        }
    }
    tp->since = now;
    tp->sent = sent;
    return tp->peak;
}

guint64 limevi_share_switchover(guint64 peak, guint n, guint64 current)
{
    guint64 want = n ? peak / n : 0;

    return want && moved_by_a_tenth(current, want) ? want : 0;
}

static gboolean set_parameter(LimeviVmMigration *m, const char *name,
                              guint64 bytes)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *args = g_strdup_printf("{\"%s\":%" G_GUINT64_FORMAT "}",
                                            name, bytes);

    if (!limevi_qmp_run(m->sq, "migrate-set-parameters", args, &error)) {
        /* The next poll sees what is wrong with its QEMU. */
        g_debug("VM %s: %s %" G_GUINT64_FORMAT ": %s", m->vm->name, name,
                bytes, error->message);
        return FALSE;
    }
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
        if (moved_by_a_tenth(now, share[i]) &&
            set_parameter(m, "max-bandwidth", share[i])) {
            m->max_bandwidth = share[i];
        }
    }
}

void limevi_share_derive(LimeviRun *run)
{
    LimeviThroughput *tp = &run->throughput;
    gint64 window = tp->since, at = 0;
    guint64 sent = 0, want;
    double mbps = 0;

    if (run->opts->bandwidth) {
        return;
    }
    /* At the mean of the times the sources answered: one poll asks them
     * one after the other, hundreds of ms apart on a loaded host, and
     * the sum of their bytes is about what they had sent by then. */
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        sent += MAX(m->transferred, 0);
        at += m->polled_at / run->migs->len;
        mbps += m->mbps;
    }
    limevi_throughput_sample(tp, at, sent);
    if (window && tp->since != window) {
        g_debug("VC: %" G_GUINT64_FORMAT " B/s in %" G_GINT64_FORMAT
                " ms, peak %" G_GUINT64_FORMAT " B/s; QEMU's mbps summed: "
                "%.1f", tp->last, (tp->since - window) / 1000, tp->peak,
                mbps);
    }
    want = limevi_share_switchover(tp->peak, run->migs->len,
                                   run->switchover_bandwidth);
    if (!want) {
        return;
    }
    g_debug("VC: avail-switchover-bandwidth %" G_GUINT64_FORMAT " B/s per "
            "VM", want);
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        if (m->sq && m->phase >= VM_MIGRATING && m->phase <= VM_READY) {
            set_parameter(m, "avail-switchover-bandwidth", want);
        }
    }
    run->switchover_bandwidth = want;
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
