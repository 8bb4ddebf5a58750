/*
 * vc-switchover: a virtual cluster (VC) of 2, 4, 8 VMs moved between two
 * sites over an emulated WAN, in the same run by `limevi migrate` (every
 * switchover gated, then released together) and by independent
 * migrations, one per VM, started together, each switching over when
 * its own pre-copy converges: what libvirt and OpenStack do (no gate, no
 * switchover-ack, no coordination).
 *
 * Per run: the switchover skew (last destination RESUME minus first),
 * each VM's real pause (destination RESUME minus source STOP, QMP event
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
#include <sys/utsname.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>

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

#define END_MARK "@@LIMEVI-END "
/* wan-sites.sh numbers the sites' addresses in the order given. */
static const char *const site_name[2] = { "A", "B" };
static const char *const site_addr[2] = { "198.18.0.1", "198.18.0.2" };
static const char *const host_name[2] = { "a1", "b1" };

/* VM i is profiles[i % 4]: what differs is how much memory must cross
 * (the guest's kernel alone is some 60 MiB; below 96 MiB of RAM it does
 * not boot) and how fast the guest dirties it, so pre-copies converge at
 * different times.  2 VMs get the smallest and the largest. */
static const struct {
    guint memory_mib;           /* the VM's RAM */
    guint fill_mib;             /* random data written to tmpfs at boot */
    guint dirty_kib;            /* of it rewritten every second */
} profiles[] = {
    { 96, 12, 0 }, { 192, 48, 768 }, { 160, 36, 512 }, { 128, 24, 256 },
};

typedef enum { MODE_LIMEVI, MODE_INDEPENDENT, N_MODES } Mode;

static const char *const mode_name[N_MODES] = { "limevi", "independent" };

static struct {
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
} opt = {
    .runs = 2, .rate = 200, .downtime_limit_ms = 300, .timeout_s = 300,
};

/* The tools it drives, from the environment (bench/vc-switchover.sh). */
static struct {
    const char *cli, *wan, *wan_sites;
} tool;

/* ---- One run's numbers ---- */

typedef struct {
    gint64 total_ms, downtime_ms, pause_ms;
    gint64 switchover_ms;       /* destination RESUME, from the start */
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
    gint64 skew_ms;             /* last switchover minus first */
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

static void sample_free(Sample *s)
{
    g_free(s->error);
    g_free(s->note);
    g_free(s);
}

static void sample_note(Sample *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void sample_note(Sample *s, const char *fmt, ...)
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

/* "# [SECONDS] MESSAGE" on stderr: where the bench is. */
static void progress(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void progress(const char *fmt, ...)
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

/* ---- Guest consoles ---- */

/* The guest's init reads "SEQ COMMAND" lines from its serial port and
 * ends each command's output with "@@LIMEVI-END SEQ STATUS".  The VC
 * file puts the port on a unix socket, RUN-DIR/VM.console (and logs it
 * to RUN-DIR/VM.log), so that commands reach a guest wherever it runs. */
typedef struct {
    const char *vm;
    GSocketConnection *conn;
    HLines lines;
    guint seq;
} Console;

static void console_close(Console *c)
{
    hlines_clear(&c->lines);
    g_clear_object(&c->conn);
}

static guint console_send(Console *c, const char *prefix, const char *cmd,
                          GError **err)
{
    guint seq = ++c->seq;
    g_autofree char *line = g_strdup_printf("%s%u %s\n", prefix, seq, cmd);
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c->conn));

    if (!g_output_stream_write_all(out, line, strlen(line), NULL, NULL,
                                   err)) {
        g_prefix_error(err, "%s: console: ", c->vm);
        return 0;
    }
    return seq;
}

/* Reads up to the end mark of a command numbered @first_seq or later
 * (earlier ones are commands that timed out); returns its status and
 * what it printed, or -1 with @err set. */
static int console_wait_end(Console *c, guint first_seq, gint64 deadline,
                            char **output, GError **err)
{
    g_autoptr(GString) out = g_string_new(NULL);

    for (;;) {
        g_autofree char *line = hlines_read(&c->lines, deadline, err);
        const char *mark;
        guint seq;
        int status;

        if (!line) {
            g_prefix_error(err, "%s: console: ", c->vm);
            return -1;
        }
        mark = strstr(line, END_MARK);
        if (mark && sscanf(mark + strlen(END_MARK), "%u %d", &seq,
                           &status) == 2) {
            if (seq >= first_seq) {
                g_string_append_len(out, line, mark - line);
                if (output) {
                    *output = g_string_free(g_steal_pointer(&out), FALSE);
                }
                return status;
            }
            g_string_truncate(out, 0);
            continue;
        }
        g_string_append(out, line);
        g_string_append_c(out, '\n');
    }
}

/*
 * Connects to the console at @path, retrying while its QEMU starts, and
 * waits until the guest answers (a no-op command every 2 s, after a
 * newline that ends any partial line): what comes before is thrown away.
 */
static gboolean console_open(Console *c, const char *vm, const char *path,
                             gint64 deadline, GError **err)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    guint first = 0;

    console_close(c);
    c->vm = vm;
    while (!c->conn) {
        g_autoptr(GError) local = NULL;

        c->conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr),
                                          NULL, &local);
        if (!c->conn && g_get_monotonic_time() > deadline) {
            g_set_error(err, BENCH_ERROR, 0, "%s: console %s: %s", vm, path,
                        local->message);
            return FALSE;
        }
        if (!c->conn) {
            g_usleep(100 * 1000);
        }
    }
    hlines_init(&c->lines, g_socket_get_fd(
        g_socket_connection_get_socket(c->conn)), NULL);
    for (;;) {
        g_autoptr(GError) local = NULL;
        guint seq = console_send(c, "\n", "true", err);

        if (!seq) {
            return FALSE;
        }
        first = first ? first : seq;
        if (console_wait_end(c, first, MIN(deadline, harness_deadline(2000)),
                             NULL, &local) >= 0) {
            return TRUE;
        }
        if (!g_error_matches(local, HARNESS_ERROR, HARNESS_ERROR_TIMEOUT) ||
            g_get_monotonic_time() > deadline) {
            g_propagate_prefixed_error(err, g_steal_pointer(&local),
                                       "waiting for the guest: ");
            return FALSE;
        }
        if (!bench_check_interrupted(err)) {
            return FALSE;
        }
    }
}

/* Runs @cmd (one line of busybox sh) in the guest; FALSE unless it
 * exited 0.  What it printed goes to *@output if non-NULL. */
