/*
 * Progress lines of a VC migration.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "progress.h"

static const char *const phase_names[] = {
    [VM_PLANNED] = "planned",
    [VM_STARTING] = "starting",
    [VM_MIGRATING] = "migrating",
    [VM_READY] = "ready",
    [VM_SWITCHING] = "switching",
    [VM_DONE] = "done",
    [VM_FAILED] = "failed",
    [VM_ROLLED_BACK] = "rolled-back",
};

const char *limevi_phase_name(LimeviVmPhase phase)
{
    return phase_names[phase];
}

static void print_json(LimeviRun *run)
{
    for (guint i = 0; i < run->migs->len; i++) {
        LimeviVmMigration *m = run->migs->pdata[i];

        g_print("{\"vm\":\"%s\",\"phase\":\"%s\",\"transferred\":%"
                G_GINT64_FORMAT ",\"remaining\":%" G_GINT64_FORMAT
                ",\"total\":%" G_GINT64_FORMAT ",\"dirty_rate\":%"
                G_GINT64_FORMAT ",\"eta_ms\":%" G_GINT64_FORMAT
                ",\"disk_transferred\":%" G_GINT64_FORMAT
                ",\"disk_total\":%" G_GINT64_FORMAT
                ",\"disks_ready\":%s}\n",
                m->vm->name, phase_names[m->phase], m->transferred,
                m->remaining, m->total, m->dirty_rate, m->eta_ms,
                m->disk_transferred, m->disk_total,
                m->disks_ready ? "true" : "false");
    }
}

static void print_bar(LimeviRun *run, LimeviVmMigration *m)
{
    double pct = m->total ? 100.0 * m->transferred / m->total : 0;
    char bar[21];
    guint fill = MIN(20, (guint)(pct / 5));

    if (m->phase >= VM_SWITCHING && m->phase != VM_FAILED) {
        fill = 20;
    }
    memset(bar, '#', fill);
    memset(bar + fill, '.', 20 - fill);
    bar[20] = '\0';
    g_autofree char *disks = m->vm->disks->len ? g_strdup_printf(
        ", disks %.1f/%.1f MiB%s", m->disk_transferred / 1048576.0,
        m->disk_total / 1048576.0, m->disks_ready ? " in sync" : "")
                                                 : g_strdup("");

    g_print("%s%-10s %-11s [%s] %6.1f MiB sent, %6.1f MiB left, "
            "dirty %6" G_GINT64_FORMAT " pages/s, eta %5.1f s%s\n",
            run->tty ? "\033[2K" : "", m->vm->name,
            phase_names[m->phase], bar, m->transferred / 1048576.0,
            m->remaining / 1048576.0, m->dirty_rate, m->eta_ms / 1000.0,
            disks);
}

void limevi_progress_print(LimeviRun *run, gboolean final)
{
    if (run->opts->json) {
        print_json(run);
        return;
    }
    /* Without a terminal: a block of lines every few seconds. */
    if (!run->tty && !final) {
        gint64 now = g_get_monotonic_time();

        if (now - run->last_print < 5 * G_USEC_PER_SEC) {
            return;
        }
        run->last_print = now;
        g_print("[%5.1f s]\n", (g_get_real_time() - run->t0) / 1e6);
    }
    if (run->tty && run->drawn && !final) {
        g_print("\033[%uA", run->drawn);
    }
    for (guint i = 0; i < run->migs->len; i++) {
        print_bar(run, run->migs->pdata[i]);
    }
    run->drawn = run->migs->len;
}
