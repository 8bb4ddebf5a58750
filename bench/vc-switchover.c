/*
 * vc-switchover: a virtual cluster (VC) of 2, 4, 8 VMs moved between two
 * sites over an emulated WAN, in the same run by `limevi migrate` (every
 * source's switchover held, then released together) and by independent
 * migrations, one per VM, started together, each switching over when
 * its own pre-copy converges: what libvirt and OpenStack do (no hold, no
 * switchover-ack, no coordination).
 *
 * Per run: the STOP skew (last source STOP minus first) and the RESUME
 * skew (last destination RESUME minus first), each limevi VM's time from
 * its release to its source's STOP, each VM's real pause (destination RESUME minus source STOP, QMP event
 * times) and QEMU's downtime, and what the probe streams between the VMs
 * lost.  The VMs differ in memory size, in how much of it holds data
 * and in how fast they dirty it, so their pre-copies converge at
 * different times.  One VC per size is booted once and moved back and
 * forth, the two ways taking turns.
 *
 * Runs as root.  Everything it creates (the sites' namespaces, the WAN
 * emulator, every QEMU) is removed before it exits, also after a failure
 * or SIGINT; bench/vc-switchover.sh also sweeps after a SIGKILL.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vc-switchover.h"

/* wan-sites.sh numbers the sites' addresses in the order given. */
const char *const site_name[2] = { "A", "B" };
const char *const site_addr[2] = { "198.18.0.1", "198.18.0.2" };
const char *const host_name[2] = { "a1", "b1" };

const Profile profiles[N_PROFILES] = {
    { 96, 12, 0 }, { 192, 48, 768 }, { 160, 36, 512 }, { 128, 24, 256 },
};

const char *const mode_name[N_MODES] = { "limevi", "independent" };

Options opt = {
    .runs = 2, .rate = 200, .downtime_limit_ms = 300, .timeout_s = 300,
};

/* The tools it drives, from the environment (bench/vc-switchover.sh). */
Tools tool;

Bed bed;

void sample_free(Sample *s)
{
    g_free(s->error);
    g_free(s->note);
    g_free(s);
}

void sample_note(Sample *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;
    char *old = s->note;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    s->note = old ? g_strdup_printf("%s; %s", old, msg) : g_strdup(msg);
    g_free(old);
}


void progress(const char *fmt, ...)
{
    static gint64 t0;
    va_list ap;
    g_autofree char *msg = NULL;

    t0 = t0 ? t0 : g_get_monotonic_time();
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "# [%5.0f s] %s\n", (g_get_monotonic_time() - t0) / 1e6,
            msg);
}

/* ---- main ---- */

static gboolean parse_sizes(const char *value)
{
    g_auto(GStrv) items = g_strsplit(value, ",", -1);

    opt.n_sizes = 0;
    for (guint i = 0; items[i]; i++) {
        guint64 n;

        if (opt.n_sizes == MAX_SIZES ||
            !g_ascii_string_to_unsigned(items[i], 10, 2, MAX_VMS, &n,
                                        NULL)) {
            return FALSE;
        }
        opt.sizes[opt.n_sizes++] = n;
    }
    return opt.n_sizes > 0;
}