static gboolean console_run(Console *c, const char *cmd, guint timeout_ms,
                            char **output, GError **err)
{
    g_autofree char *out = NULL;
    guint seq = console_send(c, "", cmd, err);
    int status;

    if (!seq) {
        return FALSE;
    }
    bench_log("%s$ %s", c->vm, cmd);
    status = console_wait_end(c, seq, harness_deadline(timeout_ms), &out,
                              err);
    if (status < 0) {
        g_prefix_error(err, "'%s': ", cmd);
        return FALSE;
    }
    if (status != 0) {
        g_set_error(err, BENCH_ERROR, 0, "%s: '%s' exited %d: %s", c->vm,
                    cmd, status, g_strchomp(out));
        return FALSE;
    }
    if (output) {
        *output = g_steal_pointer(&out);
    }
    return TRUE;
}

/* ---- Tools ---- */

/* Runs @argv, failing unless it exits 0 within @timeout_ms. */
static gboolean tool_run(const char *const *argv, guint timeout_ms,
                         GError **err)
{
    g_autofree char *output = NULL;
    int status = harness_run(argv, timeout_ms, &output, err);

    return bench_command_ok(status, argv, NULL, output, err);
}

/* The last @n lines of the file at @path, for an error message. */
static char *file_tail(const char *path, guint n)
{
    g_autofree char *text = NULL;
    char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return g_strdup("");
    }
    g_strchomp(text);
    p = text + strlen(text);
    while (p > text && n) {
        if (*--p == '\n') {
            n--;
        }
    }
    return g_strdup(n ? p : p + 1);
}

/* Kills every process left in namespace @ns, by its PID. */
static void netns_kill_all(const char *ns)
{
    g_autofree char *out = NULL;
    g_auto(GStrv) pids = NULL;

    if (harness_run((const char *const[]){ "ip", "netns", "pids", ns, NULL },
                    TOOL_TIMEOUT_MS, &out, NULL) != 0) {
        return;
    }
    pids = g_strsplit(g_strstrip(out), "\n", -1);
    for (guint i = 0; pids[i]; i++) {
        gint64 pid = g_ascii_strtoll(pids[i], NULL, 10);

        if (pid > 1) {
            bench_log("killing pid %" G_GINT64_FORMAT " left in %s", pid, ns);
            kill((pid_t)pid, SIGKILL);
        }
    }
}

/* ---- The sites and the WAN between them ---- */

static struct {
    char *tag;                  /* namespaces TAG-A, TAG-B, TAG-wan */
    char *dir;                  /* work directory */
    gboolean remove_dir;
    GSubprocess *wan;
} bed;

static char *site_ns(guint site)
{
    return g_strdup_printf("%s-%s", bed.tag, site_name[site]);
}

/* Starts limevi-wan between the sites; it writes its statistics to
 * @stats when wan_stop() ends it.  One per run, so that what its queues
 * dropped (guest frames and migration streams alike, when the
 * migrations fill the link) is the run's. */
static gboolean wan_start(const char *stats, GError **err)
{
    g_autofree char *ns_wan = g_strdup_printf("%s-wan", bed.tag);
    g_autofree char *ready = g_build_filename(bed.dir, "wan.ready", NULL);
    g_autofree char *link = g_strdup_printf("A-B:%s", opt.link);
    g_autoptr(GSubprocessLauncher) launcher = harness_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    gint64 deadline = harness_deadline(WAN_READY_TIMEOUT_MS);

    unlink(ready);
    bed.wan = g_subprocess_launcher_spawn(launcher, err, "ip", "netns",
        "exec", ns_wan, tool.wan, "--site", "A=A", "--site", "B=B",
        "--link", link, "--ready-file", ready, "--stats-json", stats,
        "--seed", "1", NULL);
    if (!bed.wan) {
        return FALSE;
    }
    while (!g_file_test(ready, G_FILE_TEST_EXISTS)) {
        if (!g_subprocess_get_identifier(bed.wan) ||
            g_get_monotonic_time() > deadline) {
            g_set_error(err, BENCH_ERROR, 0, "limevi-wan --link %s did not "
                        "start (bad --link?)", link);
            return FALSE;
        }
        g_usleep(50 * 1000);
    }
    return TRUE;
}

/* Ends limevi-wan; returns what its queues dropped, -1 if unknown. */
static gint64 wan_stop(const char *stats)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *root;
    JsonArray *links;

    if (!bed.wan) {
        return -1;
    }
    /* SIGTERM: it writes its statistics. */
    g_subprocess_send_signal(bed.wan, SIGTERM);
    if (!harness_wait_process(bed.wan, 5000)) {
        harness_kill_process(bed.wan);
    }
    g_clear_object(&bed.wan);
    if (!stats || !json_parser_load_from_file(parser, stats, NULL)) {
        return -1;
    }
    root = json_node_get_object(json_parser_get_root(parser));
    links = json_object_get_array_member(root, "links");
    return links && json_array_get_length(links) ?
           json_object_get_int_member(json_array_get_object_element(links, 0),
                                      "dropped_queue") : -1;
}

static void sites_down(void)
{
    if (!bed.tag) {
        return;
    }
    wan_stop(NULL);
    for (guint s = 0; s < 2; s++) {
        g_autofree char *ns = site_ns(s);

        netns_kill_all(ns);
    }
    harness_run((const char *const[]){ "bash", tool.wan_sites, "down",
                                       bed.tag, "A", "B", NULL },
                TOOL_TIMEOUT_MS, NULL, NULL);
}

/* ---- A VC at the sites ---- */

typedef struct {
    guint size;
    char *dir;
    char *path;                 /* its VC file */
    LimeviVc *vc;
    guint site;                 /* where it runs now: 0 (A) or 1 (B) */
    Console con[MAX_VMS];
    guint migrations;           /* so far: each gets its own ports */
    /* Samples whose streams' receivers have yet to report, and when the
     * last senders stopped (monotonic, us). */
    GPtrArray *pending;
    gint64 last_stop;
} Cluster;

static char *vm_name(guint i)
{
    return g_strdup_printf("v%u", i);
}

static char *vm_ip(guint i)
{
    return g_strdup_printf("198.18.10.%u", i + 1);
}

