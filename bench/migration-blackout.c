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
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
static const char *const host_addr[2] = { "198.18.0.1", "198.18.0.2" };

#define SHAPE_RATE "100mbit"

typedef enum { SETUP_LIMEVI, SETUP_STANDARD, N_SETUPS } Setup;
typedef enum { LINK_PLAIN, LINK_SHAPED, N_LINKS } Link;

static const char *const setup_name[N_SETUPS] = { "limevi", "standard" };
static const char *const link_name[N_LINKS] = { "plain", "shaped" };
static const char *const link_title[N_LINKS] = {
    "plain link", "link shaped to 100 Mbit/s (tbf)",
};

static struct {
    guint runs;
    guint rate;                 /* datagrams per second */
    guint seconds;              /* stream length */
    guint lead_ms;              /* stream time before the migration */
    guint size;                 /* datagram bytes */
    gboolean limevi_veth;       /* LimeVI over the two hosts' veth */
    gboolean setup_on[N_SETUPS];
    gboolean link_on[N_LINKS];
    char *json_path;
} opt = {
    .runs = 3, .rate = 2000, .seconds = 20, .lead_ms = 2000, .size = 100,
};

/* ---- One run's numbers ---- */

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

static void sample_free(Sample *s)
{
    g_free(s->error);
    g_free(s);
}

/* ---- A test bed: namespaces, devices, the two guests ---- */

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

/* The secret object every limevi netdev of the bench takes its key from. */
#define BENCH_KEY_SECRET "vckey"

/* A fresh random VC key in a file of its own; NULL with @err set. */
static char *bench_key_file(GError **err)
{
    guint8 key[32];
    g_autofree char *hex = NULL;
    g_autofree char *path = NULL;
    FILE *f = fopen("/dev/urandom", "rb");
    int fd;

    if (!f || fread(key, 1, sizeof(key), f) != sizeof(key)) {
        if (f) {
            fclose(f);
        }
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "cannot read a key from /dev/urandom");
        return NULL;
    }
    fclose(f);
    hex = g_malloc(2 * sizeof(key) + 1);
    for (gsize i = 0; i < sizeof(key); i++) {
        g_snprintf(hex + 2 * i, 3, "%02x", key[i]);
    }
    fd = g_file_open_tmp("limevi-bench-key-XXXXXX", &path, err);
    if (fd < 0) {
        return NULL;
    }
    close(fd);
    if (!g_file_set_contents(path, hex, -1, err)) {
        unlink(path);
        return NULL;
    }
    return g_steal_pointer(&path);
}

static gboolean two_hosts(Bed *b)
{
    return b->host[1] != b->host[0];
}

/* Runs @argv in @ns (NULL: here), failing on a non-zero status. */
static gboolean run_in(HNetns *ns, const char *const *argv, GError **err)
{
    g_autofree char *output = NULL;
    int status = ns ? hnetns_run(ns, argv, IP_TIMEOUT_MS, &output, err)
                    : harness_run(argv, IP_TIMEOUT_MS, &output, err);

    return bench_command_ok(status, argv, ns ? hnetns_name(ns) : NULL,
                            output, err);
}

