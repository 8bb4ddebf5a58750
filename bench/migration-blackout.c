/*
 * migration-blackout: what a receiving VM misses while it live-migrates,
 * LimeVI against the standard bridge + VXLAN setup, on the same guests,
 * the same stream and the same QEMU.
 *
 * A peer p streams sequenced UDP datagrams (the guest "probe") to a
 * receiver r; r migrates into a QEMU on the other emulated host while
 * the stream runs.  Per run: what probe counted (lost, duplicated, the
 * longest gap between two datagrams) and what QEMU and the harness
 * measured (QEMU's downtime, the real pause from STOP to RESUME).
 *
 *   limevi    p and r on -netdev limevi, every QEMU in one namespace of
 *             ours, tunnels on its 127.0.0.1 (as tests/qemu/test-migrate.c);
 *             r's destination gets a new tunnel port.  With --limevi-net
 *             veth, the two hosts of the standard setup instead.
 *   standard  two hosts (namespaces) joined by a veth pair, each with a
 *             bridge, a VXLAN device (id 42) and the guests' taps on it;
 *             r moves from host 1 to host 2 and QEMU's self-announce
 *             (RARP) tells the bridges where it went.
 *
 * Each setup runs once on a plain link and once on a link shaped to
 * 100 Mbit/s with tbf (both veth ends; lo in the one-namespace LimeVI
 * setup, whose tunnels and migration stream all cross it).
 *
 * Runs as root.  Everything it creates (namespaces and what is in them,
 * QEMUs) is removed before it exits, also after a failure or SIGINT;
 * bench/migration-blackout.sh also sweeps namespaces after a SIGKILL.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */#include <math.h>
#include <stdio.h>
#include <string.h>

#include "migration-blackout.h"

/* The two emulated hosts' underlay addresses, on the veth pair. */
const char *const host_addr[2] = { "198.18.0.1", "198.18.0.2" };

const char *const setup_name[N_SETUPS] = { "limevi", "standard" };
const char *const link_name[N_LINKS] = { "plain", "shaped" };
const char *const link_title[N_LINKS] = {
    "plain link", "link shaped to 100 Mbit/s (tbf)",
};

Options opt = {
    .runs = 3, .rate = 2000, .seconds = 20, .lead_ms = 2000, .size = 100,
};

void sample_free(Sample *s)
{
    g_free(s->error);
    g_free(s);
}

/* ---- main ---- */

static gboolean parse_list(const char *value, const char *const *names,
                           guint n, gboolean *on)
{
    g_auto(GStrv) items = g_strsplit(value, ",", -1);

    for (guint i = 0; i < n; i++) {
        on[i] = FALSE;
    }
    for (guint i = 0; items[i]; i++) {
        guint j;

        for (j = 0; j < n && g_strcmp0(items[i], names[j]); j++) {
        }
        if (j == n) {
            return FALSE;
        }
        on[j] = TRUE;
    }
    return TRUE;
}