/* One LAN; every VM streams to the next one, the last to the first. */
static char *vc_file_text(Cluster *c)
{
    const char *dir = g_getenv("LIMEVI_GUEST_DIR");
    GString *s = g_string_new(NULL);

    g_string_append(s, "# bench/vc-switchover's VC\n[vc]\nname = bench\n"
                    "lans = lan1\n\n");
    for (guint h = 0; h < 2; h++) {
        g_autofree char *ns = site_ns(h);

        g_string_append_printf(s, "[host %s]\nsite = %s\naddress = %s\n"
                               "netns = %s\nrun-dir = %s/%s\n\n",
                               host_name[h], site_name[h], site_addr[h], ns,
                               c->dir, host_name[h]);
    }
    for (guint i = 0; i < c->size; i++) {
        g_autofree char *name = vm_name(i);
        g_autofree char *ip = vm_ip(i);

        g_string_append_printf(s,
            "[vm %s]\nhost = a1\nlan = lan1\nmac = 52:54:00:18:0a:%02x\n"
            "memory = %u\nport = %u\n"
            "qemu = %s -machine pc -accel tcg -cpu max -m ${memory} "
            "-nodefaults -no-user-config -display none "
            "-kernel %s/vmlinux -initrd %s/initrd.img "
            "-append \"console=ttyS0 quiet limevi.ip=%s/24 "
            "limevi.name=${vm}\" "
            "-chardev socket,id=con0,path=${run_dir}/${vm}.console,"
            "server=on,wait=off,logfile=${run_dir}/${vm}.log,logappend=on "
            "-serial chardev:con0\n\n",
            name, i + 1, profiles[i % G_N_ELEMENTS(profiles)].memory_mib,
            7001 + i, g_getenv("LIMEVI_QEMU"), dir, dir, ip);
    }
    return g_string_free(s, FALSE);
}

static char *run_path(Cluster *c, guint site, guint i, const char *suffix)
{
    g_autofree char *name = vm_name(i);

    return limevi_launch_path(limevi_vc_host(c->vc, host_name[site]),
                              limevi_vc_vm(c->vc, name), suffix);
}

/* The consoles of every VM, where the VC runs now. */
static gboolean cluster_consoles(Cluster *c, guint timeout_ms, GError **err)
{
    gint64 deadline = harness_deadline(timeout_ms);

    for (guint i = 0; i < c->size; i++) {
        g_autofree char *path = run_path(c, c->site, i, "console");
        const LimeviVcVm *vm = c->vc->vms->pdata[i];

        if (!console_open(&c->con[i], vm->name, path, deadline, err)) {
            return FALSE;
        }
    }
    return TRUE;
}

/* ---- The streams ---- */

/* Every VM receives stream @k from the previous one (on port 7000 + k),
 * then sends its own: long enough for any run, stopped by
 * streams_stop(). */
static gboolean streams_start(Cluster *c, guint k, GError **err)
{
    g_autofree char *tag = g_strdup_printf("rx%u", k);

    for (guint i = 0; i < c->size; i++) {
        g_autofree char *recv = bench_probe_recv_command(tag, 7000 + k,
                                                         RECV_SILENCE_MS);
        g_autofree char *cmd = g_strdup_printf("%s && echo $! > /tmp/%s.pid",
                                               recv, tag);

        if (!console_run(&c->con[i], cmd, CMD_TIMEOUT_MS, NULL, err)) {
            return FALSE;
        }
    }
    for (guint i = 0; i < c->size; i++) {
        g_autofree char *to = vm_ip((i + 1) % c->size);
        g_autofree char *send = g_strdup_printf(
            "probe send --to %s:%u --rate %u --count %u --id v%u.%u "
            "> /tmp/tx%u.json 2>&1 & echo $! > /tmp/tx%u.pid", to, 7000 + k,
            opt.rate, opt.rate * 3600, i, k, k, k);

        if (!console_run(&c->con[i], send, CMD_TIMEOUT_MS, NULL, err)) {
            return FALSE;
        }
    }
    return TRUE;
}

/* What VM @i received of stream @k, once its receiver reported (by
 * @deadline). */
static gboolean stream_result(Cluster *c, guint i, guint k, gint64 deadline,
                              VmSample *v, GError **err)
{
    g_autofree char *cat = g_strdup_printf("cat /tmp/rx%u.json", k);
    g_autofree char *sender = g_strdup_printf("v%u.%u",
                                              (i + c->size - 1) % c->size, k);
    g_autoptr(JsonParser) parser = json_parser_new();

    for (;;) {
        g_autofree char *out = NULL;
        JsonObject *o;

        if (!console_run(&c->con[i], cat, CMD_TIMEOUT_MS, &out, err)) {
            return FALSE;
        }
        if ((o = harness_probe_result(out, sender, parser))) {
            v->received = json_object_get_int_member(o, "received");
            v->duplicated = json_object_get_int_member(o, "duplicated");
            v->reordered = json_object_get_int_member(o, "reordered");
            v->max_gap_ms = json_object_get_double_member(o, "max_gap_ms");
            /* The sender was stopped, not finished: "lost" would count
             * what it never sent.  Lost is what is missing up to the
             * last datagram that arrived. */
            v->lost = v->received ?
                      json_object_get_int_member(o, "last_seq") + 1 -
                      v->received : -1;
            return TRUE;
        }
        if (g_get_monotonic_time() > deadline) {
            g_set_error(err, BENCH_ERROR, 0, "no report from v%u's "
                        "receiver", i);
            return FALSE;
        }
        g_usleep(G_USEC_PER_SEC);
    }
}

/*
 * Stops every sender of @s's streams.  Each receiver reports
 * RECV_SILENCE_MS later: streams_collect() reads them all, so that the
 * next runs need not wait.
 */
static gboolean streams_stop(Cluster *c, Sample *s, GError **err)
{
    guint k = s->stream;
    g_autofree char *stop = g_strdup_printf(
        "kill $(cat /tmp/tx%u.pid) && if [ -s /tmp/rx%u.json ]; then "
        "echo cut; elif ! kill -0 $(cat /tmp/rx%u.pid); then echo gone; fi",
        k, k, k);

    for (guint i = 0; i < c->size; i++) {
        g_autofree char *out = NULL;

        if (!console_run(&c->con[i], stop, CMD_TIMEOUT_MS, &out, err)) {
            return FALSE;
        }
        /* Its receiver already reported: it heard nothing for
         * RECV_SILENCE_MS, and counted only what came before. */
        if (strstr(out, "cut")) {
            s->cut++;
            sample_note(s, "the stream into v%u was cut (silent for %d s)",
                        i, RECV_SILENCE_MS / 1000);
        } else if (strstr(out, "gone")) {
            sample_note(s, "v%u's receiver died", i);
        }
    }
    g_ptr_array_add(c->pending, s);
    c->last_stop = g_get_monotonic_time();
    return TRUE;
}