static gboolean parse_args(int *argc, char ***argv, GError **err)
{
    gint runs = opt.runs, rate = opt.rate, mbit = 0;
    gint limit = opt.downtime_limit_ms, timeout = opt.timeout_s;
    g_autofree char *sizes = NULL;
    GOptionEntry entries[] = {
        { "sizes", 's', 0, G_OPTION_ARG_STRING, &sizes,
          "VC sizes, VMs (default 2,4,8; at most 16)", "LIST" },
        { "runs", 'n', 0, G_OPTION_ARG_INT, &runs,
          "Migrations per size and way (default 2)", "N" },
        { "json", 'j', 0, G_OPTION_ARG_FILENAME, &opt.json_path,
          "Write every run's numbers to FILE", "FILE" },
        { "rate", 0, 0, G_OPTION_ARG_INT, &rate,
          "Datagrams per second of each VM's stream (default 200)", "FPS" },
        { "link", 0, 0, G_OPTION_ARG_STRING, &opt.link,
          "limevi-wan properties of the link between the sites (default "
          "delay=25ms,jitter=1ms,rate=200mbit)", "PROPS" },
        { "bandwidth", 0, 0, G_OPTION_ARG_INT, &mbit,
          "Migration bandwidth of the whole VC, shared out evenly in both "
          "ways (default: none, QEMU's own per VM)", "MBIT" },
        { "downtime-limit", 0, 0, G_OPTION_ARG_INT, &limit,
          "QEMU's downtime limit, both ways (default 300)", "MS" },
        { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
          "Longest VC migration (default 300)", "S" },
        { "work-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt.work_dir,
          "Keep VC files, consoles and limevi's reports there", "DIR" },
        { NULL },
    };

    if (!bench_parse_options(argc, argv, entries,
            "- a VC's switchover, limevi migrate vs independent migrations",
            "Example: vc-switchover --sizes 2,4 --runs 2 --json out.json\n\n"
            "Needs root, LIMEVI_QEMU, LIMEVI_GUEST_DIR, LIMEVI_CLI (limevi), "
            "LIMEVI_WAN\n(limevi-wan) and LIMEVI_WAN_SITES (wan-sites.sh); "
            "bench/vc-switchover.sh\nsets them.\n", err)) {
        return FALSE;
    }
    if (!parse_sizes(sizes ? sizes : "2,4,8")) {
        g_set_error(err, BENCH_ERROR, 0, "--sizes: up to %d numbers 2..%d, "
                    "got '%s'", MAX_SIZES, MAX_VMS, sizes);
        return FALSE;
    }
    if (runs < 1 || runs > 100 || rate < 1 || rate > 4000 || mbit < 0 ||
        limit < 1 || timeout < 10) {
        g_set_error(err, BENCH_ERROR, 0, "--runs must be 1..100, --rate "
                    "1..4000, --bandwidth not negative, --downtime-limit "
                    "positive, --timeout at least 10");
        return FALSE;
    }
    opt.runs = runs;
    opt.rate = rate;
    opt.bandwidth_mbit = mbit;
    opt.downtime_limit_ms = limit;
    opt.timeout_s = timeout;
    if (!opt.link) {
        opt.link = g_strdup("delay=25ms,jitter=1ms,rate=200mbit");
    }
    return TRUE;
}

static gboolean tools_ok(GError **err)
{
    const char *const names[] = {
        "LIMEVI_CLI", "LIMEVI_WAN", "LIMEVI_WAN_SITES",
    };
    const char **paths[] = { &tool.cli, &tool.wan, &tool.wan_sites };

    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        *paths[i] = g_getenv(names[i]);
        if (!*paths[i] || !g_file_test(*paths[i], G_FILE_TEST_EXISTS)) {
            g_set_error(err, BENCH_ERROR, 0, "%s ('%s') is not set to a "
                        "file: make build", names[i],
                        *paths[i] ? *paths[i] : "");
            return FALSE;
        }
    }
    return TRUE;
}

/* The two ways take turns first: run 1 limevi first, run 2 independent
 * first, ...; each moves the VC to the other site. */
