/*
 * End to end: `limevi` moves a whole VC between two sites joined by the
 * user-space WAN emulator, while every VM streams to another and a TAP
 * endpoint streams in.  Everything runs as a user would run it: the CLI
 * on a VC file, QEMUs it starts, probes the guests start at boot.
 *
 * Sites A and B are namespaces of the test's own (198.18.0.1 and .2);
 * guests are on 198.18.10.0/24 (LAN front) and 198.18.20.0/24 (back).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "harness.h"

#define RATE 200
#define SECONDS 120             /* of the streams the move to B carries */
/* Of the streams the rollbacks must not disturb (a migration QEMU
 * refuses, --timeout, SIGTERM and SIGINT, one after the other): long
 * enough to run through all of them, which the last one checks. */
#define ROLLBACK_SECONDS 140
/* Of the streams the move through libvirt carries: on a loaded host
 * four held VMs leave the last one's copy little of the link (70 s
 * seen), and a stream that ends first proves nothing. */
#define LIBVIRT_SECONDS 90
/* Of the streams the move with a VM falling out of the barrier carries:
 * longer than that move. */
#define FALLOUT_SECONDS 75
/* The VC's key, 64 hex digits. */
#define E2E_KEY "e2e0e2e1e2e2e2e3e2e4e2e5e2e6e2e7e2e8e2e9e2eae2ebe2ece2ede2eee2ef\n"

static struct {
    gboolean libvirt;           /* hosts are libvirtds, VMs their domains */
    char *tag;
    char *dir;                  /* the VC file, run dirs */
    char *vc_file;
    char *key_file;             /* the VC's key, next to the VC file */
    char *tls_dir;              /* [vc] tls: its certificates */
    char *journal;
    GSubprocess *wan;
    GSubprocess *tap;
    GSubprocess *tap_send;
} e2e;

static const char *env_path(const char *name)
{
    const char *v = g_getenv(name);

    if (!v) {
        g_error("%s is not set: run this with 'make check'", name);
    }
    return v;
}

/* No command of this test takes longer; a hung one fails the test. */
#define RUN_TIMEOUT_MS (15 * 60 * 1000)

typedef struct {
    GMutex lock;
    GCond cond;
    gboolean done, timed_out;
    GSubprocess *p;
} Watchdog;

/* Kills the process if it is still running at the deadline. */
static gpointer watchdog(gpointer data)
{
    Watchdog *w = data;
    gint64 deadline = g_get_monotonic_time() + RUN_TIMEOUT_MS * 1000LL;

    g_mutex_lock(&w->lock);
    while (!w->done) {
        if (!g_cond_wait_until(&w->cond, &w->lock, deadline)) {
            w->timed_out = TRUE;
            g_subprocess_force_exit(w->p);
            break;
        }
    }
    g_mutex_unlock(&w->lock);
    return NULL;
}

/* Runs argv for at most RUN_TIMEOUT_MS; returns its status, stdout and
 * stderr. */
static int run(const char *const *argv, char **out, char **err)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) p = g_subprocess_newv(argv,
        G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
        &error);
    Watchdog w = { .p = p };
    GThread *t;
    gboolean ok;

    g_assert_no_error(error);
    g_mutex_init(&w.lock);
    g_cond_init(&w.cond);
    t = g_thread_new("watchdog", watchdog, &w);
    ok = g_subprocess_communicate_utf8(p, NULL, NULL, out, err, &error);
    g_mutex_lock(&w.lock);
    w.done = TRUE;
    g_cond_signal(&w.cond);
    g_mutex_unlock(&w.lock);
    g_thread_join(t);
    g_mutex_clear(&w.lock);
    g_cond_clear(&w.cond);
    if (w.timed_out) {
        g_error("%s %s: still running after %u ms, killed", argv[0],
                argv[1] ? argv[1] : "", RUN_TIMEOUT_MS);
    }
    g_assert_true(ok);
    g_assert_no_error(error);
    return g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p)
                                         : 128 + g_subprocess_get_term_sig(p);
}

static int limevi(const char *cmd, const char *extra1, const char *extra2,
                  char **out, char **err)
{
    const char *argv[] = { env_path("LIMEVI_CLI"), cmd, e2e.vc_file,
                           extra1, extra2, NULL };

    return run(argv, out, err);
}

/* The guest's kernel command line: its address, name and probes. */
static char *guest_append(const char *name, const char *ip,
                          const char *peer_ip, guint senders, guint count)
{
    return g_strdup_printf("console=ttyS0 quiet no_timer_check limevi.ip=%s/24 "
        "limevi.name=%s limevi.run=probe,recv,--port,7000,--senders,%u,"
        "--rcvbuf,16777216,"
        "--timeout-ms,200000 limevi.run=probe,send,--to,%s:7000,--rate,%u,"
        "--count,%u,--id,%s,--delay-ms,3000,--wait-peer-ms,120000", ip, name,
        senders, peer_ip,
        RATE, count, name);
}

/* A libvirt domain for the VM, as an operator would write it (limevi
 * adds the NIC, -netdev limevi and QMP). */
static char *write_domain_xml(const char *name, const char *append)
{
    g_autofree char *file = g_strdup_printf("%s.xml", name);
    char *path = g_build_filename(e2e.dir, file, NULL);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'>\n  <name>${vm}</name>\n"
        "  <memory unit='MiB'>${memory}</memory>\n  <vcpu>1</vcpu>\n"
        "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n"
        "    <kernel>%s/vmlinux</kernel>\n    <initrd>%s/initrd.img</initrd>\n"
        "    <cmdline>%s</cmdline>\n  </os>\n  <cpu mode='maximum'/>\n"
        "  <devices>\n    <emulator>%s</emulator>\n"
        "    <controller type='usb' model='none'/>\n"
        "    <memballoon model='none'/>\n"
        "    <serial type='file'><source path='${run_dir}/${vm}.log'/>"
        "</serial>\n  </devices>\n</domain>\n",
        env_path("LIMEVI_GUEST_DIR"), env_path("LIMEVI_GUEST_DIR"), append,
        env_path("LIMEVI_QEMU"));
    g_autoptr(GError) error = NULL;

    g_assert_true(g_file_set_contents(path, xml, -1, &error));
    return path;
}

static void vm_block(GString *s, const char *name, const char *lan,
                     const char *ip, const char *mac, guint port,
                     const char *peer_ip, guint senders, guint count)
{
    g_autofree char *append = guest_append(name, ip, peer_ip, senders,
                                           count);

    g_string_append_printf(s,
        "[vm %s]\nhost = a1\nlan = %s\nmac = %s\nmemory = 128\nport = %u\n",
        name, lan, mac, port);
    /* A QMP-host QEMU has a second QMP monitor, the test's own (see
     * test_vm_falling_out_resets_the_barrier()). */
    if (e2e.libvirt) {
        g_autofree char *xml = write_domain_xml(name, append);

        g_string_append_printf(s, "domain = %s\n\n", xml);
        return;
    }
    g_string_append_printf(s,
        "qemu = %s -machine pc -accel tcg -cpu max -m ${memory} -nodefaults "
        "-no-user-config -display none -kernel %s/vmlinux -initrd "
        "%s/initrd.img -append \"%s\" -serial file:${run_dir}/${vm}.log "
        "-chardev socket,id=testqmp,path=${run_dir}/${vm}.test-qmp,"
        "server=on,wait=off -mon chardev=testqmp,mode=control\n\n",
        env_path("LIMEVI_QEMU"), env_path("LIMEVI_GUEST_DIR"),
        env_path("LIMEVI_GUEST_DIR"), append);
}

/* The URI of site @site's libvirtd (see tests/libvirt/libvirtd-site.sh). */
static char *libvirt_uri(const char *site)
{
    return g_strdup_printf("qemu+unix:///system?socket=%s/libvirt-%s/run/"
                           "libvirt-sock", e2e.dir, site);
}