/* What every VM received in every stream stopped so far. */
static void streams_collect(Cluster *c)
{
    gint64 deadline = c->last_stop + (RECV_SILENCE_MS + RESULT_MARGIN_MS) *
                                     G_GINT64_CONSTANT(1000);

    if (c->pending->len) {
        progress("%u VMs: reading what the streams of %u run(s) received",
                 c->size, c->pending->len);
    }
    for (guint p = 0; p < c->pending->len; p++) {
        Sample *s = c->pending->pdata[p];

        s->lost = s->duplicated = 0;
        for (guint i = 0; i < c->size; i++) {
            g_autoptr(GError) err = NULL;
            VmSample *v = &s->vm[i];

            if (!stream_result(c, i, s->stream, deadline, v, &err)) {
                sample_note(s, "%s", err->message);
            }
            if (v->lost < 0) {
                s->lost = -1;
            } else if (s->lost >= 0) {
                s->lost += v->lost;
            }
            s->duplicated += MAX(v->duplicated, 0);
        }
    }
    g_ptr_array_set_size(c->pending, 0);
}

/* ---- Stopping and starting a VC ---- */

/* Kills by PID each QEMU of the VC that outlived "limevi stop": its pid
 * file names it, and it is ours if its command line names the file. */
static void cluster_kill_leftovers(Cluster *c)
{
    for (guint site = 0; site < 2; site++) {
        for (guint i = 0; i < c->size; i++) {
            g_autofree char *pidfile = run_path(c, site, i, "pid");
            g_autofree char *text = NULL, *cmdline = NULL, *proc = NULL;
            gsize len;
            gint64 pid;

            if (!g_file_get_contents(pidfile, &text, NULL, NULL)) {
                continue;
            }
            pid = g_ascii_strtoll(text, NULL, 10);
            proc = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/cmdline", pid);
            if (pid <= 1 || !g_file_get_contents(proc, &cmdline, &len,
                                                 NULL)) {
                continue;
            }
            for (gsize k = 0; k + 1 < len; k++) {
                cmdline[k] = cmdline[k] ? cmdline[k] : ' ';
            }
            if (strstr(cmdline, pidfile)) {
                bench_log("killing QEMU %" G_GINT64_FORMAT, pid);
                kill((pid_t)pid, SIGKILL);
            }
        }
    }
}

static void cluster_stop(Cluster *c)
{
    /* Interrupted, it ends now rather than wait for the receivers. */
    if (c->pending && !bench_interrupted) {
        streams_collect(c);
    }
    g_clear_pointer(&c->pending, g_ptr_array_unref);
    for (guint i = 0; i < MAX_VMS; i++) {
        console_close(&c->con[i]);
    }
    if (c->vc) {
        g_autoptr(GError) err = NULL;

        if (!tool_run((const char *const[]){ tool.cli, "stop", c->path,
                                             NULL }, TOOL_TIMEOUT_MS,
                      &err)) {
            fprintf(stderr, "# %s\n", err->message);
        }
        cluster_kill_leftovers(c);
    }
    g_clear_pointer(&c->vc, limevi_vc_free);
    g_clear_pointer(&c->path, g_free);
    g_clear_pointer(&c->dir, g_free);
}

/* Boots the VC at site A; each guest fills and starts dirtying its
 * memory. */
static gboolean cluster_start(Cluster *c, guint size, guint attempt,
                              GError **err)
{
    g_autofree char *name = g_strdup_printf("vc%u-%u", size, attempt);
    g_autofree char *text = NULL;

    c->size = size;
    c->site = 0;
    c->pending = g_ptr_array_new();
    c->dir = g_build_filename(bed.dir, name, NULL);
    c->path = g_build_filename(c->dir, "vc.conf", NULL);
    if (g_mkdir_with_parents(c->dir, 0700) < 0) {
        g_set_error(err, BENCH_ERROR, 0, "cannot create %s", c->dir);
        return FALSE;
    }
    text = vc_file_text(c);
    if (!g_file_set_contents(c->path, text, -1, err) ||
        !(c->vc = limevi_vc_load(c->path, err))) {
        return FALSE;
    }
    bench_log("%u VMs: limevi start %s", size, c->path);
    if (!tool_run((const char *const[]){ tool.cli, "start", c->path, NULL },
                  TOOL_TIMEOUT_MS, err) ||
        !cluster_consoles(c, BOOT_TIMEOUT_MS, err)) {
        return FALSE;
    }
    for (guint i = 0; i < size; i++) {
        guint p = i % G_N_ELEMENTS(profiles);
        g_autofree char *fill = g_strdup_printf(
            "dd if=/dev/urandom of=/tmp/fill bs=1M count=%u 2>/dev/null",
            profiles[p].fill_mib);

        if (!console_run(&c->con[i], fill, FILL_TIMEOUT_MS, NULL, err)) {
            return FALSE;
        }
        /* busybox watch runs its command through sh, every second. */
        if (profiles[p].dirty_kib) {
            g_autofree char *dirty = g_strdup_printf(
                "watch -t -n 1 'dd if=/dev/urandom of=/tmp/fill bs=64k "
                "count=%u conv=notrunc 2>/dev/null' >/dev/null 2>&1 &",
                profiles[p].dirty_kib / 64);

            if (!console_run(&c->con[i], dirty, CMD_TIMEOUT_MS, NULL, err)) {
                return FALSE;
            }
        }
    }
    return TRUE;
}

/* ---- limevi migrate ---- */

static gint64 member_int(JsonObject *o, const char *name)
{
    return json_object_get_int_member_with_default(o, name, -1);
}

static gboolean report_read(const char *path, Sample *s, GError **err)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o;
    JsonArray *vms;

    if (!json_parser_load_from_file(parser, path, err)) {
        return FALSE;
    }
    o = json_node_get_object(json_parser_get_root(parser));
    vms = json_object_get_array_member(o, "vms");
    s->skew_ms = member_int(o, "switchover_skew_ms");
    s->moved_ms = 0;
    for (guint i = 0; vms && i < json_array_get_length(vms); i++) {
        JsonObject *vm = json_array_get_object_element(vms, i);
        const char *name = json_object_get_string_member(vm, "vm");
        guint64 n = g_ascii_strtoull(name + 1, NULL, 10);
        VmSample *v;

        if (n >= s->size) {
            continue;
        }
        v = &s->vm[n];
        v->total_ms = member_int(vm, "total_ms");
        v->downtime_ms = member_int(vm, "downtime_ms");
        v->pause_ms = member_int(vm, "pause_ms");
        v->switchover_ms = member_int(vm, "switchover_at_ms");
        s->moved_ms = MAX(s->moved_ms, v->switchover_ms);
    }
    return TRUE;
}