/* Splits @cmd on spaces and runs it in @ns: for fixed commands only. */
static gboolean sh_in(HNetns *ns, GError **err, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static gboolean sh_in(HNetns *ns, GError **err, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *cmd = NULL;
    g_auto(GStrv) argv = NULL;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    bench_log("%s: %s", ns ? hnetns_name(ns) : "host", cmd);
    argv = g_strsplit(cmd, " ", -1);
    return run_in(ns, (const char *const *)argv, err);
}

/* The two hosts: namespaces joined by a veth pair, "veth0" on each. */
static gboolean hosts_new(Bed *b, GError **err)
{
    b->host[0] = hnetns_new("bench-h1", err);
    if (!b->host[0]) {
        return FALSE;
    }
    b->host[1] = hnetns_new("bench-h2", err);
    if (!b->host[1]) {
        return FALSE;
    }
    if (!sh_in(b->host[0], err, "ip link add veth0 type veth peer name "
               "veth0 netns %s", hnetns_name(b->host[1]))) {
        return FALSE;
    }
    for (guint h = 0; h < 2; h++) {
        b->addr[h] = host_addr[h];
        if (!sh_in(b->host[h], err, "ip addr add %s/24 dev veth0",
                   host_addr[h]) ||
            !sh_in(b->host[h], err, "ip link set veth0 up")) {
            return FALSE;
        }
        if (b->link == LINK_SHAPED &&
            !sh_in(b->host[h], err, "tc qdisc add dev veth0 root tbf rate "
                   SHAPE_RATE " burst 32kbit latency 50ms")) {
            return FALSE;
        }
    }
    return TRUE;
}

/* Each host's bridge with a VXLAN device to the other host and taps
 * for the guests (tap-p on host 1 only; tap-r on both, one per QEMU of
 * r that may run there). */
static gboolean bridges_new(Bed *b, GError **err)
{
    for (guint h = 0; h < 2; h++) {
        HNetns *ns = b->host[h];

        if (!sh_in(ns, err, "ip link add br0 type bridge") ||
            !sh_in(ns, err, "ip link set br0 up") ||
            !sh_in(ns, err, "ip link add vx42 type vxlan id 42 dstport 4789 "
                   "local %s learning", host_addr[h]) ||
            !sh_in(ns, err, "ip link set vx42 master br0") ||
            !sh_in(ns, err, "ip link set vx42 up") ||
            /* Broadcast, unknown unicast and multicast go to the other
             * host: head-end replication to a list of one. */
            !sh_in(ns, err, "bridge fdb append 00:00:00:00:00:00 dev vx42 "
                   "dst %s", host_addr[1 - h])) {
            return FALSE;
        }
        for (guint t = 0; t < (h == 0 ? 2 : 1); t++) {
            const char *tap = t == 0 ? "tap-r" : "tap-p";

            if (!sh_in(ns, err, "ip tuntap add dev %s mode tap", tap) ||
                !sh_in(ns, err, "ip link set %s master br0", tap) ||
                !sh_in(ns, err, "ip link set %s up", tap)) {
                return FALSE;
            }
        }
    }
    return TRUE;
}

/* What @argv printed in @ns, or NULL. */
static char *output_in(HNetns *ns, const char *const *argv)
{
    g_autoptr(GError) err = NULL;
    char *output = NULL;

    if (hnetns_run(ns, argv, IP_TIMEOUT_MS, &output, &err) != 0) {
        g_free(output);
        return NULL;
    }
    return output;
}

/* Frames r's taps dropped so far (their "TX" is towards QEMU). */
static gint64 tap_dropped(Bed *b)
{
    gint64 sum = 0;

    if (b->setup != SETUP_STANDARD) {
        return -1;
    }
    for (guint h = 0; h < 2; h++) {
        g_autofree char *out = output_in(b->host[h], (const char *[]){
            "cat", "/sys/class/net/tap-r/statistics/tx_dropped", NULL });

        sum += out ? g_ascii_strtoll(out, NULL, 10) : 0;
    }
    return sum;
}

/* Packets the tbf qdiscs of a shaped link dropped so far. */
static gint64 qdisc_dropped(Bed *b)
{
    g_autoptr(GRegex) re = g_regex_new("dropped (\\d+)", 0, 0, NULL);
    const char *dev = two_hosts(b) ? "veth0" : "lo";
    gint64 sum = 0;

    if (b->link != LINK_SHAPED) {
        return -1;
    }
    for (guint h = 0; h < (two_hosts(b) ? 2 : 1); h++) {
        g_autofree char *out = output_in(b->host[h], (const char *[]){
            "tc", "-s", "qdisc", "show", "dev", dev, NULL });
        g_autoptr(GMatchInfo) m = NULL;

        if (out && g_regex_match(re, out, 0, &m)) {
            g_autofree char *n = g_match_info_fetch(m, 1);

            sum += g_ascii_strtoll(n, NULL, 10);
        }
    }
    return sum;
}

static HVm *start_vm(Bed *b, guint host, const char *name, const char *ip,
                     const char *mac, const char *netdev,
                     const char *incoming, GError **err)
{
    g_autofree char *secret = b->key_file ?
        g_strdup_printf("secret,id=" BENCH_KEY_SECRET ",file=%s",
                        b->key_file) : NULL;
    const char *const key_args[] = { "-object", secret, NULL };
    HVmConfig cfg = {
        .name = name, .ip = ip, .mac = mac, .netdev = netdev,
        .netns = hnetns_name(b->host[host]), .incoming = incoming,
        .extra_args = secret ? key_args : NULL,
    };

    bench_log("start %s on host %u: %s%s", name, host + 1, netdev,
              incoming ? " (incoming)" : "");
    return hvm_start(&cfg, err);
}

/* A QEMU for r on @host: the first boots r, later ones wait for it. */
static HVm *start_r(Bed *b, guint host, const char *incoming, GError **err)
{
    g_autofree char *netdev = NULL;

    if (b->setup == SETUP_LIMEVI) {
        /* A new port each time, as a VM moved to another site would get;
         * the peers learn it from the migration protocol. */
        netdev = g_strdup_printf(
            "limevi,vm=r,vc=vc1,lan=lan1,listen=%s:%u,"
            "routes.0.vm=p,routes.0.endpoint=%s:7101,"
            "key-secret=" BENCH_KEY_SECRET,
            b->addr[host], b->next_port++, b->addr[0]);
    } else {
        netdev = g_strdup("tap,ifname=tap-r,script=no,downscript=no");
    }
    return start_vm(b, host, "r", IP_R "/24", MAC_R, netdev, incoming,
                    err);
}

static void bed_free(Bed *b)
{
    if (!b) {
        return;
    }
    /* QEMUs first: a namespace is deleted only once nothing holds it. */
    g_clear_pointer(&b->p, hvm_free);
    g_clear_pointer(&b->r, hvm_free);
    if (two_hosts(b)) {
        g_clear_pointer(&b->host[1], hnetns_free);
    }
    b->host[1] = NULL;
    g_clear_pointer(&b->host[0], hnetns_free);
    if (b->key_file) {
        unlink(b->key_file);
        g_free(b->key_file);
    }
    g_free(b);
}

static Bed *bed_new(Setup setup, Link link, GError **err)
{
    Bed *b = g_new0(Bed, 1);
    g_autofree char *netdev_p = NULL;

    b->setup = setup;
    b->link = link;
    if (setup == SETUP_STANDARD || opt.limevi_veth) {
        if (!hosts_new(b, err) ||
            (setup == SETUP_STANDARD && !bridges_new(b, err))) {
            goto fail;
        }
    } else {
        b->host[0] = hnetns_new("bench-lv", err);
        if (!b->host[0]) {
            goto fail;
        }
        b->host[1] = b->host[0];
        b->addr[0] = b->addr[1] = "127.0.0.1";
        /* lo is the only link here: shape it like the veth.  tbf drops
         * what exceeds its burst, so lo's 64 KiB MTU must go. */
        if (link == LINK_SHAPED &&
            (!sh_in(b->host[0], err, "ip link set lo mtu 1500") ||
             !sh_in(b->host[0], err, "tc qdisc add dev lo root tbf rate "
                    SHAPE_RATE " burst 32kbit latency 50ms"))) {
            goto fail;
        }
    }

    if (setup == SETUP_LIMEVI) {
        b->key_file = bench_key_file(err);
        if (!b->key_file) {
            goto fail;
        }
        b->next_port = 7102;
        netdev_p = g_strdup_printf(
            "limevi,vm=p,vc=vc1,lan=lan1,listen=%s:7101,"
            "routes.0.vm=r,routes.0.endpoint=%s:7102,"
            "key-secret=" BENCH_KEY_SECRET, b->addr[0], b->addr[0]);
    } else {
        netdev_p = g_strdup("tap,ifname=tap-p,script=no,downscript=no");
    }
    b->p = start_vm(b, 0, "p", IP_P "/24", MAC_P, netdev_p, NULL, err);
    if (!b->p) {
        goto fail;
    }
    b->r = start_r(b, 0, NULL, err);
    if (!b->r) {
        goto fail;
    }
    b->r_host = 0;
    if (setup == SETUP_LIMEVI) {
        b->next_port = 7110;
    }
    if (!hvm_wait_ready(b->p, BOOT_TIMEOUT_MS, err) ||
        !hvm_wait_ready(b->r, BOOT_TIMEOUT_MS, err)) {
        goto fail;
    }
    return b;

fail:
    bed_free(b);
    return NULL;
}

/* Runs @cmd in @vm's guest, failing unless it exits 0. */
static char *guest_ok(HVm *vm, const char *cmd, GError **err)
{
    char *out = NULL;
    int status = hvm_exec(vm, cmd, CMD_TIMEOUT_MS, &out, err);

    if (status < 0) {
        g_prefix_error(err, "%s: '%s': ", hvm_name(vm), cmd);
        g_free(out);
        return NULL;
    }
    if (status != 0) {
        g_set_error(err, BENCH_ERROR, 0, "%s: '%s' exited %d: %s",
                    hvm_name(vm), cmd, status, out ? g_strchomp(out) : "");
        g_free(out);
        return NULL;
    }
    return out ? out : g_strdup("");
}

static gboolean guest_do(HVm *vm, const char *cmd, GError **err)
{
    g_autofree char *out = guest_ok(vm, cmd, err);

    return out != NULL;
}

/* Moves r into a new QEMU on @to; fills @res. */
static gboolean migrate_r(Bed *b, guint to, HMigrateResult *res,
                          GError **err)
{
    /* The same capabilities for both setups: only the network differs. */
    HMigrateOptions mopts = {
        .return_path = TRUE, .switchover_ack = TRUE,
        .timeout_ms = MIGRATE_TIMEOUT_MS, .address = b->addr[to],
    };
    HVm *dst = start_r(b, to, "defer", err);

    if (!dst) {
        return FALSE;
    }
    bench_log("migrate r: host %u -> host %u", b->r_host + 1, to + 1);
    if (!hvm_migrate(b->r, dst, &mopts, res, err)) {
        g_autofree char *text = hvm_stderr(b->r);

        /* A failed send is only explained on the source's stderr. */
        if (err && *err && *g_strstrip(text)) {
            g_autofree char *old = (*err)->message;

            (*err)->message = g_strdup_printf("%s; source stderr: %s", old,
                                              text);
        }
        hvm_free(dst);
        return FALSE;
    }
    if (b->setup == SETUP_LIMEVI) {
        /* Done for LimeVI once every peer sends to the new place. */
        JsonNode *ev = hvm_qmp_wait_event(dst, "LIMEVI_PEERS_SYNCED",
                                          SYNC_TIMEOUT_MS, err);

        if (!ev) {
            hvm_free(dst);
            return FALSE;
        }
        json_node_unref(ev);
    }
    /* The source's tap (standard) is free again once its QEMU is gone:
     * a later migration back can take it. */
    hvm_free(b->r);
    b->r = dst;
    b->r_host = to;
    return TRUE;
}

/* Starts "probe recv" on @vm in the background into /tmp/@tag.json and
 * waits until it is bound, or the first datagrams would be refused. */
static gboolean recv_start(HVm *vm, const char *tag, guint port,
                           GError **err)
{
    g_autofree char *cmd = bench_probe_recv_command(tag, port, 10000);

    return guest_do(vm, cmd, err);
}

/* The JSON line about @sender in @vm's /tmp/@tag.json (both "probe
 * send" and "probe recv" print one), once every background job of the
 * guest has ended.  Valid until @parser parses again. */
static JsonObject *recv_result(HVm *vm, const char *tag, const char *sender,
                               JsonParser *parser, GError **err)
{
    g_autofree char *cmd = g_strdup_printf("wait; cat /tmp/%s.json", tag);
    g_autofree char *out = guest_ok(vm, cmd, err);
    JsonObject *o;

    if (!out) {
        return NULL;
    }
    if ((o = bench_probe_result(out, sender, parser))) {
        return o;
    }
    g_set_error(err, BENCH_ERROR, 0, "%s: no probe result from %s in: %s",
                hvm_name(vm), sender, out);
    return NULL;
}

/* One measured migration of r from host 1 to host 2 while p streams. */
static gboolean run_once(Bed *b, Sample *s, GError **err)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *tag = g_strdup_printf("rx%u", s->run);
    g_autofree char *id = g_strdup_printf("p%u", s->run);
    g_autofree char *send = NULL;
    g_autofree char *send_tag = g_strdup_printf("send-p%u", s->run);
    guint port = 7000 + s->run;
    guint count = opt.rate * opt.seconds;
    HMigrateResult res;
    gint64 t0, tap0, qdisc0;
    JsonObject *o;

    /* Every measured run starts with r on host 1, beside p. */
    if (b->r_host != 0 && two_hosts(b)) {
        if (!migrate_r(b, 0, &res, err)) {
            g_prefix_error(err, "moving r back to host 1: ");
            return FALSE;
        }
        /* Let the announcements of the move back settle. */
        g_usleep(G_USEC_PER_SEC);
    }
    if (!bench_check_interrupted(err) || !recv_start(b->r, tag, port, err)) {
        return FALSE;
    }
    tap0 = tap_dropped(b);
    qdisc0 = qdisc_dropped(b);
    send = g_strdup_printf("probe send --to " IP_R ":%u --rate %u "
                           "--count %u --size %u --id %s "
                           "> /tmp/%s.json 2>&1 &", port, opt.rate,
                           count, opt.size, id, send_tag);
    t0 = g_get_monotonic_time();
    if (!guest_do(b->p, send, err)) {
        return FALSE;
    }
    g_usleep(opt.lead_ms * 1000);
    if (!bench_check_interrupted(err) || !migrate_r(b, 1, &res, err)) {
        return FALSE;
    }
    s->completed_at_ms = (g_get_monotonic_time() - t0) / 1000;
    s->downtime_ms = res.downtime_ms;
    s->pause_ms = res.pause_ms;
    s->total_ms = res.total_time_ms;

    /* The sender's own report: how many it sent and for how long (a
     * starved TCG guest falls behind its schedule, then catches up). */
    o = recv_result(b->p, send_tag, id, parser, err);
    if (!o) {
        return FALSE;
    }
    s->sent = json_object_get_int_member_with_default(o, "sent", -1);
    s->stream_ms = json_object_get_double_member_with_default(
        o, "duration_ms", -1);
    /* t0 is before the sender started: the check errs towards "late". */
    s->in_stream = s->completed_at_ms < s->stream_ms;

    o = recv_result(b->r, tag, id, parser, err);
    if (!o) {
        return FALSE;
    }
    s->received = json_object_get_int_member_with_default(o, "received", -1);
    s->lost = json_object_get_int_member_with_default(o, "lost", -1);
    s->duplicated = json_object_get_int_member_with_default(o, "duplicated",
                                                            -1);
    s->reordered = json_object_get_int_member_with_default(o, "reordered",
                                                           -1);
    s->max_gap_ms = json_object_get_double_member_with_default(
        o, "max_gap_ms", -1);
    s->tap_dropped = tap0 < 0 ? -1 : tap_dropped(b) - tap0;
    s->qdisc_dropped = qdisc0 < 0 ? -1 : qdisc_dropped(b) - qdisc0;
    return TRUE;
}