static void host_block(GString *s, const char *name, const char *site,
                       guint n)
{
    g_string_append_printf(s, "[host %s]\nsite = %s\naddress = 198.18.0.%u\n"
                           "netns = %s-%s\nrun-dir = %s/%s\n", name, site, n,
                           e2e.tag, site, e2e.dir, name);
    if (e2e.libvirt) {
        g_autofree char *uri = libvirt_uri(site);

        g_string_append_printf(s, "libvirt = %s\n", uri);
    }
    g_string_append_c(s, '\n');
}

/* The VC file, its VMs streaming for @seconds once booted. */
static void write_vc_file(guint seconds)
{
    g_autoptr(GString) s = g_string_new(NULL);
    g_autoptr(GError) error = NULL;

    /* Keyed, as users run it: every netdev and the TAP endpoint; the
     * migration streams over TLS. */
    g_string_append(s, "[vc]\nname = vc1\nlans = front;back\n"
                    "key = vc1.key\ntls = tls\n\n");
    host_block(s, "a1", "A", 1);
    host_block(s, "b1", "B", 2);
    /* Every VM streams to its LAN neighbour; w1 also hears the TAP. */
    vm_block(s, "w1", "front", "198.18.10.1", "52:54:00:18:0a:01", 7001,
             "198.18.10.2", 2, RATE * seconds);
    vm_block(s, "w2", "front", "198.18.10.2", "52:54:00:18:0a:02", 7002,
             "198.18.10.1", 1, RATE * seconds);
    vm_block(s, "b1", "back", "198.18.20.1", "52:54:00:18:14:01", 7003,
             "198.18.20.2", 1, RATE * seconds);
    vm_block(s, "b2", "back", "198.18.20.2", "52:54:00:18:14:02", 7004,
             "198.18.20.1", 1, RATE * seconds);
    g_assert_true(g_file_set_contents(e2e.vc_file, s->str, -1, &error));
    g_assert_true(g_file_set_contents(e2e.key_file, E2E_KEY, -1, &error));
}

static char *log_path(const char *host, const char *vm)
{
    g_autofree char *file = g_strdup_printf("%s.log", vm);

    return g_build_filename(e2e.dir, host, file, NULL);
}

static gboolean log_has(const char *path, const char *what, guint times)
{
    g_autofree char *text = NULL;
    guint n = 0;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return FALSE;
    }
    for (const char *p = text; (p = strstr(p, what)); p++) {
        n++;
    }
    return n >= times;
}

/* For a failure's log: how each guest's console ends, at both sites,
 * and where `limevi status` sees the VMs. */
static void log_what_guests_said(void)
{
    const char *hosts[] = { "a1", "b1" };
    const char *vms[] = { "w1", "w2", "b1", "b2" };
    g_autofree char *out = NULL, *err = NULL;

    for (guint h = 0; h < G_N_ELEMENTS(hosts); h++) {
        for (guint v = 0; v < G_N_ELEMENTS(vms); v++) {
            g_autofree char *path = log_path(hosts[h], vms[v]);
            g_autofree char *text = NULL;
            const char *tail;
            guint lines = 0;

            if (!g_file_get_contents(path, &text, NULL, NULL)) {
                continue;
            }
            for (tail = text + strlen(text); tail > text && lines < 16;
                 tail--) {
                lines += tail[-1] == '\n';
            }
            g_printerr("--- %s, last lines:\n%s\n", path, tail);
        }
    }
    if (e2e.vc_file) {
        limevi("status", NULL, NULL, &out, &err);
        g_printerr("--- limevi status:\n%s%s\n", out ? out : "",
                   err ? err : "");
    }
}

static void wait_for_log(const char *path, const char *what, guint times,
                         guint seconds)
{
    for (guint i = 0; i < seconds * 10; i++) {
        if (log_has(path, what, times)) {
            return;
        }
        g_usleep(100000);
    }
    log_what_guests_said();
    g_error("%s never showed %u times '%s'", path, times, what);
}

static void ns_run_ok(const char *ns, const char *const *cmd)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *out = NULL, *err = NULL;

    g_ptr_array_add(argv, "ip");
    g_ptr_array_add(argv, "netns");
    g_ptr_array_add(argv, "exec");
    g_ptr_array_add(argv, (gpointer)ns);
    for (guint i = 0; cmd[i]; i++) {
        g_ptr_array_add(argv, (gpointer)cmd[i]);
    }
    g_ptr_array_add(argv, NULL);
    if (run((const char *const *)argv->pdata, &out, &err) != 0) {
        g_error("%s: %s failed: %s", ns, cmd[0], err);
    }
}

/* Starts the VC at site A, its VMs streaming for @seconds, and a TAP
 * endpoint at site A streaming into w1 as a host tool would; returns
 * once every stream runs. */
static void start_vc(guint seconds)
{
    g_autofree char *ns_a = g_strdup_printf("%s-A", e2e.tag);
    g_autofree char *count = g_strdup_printf("%u", RATE * seconds);
    g_autofree char *rate = g_strdup_printf("%u", RATE);
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) error = NULL;
    const char *vms[] = { "w1", "w2", "b1", "b2" };

    write_vc_file(seconds);
    if (limevi("start", NULL, NULL, &out, &err) != 0) {
        g_error("limevi start failed: %s", err);
    }
    e2e.tap = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error,
        "ip", "netns", "exec", ns_a, env_path("LIMEVI_TAP"), "--tap",
        "lve0", "--vm", "tap", "--vc", "vc1", "--lan", "front", "--listen",
        "198.18.0.1:7100", "--route", "w1=198.18.0.1:7001", "--route",
        "w2=198.18.0.1:7002", "--key-file", e2e.key_file, NULL);
    g_assert_no_error(error);
    for (guint i = 0; i < G_N_ELEMENTS(vms); i++) {
        g_autofree char *log = log_path("a1", vms[i]);

        wait_for_log(log, "@@LIMEVI-READY", 1, 180);
    }
    {
        const char *addr[] = { "ip", "addr", "add", "198.18.10.100/24",
                               "dev", "lve0", NULL };
        const char *up[] = { "ip", "link", "set", "lve0", "up", NULL };

        ns_run_ok(ns_a, addr);
        ns_run_ok(ns_a, up);
    }
    {
        const char *argv[] = { env_path("LIMEVI_CLI"), "route-set",
                               e2e.vc_file, "w1", "tap", "198.18.0.1:7100",
                               NULL };

        g_assert_cmpint(run(argv, NULL, NULL), ==, 0);
        argv[3] = "w2";
        g_assert_cmpint(run(argv, NULL, NULL), ==, 0);
    }
    e2e.tap_send = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE,
        &error, "ip", "netns", "exec", ns_a, env_path("LIMEVI_PROBE"),
        "send", "--to", "198.18.10.1:7000", "--rate", rate, "--count",
        count, "--id", "tap", "--wait-peer-ms", "120000", NULL);
    g_assert_no_error(error);
    g_usleep(5 * G_USEC_PER_SEC);
}

/* Quits every QEMU of the VC, on every host, and ends the TAP endpoint
 * and its sender. */
static void stop_vc(void)
{
    GSubprocess **procs[] = { &e2e.tap_send, &e2e.tap };

    if (e2e.vc_file) {
        limevi("stop", NULL, NULL, NULL, NULL);
    }
    for (guint i = 0; i < G_N_ELEMENTS(procs); i++) {
        if (*procs[i]) {
            g_subprocess_force_exit(*procs[i]);
            g_subprocess_wait(*procs[i], NULL, NULL);
            g_clear_object(procs[i]);
        }
    }
}

static void libvirtd_sites(const char *cmd)
{
    const char *sites[] = { "A", "B" };

    for (guint i = 0; i < G_N_ELEMENTS(sites); i++) {
        g_autofree char *ns = g_strdup_printf("%s-%s", e2e.tag, sites[i]);
        g_autofree char *base = g_strdup_printf("libvirt-%s", sites[i]);
        g_autofree char *dir = g_build_filename(e2e.dir, base, NULL);
        g_autofree char *err = NULL;
        /* Its migrations with VIR_MIGRATE_TLS use the VC's certificates. */
        const char *argv[] = { "bash", env_path("LIMEVI_LIBVIRTD_SITE"), cmd,
                               ns, dir, e2e.tls_dir, NULL };

        if (run(argv, NULL, &err) != 0) {
            g_error("libvirtd-site.sh %s %s: %s", cmd, ns, err);
        }
    }
}