static gboolean move_limevi(Cluster *c, guint k, Sample *s, GError **err)
{
    g_autofree char *log = g_strdup_printf("%s/limevi-%u.log", c->dir, k);
    g_autofree char *report = g_strdup_printf("%s/report-%u.json", c->dir,
                                              k);
    g_autofree char *journal = g_build_filename(c->dir, "journal.db", NULL);
    g_autofree char *limit = g_strdup_printf("%u", opt.downtime_limit_ms);
    g_autofree char *timeout = g_strdup_printf("%u", opt.timeout_s);
    g_autofree char *mbit = g_strdup_printf("%u", opt.bandwidth_mbit);
    g_autoptr(GSubprocessLauncher) launcher = harness_launcher_new(
        G_SUBPROCESS_FLAGS_STDERR_MERGE);
    g_autoptr(GSubprocess) proc = NULL;
    const char *argv[] = {
        tool.cli, "migrate", c->path, "--to", s->to, "--journal", journal,
        "--report", report, "--downtime-limit", limit, "--timeout", timeout,
        /* Without a bandwidth the list ends here. */
        opt.bandwidth_mbit ? "--bandwidth" : NULL, mbit, NULL,
    };
    /* limevi rolls back by itself at --timeout; a minute more for that. */
    gint64 deadline = harness_deadline((opt.timeout_s + 60) * 1000);
    int status;

    g_subprocess_launcher_set_stdout_file_path(launcher, log);
    proc = g_subprocess_launcher_spawnv(launcher, argv, err);
    if (!proc) {
        return FALSE;
    }
    while (!harness_wait_process(proc, POLL_MS)) {
        if (bench_interrupted || g_get_monotonic_time() > deadline) {
            /* SIGTERM: limevi rolls the VC back to its sources. */
            g_subprocess_send_signal(proc, SIGTERM);
            if (!harness_wait_process(proc, 60000)) {
                harness_kill_process(proc);
            }
            g_set_error(err, BENCH_ERROR, 0, "limevi migrate %s",
                        bench_interrupted ? "interrupted" : "did not end");
            return FALSE;
        }
    }
    status = harness_process_status(proc);
    if (status != 0) {
        g_autofree char *tail = file_tail(log, 3);

        g_set_error(err, BENCH_ERROR, 0, "limevi migrate exited %d: %s",
                    status, tail);
        return FALSE;
    }
    return report_read(report, s, err);
}

/* ---- Independent migrations ---- */

typedef struct {
    const LimeviVcVm *vm;
    LimeviQmp *sq, *dq;         /* source, destination */
    gboolean completed, resumed, done;
    gint64 t_stop, t_resume;    /* QMP event times, real time in us */
    gint64 resumed_at;          /* monotonic, us */
} Move;

/* What libvirt asks of QEMU for a live migration: events and the return
 * path, and nothing that holds a switchover. */
#define INDEPENDENT_CAPS "{\"capabilities\":[" \
    "{\"capability\":\"return-path\",\"state\":true}," \
    "{\"capability\":\"switchover-ack\",\"state\":false}," \
    "{\"capability\":\"events\",\"state\":true}]}"

/* The destination QEMU as limevi migrate starts it, except that its
 * netdev has no gate. */
static gboolean start_destination(Cluster *c, const LimeviVcHost *dst,
                                  Move *m, GError **err)
{
    g_auto(GStrv) base = limevi_launch_argv(c->vc, m->vm, dst, FALSE, err);
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    g_auto(GStrv) argv = NULL;
    g_autofree char *qmp = limevi_launch_path(dst, m->vm, "qmp");

    if (!base) {
        return FALSE;
    }
    g_strv_builder_addv(b, (const char **)base);
    g_strv_builder_add_many(b, "-incoming", "defer", NULL);
    argv = g_strv_builder_end(b);
    return limevi_launch(argv, m->vm, dst, err) &&
           (m->dq = limevi_qmp_connect(qmp, CONNECT_TIMEOUT_MS, err));
}

static gboolean start_migration(const LimeviVcHost *dst, Move *m,
                                guint port, guint n, GError **err)
{
    g_autofree char *params = NULL;
    g_autofree char *uri = g_strdup_printf("{\"uri\":\"tcp:%s:%u\"}",
                                           dst->address, port);

    /* The bandwidth limit shared out as limevi migrate does. */
    params = opt.bandwidth_mbit
        ? g_strdup_printf("{\"downtime-limit\":%u,\"max-bandwidth\":%"
                          G_GUINT64_FORMAT "}", opt.downtime_limit_ms,
                          (guint64)opt.bandwidth_mbit * 1000000 / 8 / n)
        : g_strdup_printf("{\"downtime-limit\":%u}", opt.downtime_limit_ms);
    return limevi_qmp_run(m->sq, "migrate-set-capabilities",
                          INDEPENDENT_CAPS, err) &&
           limevi_qmp_run(m->dq, "migrate-set-capabilities",
                          INDEPENDENT_CAPS, err) &&
           limevi_qmp_run(m->sq, "migrate-set-parameters", params, err) &&
           limevi_qmp_run(m->dq, "migrate-incoming", uri, err) &&
           limevi_qmp_run(m->sq, "migrate", uri, err);
}

/* One look at @m; FALSE with @err set when its migration failed. */
static gboolean move_poll(Move *m, VmSample *v, Sample *s, GError **err)
{
    JsonObject *e;

    if (!m->completed) {
        g_autoptr(JsonNode) ret = limevi_qmp_call(m->sq, "query-migrate",
                                                  NULL, err);
        JsonObject *o;
        const char *status;

        if (!ret) {
            return FALSE;
        }
        o = json_node_get_object(ret);
        status = json_object_get_string_member_with_default(o, "status",
                                                            "");
        if (!strcmp(status, "failed") || !strcmp(status, "cancelled")) {
            g_set_error(err, BENCH_ERROR, 0, "%s: migration %s: %s",
                        m->vm->name, status,
                        json_object_get_string_member_with_default(
                            o, "error-desc", "no reason given"));
            return FALSE;
        }
        if (strcmp(status, "completed") != 0) {
            return TRUE;
        }
        m->completed = TRUE;
        v->total_ms = member_int(o, "total-time");
        v->downtime_ms = member_int(o, "downtime");
        /* The source stopped its guest before it could complete. */
        if ((e = limevi_qmp_event(m->sq, "STOP", 0, NULL))) {
            m->t_stop = limevi_qmp_event_time(e);
            json_object_unref(e);
        }
    }
    if (!m->resumed) {
        if (!(e = limevi_qmp_event(m->dq, "RESUME", 0, NULL))) {
            return TRUE;
        }
        m->t_resume = limevi_qmp_event_time(e);
        json_object_unref(e);
        m->resumed = TRUE;
        m->resumed_at = g_get_monotonic_time();
    }
    /* As limevi migrate does, the source stays until every peer sends
     * to the destination: what was on its way there is forwarded. */
    e = limevi_qmp_event(m->dq, "LIMEVI_PEERS_SYNCED", 0, NULL);
    if (e || g_get_monotonic_time() - m->resumed_at >
             SYNC_TIMEOUT_MS * G_GINT64_CONSTANT(1000)) {
        if (!e) {
            sample_note(s, "%s: peers not synced after %d s", m->vm->name,
                        SYNC_TIMEOUT_MS / 1000);
        }
        g_clear_pointer(&e, json_object_unref);
        limevi_qmp_run(m->sq, "quit", NULL, NULL);
        g_clear_pointer(&m->sq, limevi_qmp_free);
        m->done = TRUE;
    }
    return TRUE;
}