static guint measure_size(GPtrArray *samples, guint size)
{
    Cluster c = { 0 };
    gboolean up = FALSE;
    guint failed = 0, attempt = 0;

    for (guint run = 1; run <= opt.runs && !bench_interrupted; run++) {
        for (guint turn = 0; turn < N_MODES && !bench_interrupted; turn++) {
            Sample *s = g_new0(Sample, 1);
            g_autoptr(GError) err = NULL;

            s->size = size;
            s->run = run;
            s->mode = (turn + run + 1) % N_MODES;
            s->from = s->to = "-";
            s->stop_skew_us = s->resume_skew_us = -1;
            s->moved_ms = s->lost = s->duplicated = -1;
            s->wan_dropped = s->guest_dropped = -1;
            for (guint i = 0; i < MAX_VMS; i++) {
                s->vm[i] = (VmSample){ -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                       -1, -1, -1, -1 };
            }
            g_ptr_array_add(samples, s);
            if (!up) {
                progress("%u VMs: booting the VC at site A", size);
                up = cluster_start(&c, size, ++attempt, &err);
            }
            if (up) {
                progress("%u VMs, run %u of %u, %s: site %s to %s", size,
                         run, opt.runs, mode_name[s->mode], site_name[c.site],
                         site_name[!c.site]);
            }
            if (up && run_once(&c, s, &err)) {
                progress("  STOP skew %.1f ms, RESUME skew %.1f ms, moved in "
                         "%.1f s; the WAN dropped %" G_GINT64_FORMAT
                         " frames, the guests %" G_GINT64_FORMAT "%s%s",
                         s->stop_skew_us / 1e3, s->resume_skew_us / 1e3,
                         s->moved_ms / 1000.0, s->wan_dropped,
                         s->guest_dropped, s->note ? "; " : "",
                         s->note ? s->note : "");
                continue;
            }
            s->error = g_strdup(err->message);
            progress("  failed: %s", s->error);
            failed++;
            /* A VC that failed to move may run on both sites: the next
             * run gets a new one. */
            cluster_stop(&c);
            up = FALSE;
        }
    }
    cluster_stop(&c);
    return failed;
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) samples = g_ptr_array_new_with_free_func(
        (GDestroyNotify)sample_free);
    g_autofree char *machine = NULL, *machine_end = NULL;
    guint failed = 0;

    if (!parse_args(&argc, &argv, &err) || !bench_environment_ok(&err) ||
        !tools_ok(&err)) {
        fprintf(stderr, "vc-switchover: %s\n", err->message);
        return 2;
    }
    bench_catch_signals();
    setvbuf(stdout, NULL, _IOLBF, 0);
    progress("starting");
    bed.tag = g_strdup_printf("limevi-bench-vcs-%d", (int)getpid());
    if (opt.work_dir) {
        bed.dir = g_strdup(opt.work_dir);
        g_mkdir_with_parents(bed.dir, 0700);
    } else {
        bed.dir = g_dir_make_tmp("limevi-vcs-XXXXXX", &err);
        bed.remove_dir = TRUE;
    }
    machine = machine_text();
    printf("vc-switchover: %u run(s) per size and way; VCs of", opt.runs);
    for (guint z = 0; z < opt.n_sizes; z++) {
        printf("%s %u", z ? "," : "", opt.sizes[z]);
    }
    printf(" VMs moved between sites A and B (limevi-wan %s), by limevi "
           "migrate and by independent migrations; each VM streams %u "
           "datagrams/s to the next; downtime limit %u ms, bandwidth %s\n"
           "machine: %s\n", opt.link, opt.rate, opt.downtime_limit_ms,
           opt.bandwidth_mbit ? "shared" : "QEMU's default per VM",
           machine);

    if (!bed.dir ||
        !tool_run((const char *const[]){ "bash", tool.wan_sites, "up",
                                         bed.tag, "A", "B", NULL },
                  TOOL_TIMEOUT_MS, &err)) {
        fprintf(stderr, "vc-switchover: %s\n", err->message);
        sites_down();
        return 1;
    }
    for (guint z = 0; z < opt.n_sizes && !bench_interrupted; z++) {
        failed += measure_size(samples, opt.sizes[z]);
    }
    sites_down();
    if (bed.remove_dir) {
        harness_run((const char *const[]){ "rm", "-rf", bed.dir, NULL },
                    TOOL_TIMEOUT_MS, NULL, NULL);
    }

    machine_end = machine_text();
    print_runs(samples);
    print_summary(samples);
    print_ratios(samples);
    printf("\nat the end: %s\n", machine_end);
    if (opt.json_path && !write_json(samples, machine, &err)) {
        fprintf(stderr, "vc-switchover: %s: %s\n", opt.json_path,
                err->message);
        return 1;
    }
    if (bench_interrupted) {
        fprintf(stderr, "vc-switchover: interrupted\n");
        return 130;
    }
    return failed ? 1 : 0;
}