static void setup(void)
{
    g_autofree char *ns_wan = NULL, *ready = NULL;
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) error = NULL;

    e2e.tag = g_strdup_printf("lve%d", (int)getpid());
    e2e.dir = g_dir_make_tmp("limevi-e2e-XXXXXX", &error);
    g_assert_no_error(error);
    {
        const char *argv[] = { "bash", env_path("LIMEVI_WAN_SITES"), "up",
                               e2e.tag, "A", "B", NULL };

        g_assert_cmpint(run(argv, &out, &err), ==, 0);
    }
    ns_wan = g_strdup_printf("%s-wan", e2e.tag);
    ready = g_build_filename(e2e.dir, "wan.ready", NULL);
    e2e.wan = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error,
        "ip", "netns", "exec", ns_wan, env_path("LIMEVI_WAN"),
        "--site", "A=A", "--site", "B=B",
        "--link", "A-B:delay=25ms,jitter=1ms,rate=200mbit",
        "--ready-file", ready, NULL);
    g_assert_no_error(error);
    for (guint i = 0; i < 100 && !g_file_test(ready, G_FILE_TEST_EXISTS);
         i++) {
        g_usleep(100000);
    }
    /* Everything after assumes the WAN forwards between the sites. */
    if (!g_file_test(ready, G_FILE_TEST_EXISTS)) {
        g_error("limevi-wan did not come up in 10 s");
    }
    e2e.vc_file = g_build_filename(e2e.dir, "vc1.conf", NULL);
    e2e.key_file = g_build_filename(e2e.dir, "vc1.key", NULL);
    e2e.journal = g_build_filename(e2e.dir, "journal.db", NULL);
    e2e.tls_dir = g_build_filename(e2e.dir, "tls", NULL);
    {
        /* As users make them: for the addresses of both sites' hosts. */
        const char *argv[] = { "bash", env_path("LIMEVI_TLS_CERTS"),
                               e2e.tls_dir, "vc1", "198.18.0.1",
                               "198.18.0.2", NULL };

        g_assert_cmpint(run(argv, NULL, &err), ==, 0);
    }
    start_vc(SECONDS);
}

/* FALSE when a namespace could not be deleted: the test then fails. */
static gboolean teardown(void)
{
    g_autofree char *out = NULL, *err = NULL;
    int status = 0;

    const char *argv[] = { "bash", g_getenv("LIMEVI_WAN_SITES"), "down",
                           e2e.tag, "A", "B", NULL };

    stop_vc();
    if (e2e.libvirt) {
        libvirtd_sites("down");
    }
    if (e2e.wan) {
        g_subprocess_send_signal(e2e.wan, SIGTERM);
    }
    if (e2e.tag && argv[1]) {
        status = run(argv, &out, &err);
    }
    if (status != 0) {
        g_printerr("wan-sites.sh down %s: exit %d: %s%s\n", e2e.tag, status,
                   out, err);
    }
    g_clear_pointer(&e2e.tag, g_free);  /* once, even from on_abort */
    return status == 0;
}

static JsonObject *parse(JsonParser *parser, const char *text)
{
    g_autoptr(GError) error = NULL;

    if (!json_parser_load_from_data(parser, text, -1, &error)) {
        g_error("not JSON (%s): %s", error->message, text);
    }
    return json_node_get_object(json_parser_get_root(parser));
}