static gboolean parse_args(int *argc, char ***argv, GError **err)
{
    gint runs = opt.runs, rate = opt.rate, seconds = opt.seconds;
    gint lead_ms = opt.lead_ms;
    g_autofree char *setups = NULL, *links = NULL, *limevi_net = NULL;
    GOptionEntry entries[] = {
        { "runs", 'n', 0, G_OPTION_ARG_INT, &runs,
          "Measured migrations per setup and link (default 3)", "N" },
        { "json", 'j', 0, G_OPTION_ARG_FILENAME, &opt.json_path,
          "Write every run's numbers to FILE", "FILE" },
        { "rate", 0, 0, G_OPTION_ARG_INT, &rate,
          "Datagrams per second of the stream (default 2000)", "FPS" },
        { "seconds", 0, 0, G_OPTION_ARG_INT, &seconds,
          "Length of the stream (default 20)", "S" },
        { "lead-ms", 0, 0, G_OPTION_ARG_INT, &lead_ms,
          "Stream time before the migration starts (default 2000)", "MS" },
        { "setups", 0, 0, G_OPTION_ARG_STRING, &setups,
          "Which setups (default limevi,standard)", "LIST" },
        { "links", 0, 0, G_OPTION_ARG_STRING, &links,
          "Which links (default plain,shaped)", "LIST" },
        { "limevi-net", 0, 0, G_OPTION_ARG_STRING, &limevi_net,
          "LimeVI tunnels on one namespace's loopback (default) or "
          "between the two hosts' veth", "loopback|veth" },
        { NULL },
    };

    if (!bench_parse_options(argc, argv, entries,
            "- live migration blackout, LimeVI vs bridge + VXLAN",
            "Needs root, LIMEVI_QEMU (the patched QEMU) and LIMEVI_GUEST_DIR "
            "(the test guest);\nbench/migration-blackout.sh sets both.\n",
            err)) {
        return FALSE;
    }
    if (runs < 1 || runs > 100 || rate < 1 || rate > 100000 ||
        seconds < 2 || seconds > 600 || lead_ms < 0 ||
        (guint)lead_ms >= (guint)seconds * 1000) {
        g_set_error(err, BENCH_ERROR, 0, "--runs must be 1..100, --rate "
                    "1..100000, --seconds 2..600, --lead-ms below the "
                    "stream's length");
        return FALSE;
    }
    opt.runs = runs;
    opt.rate = rate;
    opt.seconds = seconds;
    opt.lead_ms = lead_ms;
    for (guint i = 0; i < N_SETUPS; i++) {
        opt.setup_on[i] = TRUE;
    }
    for (guint i = 0; i < N_LINKS; i++) {
        opt.link_on[i] = TRUE;
    }
    if (setups && !parse_list(setups, setup_name, N_SETUPS, opt.setup_on)) {
        g_set_error(err, BENCH_ERROR, 0, "--setups: limevi and/or standard, "
                    "got '%s'", setups);
        return FALSE;
    }
    if (links && !parse_list(links, link_name, N_LINKS, opt.link_on)) {
        g_set_error(err, BENCH_ERROR, 0, "--links: plain and/or shaped, "
                    "got '%s'", links);
        return FALSE;
    }
    if (limevi_net && strcmp(limevi_net, "loopback") &&
        strcmp(limevi_net, "veth")) {
        g_set_error(err, BENCH_ERROR, 0, "--limevi-net: loopback or veth, "
                    "got '%s'", limevi_net);
        return FALSE;
    }
    opt.limevi_veth = !g_strcmp0(limevi_net, "veth");
    return TRUE;
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) samples = g_ptr_array_new_with_free_func(
        (GDestroyNotify)sample_free);
    guint failed = 0;

    if (!parse_args(&argc, &argv, &err) || !bench_environment_ok(&err)) {
        fprintf(stderr, "migration-blackout: %s\n", err->message);
        return 2;
    }
    bench_catch_signals();
    setvbuf(stdout, NULL, _IOLBF, 0);

    printf("migration-blackout: %u run(s) per setup and link; p streams "
           "%u datagrams/s of %u bytes for %u s to r, which migrates %u ms "
           "in\n", opt.runs, opt.rate, opt.size, opt.seconds, opt.lead_ms);

    for (Link link = 0; link < N_LINKS && !bench_interrupted; link++) {
        for (Setup setup = 0; setup < N_SETUPS && !bench_interrupted;
             setup++) {
            Bed *bed = NULL;

            if (!opt.link_on[link] || !opt.setup_on[setup]) {
                continue;
            }
            for (guint run = 1; run <= opt.runs && !bench_interrupted;
                 run++) {
                Sample *s = g_new0(Sample, 1);
                g_autoptr(GError) local = NULL;

                s->setup = setup;
                s->link = link;
                s->run = run;
                g_ptr_array_add(samples, s);
                fprintf(stderr, "# %s, %s link, run %u of %u\n",
                        setup_name[setup], link_name[link], run, opt.runs);
                if (!bed) {
                    bed = bed_new(setup, link, &local);
                }
                if (bed && run_once(bed, s, &local)) {
                    fprintf(stderr, "#   lost %" G_GINT64_FORMAT
                            ", duplicated %" G_GINT64_FORMAT
                            ", longest gap %.1f ms, downtime %"
                            G_GINT64_FORMAT " ms, pause %" G_GINT64_FORMAT
                            " ms; dropped by r's taps %" G_GINT64_FORMAT
                            ", by tbf %" G_GINT64_FORMAT "\n", s->lost,
                            s->duplicated, s->max_gap_ms, s->downtime_ms,
                            s->pause_ms, s->tap_dropped, s->qdisc_dropped);
                    continue;
                }
                s->error = g_strdup(local->message);
                fprintf(stderr, "#   failed: %s\n", s->error);
                failed++;
                /* A bed that failed once is suspect: the next run gets
                 * a new one. */
                g_clear_pointer(&bed, bed_free);
            }
            bed_free(bed);
        }
    }

    for (Link link = 0; link < N_LINKS; link++) {
        if (!opt.link_on[link]) {
            continue;
        }
        for (Setup setup = 0; setup < N_SETUPS; setup++) {
            if (opt.setup_on[setup]) {
                print_table(samples, setup, link);
            }
        }
        print_ratios(samples, link);
    }
    if (opt.json_path && !write_json(samples, &err)) {
        fprintf(stderr, "migration-blackout: %s: %s\n", opt.json_path,
                err->message);
        return 1;
    }
    if (bench_interrupted) {
        fprintf(stderr, "migration-blackout: interrupted\n");
        return 130;
    }
    return failed ? 1 : 0;
}
