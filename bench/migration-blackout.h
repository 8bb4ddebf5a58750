/*
 * What the files of bench/migration-blackout share: its options, one
 * run's numbers and the test bed.  migration-blackout.c holds main() and
 * the options, -bed.c the namespaces, devices and guests, -run.c one
 * run (a stream while r migrates), -report.c the tables and the JSON.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef BENCH_MIGRATION_BLACKOUT_H
#define BENCH_MIGRATION_BLACKOUT_H

#include "bench.h"
#include "harness.h"

#define BOOT_TIMEOUT_MS 180000
#define CMD_TIMEOUT_MS 60000
#define IP_TIMEOUT_MS 10000
#define MIGRATE_TIMEOUT_MS 180000
#define SYNC_TIMEOUT_MS 10000

#define IP_P "198.18.4.1"
#define IP_R "198.18.4.2"
#define MAC_P "52:54:00:18:04:01"
#define MAC_R "52:54:00:18:04:02"
/* The two emulated hosts' underlay addresses, on the veth pair. */
extern const char *const host_addr[2];

#define SHAPE_RATE "100mbit"

typedef enum { SETUP_LIMEVI, SETUP_STANDARD, N_SETUPS } Setup;
typedef enum { LINK_PLAIN, LINK_SHAPED, N_LINKS } Link;

extern const char *const setup_name[N_SETUPS];
extern const char *const link_name[N_LINKS];
extern const char *const link_title[N_LINKS];

typedef struct {
    guint runs;
    guint rate;                 /* datagrams per second */
    guint seconds;              /* stream length */
    guint lead_ms;              /* stream time before the migration */
    guint size;                 /* datagram bytes */
    gboolean limevi_veth;       /* LimeVI over the two hosts' veth */
    gboolean setup_on[N_SETUPS];
    gboolean link_on[N_LINKS];
    char *json_path;
} Options;

extern Options opt;

/* One run's numbers. */
typedef struct {
    Setup setup;
    Link link;
    guint run;
    char *error;                /* NULL: the run completed */
    gint64 sent, received, lost, duplicated, reordered;
    double max_gap_ms;
    gint64 downtime_ms, pause_ms, total_ms;
    /* When the migration completed, from the stream's start: a
     * switchover after the stream's end would have nothing to lose. */
    gint64 completed_at_ms;
    double stream_ms;           /* how long the sender took */
    gboolean in_stream;
    /* Where the network dropped frames during the run, -1 when there is
     * no such place: r's taps (a tap whose QEMU does not read it, a
     * stopped or gone one, drops once its queue is full) and the tbf
     * qdiscs of a shaped link. */
    gint64 tap_dropped, qdisc_dropped;
} Sample;

/* A test bed: namespaces, devices, the two guests. */
typedef struct {
    Setup setup;
    Link link;
    /* host[1] == host[0] when both "hosts" are one namespace. */
    HNetns *host[2];
    const char *addr[2];        /* each host's address for tunnels and
                                   the migration stream */
    HVm *p, *r;
    guint r_host;               /* 0 or 1: where r runs */
    guint next_port;            /* LimeVI: r's next tunnel port */
    char *key_file;             /* LimeVI: the VC key, as users run it */
} Bed;

void sample_free(Sample *s);

/* migration-blackout-bed.c */
gboolean two_hosts(Bed *b);
gint64 tap_dropped(Bed *b);
gint64 qdisc_dropped(Bed *b);
HVm *start_r(Bed *b, guint host, const char *incoming, GError **err);
void bed_free(Bed *b);
Bed *bed_new(Setup setup, Link link, GError **err);

/* migration-blackout-run.c */
gboolean run_once(Bed *b, Sample *s, GError **err);

/* migration-blackout-report.c */
void print_table(GPtrArray *samples, Setup setup, Link link);
void print_ratios(GPtrArray *samples, Link link);
gboolean write_json(GPtrArray *samples, GError **err);

#endif /* BENCH_MIGRATION_BLACKOUT_H */