/* The probe's result line for @sender in @path. */
static void assert_stream_whole(const char *path, const char *sender,
                                guint count)
{
    g_autofree char *text = NULL;
    /* A receiver's line; the guest's own sender prints "sent". */
    g_autofree char *key = g_strdup_printf("{\"sender\":\"%s\","
                                           "\"received\"", sender);
    g_autoptr(JsonParser) parser = json_parser_new();
    const char *line;
    g_autofree char *copy = NULL;
    JsonObject *o;

    wait_for_log(path, key, 1, SECONDS + 60);
    /* The guest may still be writing the line out on its serial port:
     * read again (bounded) until it ends. */
    for (guint i = 0; i < 50; i++) {
        g_clear_pointer(&text, g_free);
        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        line = strstr(text, key);
        if (!line || strchr(line, '\n')) {
            break;
        }
        g_usleep(100 * 1000);
    }
    if (!line) {
        g_error("%s: no result from %s", path, sender);
    }
    copy = g_strndup(line, strcspn(line, "\r\n"));
    o = parse(parser, copy);
    g_test_message("%s: %s", path, copy);
    g_assert_cmpint(json_object_get_int_member(o, "received"), ==, count);
    g_assert_cmpint(json_object_get_int_member(o, "lost"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(o, "duplicated"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(o, "reordered"), ==, 0);
}

/* Every stream of the VC whole, read where each receiver ran to the
 * end, on @host: each VM hears its LAN neighbour, w1 the TAP too. */
static void assert_streams_whole(const char *host, guint seconds)
{
    const char *pairs[][2] = {
        { "w1", "w2" }, { "w2", "w1" }, { "b1", "b2" }, { "b2", "b1" },
        { "w1", "tap" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(pairs); i++) {
        g_autofree char *log = log_path(host, pairs[i][0]);

        assert_stream_whole(log, pairs[i][1], RATE * seconds);
    }
}

/* How many QEMUs run on @host: processes with a file of its run-dir
 * (-qmp, -pidfile) on their command line. */
static guint qemus_on_described(const char *host, GString *what)
{
    g_autofree char *run_dir = g_strdup_printf("%s/%s/", e2e.dir, host);
    g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
    const char *pid;
    guint n = 0;

    while (proc && (pid = g_dir_read_name(proc))) {
        g_autofree char *path = g_build_filename("/proc", pid, "cmdline",
                                                 NULL);
        g_autofree char *cmdline = NULL;
        gsize len;

        if (!g_ascii_isdigit(pid[0]) ||
            !g_file_get_contents(path, &cmdline, &len, NULL)) {
            continue;
        }
        for (gsize i = 0; i + 1 < len; i++) {
            cmdline[i] = cmdline[i] ? cmdline[i] : ' ';
        }
        if (strstr(cmdline, run_dir)) {
            g_autofree char *stat_path = g_build_filename("/proc", pid,
                                                          "stat", NULL);
            g_autofree char *stat = NULL;

            n++;
            if (what) {
                g_file_get_contents(stat_path, &stat, NULL, NULL);
                g_string_append_printf(what, "  %s: %.60s | %.300s\n", pid,
                                       stat ? stat : "?", cmdline);
            }
        }
    }
    return n;
}

static guint qemus_on(const char *host)
{
    return qemus_on_described(host, NULL);
}

/* No QEMU is left on @host (a QEMU told to quit takes a moment).  It
 * looks at /proc, not at `limevi status`, so a paused, incoming or
 * postmigrate QEMU counts as well as a running one. */
static void assert_no_qemu_on(const char *host)
{
    guint n = qemus_on(host);

    for (guint i = 0; n && i < 300; i++) {
        g_usleep(100000);
        n = qemus_on(host);
    }
    if (n) {
        g_autoptr(GString) what = g_string_new(NULL);

        qemus_on_described(host, what);
        g_error("%u processes of %s remain after 30 s:\n%s", n, host,
                what->str);
    }
}

/* Every VM runs exactly once, at @site, and every route agrees and is
 * valid.  With @routes, *@routes is every VM's routes as text. */
static void assert_vc_at(const char *site, char **routes)
{
    g_autofree char *out = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GString) text = g_string_new(NULL);
    JsonObject *o;
    JsonArray *vms;

    g_assert_cmpint(limevi("status", "--json", NULL, &out, NULL), ==, 0);
    o = parse(parser, out);
    g_assert_cmpint(json_object_get_int_member(o, "disagreements"), ==, 0);
    vms = json_object_get_array_member(o, "vms");
    for (guint i = 0; i < json_array_get_length(vms); i++) {
        JsonObject *vm = json_array_get_object_element(vms, i);
        JsonArray *list = json_object_get_array_member(vm, "routes");

        g_assert_cmpint(json_object_get_int_member(vm, "running"), ==, 1);
        g_assert_cmpstr(json_object_get_string_member(vm, "site"), ==, site);
        g_assert_cmpstr(json_object_get_string_member(vm, "state"), ==,
                        "active");
        g_string_append_printf(text, "%s:",
                               json_object_get_string_member(vm, "vm"));
        for (guint r = 0; r < json_array_get_length(list); r++) {
            JsonObject *route = json_array_get_object_element(list, r);

            g_assert_cmpstr(json_object_get_string_member(route, "status"),
                            ==, "valid");
            g_string_append_printf(text, " %s=%s",
                json_object_get_string_member(route, "vm"),
                json_object_get_string_member(route, "endpoint"));
        }
        g_string_append_c(text, '\n');
    }
    if (routes) {
        *routes = g_strdup(text->str);
    }
}

/* `limevi migrate --to B` moves the VC running at A, its streams lasting
 * @seconds: every VM moved, the gates held, and every stream whole. */
static void assert_vc_moves_to_b(guint seconds)
{
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *report = g_build_filename(e2e.dir, "report.json", NULL);
    g_autofree char *svg = g_build_filename(e2e.dir, "timeline.svg", NULL);
    g_autofree char *rep_text = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    const char *argv[] = { env_path("LIMEVI_CLI"), "migrate", e2e.vc_file,
                           "--to", "B", "--report", report, "--svg", svg,
                           "--journal", e2e.journal, NULL };
    JsonObject *o;
    JsonArray *vms;
    int status = run(argv, &out, &err);

    g_test_message("limevi migrate:\n%s%s", out, err);
    g_assert_cmpint(status, ==, 0);
    g_assert_true(g_file_get_contents(report, &rep_text, NULL, NULL));
    o = parse(parser, rep_text);
    vms = json_object_get_array_member(o, "vms");
    g_assert_cmpuint(json_array_get_length(vms), ==, 4);
    for (guint i = 0; i < 4; i++) {
        JsonObject *vm = json_array_get_object_element(vms, i);

        g_assert_true(json_object_get_boolean_member(vm, "ok"));
        g_assert_cmpstr(json_object_get_string_member(vm, "to"), ==, "b1");
        g_assert_cmpint(json_object_get_int_member(vm, "pause_ms"), >=, 0);
        /* Both QEMUs migrated with tls-creds, as their
         * query-migrate-parameters said during the move: neither takes
         * a plain stream then.  libvirt names its own objects. */
        g_test_message("%s: tls-creds %s -> %s",
                       json_object_get_string_member(vm, "vm"),
                       json_object_get_string_member(vm, "tls_creds_source"),
                       json_object_get_string_member(vm,
                                                     "tls_creds_destination"));
        if (e2e.libvirt) {
            g_assert_cmpstr(json_object_get_string_member(vm,
                                "tls_creds_source"), !=, "");
            g_assert_cmpstr(json_object_get_string_member(vm,
                                "tls_creds_destination"), !=, "");
        } else {
            g_assert_cmpstr(json_object_get_string_member(vm,
                                "tls_creds_source"), ==, "limevi-tls-client");
            g_assert_cmpstr(json_object_get_string_member(vm,
                                "tls_creds_destination"), ==,
                            "limevi-tls-server");
        }
        /* With QMP the sources stay until every peer followed, so the
         * VMs learn every move themselves; libvirt stops a source as
         * soon as its VM runs at the destination (docs/migration.md). */
        if (!e2e.libvirt) {
            g_assert_cmpint(json_object_get_int_member(vm,
                                                       "routes_repaired"),
                            ==, 0);
        }
    }
    g_assert_cmpint(json_object_get_int_member(o, "switchover_skew_ms"), >=,
                    0);
    /* The sources held: no guest stopped before the last VM was ready,
     * nor before its own release. */
    {
        gint64 last_ready = 0, first_stop = G_MAXINT64;

        for (guint i = 0; i < 4; i++) {
            JsonObject *vm = json_array_get_object_element(vms, i);

            last_ready = MAX(last_ready,
                             json_object_get_int_member(vm, "ready_at_ms"));
            first_stop = MIN(first_stop,
                             json_object_get_int_member(vm, "stopped_at_ms"));
            g_assert_cmpint(json_object_get_int_member(vm,
                                                       "release_to_stop_ms"),
                            >=, 0);
        }
        g_test_message("last VM ready at %" G_GINT64_FORMAT " ms, first "
                       "guest stopped at %" G_GINT64_FORMAT " ms", last_ready,
                       first_stop);
        g_assert_cmpint(last_ready, >, 0);
        g_assert_cmpint(first_stop, >=, last_ready);
    }
    g_test_message("STOP skew %.1f ms, RESUME skew %.1f ms",
                   json_object_get_int_member(o, "stop_skew_us") / 1e3,
                   json_object_get_int_member(o, "resume_skew_us") / 1e3);
    g_assert_true(g_file_test(svg, G_FILE_TEST_EXISTS));

    assert_vc_at("B", NULL);
    /* The sources quit: no QEMU of the VC, in any run state, at A. */
    assert_no_qemu_on("a1");
    assert_streams_whole("b1", seconds);
}

static void test_vc_moves_to_b(void)
{
    assert_vc_moves_to_b(SECONDS);
}

/* Runs `limevi migrate VC-FILE --to SITE` with the test's journal. */
static int migrate(const char *vc_file, const char *site, char **out,
                   char **err)
{
    const char *argv[] = { env_path("LIMEVI_CLI"), "migrate", vc_file,
                           "--to", site, "--journal", e2e.journal, NULL };
    int status = run(argv, out, err);

    g_test_message("limevi migrate --to %s: exit %d\n%s%s", site, status,
                   *out, *err);
    return status;
}

/* What a user checks after a move that failed before the switchover:
 * limevi exited 1 saying it rolled back, and no destination QEMU is left
 * on @abandoned, the host the VMs were moving to. */
static void assert_rolled_back(int status, const char *err,
                               const char *abandoned)
{
    g_assert_cmpint(status, ==, 1);
    g_assert_nonnull(strstr(err, "rolled back"));
    assert_no_qemu_on(abandoned);
}

/* The PID of the first QEMU pid file that appears under @dir within
 * 30 s, or 0. */
static pid_t first_pid_in(const char *dir)
{
    for (guint i = 0; i < 600; i++) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        while (d && (name = g_dir_read_name(d))) {
            g_autofree char *path = g_build_filename(dir, name, NULL);
            g_autofree char *text = NULL;

            if (g_str_has_suffix(name, ".pid") &&
                g_file_get_contents(path, &text, NULL, NULL)) {
                return (pid_t)g_ascii_strtoll(text, NULL, 10);
            }
        }
        g_usleep(50000);
    }
    return 0;
}

/* Old pid files of @host are gone with their QEMUs. */
static void remove_pid_files(const char *host)
{
    g_autofree char *dir = g_build_filename(e2e.dir, host, NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        if (g_str_has_suffix(name, ".pid")) {
            g_autofree char *path = g_build_filename(dir, name, NULL);

            unlink(path);
        }
    }
}

/* Kills the first destination QEMU that appears under @data's run-dir. */
static gpointer kill_first_destination(gpointer data)
{
    pid_t pid = first_pid_in(data);

    if (!pid) {
        return GINT_TO_POINTER(FALSE);
    }
    g_usleep(G_USEC_PER_SEC);       /* let the migration start */
    kill(pid, SIGKILL);
    return GINT_TO_POINTER(TRUE);
}

/* A destination dies before the switchover: every VM stays where it
 * was, routes untouched, and limevi says what failed.  It runs first,
 * while the streams of the move to B run: that move then checks them
 * whole, through this rollback too. */
static void test_rollback_when_a_destination_dies(void)
{
    g_autofree char *b1 = g_build_filename(e2e.dir, "b1", NULL);
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *before = NULL, *after = NULL;
    GThread *killer;
    int status;

    remove_pid_files("b1");
    assert_vc_at("A", &before);
    killer = g_thread_new("killer", kill_first_destination, b1);
    status = migrate(e2e.vc_file, "B", &out, &err);
    g_assert_true(GPOINTER_TO_INT(g_thread_join(killer)));
    assert_rolled_back(status, err, "b1");
    /* docs/cli.md: "routes untouched". */
    assert_vc_at("A", &after);
    g_assert_cmpstr(after, ==, before);
    g_assert_cmpuint(qemus_on("a1"), ==, 4);
}

/* The coordinator is killed (SIGKILL) right after it journals each step
 * in turn; --resume then rolls back (before the release) or finishes
 * (after it), and no VM ever runs twice or nowhere. */
static void assert_killed_then_resumed(const char *const *steps, guint n)
{
    for (guint i = 0; i < n; i++) {
        g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
            G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
            G_SUBPROCESS_FLAGS_STDERR_PIPE);
        g_autofree char *crash_err = NULL;
        g_autoptr(GSubprocess) p = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL, *err = NULL;
        const char *resume[] = { env_path("LIMEVI_CLI"), "migrate",
                                 e2e.vc_file, "--resume", "--journal",
                                 e2e.journal, NULL };
        g_autofree char *crash_at = g_strdup_printf("--x-crash-at=%s",
                                                    steps[i]);
        gboolean finished = !strcmp(steps[i], "released");
        int status;

        p = g_subprocess_launcher_spawn(l, &error, env_path("LIMEVI_CLI"),
                                        "migrate", e2e.vc_file, "--to", "A",
                                        "--journal", e2e.journal, crash_at,
                                        NULL);
        g_assert_no_error(error);
        g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, NULL,
                                                    &crash_err, &error));
        if (!g_subprocess_get_if_signaled(p)) {
            g_error("limevi migrate was to be killed after '%s' but "
                    "exited: %s", steps[i], crash_err);
        }
        g_assert_cmpint(g_subprocess_get_term_sig(p), ==, SIGKILL);

        status = run(resume, &out, &err);
        g_test_message("killed after '%s'; --resume: %d\n%s%s", steps[i],
                       status, out, err);
        g_assert_cmpint(status, ==, finished ? 0 : 1);
        assert_vc_at(finished ? "A" : "B", NULL);
        /* Nothing of the VC left where it is not: the sources after a
         * finished move, the destinations after a rollback. */
        assert_no_qemu_on(finished ? "b1" : "a1");
    }
}