/* ---- Report ---- */

typedef struct {
    guint n;                    /* completed runs */
    double lost, duplicated, max_gap_ms, downtime_ms, pause_ms;
    guint n_pause;              /* runs whose pause is known */
} Summary;

static Summary summarize(GPtrArray *samples, Setup setup, Link link)
{
    Summary m = { 0 };

    for (guint i = 0; i < samples->len; i++) {
        Sample *s = g_ptr_array_index(samples, i);

        if (s->setup != setup || s->link != link || s->error) {
            continue;
        }
        m.n++;
        m.lost += s->lost;
        m.duplicated += s->duplicated;
        m.max_gap_ms += s->max_gap_ms;
        m.downtime_ms += s->downtime_ms;
        if (s->pause_ms >= 0) {
            m.pause_ms += s->pause_ms;
            m.n_pause++;
        }
    }
    if (m.n) {
        m.lost /= m.n;
        m.duplicated /= m.n;
        m.max_gap_ms /= m.n;
        m.downtime_ms /= m.n;
    }
    m.pause_ms = m.n_pause ? m.pause_ms / m.n_pause : -1;
    return m;
}

static void print_row(const char *label, const char *lost, const char *dup,
                      const char *gap, const char *down, const char *pause,
                      const char *note)
{
    printf("  %-8s %9s %6s %10s %12s %9s  %s\n", label, lost, dup, gap, down,
           pause, note);
}