static gboolean move_independent(Cluster *c, guint k, Sample *s,
                                 GError **err)
{
    const LimeviVcHost *src = limevi_vc_host(c->vc, host_name[c->site]);
    const LimeviVcHost *dst = limevi_vc_host(c->vc, host_name[!c->site]);
    gint64 t0 = g_get_real_time();
    gint64 deadline = harness_deadline(opt.timeout_s * 1000);
    gint64 first = G_MAXINT64, last = 0;
    Move mv[MAX_VMS] = { 0 };
    gboolean ok = TRUE;
    guint done = 0;

    /* Destinations first, then every migration, as limevi migrate. */
    for (guint i = 0; ok && i < c->size; i++) {
        g_autofree char *qmp = NULL;

        mv[i].vm = c->vc->vms->pdata[i];
        qmp = limevi_launch_path(src, mv[i].vm, "qmp");
        ok = (mv[i].sq = limevi_qmp_connect(qmp, CONNECT_TIMEOUT_MS, err)) &&
             start_destination(c, dst, &mv[i], err);
    }
    for (guint i = 0; ok && i < c->size; i++) {
        /* A block of ports per migration: none is still in use. */
        ok = start_migration(dst, &mv[i], 20000 + 20 * (k % 2000) + i,
                             c->size, err);
    }
    while (ok && done < c->size) {
        if (!bench_check_interrupted(err)) {
            ok = FALSE;
            break;
        }
        if (g_get_monotonic_time() > deadline) {
            g_set_error(err, BENCH_ERROR, 0, "%u of %u VMs switched over "
                        "in %u s", done, c->size, opt.timeout_s);
            ok = FALSE;
            break;
        }
        done = 0;
        for (guint i = 0; ok && i < c->size; i++) {
            ok = mv[i].done || move_poll(&mv[i], &s->vm[i], s, err);
            done += mv[i].done;
        }
        g_usleep(POLL_MS * 1000);
    }
    for (guint i = 0; i < c->size; i++) {
        Move *m = &mv[i];

        /* A failure cancels what has not switched over yet; the bed is
         * then torn down, wherever each VM runs. */
        if (!ok && m->sq && !m->completed) {
            limevi_qmp_run(m->sq, "migrate_cancel", NULL, NULL);
        }
        if (m->resumed) {
            s->vm[i].pause_ms = m->t_stop > 0 ? (m->t_resume - m->t_stop) /
                                                1000 : -1;
            s->vm[i].switchover_ms = (m->t_resume - t0) / 1000;
            first = MIN(first, m->t_resume);
            last = MAX(last, m->t_resume);
        }
        limevi_qmp_free(m->sq);
        limevi_qmp_free(m->dq);
    }
    s->skew_ms = last ? (last - first) / 1000 : -1;
    s->moved_ms = last ? (last - t0) / 1000 : -1;
    return ok;
}

/* ---- Netdev counters ---- */

static gint64 stat_of(JsonObject *o, const char *name)
{
    return o ? json_object_get_int_member_with_default(o, name, 0) : 0;
}

/* Reads each VM's netdev counters where it runs now; a note names what
 * is not zero. */
static void netdev_counters(Cluster *c, Sample *s)
{
    for (guint i = 0; i < c->size; i++) {
        g_autofree char *path = run_path(c, c->site, i, "qmp");
        g_autoptr(LimeviQmp) qmp = limevi_qmp_connect(path,
                                                      CONNECT_TIMEOUT_MS,
                                                      NULL);
        g_autoptr(JsonNode) ret = qmp ? limevi_qmp_call(qmp, "query-limevi",
                                                        NULL, NULL) : NULL;
        JsonArray *ports = ret ? json_node_get_array(ret) : NULL;
        JsonObject *port, *stats, *buffer;
        VmSample *v = &s->vm[i];

        if (!ports || !json_array_get_length(ports)) {
            continue;
        }
        port = json_array_get_object_element(ports, 0);
        stats = json_object_get_object_member(port, "stats");
        buffer = json_object_get_object_member(port, "buffer");
        v->rx_gaps = stat_of(stats, "rx-gaps");
        v->tx_no_route = stat_of(stats, "tx-no-route");
        v->dropped = stat_of(buffer, "dropped") +
                     stat_of(stats, "tx-held-dropped");
        if (v->rx_gaps || v->tx_no_route || v->dropped) {
            sample_note(s, "v%u's netdev: rx-gaps %" G_GINT64_FORMAT
                        ", tx-no-route %" G_GINT64_FORMAT ", dropped %"
                        G_GINT64_FORMAT, i, v->rx_gaps, v->tx_no_route,
                        v->dropped);
        }
    }
}

/* ---- One run ---- */

/* What the guests' own stacks dropped so far (see Sample), summed. */
static gboolean guest_drops(Cluster *c, gint64 *sum, GError **err)
{
    *sum = 0;
    for (guint i = 0; i < c->size; i++) {
        g_autofree char *out = NULL;
        g_auto(GStrv) words = NULL;

        if (!console_run(&c->con[i], "grep Udp: /proc/net/snmp | tail -1 | "
                         "cut -d' ' -f4,6,7; "
                         "cat /sys/class/net/eth0/statistics/tx_dropped",
                         CMD_TIMEOUT_MS, &out, err)) {
            return FALSE;
        }
        words = g_strsplit_set(out, " \r\n", -1);
        for (guint w = 0; words[w]; w++) {
            *sum += g_ascii_strtoll(words[w], NULL, 10);
        }
    }
    return TRUE;
}