static void test_coordinator_killed_then_resumed(void)
{
    static const char *const steps[] = {
        "planned", "destinations-started", "migrating", "released",
    };

    assert_killed_then_resumed(steps, G_N_ELEMENTS(steps));
}

/* `limevi migrate --to B`, killed once it journaled the release, before
 * it released any source: every VM converged and held. */
static void migrate_killed_at_release(void)
{
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GError) error = NULL;

    p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                         G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
                         env_path("LIMEVI_CLI"), "migrate", e2e.vc_file,
                         "--to", "B", "--journal", e2e.journal,
                         "--x-crash-at=released", NULL);
    g_assert_no_error(error);
    g_assert_true(g_subprocess_wait(p, NULL, &error));
    g_assert_true(g_subprocess_get_if_signaled(p));
    g_assert_cmpint(g_subprocess_get_term_sig(p), ==, SIGKILL);
}

/* The coordinator is killed once the release is journaled, before any
 * source was released, and one VM's destination dies: that VM cannot
 * switch over and none has, so --resume takes the whole VC back to its
 * sources (docs/cli.md) instead of moving the three others. */
static void test_destination_dies_after_the_release(void)
{
    g_autofree char *b1 = g_build_filename(e2e.dir, "b1", NULL);
    const char *resume[] = { env_path("LIMEVI_CLI"), "migrate", e2e.vc_file,
                             "--resume", "--journal", e2e.journal, NULL };
    g_autofree char *out = NULL, *err = NULL;
    pid_t dst;
    int status;

    remove_pid_files("b1");
    assert_vc_at("A", NULL);
    migrate_killed_at_release();

    dst = first_pid_in(b1);
    g_assert_cmpint(dst, >, 0);
    g_assert_cmpint(kill(dst, SIGKILL), ==, 0);
    for (guint i = 0; i < 100 && kill(dst, 0) == 0; i++) {
        g_usleep(100000);
    }

    status = run(resume, &out, &err);
    g_test_message("--resume: %d\n%s%s", status, out, err);
    g_assert_cmpint(status, ==, 1);
    g_assert_nonnull(strstr(err, "its destination is gone"));
    g_assert_nonnull(strstr(err, "every VM goes back to its source"));
    assert_vc_at("A", NULL);
    assert_no_qemu_on("b1");
}

/* While one limevi migrates the VC, a second one on the same VC is
 * refused before it touches any VM, naming the first one's PID and
 * host, and the first moves the VC undisturbed (docs/cli.md). */
static void test_second_coordinator_refused(void)
{
    g_autofree char *b1 = g_build_filename(e2e.dir, "b1", NULL);
    const char *argv[] = { env_path("LIMEVI_CLI"), "migrate", e2e.vc_file,
                           "--to", "B", "--journal", e2e.journal, NULL };
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *first_out = NULL, *first_err = NULL;
    g_autofree char *expect = NULL;
    g_autoptr(GSubprocess) first = NULL;
    g_autoptr(GError) error = NULL;
    int status;

    remove_pid_files("b1");
    assert_vc_at("A", NULL);
    first = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                              G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
    g_assert_no_error(error);
    /* Its destinations start: it holds the VC. */
    g_assert_cmpint(first_pid_in(b1), >, 0);
    expect = g_strdup_printf("PID %s on host %s,",
                             g_subprocess_get_identifier(first),
                             g_get_host_name());

    status = migrate(e2e.vc_file, "B", &out, &err);
    g_assert_cmpint(status, ==, 1);
    g_assert_nonnull(strstr(err, "is being migrated by another limevi"));
    g_assert_nonnull(strstr(err, expect));
    g_assert_nonnull(strstr(err, "nothing was changed"));

    g_assert_true(g_subprocess_communicate_utf8(first, NULL, NULL,
                                                &first_out, &first_err,
                                                &error));
    g_test_message("the first limevi migrate:\n%s%s", first_out, first_err);
    g_assert_true(g_subprocess_get_if_exited(first));
    g_assert_cmpint(g_subprocess_get_exit_status(first), ==, 0);
    assert_vc_at("B", NULL);
    assert_no_qemu_on("a1");
}

/* ---- A VM falls out of convergence during the barrier ---- */

#define N_VMS 4

static const char *const vc_vms[N_VMS] = { "w1", "w2", "b1", "b2" };

/* What the test's own QMP monitor on one source saw, QMP event times. */
typedef struct {
    LimeviQmp *qmp;
    gint64 last_ready;          /* the last ready:true */
    gint64 unready;             /* the last ready:false */
    gint64 stop;
    gboolean ready;             /* as the last event said */
    guint flips;                /* ready:true -> false */
} Watch;