static void print_table(GPtrArray *samples, Setup setup, Link link)
{
    Summary m = summarize(samples, setup, link);
    g_autofree char *lost = NULL, *dup = NULL, *gap = NULL, *down = NULL;
    g_autofree char *pause = NULL;

    printf("\n%s, %s\n", setup == SETUP_LIMEVI ? "LimeVI" : "standard "
           "(bridge + VXLAN)", link_title[link]);
    print_row("run", "lost", "dup", "gap ms", "downtime ms", "pause ms", "");
    for (guint i = 0; i < samples->len; i++) {
        Sample *s = g_ptr_array_index(samples, i);
        g_autofree char *run = NULL;

        if (s->setup != setup || s->link != link) {
            continue;
        }
        run = g_strdup_printf("%u", s->run);
        if (s->error) {
            printf("  %-8s failed: %s\n", run, s->error);
            continue;
        }
        g_autofree char *c1 = g_strdup_printf("%" G_GINT64_FORMAT, s->lost);
        g_autofree char *c2 = g_strdup_printf("%" G_GINT64_FORMAT,
                                              s->duplicated);
        g_autofree char *c3 = g_strdup_printf("%.1f", s->max_gap_ms);
        g_autofree char *c4 = g_strdup_printf("%" G_GINT64_FORMAT,
                                              s->downtime_ms);
        g_autofree char *c5 = s->pause_ms >= 0
            ? g_strdup_printf("%" G_GINT64_FORMAT, s->pause_ms)
            : g_strdup("?");
        g_autofree char *note = s->in_stream ? g_strdup("") : g_strdup_printf(
            "(resumed at %.1f s, the stream ended at %.1f s)",
            s->completed_at_ms / 1000.0, s->stream_ms / 1000.0);

        print_row(run, c1, c2, c3, c4, c5, note);
    }
    if (!m.n) {
        printf("  no run completed\n");
        return;
    }
    lost = g_strdup_printf("%.1f", m.lost);
    dup = g_strdup_printf("%.1f", m.duplicated);
    gap = g_strdup_printf("%.1f", m.max_gap_ms);
    down = g_strdup_printf("%.1f", m.downtime_ms);
    pause = m.pause_ms >= 0 ? g_strdup_printf("%.1f", m.pause_ms)
                            : g_strdup("?");
    print_row("mean", lost, dup, gap, down, pause, "");
}