/* Moves the VC to the other site by @s->mode while every VM streams. */
static gboolean move_streaming(Cluster *c, guint k, Sample *s, GError **err)
{
    gint64 drops0, drops;
    gboolean moved;

    if (!guest_drops(c, &drops0, err) || !streams_start(c, k, err)) {
        return FALSE;
    }
    g_usleep(STREAM_LEAD_MS * 1000);
    /* limevi and the QEMUs need QMP, which serves one client. */
    if (!bench_check_interrupted(err)) {
        return FALSE;
    }
    bench_log("%u VMs, %s: site %s -> %s", c->size, mode_name[s->mode],
              s->from, s->to);
    moved = s->mode == MODE_LIMEVI ? move_limevi(c, k, s, err)
                                   : move_independent(c, k, s, err);
    if (!moved) {
        return FALSE;
    }
    c->site = !c->site;
    g_usleep(STREAM_TAIL_MS * 1000);
    if (!cluster_consoles(c, CONNECT_TIMEOUT_MS, err) ||
        !streams_stop(c, s, err) || !guest_drops(c, &drops, err)) {
        return FALSE;
    }
    s->guest_dropped = drops - drops0;
    netdev_counters(c, s);
    return TRUE;
}

/* One run: the WAN is started for it alone. */
static gboolean run_once(Cluster *c, Sample *s, GError **err)
{
    guint k = ++c->migrations;
    g_autofree char *stats = g_strdup_printf("%s/wan-%u.json", c->dir, k);
    gboolean ok;

    s->stream = k;
    s->from = site_name[c->site];
    s->to = site_name[!c->site];
    if (!wan_start(stats, err)) {
        return FALSE;
    }
    ok = move_streaming(c, k, s, err);
    s->wan_dropped = wan_stop(stats);
    return ok;
}

/* ---- Report ---- */

typedef struct {
    guint runs;                 /* that completed */
    double skew, skew_max;
    double pause, pause_max;    /* over every VM of every run */
    double downtime, downtime_max;
    double lost, lost_max;      /* per run */
    double moved;               /* seconds */
    guint cut;
    guint n_down, n_pause, n_lost;
} Summary;

static Summary summarize(GPtrArray *samples, guint size, Mode mode)
{
    Summary m = { 0 };

    for (guint i = 0; i < samples->len; i++) {
        Sample *s = samples->pdata[i];

        if (s->size != size || s->mode != mode || s->error) {
            continue;
        }
        m.runs++;
        m.skew += s->skew_ms;
        m.skew_max = MAX(m.skew_max, s->skew_ms);
        m.moved += s->moved_ms / 1000.0;
        m.cut += s->cut;
        if (s->lost >= 0) {
            m.lost += s->lost;
            m.lost_max = MAX(m.lost_max, s->lost);
            m.n_lost++;
        }
        for (guint v = 0; v < s->size; v++) {
            if (s->vm[v].downtime_ms >= 0) {
                m.downtime += s->vm[v].downtime_ms;
                m.downtime_max = MAX(m.downtime_max, s->vm[v].downtime_ms);
                m.n_down++;
            }
            if (s->vm[v].pause_ms >= 0) {
                m.pause += s->vm[v].pause_ms;
                m.pause_max = MAX(m.pause_max, s->vm[v].pause_ms);
                m.n_pause++;
            }
        }
    }
    if (m.runs) {
        m.skew /= m.runs;
        m.moved /= m.runs;
    }
    m.downtime = m.n_down ? m.downtime / m.n_down : -1;
    m.pause = m.n_pause ? m.pause / m.n_pause : -1;
    m.lost = m.n_lost ? m.lost / m.n_lost : -1;
    return m;
}

static void print_runs(GPtrArray *samples)
{
    printf("\nEach run (lost: frames the streams lost; cut: streams silent "
           "for %d s; drops: frames\nthe WAN's queues + the guests' own "
           "stacks dropped)\n", RECV_SILENCE_MS / 1000);
    printf("%-4s %-4s %-12s %-5s %8s %17s %17s %6s %4s %3s %7s %8s\n",
           "VMs", "run", "mode", "move", "skew ms", "pause ms mean/max",
           "downtime mean/max", "lost", "dup", "cut", "drops", "moved s");
    for (guint i = 0; i < samples->len; i++) {
        Sample *s = samples->pdata[i];
        double pause = 0, down = 0;
        gint64 pause_max = -1, down_max = -1;
        guint n_pause = 0;
        g_autofree char *move = g_strdup_printf("%s>%s", s->from, s->to);
        g_autofree char *p = NULL, *d = NULL, *drops = NULL;

        printf("%-4u %-4u %-12s %-5s ", s->size, s->run, mode_name[s->mode],
               move);
        if (s->error) {
            printf("failed: %s\n", s->error);
            continue;
        }
        for (guint v = 0; v < s->size; v++) {
            if (s->vm[v].pause_ms >= 0) {
                pause += s->vm[v].pause_ms;
                n_pause++;
            }
            pause_max = MAX(pause_max, s->vm[v].pause_ms);
            down += s->vm[v].downtime_ms;
            down_max = MAX(down_max, s->vm[v].downtime_ms);
        }
        p = g_strdup_printf("%.0f/%" G_GINT64_FORMAT,
                            n_pause ? pause / n_pause : -1, pause_max);
        d = g_strdup_printf("%.0f/%" G_GINT64_FORMAT, down / s->size,
                            down_max);
        drops = g_strdup_printf("%" G_GINT64_FORMAT "+%" G_GINT64_FORMAT,
                                s->wan_dropped, s->guest_dropped);
        printf("%8" G_GINT64_FORMAT " %17s %17s %6" G_GINT64_FORMAT " %4"
               G_GINT64_FORMAT " %3u %7s %8.1f%s%s\n", s->skew_ms, p, d,
               s->lost, s->duplicated, s->cut, drops, s->moved_ms / 1000.0,
               s->note ? "  " : "", s->note ? s->note : "");
    }
}

static void print_summary(GPtrArray *samples)
{
    printf("\nMeans and maxima over the runs (pause and downtime: over "
           "every VM of every run; lost: frames\nper run; cut: streams cut, "
           "all runs)\n");
    printf("%-4s %-12s %4s %15s %15s %15s %13s %3s %8s\n", "VMs", "mode",
           "runs", "skew ms", "pause ms", "downtime ms", "lost", "cut",
           "moved s");
    printf("%-4s %-12s %4s %15s %15s %15s %13s %3s %8s\n", "", "", "",
           "mean    max", "mean    max", "mean    max", "mean   max", "",
           "mean");
    for (guint z = 0; z < opt.n_sizes; z++) {
        for (Mode mode = 0; mode < N_MODES; mode++) {
            Summary m = summarize(samples, opt.sizes[z], mode);

            if (!m.runs) {
                printf("%-4u %-12s %4u  no run completed\n", opt.sizes[z],
                       mode_name[mode], 0);
                continue;
            }
            printf("%-4u %-12s %4u %7.0f %7.0f %7.0f %7.0f %7.0f %7.0f "
                   "%6.1f %6.0f %3u %8.1f\n", opt.sizes[z], mode_name[mode],
                   m.runs, m.skew, m.skew_max, m.pause, m.pause_max,
                   m.downtime, m.downtime_max, m.lost, m.lost_max, m.cut,
                   m.moved);
        }
    }
}