/* Reads every event queued on each monitor; a source that quit is done. */
static void watch_events(Watch *w)
{
    for (guint i = 0; i < N_VMS; i++) {
        JsonObject *e;

        while (w[i].qmp && (e = limevi_qmp_event(w[i].qmp, NULL, 0, NULL))) {
            const char *name = json_object_get_string_member(e, "event");
            gint64 t = limevi_qmp_event_time(e);

            if (!strcmp(name, "STOP")) {
                w[i].stop = t;
            } else if (!strcmp(name, "MIGRATION_SWITCHOVER_READY")) {
                gboolean ready = json_object_get_boolean_member(
                    json_object_get_object_member(e, "data"), "ready");

                w[i].flips += w[i].ready && !ready;
                w[i].ready = ready;
                *(ready ? &w[i].last_ready : &w[i].unready) = t;
            }
            json_object_unref(e);
        }
        if (w[i].qmp && w[i].stop) {
            g_clear_pointer(&w[i].qmp, limevi_qmp_free);
        }
    }
}

/* Watches until @cond(@w, @arg) holds, at most @seconds. */
static void watch_until(Watch *w, gboolean (*cond)(Watch *, guint),
                        guint arg, guint seconds, const char *what)
{
    gint64 deadline = harness_deadline(seconds * 1000);

    while (watch_events(w), !cond(w, arg)) {
        if (g_get_monotonic_time() > deadline) {
            /* An assertion, so that on_abort() cleans up. */
            g_printerr("after %u s, still not: %s\n", seconds, what);
            g_assert_not_reached();
        }
        g_usleep(20 * 1000);
    }
}

/* Ready for a second without a break: the coordinator, which polls
 * every 200 ms, has seen it ready. */
static gboolean is_ready_a_second(Watch *w, guint i)
{
    return w[i].ready && g_get_real_time() - w[i].last_ready >= G_USEC_PER_SEC;
}

static gboolean is_unready(Watch *w, guint i)
{
    return !w[i].ready && w[i].flips > 0;
}

/* Every VM but @i reports ready. */
static gboolean others_ready(Watch *w, guint i)
{
    for (guint v = 0; v < N_VMS; v++) {
        if (v != i && !w[v].ready) {
            return FALSE;
        }
    }
    return TRUE;
}