static void print_ratios(GPtrArray *samples, Link link)
{
    Summary lv = summarize(samples, SETUP_LIMEVI, link);
    Summary st = summarize(samples, SETUP_STANDARD, link);
    g_autofree char *lost = NULL;
    g_autofree char *gap = NULL;

    if (!lv.n || !st.n) {
        return;
    }
    lost = bench_ratio_text(lv.lost, st.lost, "");
    gap = bench_ratio_text(lv.max_gap_ms, st.max_gap_ms, " ms");
    printf("\nLimeVI / standard, %s (means):\n", link_title[link]);
    printf("  frames lost:  %s\n", lost);
    printf("  longest gap:  %s\n", gap);
}

static gboolean write_json(GPtrArray *samples, GError **err)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();

    json_builder_begin_object(jb);
    json_builder_set_member_name(jb, "config");
    json_builder_begin_object(jb);
    bench_json_int(jb, "runs", opt.runs);
    bench_json_int(jb, "rate", opt.rate);
    bench_json_int(jb, "seconds", opt.seconds);
    bench_json_int(jb, "lead_ms", opt.lead_ms);
    bench_json_int(jb, "size", opt.size);
    bench_json_string(jb, "limevi_net",
                      opt.limevi_veth ? "veth" : "loopback");
    bench_json_string(jb, "shaped",
                      "tbf rate " SHAPE_RATE " burst 32kbit latency 50ms");
    json_builder_end_object(jb);

    json_builder_set_member_name(jb, "results");
    json_builder_begin_array(jb);
    for (guint i = 0; i < samples->len; i++) {
        Sample *s = g_ptr_array_index(samples, i);

        json_builder_begin_object(jb);
        bench_json_string(jb, "setup", setup_name[s->setup]);
        bench_json_string(jb, "link", link_name[s->link]);
        bench_json_int(jb, "run", s->run);
        json_builder_set_member_name(jb, "ok");
        json_builder_add_boolean_value(jb, !s->error);
        if (s->error) {
            bench_json_string(jb, "error", s->error);
        } else {
            bench_json_int(jb, "sent", s->sent);
            bench_json_int(jb, "received", s->received);
            bench_json_int(jb, "lost", s->lost);
            bench_json_int(jb, "duplicated", s->duplicated);
            bench_json_int(jb, "reordered", s->reordered);
            bench_json_double(jb, "max_gap_ms", s->max_gap_ms);
            bench_json_int(jb, "downtime_ms", s->downtime_ms);
            bench_json_int(jb, "pause_ms", s->pause_ms);
            bench_json_int(jb, "total_ms", s->total_ms);
            bench_json_int(jb, "completed_at_ms", s->completed_at_ms);
            bench_json_int(jb, "tap_dropped", s->tap_dropped);
            bench_json_int(jb, "qdisc_dropped", s->qdisc_dropped);
            bench_json_double(jb, "stream_ms", s->stream_ms);
            json_builder_set_member_name(jb, "switchover_in_stream");
            json_builder_add_boolean_value(jb, s->in_stream);
        }
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    json_builder_end_object(jb);
    return bench_json_write(jb, opt.json_path, err);
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