static void print_ratios(GPtrArray *samples)
{
    for (guint z = 0; z < opt.n_sizes; z++) {
        Summary lv = summarize(samples, opt.sizes[z], MODE_LIMEVI);
        Summary in = summarize(samples, opt.sizes[z], MODE_INDEPENDENT);
        const struct {
            const char *what, *unit;
            double a, b;
        } rows[] = {
            { "switchover skew, mean", " ms", in.skew, lv.skew },
            { "switchover skew, max ", " ms", in.skew_max, lv.skew_max },
            { "pause, mean          ", " ms", in.pause, lv.pause },
            { "pause, max           ", " ms", in.pause_max, lv.pause_max },
            { "QEMU downtime, mean  ", " ms", in.downtime, lv.downtime },
            { "QEMU downtime, max   ", " ms", in.downtime_max,
              lv.downtime_max },
            { "frames lost per run  ", "", in.lost, lv.lost },
            { "VC moved in          ", " s", in.moved, lv.moved },
        };

        if (!lv.runs || !in.runs) {
            continue;
        }
        printf("\nbaseline (independent) / limevi, %u VMs:\n", opt.sizes[z]);
        for (guint r = 0; r < G_N_ELEMENTS(rows); r++) {
            g_autofree char *text = bench_ratio_text(rows[r].a, rows[r].b,
                                                     rows[r].unit);

            printf("  %s  %s\n", rows[r].what, text);
        }
    }
}

/* Where the numbers came from: the machine and how busy it was. */
static char *machine_text(void)
{
    g_autofree char *cpuinfo = NULL, *loadavg = NULL;
    g_autofree char *model = NULL;
    g_auto(GStrv) load = NULL;
    struct utsname u;

    if (g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL)) {
        const char *p = strstr(cpuinfo, "model name");

        p = p ? strchr(p, ':') : NULL;
        model = p ? g_strndup(p + 2, strcspn(p + 2, "\n")) : NULL;
    }
    g_file_get_contents("/proc/loadavg", &loadavg, NULL, NULL);
    load = g_strsplit(loadavg ? loadavg : "? ? ?", " ", 4);
    uname(&u);
    return g_strdup_printf("%u CPUs (%s), Linux %s, load average %s %s %s",
                           g_get_num_processors(), model ? model : "?",
                           u.release, load[0], load[1] ? load[1] : "",
                           load[1] && load[2] ? load[2] : "");
}

static void json_sample(JsonBuilder *b, Sample *s)
{
    json_builder_begin_object(b);
    bench_json_int(b, "vms", s->size);
    bench_json_int(b, "run", s->run);
    bench_json_string(b, "mode", mode_name[s->mode]);
    bench_json_string(b, "from", s->from);
    bench_json_string(b, "to", s->to);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, !s->error);
    if (s->error || s->note) {
        bench_json_string(b, s->error ? "error" : "note",
                          s->error ? s->error : s->note);
    }
    bench_json_int(b, "switchover_skew_ms", s->skew_ms);
    bench_json_int(b, "moved_ms", s->moved_ms);
    bench_json_int(b, "lost", s->lost);
    bench_json_int(b, "duplicated", s->duplicated);
    bench_json_int(b, "streams_cut", s->cut);
    bench_json_int(b, "wan_dropped", s->wan_dropped);
    bench_json_int(b, "guest_dropped", s->guest_dropped);
    json_builder_set_member_name(b, "per_vm");
    json_builder_begin_array(b);
    for (guint i = 0; i < s->size; i++) {
        const VmSample *v = &s->vm[i];
        guint p = i % G_N_ELEMENTS(profiles);

        json_builder_begin_object(b);
        bench_json_int(b, "vm", i);
        bench_json_int(b, "memory_mib", profiles[p].memory_mib);
        bench_json_int(b, "fill_mib", profiles[p].fill_mib);
        bench_json_int(b, "dirty_kib_per_s", profiles[p].dirty_kib);
        bench_json_int(b, "total_ms", v->total_ms);
        bench_json_int(b, "downtime_ms", v->downtime_ms);
        bench_json_int(b, "pause_ms", v->pause_ms);
        bench_json_int(b, "switchover_at_ms", v->switchover_ms);
        bench_json_int(b, "received", v->received);
        bench_json_int(b, "lost", v->lost);
        bench_json_int(b, "duplicated", v->duplicated);
        bench_json_int(b, "reordered", v->reordered);
        bench_json_double(b, "max_gap_ms", v->max_gap_ms);
        bench_json_int(b, "rx_gaps", v->rx_gaps);
        bench_json_int(b, "tx_no_route", v->tx_no_route);
        bench_json_int(b, "dropped", v->dropped);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}

static gboolean write_json(GPtrArray *samples, const char *machine,
                           GError **err)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "config");
    json_builder_begin_object(b);
    bench_json_int(b, "runs", opt.runs);
    bench_json_int(b, "rate", opt.rate);
    bench_json_string(b, "link", opt.link);
    bench_json_int(b, "bandwidth_mbit", opt.bandwidth_mbit);
    bench_json_int(b, "downtime_limit_ms", opt.downtime_limit_ms);
    bench_json_string(b, "machine", machine);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "results");
    json_builder_begin_array(b);
    for (guint i = 0; i < samples->len; i++) {
        json_sample(b, samples->pdata[i]);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return bench_json_write(b, opt.json_path, err);
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
            s->skew_ms = s->moved_ms = s->lost = s->duplicated = -1;
            s->wan_dropped = s->guest_dropped = -1;
            for (guint i = 0; i < MAX_VMS; i++) {
                s->vm[i] = (VmSample){ -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                       -1, -1, -1 };
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
                progress("  skew %" G_GINT64_FORMAT " ms, moved in %.1f s; "
                         "the WAN dropped %" G_GINT64_FORMAT " frames, the "
                         "guests %" G_GINT64_FORMAT "%s%s", s->skew_ms,
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