/* The VM's migration is under way at its source. */
static void wait_active(LimeviQmp *qmp)
{
    gint64 deadline = harness_deadline(60 * 1000);

    for (;;) {
        g_auto(LimeviQmpMigration) info = { 0 };
        g_autoptr(GError) error = NULL;

        g_assert_true(limevi_qmp_query_migrate(qmp, &info, &error));
        if (!g_strcmp0(info.status, "active")) {
            return;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(50 * 1000);
    }
}

/* A source that cannot converge: QEMU's own migration-test does it with
 * a 1 ms downtime limit and 3 MB/s.  NULL: as the coordinator set them,
 * from @saved. */
static void set_converging(LimeviQmp *qmp, gboolean converging,
                           gint64 saved[2])
{
    g_autoptr(GError) error = NULL;

    if (!converging) {
        g_autoptr(JsonNode) ret = limevi_qmp_call(
            qmp, "query-migrate-parameters", NULL, &error);

        g_assert_no_error(error);
        saved[0] = json_object_get_int_member(json_node_get_object(ret),
                                              "downtime-limit");
        saved[1] = json_object_get_int_member(json_node_get_object(ret),
                                              "max-bandwidth");
    }
    g_assert_true(limevi_qmp_migrate_set_parameter(
        qmp, "max-bandwidth", converging ? saved[1] : 3 * 1000 * 1000,
        &error));
    g_assert_true(limevi_qmp_migrate_set_parameter(
        qmp, "downtime-limit", converging ? saved[0] : 1, &error));
    g_assert_no_error(error);
}

typedef struct {
    const char *report;
    int status;
    char *out, *err;
} MigrateJob;

static gpointer migrate_to_b(gpointer data)
{
    MigrateJob *j = data;
    const char *argv[] = { env_path("LIMEVI_CLI"), "migrate", e2e.vc_file,
                           "--to", "B", "--report", j->report, "--journal",
                           e2e.journal, NULL };

    j->status = run(argv, &j->out, &j->err);
    return NULL;
}

/*
 * issue 10: a VM that falls out of convergence during the barrier resets
 * it.  b2 is kept from converging (its source's parameters, through the
 * test's own QMP monitor) until w1 has reported ready and then fallen
 * out; the others then converge while w1 stays out.  No source may stop
 * before every VM's last ready:true, and the VC then moves as one with
 * every stream whole.
 */
static void test_vm_falling_out_resets_the_barrier(void)
{
    enum { W1 = 0, B2 = 3 };
    g_autofree char *report = g_build_filename(e2e.dir, "fallout.json",
                                               NULL);
    g_autofree char *rep_text = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    MigrateJob job = { .report = report };
    Watch w[N_VMS] = { { 0 } };
    gint64 saved_w1[2], saved_b2[2], last_ready = 0;
    JsonArray *vms;
    GThread *t;

    stop_vc();
    remove_pid_files("a1");
    remove_pid_files("b1");
    start_vc(FALLOUT_SECONDS);
    assert_vc_at("A", NULL);
    for (guint i = 0; i < N_VMS; i++) {
        g_autofree char *file = g_strdup_printf("%s.test-qmp", vc_vms[i]);
        g_autofree char *path = g_build_filename(e2e.dir, "a1", file, NULL);
        g_autoptr(GError) error = NULL;

        w[i].qmp = limevi_qmp_connect(path, 10000, &error);
        g_assert_no_error(error);
    }

    t = g_thread_new("migrate", migrate_to_b, &job);
    wait_active(w[B2].qmp);
    set_converging(w[B2].qmp, FALSE, saved_b2);
    watch_until(w, is_ready_a_second, W1, 120, "w1 ready for 1 s");
    set_converging(w[W1].qmp, FALSE, saved_w1);
    watch_until(w, is_unready, W1, 30, "w1 fallen out");
    g_assert_false(w[B2].ready);
    g_test_message("w1 fell out while b2 was not ready");
    set_converging(w[B2].qmp, TRUE, saved_b2);
    watch_until(w, others_ready, W1, 120, "every VM but w1 ready");
    /* Long enough for a coordinator that missed the fall to release. */
    for (guint i = 0; i < 30; i++) {
        watch_events(w);
        g_usleep(100 * 1000);
    }
    g_test_message("every VM but w1 ready for 3 s");
    set_converging(w[W1].qmp, TRUE, saved_w1);
    g_thread_join(t);
    g_test_message("limevi migrate: %d\n%s%s", job.status, job.out,
                   job.err);
    watch_events(w);

    for (guint i = 0; i < N_VMS; i++) {
        last_ready = MAX(last_ready, w[i].last_ready);
    }
    for (guint i = 0; i < N_VMS; i++) {
        g_test_message("%s: last ready %+.1f ms, STOP %+.1f ms", vc_vms[i],
                       (w[i].last_ready - last_ready) / 1e3,
                       (w[i].stop - last_ready) / 1e3);
        g_assert_cmpint(w[i].stop, >, 0);
        /* Ready when released: its last word before the STOP. */
        g_assert_cmpint(w[i].last_ready, >, w[i].unready);
        g_assert_cmpint(w[i].stop, >=, last_ready);
        limevi_qmp_free(w[i].qmp);
    }
    g_assert_cmpuint(w[W1].flips, >=, 1);
    g_assert_cmpint(job.status, ==, 0);
    g_assert_true(g_file_get_contents(report, &rep_text, NULL, NULL));
    vms = json_object_get_array_member(parse(parser, rep_text), "vms");
    for (guint i = 0; i < json_array_get_length(vms); i++) {
        JsonObject *vm = json_array_get_object_element(vms, i);

        /* The report agrees with the test's own monitors: every source
         * converged when released, and w1's ready:false counted. */
        g_assert_true(json_object_get_boolean_member(vm,
                                                     "converged_at_release"));
        if (!strcmp(json_object_get_string_member(vm, "vm"), "w1")) {
            /* The report says it fell out. */
            g_assert_cmpint(json_object_get_int_member(vm, "fell_out"), >=,
                            1);
            g_assert_cmpint(json_object_get_int_member(vm, "unready_events"),
                            >=, w[W1].flips);
        }
    }
    g_free(job.out);
    g_free(job.err);
    assert_vc_at("B", NULL);
    assert_no_qemu_on("a1");
    assert_streams_whole("b1", FALLOUT_SECONDS);
}

/* The VC file as it reads once @vm was given 256 MiB (it runs with 128):
 * its destination QEMU, started from this file, has more RAM than its
 * source, and refuses the source's RAM on the way in. */
static char *vc_file_with_more_memory(const char *vm)
{
    g_autoptr(GKeyFile) file = g_key_file_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *group = g_strdup_printf("vm %s", vm);
    char *path = g_build_filename(e2e.dir, "vc1-more-memory.conf", NULL);

    g_key_file_load_from_file(file, e2e.vc_file, G_KEY_FILE_NONE, &error);
    g_assert_no_error(error);
    g_key_file_set_value(file, group, "memory", "256");
    g_key_file_save_to_file(file, path, &error);
    g_assert_no_error(error);
    return path;
}

/* One VM's migration fails inside QEMU while every stream runs: w2's
 * destination has more memory than its source and refuses its RAM.
 * limevi names w2 and says what QEMU said; every VM stays at its source
 * with the same routes, no destination is left, and no frame is lost,
 * duplicated or reordered. */
static void test_rollback_when_a_migration_fails_in_qemu(void)
{
    static const char failed[] = "limevi: VM w2: migration failed: ";
    g_autofree char *more_memory = NULL, *before = NULL, *after = NULL;
    g_autofree char *out = NULL, *err = NULL, *why = NULL;
    const char *line;
    int status;

    /* Fresh streams from site A, to run through the failed migration. */
    stop_vc();
    assert_no_qemu_on("a1");
    assert_no_qemu_on("b1");
    start_vc(ROLLBACK_SECONDS);
    assert_vc_at("A", &before);
    g_assert_cmpuint(qemus_on("a1"), ==, 4);
    more_memory = vc_file_with_more_memory("w2");

    status = migrate(more_memory, "B", &out, &err);
    assert_rolled_back(status, err, "b1");
    line = strstr(err, failed);
    g_assert_nonnull(line);
    /* QEMU's error-desc, not the placeholder for a failure without one. */
    why = g_strndup(line + strlen(failed), strcspn(line + strlen(failed),
                                                   "\n"));
    g_assert_cmpuint(strlen(why), >, 0);
    g_assert_cmpstr(why, !=, "no reason given");
    assert_vc_at("A", &after);
    g_assert_cmpstr(after, ==, before);
    g_assert_cmpuint(qemus_on("a1"), ==, 4);
    /* The streams run on through the next rollbacks: checked after the
     * last of them. */
}

/* `limevi migrate --json`'s progress (@progress) showed every VM
 * migrating: every migration had started. */
static void assert_all_were_migrating(const char *progress)
{
    const char *vms[] = { "w1", "w2", "b1", "b2" };

    for (guint i = 0; i < G_N_ELEMENTS(vms); i++) {
        g_autofree char *line = g_strdup_printf("{\"vm\":\"%s\","
                                                "\"phase\":\"migrating\"",
                                                vms[i]);

        if (!strstr(progress, line)) {
            g_error("VM %s was never migrating: %s", vms[i], progress);
        }
    }
}

static gpointer first_destination(gpointer data)
{
    return GINT_TO_POINTER(first_pid_in(data));
}

/* At --timeout, the migrations (slowed to 1 Mbit/s for the VC, so that
 * none can converge) are cancelled: exit 1 saying so, every VM at its
 * source with the routes it had, no destination QEMU (incoming or
 * otherwise) left at B. */
static void test_rollback_on_timeout(void)
{
    g_autofree char *b1 = g_build_filename(e2e.dir, "b1", NULL);
    const char *argv[] = { env_path("LIMEVI_CLI"), "migrate", e2e.vc_file,
                           "--to", "B", "--journal", e2e.journal, "--json",
                           "--bandwidth", "1", "--timeout", "8", NULL };
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *before = NULL, *after = NULL;
    GThread *watch;
    int status;

    remove_pid_files("b1");
    assert_vc_at("A", &before);
    watch = g_thread_new("destination", first_destination, b1);
    status = run(argv, &out, &err);
    g_test_message("limevi migrate --timeout 8: exit %d\n%s", status, err);
    /* Destinations had started, and every migration with them. */
    g_assert_cmpint(GPOINTER_TO_INT(g_thread_join(watch)), >, 0);
    assert_all_were_migrating(out);
    assert_rolled_back(status, err, "b1");
    g_assert_nonnull(strstr(err, "limevi: timed out before every VM was "
                                 "ready to switch over\n"));
    assert_vc_at("A", &after);
    g_assert_cmpstr(after, ==, before);
    g_assert_cmpuint(qemus_on("a1"), ==, 4);
}

/* `limevi migrate` gets @sig once every migration runs: the same
 * rollback as at --timeout, saying which signal. */
static void assert_rolled_back_on_signal(int sig, const char *name)
{
    g_autofree char *progress = g_build_filename(e2e.dir, "progress.json",
                                                 NULL);
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *err = NULL, *text = NULL, *expect = NULL;
    g_autofree char *before = NULL, *after = NULL;

    remove_pid_files("b1");
    assert_vc_at("A", &before);
    /* GLib opens it without O_TRUNC: the last run's lines would pass
     * the wait below before this coordinator handles signals. */
    g_assert_true(unlink(progress) == 0 || errno == ENOENT);
    g_subprocess_launcher_set_stdout_file_path(l, progress);
    p = g_subprocess_launcher_spawn(l, &error, env_path("LIMEVI_CLI"),
                                    "migrate", e2e.vc_file, "--to", "B",
                                    "--journal", e2e.journal, "--json",
                                    "--bandwidth", "1", NULL);
    g_assert_no_error(error);
    /* Progress lines come once every migration started. */
    for (guint i = 0; i < 600; i++) {
        g_clear_pointer(&text, g_free);
        if (g_file_get_contents(progress, &text, NULL, NULL) &&
            strstr(text, "\"vm\":\"b2\",\"phase\":\"migrating\"")) {
            break;
        }
        g_usleep(100 * 1000);
    }
    assert_all_were_migrating(text);
    g_subprocess_send_signal(p, sig);
    g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, NULL, &err,
                                                &error));
    g_test_message("limevi migrate, %s: %s", name, err);
    /* Its pipes closed; it may not be reaped yet. */
    g_assert_true(g_subprocess_wait(p, NULL, &error));
    g_assert_true(g_subprocess_get_if_exited(p));
    expect = g_strdup_printf("limevi: interrupted (%s)\n", name);
    g_assert_nonnull(strstr(err, expect));
    assert_rolled_back(g_subprocess_get_exit_status(p), err, "b1");
    assert_vc_at("A", &after);
    g_assert_cmpstr(after, ==, before);
    g_assert_cmpuint(qemus_on("a1"), ==, 4);
}

/* SIGTERM and Ctrl-C (SIGINT) roll back; then the streams that ran
 * through the QEMU refusal, the timeout and both signals are whole,
 * and were still running (no guest's sender had ended yet). */
static void test_rollback_on_sigterm_and_sigint(void)
{
    const char *vms[] = { "w1", "w2", "b1", "b2" };

    assert_rolled_back_on_signal(SIGTERM, "SIGTERM");
    assert_rolled_back_on_signal(SIGINT, "SIGINT");
    for (guint i = 0; i < G_N_ELEMENTS(vms); i++) {
        g_autofree char *log = log_path("a1", vms[i]);

        /* A guest's sender prints its "sent" line when it ends. */
        if (log_has(log, "\"sent\":", 1)) {
            g_error("%s's stream ended before the last rollback: it "
                    "proves nothing about it", vms[i]);
        }
    }
    assert_streams_whole("a1", ROLLBACK_SECONDS);
}

/* The PID in @host's pid file of @vm. */
static pid_t pid_of(const char *host, const char *vm)
{
    g_autofree char *file = g_strdup_printf("%s.pid", vm);
    g_autofree char *path = g_build_filename(e2e.dir, host, file, NULL);
    g_autofree char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    return (pid_t)g_ascii_strtoll(text, NULL, 10);
}

