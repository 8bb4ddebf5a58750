/*
 * What the files of bench/vc-switchover share: its options, the test bed
 * (two sites and a WAN), a VC at the sites, one run's numbers, and the
 * steps main() strings together.  vc-switchover.c holds main() and the
 * options, -sites.c the bed and the VC's VMs, -streams.c the probe
 * streams and one run, -moves.c the two ways to move a VC, -report.c the
 * tables and the JSON.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef BENCH_VC_SWITCHOVER_H
#define BENCH_VC_SWITCHOVER_H

#include "bench.h"
#include "harness.h"
#include "launch.h"
#include "qmp.h"
#include "vcfile.h"

#define MAX_VMS 16
#define MAX_SIZES 8
#define BOOT_TIMEOUT_MS 300000
#define FILL_TIMEOUT_MS 300000
#define CMD_TIMEOUT_MS 60000
#define TOOL_TIMEOUT_MS 120000      /* limevi start and stop, wan-sites.sh */
#define CONNECT_TIMEOUT_MS 10000
#define WAN_READY_TIMEOUT_MS 10000
#define POLL_MS 200
/* A destination whose peers have not all followed by then lets its
 * source go anyway. */
#define SYNC_TIMEOUT_MS 30000
/* Streams run this long before a migration starts and after it ends. */
#define STREAM_LEAD_MS 2000
#define STREAM_TAIL_MS 2000
/* A receiver reports once its sender has been silent this long (guest
 * time, which stops while the guest is paused): the longest break in a
 * stream it counts across.  A longer one cuts the stream. */
#define RECV_SILENCE_MS 60000
/* Time for the last receivers' reports after that. */
#define RESULT_MARGIN_MS 60000

/* wan-sites.sh numbers the sites' addresses in the order given. */
extern const char *const site_name[2];
extern const char *const site_addr[2];
extern const char *const host_name[2];

/* VM i is profiles[i % N_PROFILES]: what differs is how much memory must
 * cross (the guest's kernel alone is some 60 MiB; below 96 MiB of RAM it
 * does not boot) and how fast the guest dirties it, so pre-copies
 * converge at different times.  2 VMs get the smallest and the largest. */
typedef struct {
    guint memory_mib;           /* the VM's RAM */
    guint fill_mib;             /* random data written to tmpfs at boot */
    guint dirty_kib;            /* of it rewritten every second */
} Profile;

#define N_PROFILES 4
extern const Profile profiles[N_PROFILES];

typedef enum { MODE_LIMEVI, MODE_INDEPENDENT, N_MODES } Mode;

extern const char *const mode_name[N_MODES];

typedef struct {
    guint sizes[MAX_SIZES];
    guint n_sizes;
    guint runs;
    guint rate;                 /* datagrams per second per stream */
    char *link;                 /* limevi-wan properties of link A-B */
    guint bandwidth_mbit;       /* 0: QEMU's default per migration */
    guint downtime_limit_ms;
    guint timeout_s;            /* one VC migration */
    char *json_path;
    char *work_dir;             /* kept when given */
} Options;

extern Options opt;

/* The tools it drives, from the environment (bench/vc-switchover.sh). */
typedef struct {
    const char *cli, *wan, *wan_sites;
} Tools;

extern Tools tool;

/* The test bed: two sites' namespaces and the WAN emulator between. */
typedef struct {
    char *tag;                  /* namespaces TAG-A, TAG-B, TAG-wan */
    char *dir;                  /* work directory */
    gboolean remove_dir;
    GSubprocess *wan;
} Bed;

extern Bed bed;

/* One run's numbers. */
typedef struct {
    gint64 total_ms, downtime_ms, pause_ms;
    gint64 switchover_ms;       /* destination RESUME, from the start */
    /* limevi: from the release written to its source to the source's
     * STOP; -1 for independent migrations, which nothing releases. */
    gint64 release_to_stop_ms;
    /* What this VM received from its sender; -1: unknown. */
    gint64 received, lost, duplicated, reordered;
    double max_gap_ms;
    /* Its netdev's counters at the destination (query-limevi), where a
     * lost frame may show: rx-gaps, tx-no-route, and frames dropped from
     * full buffers (buffer "dropped" plus tx-held-dropped). */
    gint64 rx_gaps, tx_no_route, dropped;
} VmSample;

typedef struct {
    guint size, run;
    guint stream;               /* the streams' number in its VC */
    Mode mode;
    const char *from, *to;      /* sites */
    char *error;                /* NULL: every VM moved */
    char *note;                 /* about the streams, or NULL */
    /* Last source STOP minus first, last destination RESUME minus
     * first (QMP event times). */
    gint64 stop_skew_us, resume_skew_us;
    gint64 moved_ms;            /* the last switchover, from the start */
    gint64 lost, duplicated;    /* over every stream; -1: unknown */
    guint cut;                  /* streams silent for RECV_SILENCE_MS */
    /* Where frames may have gone: what the WAN's queues dropped (frames
     * of the streams and of the migrations), and what the guests' own
     * stacks dropped (UDP InErrors, RcvbufErrors, SndbufErrors, eth0's
     * tx_dropped; not rx_dropped, which counts the RARPs QEMU announces
     * a moved VM with); -1: unknown. */
    gint64 wan_dropped, guest_dropped;
    VmSample vm[MAX_VMS];
} Sample;

/* A VC at the sites. */
typedef struct {
    guint size;
    char *dir;
    char *path;                 /* its VC file */
    LimeviVc *vc;
    guint site;                 /* where it runs now: 0 (A) or 1 (B) */
    HConsole con[MAX_VMS];
    guint migrations;           /* so far: each gets its own ports */
    /* Samples whose streams' receivers have yet to report, and when the
     * last senders stopped (monotonic, us). */
    GPtrArray *pending;
    gint64 last_stop;
} Cluster;

/* vc-switchover.c */
void sample_free(Sample *s);
void sample_note(Sample *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* "# [SECONDS] MESSAGE" on stderr: where the bench is. */
void progress(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* vc-switchover-sites.c */
gboolean console_run(HConsole *c, const char *cmd, guint timeout_ms,
                     char **output, GError **err);
gboolean tool_run(const char *const *argv, guint timeout_ms,
                  GError **err);
char *file_tail(const char *path, guint n);
gboolean wan_start(const char *stats, GError **err);
gint64 wan_stop(const char *stats);
void sites_down(void);
char *vm_ip(guint i);
char *run_path(Cluster *c, guint site, guint i, const char *suffix);
gboolean cluster_consoles(Cluster *c, guint timeout_ms, GError **err);
void cluster_stop(Cluster *c);
gboolean cluster_start(Cluster *c, guint size, guint attempt,
                       GError **err);

/* vc-switchover-streams.c */
void streams_collect(Cluster *c);
gboolean run_once(Cluster *c, Sample *s, GError **err);

/* vc-switchover-moves.c */
gboolean move_limevi(Cluster *c, guint k, Sample *s, GError **err);
gboolean move_independent(Cluster *c, guint k, Sample *s,
                          GError **err);

/* vc-switchover-report.c */
void print_runs(GPtrArray *samples);
void print_summary(GPtrArray *samples);
void print_ratios(GPtrArray *samples);
char *machine_text(void);
gboolean write_json(GPtrArray *samples, const char *machine,
                    GError **err);

#endif /* BENCH_VC_SWITCHOVER_H */