/*
 * A source that never answers (its QEMU stopped with SIGSTOP) after the
 * release: the coordinator is killed once 'released' is journaled, then
 * w2's source stops.  --resume cannot tell where w2 runs, so it guesses
 * nothing: exit 1 naming w2 and both its hosts, nothing changed (every
 * source and destination QEMU still there, none switched).  Once w2's
 * source answers again, --resume moves the whole VC to B.
 */
static void test_silent_source_after_the_release(void)
{
    const char *resume[] = { env_path("LIMEVI_CLI"), "migrate", e2e.vc_file,
                             "--resume", "--journal", e2e.journal, NULL };
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *out2 = NULL, *err2 = NULL;
    pid_t src;
    int status;

    remove_pid_files("b1");
    assert_vc_at("A", NULL);
    src = pid_of("a1", "w2");
    migrate_killed_at_release();

    g_assert_cmpint(kill(src, SIGSTOP), ==, 0);
    status = run(resume, &out, &err);
    g_assert_cmpint(kill(src, SIGCONT), ==, 0);
    g_test_message("w2's source stopped; --resume: %d\n%s%s", status, out,
                   err);
    g_assert_cmpint(status, ==, 1);
    g_assert_nonnull(strstr(err, "w2         runs nowhere limevi can tell: "
                                 "its source a1 does not answer, and b1 "
                                 "does not run it\n"));
    g_assert_nonnull(strstr(err, "limevi: nothing was changed; find where "
                                 "each VM runs"));
    /* Nothing was released, cancelled or quit. */
    g_assert_cmpuint(qemus_on("a1"), ==, 4);
    g_assert_cmpuint(qemus_on("b1"), ==, 4);

    status = run(resume, &out2, &err2);
    g_test_message("w2's source answers again; --resume: %d\n%s%s", status,
                   out2, err2);
    g_assert_cmpint(status, ==, 0);
    assert_vc_at("B", NULL);
    assert_no_qemu_on("a1");
}

/* The same VC as libvirt domains, one libvirtd per site: libvirt runs
 * each migration (peer to peer), limevi gates and releases them. */
static void test_vc_moves_through_libvirt(void)
{
    stop_vc();
    assert_no_qemu_on("a1");
    assert_no_qemu_on("b1");
    libvirtd_sites("up");
    e2e.libvirt = TRUE;
    start_vc(LIBVIRT_SECONDS);
    assert_vc_at("A", NULL);
    g_assert_cmpuint(qemus_on("a1"), ==, 4);
    assert_vc_moves_to_b(LIBVIRT_SECONDS);
    /* libvirt stopped every source. */
    assert_no_qemu_on("a1");
}

/* libvirt's peer-to-peer jobs outlive a killed coordinator: --resume
 * cancels them, and libvirt removes the destinations.  (After the
 * release, see docs/libvirt.md: one run in two still ends split.) */
static void test_libvirt_coordinator_killed_then_resumed(void)
{
    static const char *const steps[] = { "migrating" };

    g_assert_true(e2e.libvirt);
    assert_killed_then_resumed(steps, G_N_ELEMENTS(steps));
    assert_no_qemu_on("a1");
}

/* A journal SQLite cannot read: `limevi migrate` and its --resume exit
 * 1 naming the file and SQLite's message, and change nothing. */
static void test_corrupt_journal_clear_error(void)
{
    g_autofree char *bad = g_build_filename(e2e.dir, "corrupt.db", NULL);
    g_autofree char *before = NULL, *after = NULL;
    const char *resume[] = { env_path("LIMEVI_CLI"), "migrate",
                             e2e.vc_file, "--resume", "--journal", bad,
                             NULL };
    const char *move[] = { env_path("LIMEVI_CLI"), "migrate", e2e.vc_file,
                           "--to", "B", "--journal", bad, NULL };
    const char *const *commands[] = { resume, move };

    g_assert_true(g_file_set_contents(bad, "not a journal: text where an "
                                      "SQLite database should be\n", -1,
                                      NULL));
    assert_vc_at("A", &before);
    for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
        g_autofree char *out = NULL, *err = NULL;

        g_assert_cmpint(run(commands[i], &out, &err), ==, 1);
        g_test_message("%s%s", out, err);
        g_assert_nonnull(strstr(err, bad));
        g_assert_nonnull(strstr(err, "file is not a database"));
        g_assert_null(strstr(out, "no interrupted migration"));
    }
    assert_vc_at("A", &after);
    g_assert_cmpstr(after, ==, before);
}

static void test_bad_vc_file_one_precise_error(void)
{
    g_autofree char *bad = g_build_filename(e2e.dir, "bad.conf", NULL);
    g_autofree char *err = NULL;
    g_autofree char *expect = g_strdup_printf("%s:10: [vm w1] key 'lan'",
                                              bad);
    const char *argv[] = { env_path("LIMEVI_CLI"), "status", bad, NULL };

    g_assert_true(g_file_set_contents(bad,
        "[vc]\nname = vc1\nlans = front\n[host a1]\nsite = A\n"
        "address = 198.18.0.1\nrun-dir = /tmp\n[vm w1]\nhost = a1\n"
        "lan = nowhere\nmac = 52:54:00:00:00:01\nmemory = 64\nport = 1\n"
        "qemu = q\n", -1, NULL));
    g_assert_cmpint(run(argv, NULL, &err), ==, 1);
    g_test_message("%s", err);
    g_assert_nonnull(strstr(err, expect));
    g_assert_null(strchr(g_strstrip(err), '\n'));
}

/* A failed assertion aborts: the QEMUs, WAN and namespaces must not
 * outlive it. */
static void on_abort(int sig)
{
    signal(SIGABRT, SIG_DFL);
    teardown();
    raise(SIGABRT);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    signal(SIGABRT, on_abort);
    /* g_error() traps rather than aborts. */
    signal(SIGTRAP, on_abort);
    harness_require(TRUE);
    setup();
    g_test_add_func("/e2e/rollback-when-a-destination-dies",
                    test_rollback_when_a_destination_dies);
    g_test_add_func("/e2e/vc-moves-to-site-b-losing-nothing",
                    test_vc_moves_to_b);
    g_test_add_func("/e2e/coordinator-killed-at-each-step-then-resumed",
                    test_coordinator_killed_then_resumed);
    g_test_add_func("/e2e/destination-dies-after-the-release-vc-goes-back",
                    test_destination_dies_after_the_release);
    g_test_add_func("/e2e/second-coordinator-on-a-vc-is-refused",
                    test_second_coordinator_refused);
    g_test_add_func("/e2e/vm-falling-out-of-convergence-resets-the-barrier",
                    test_vm_falling_out_resets_the_barrier);
    g_test_add_func("/e2e/rollback-when-a-migration-fails-in-qemu",
                    test_rollback_when_a_migration_fails_in_qemu);
    g_test_add_func("/e2e/rollback-on-timeout",
                    test_rollback_on_timeout);
    g_test_add_func("/e2e/rollback-on-sigterm-and-sigint",
                    test_rollback_on_sigterm_and_sigint);
    g_test_add_func("/e2e/bad-vc-file-gives-one-precise-error",
                    test_bad_vc_file_one_precise_error);
    g_test_add_func("/e2e/corrupt-journal-gives-a-clear-error",
                    test_corrupt_journal_clear_error);
    g_test_add_func("/e2e/silent-source-after-the-release-is-not-guessed",
                    test_silent_source_after_the_release);
    g_test_add_func("/e2e/vc-moves-through-libvirt-losing-nothing",
                    test_vc_moves_through_libvirt);
    g_test_add_func("/e2e/libvirt-coordinator-killed-then-resumed",
                    test_libvirt_coordinator_killed_then_resumed);
    ret = g_test_run();
    if (!teardown()) {
        ret = 1;
    }
    return ret;
}
