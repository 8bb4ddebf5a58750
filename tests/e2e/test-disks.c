/*
 * End to end: a VC whose VMs have local disks moves between two sites
 * joined by the WAN emulator, no storage shared.  One guest writes its
 * disk all through, streams run between the VMs; a move interrupted while
 * the mirrors run goes back, and the next one goes through.  At the end
 * the guest reads back from the destination's disk every block it
 * wrote, before, during and after both moves.
 *
 * The tests run in order on one VC: started at A, a rollback, the move
 * to B.  Sites A and B are 198.18.0.1 and .2; guests on 198.18.10.0/24.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "harness.h"

#define RATE 100                /* stream frames per second */
#define SECONDS 150             /* of the streams and of the writes */
#define WRITES 50               /* disk writes per second */
#define BLOCKS 16384            /* of the written disk: 64 MiB */
#define RUN_TIMEOUT_MS (8 * 60 * 1000)

static const char *const vms[] = { "d1", "d2", "d3" };

static struct {
    char *tag;
    char *dir;
    char *vc_file;
    char *journal;
    GSubprocess *wan;
    /* What on_abort() runs: no GLib from a signal handler. */
    char *stop_cmd, *down_cmd;
    pid_t wan_pid;
} e2e;

static const char *env_path(const char *name)
{
    const char *v = g_getenv(name);

    if (!v) {
        g_error("%s is not set: run this with meson test", name);
    }
    return v;
}

/* Runs @argv, stdout and stderr merged into *@out; its exit status. */
static int run(const char *const *argv, char **out)
{
    g_autoptr(GError) error = NULL;
    int status = harness_run(argv, RUN_TIMEOUT_MS, out, &error);

    g_assert_no_error(error);
    return status;
}

static int limevi(const char *cmd, const char *vc_file, char **out)
{
    const char *argv[] = { env_path("LIMEVI_CLI"), cmd, vc_file, NULL };

    return run(argv, out);
}

static char *in_dir(const char *host, const char *file)
{
    return g_build_filename(e2e.dir, host, file, NULL);
}

static char *log_path(const char *host, const char *vm)
{
    g_autofree char *file = g_strdup_printf("%s.log", vm);

    return in_dir(host, file);
}

/* The first whole line of @path holding @what, waiting up to @seconds;
 * NULL when none came. */
static char *wait_for_line(const char *path, const char *what,
                           guint seconds)
{
    for (guint i = 0; i < seconds * 10; i++) {
        g_autofree char *text = NULL;
        const char *at;

        if (g_file_get_contents(path, &text, NULL, NULL) &&
            (at = strstr(text, what)) && strchr(at, '\n')) {
            while (at > text && at[-1] != '\n') {
                at--;
            }
            return g_strndup(at, strcspn(at, "\r\n"));
        }
        g_usleep(100000);
    }
    return NULL;
}

static char *must_see(const char *path, const char *what, guint seconds)
{
    char *line = wait_for_line(path, what, seconds);

    if (!line) {
        g_autofree char *text = NULL;

        g_file_get_contents(path, &text, NULL, NULL);
        g_error("%s never showed '%s'; it ends:\n%s", path, what,
                text ? text + MAX(0, (gssize)strlen(text) - 2000) : "");
    }
    return line;
}

static JsonObject *parse(JsonParser *parser, const char *text)
{
    g_autoptr(GError) error = NULL;

    if (!json_parser_load_from_data(parser, text, -1, &error)) {
        g_error("not JSON (%s): %s", error->message, text);
    }
    return json_node_get_object(json_parser_get_root(parser));
}

/* A qcow2 image's virtual size, by qemu-img; -1 when it has none. */
static gint64 image_size(const char *path)
{
    const char *argv[] = { "qemu-img", "info", "-U", "--output=json", path,
                           NULL };
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *out = NULL;

    if (run(argv, &out) != 0) {
        return -1;
    }
    return json_object_get_int_member_with_default(parse(parser, out),
                                                   "virtual-size", -1);
}

/* ---- The VC ---- */

/* d1 streams to d2, d2 to d3, d3 to d1; d1 writes its disk throughout. */
static void vm_block(GString *s, guint i, const char *disk_size)
{
    g_autofree char *writer = i == 0 ? g_strdup_printf(
        " limevi.run=probe,disk,--dev,/dev/vda,--blocks,%u,--count,%u,"
        "--rate,%u,--every,%u,--id,%s", BLOCKS, WRITES * SECONDS, WRITES,
        WRITES * 5, vms[i]) : g_strdup("");

    g_string_append_printf(s,
        "[vm %s]\nhost = a1\nlan = front\nmac = 52:54:00:18:0d:%02x\n"
        "memory = 128\nport = %u\ndisks = ${run_dir}/${vm}.qcow2,%s\n"
        "qemu = %s -machine pc -accel tcg -cpu max -m ${memory} -nodefaults "
        "-no-user-config -display none -kernel %s/vmlinux -initrd "
        "%s/initrd.img -append \"console=ttyS0 quiet no_timer_check "
        "limevi.ip=198.18.10.%u/24 limevi.name=%s "
        "limevi.run=probe,recv,--port,7000,--senders,1,--rcvbuf,16777216,"
        "--timeout-ms,%u limevi.run=probe,send,--to,198.18.10.%u:7000,"
        "--rate,%u,--count,%u,--id,%s,--delay-ms,3000,"
        "--wait-peer-ms,120000%s\" -serial file:${run_dir}/${vm}.log\n\n",
        vms[i], i + 1, 7001 + i, disk_size, env_path("LIMEVI_QEMU"),
        env_path("LIMEVI_GUEST_DIR"), env_path("LIMEVI_GUEST_DIR"), i + 1,
        vms[i], (SECONDS + 60) * 1000, (i + 1) % 3 + 1, RATE,
        RATE * SECONDS, vms[i], writer);
}

static void host_block(GString *s, const char *name, const char *site,
                       guint n)
{
    g_string_append_printf(s, "[host %s]\nsite = %s\naddress = 198.18.0.%u\n"
                           "netns = %s-%s\nrun-dir = %s/%s\n\n", name, site,
                           n, e2e.tag, site, e2e.dir, name);
}

/* The VC's key, 64 hex digits. */
#define DISKS_KEY \
    "d15c5d15c5d15c5d15c5d15c5d15c5d15c5d15c5d15c5d15c5d15c5d15c5d15c"

static char *write_vc_file(const char *name, const char *disk_size)
{
    g_autoptr(GString) s = g_string_new(NULL);
    g_autoptr(GError) error = NULL;
    char *path = g_build_filename(e2e.dir, name, NULL);

    g_autofree char *key = g_build_filename(e2e.dir, "disks.key", NULL);

    /* Keyed and over TLS, as users run it (next to the VC file). */
    g_assert_true(g_file_set_contents(key, DISKS_KEY, -1, &error));
    g_string_append(s, "[vc]\nname = disks\nlans = front\n"
                    "key = disks.key\ntls = tls\n");
    host_block(s, "a1", "A", 1);
    host_block(s, "b1", "B", 2);
    for (guint i = 0; i < G_N_ELEMENTS(vms); i++) {
        vm_block(s, i, i == 0 ? "64M" : disk_size);
    }
    g_assert_true(g_file_set_contents(path, s->str, -1, &error));
    return path;
}

/* How many processes have a file of @host's run-dir on their command
 * line: its QEMUs. */
static guint qemus_on(const char *host)
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
        n += strstr(cmdline, run_dir) != NULL;
    }
    return n;
}

static void assert_no_qemu_on(const char *host)
{
    guint n = qemus_on(host);

    for (guint i = 0; n && i < 300; i++) {
        g_usleep(100000);
        n = qemus_on(host);
    }
    g_assert_cmpuint(n, ==, 0);
}

/* Every VM runs once, at @site, and every route agrees. */
static void assert_vc_at(const char *site)
{
    g_autofree char *out = NULL;
    const char *argv[] = { env_path("LIMEVI_CLI"), "status", e2e.vc_file,
                           "--json", NULL };
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o;
    JsonArray *list;

    if (run(argv, &out) != 0) {
        g_test_message("limevi status:\n%s", out);
        g_error("limevi status says the VC is not all at %s (above)", site);
    }
    o = parse(parser, out);
    g_assert_cmpint(json_object_get_int_member(o, "disagreements"), ==, 0);
    list = json_object_get_array_member(o, "vms");
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *vm = json_array_get_object_element(list, i);

        g_assert_cmpint(json_object_get_int_member(vm, "running"), ==, 1);
        g_assert_cmpstr(json_object_get_string_member(vm, "site"), ==, site);
    }
}

/* ---- Tests ---- */

/* A disk file of another size than the VC file's is refused, with the
 * line of the VC file, the disk and both sizes; nothing starts. */
static void test_size_mismatch_refused(void)
{
    g_autofree char *bad = write_vc_file("bad.conf", "16M");
    g_autofree char *d2 = in_dir("a1", "d2.qcow2");
    g_autofree char *out = NULL;
    g_autofree char *expected = g_strdup_printf(
        "limevi: %s:33: [vm d2] key 'disks': disk 1: %s is 32 MiB, but the "
        "VC file says 16 MiB; limevi does not resize a disk\n", bad, d2);
    g_autofree char *a1 = g_build_filename(e2e.dir, "a1", NULL);
    const char *create[] = { "qemu-img", "create", "-q", "-f", "qcow2", d2,
                             "32M", NULL };

    g_assert_cmpint(g_mkdir_with_parents(a1, 0700), ==, 0);
    g_assert_cmpint(run(create, NULL), ==, 0);
    g_assert_cmpint(limevi("start", bad, &out), ==, 1);
    g_test_message("limevi start: %s", out);
    g_assert_nonnull(strstr(out, expected));
    /* d1 and d3 may have started: they are stopped, the files go. */
    limevi("stop", bad, NULL);
    assert_no_qemu_on("a1");
    g_assert_cmpint(g_unlink(d2), ==, 0);
}

/* Missing disk files are created at their size; the VC boots on them. */
static void test_start_creates_missing_disks(void)
{
    g_autofree char *out = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(vms); i++) {
        g_autofree char *file = g_strdup_printf("%s.qcow2", vms[i]);
        g_autofree char *path = in_dir("a1", file);
        g_autofree char *log = log_path("a1", vms[i]);

        g_unlink(path);
        g_unlink(log);
    }
    if (limevi("start", e2e.vc_file, &out) != 0) {
        g_error("limevi start: %s", out);
    }
    for (guint i = 0; i < G_N_ELEMENTS(vms); i++) {
        g_autofree char *file = g_strdup_printf("%s.qcow2", vms[i]);
        g_autofree char *path = in_dir("a1", file);
        g_autofree char *log = log_path("a1", vms[i]);

        g_free(must_see(log, "@@LIMEVI-READY", 180));
        g_assert_cmpint(image_size(path), ==, (i == 0 ? 64 : 8) << 20);
    }
    /* d1 has written its disk for a while before anything moves. */
    {
        g_autofree char *log = log_path("a1", "d1");
        g_autofree char *key = g_strdup_printf("\"written\":%u,",
                                               WRITES * 10);
        g_autofree char *line = must_see(log, key, 60);

        g_test_message("d1 before the move: %s", line);
    }
}

/* Interrupted while the mirrors run: every VM stays at A, every mirror
 * and destination goes, and the writes go on into A's disks. */
/*
 * The destination's NBD server, which a mirror writes through, takes no
 * client without a certificate of the VC's CA: a plain NBD client on the
 * WAN side, from site A as the source is, is refused and reads nothing.
 */
static void assert_plain_nbd_refused(void)
{
    g_autofree char *ns = g_strdup_printf("%s-A", e2e.tag);
    g_autofree char *opts = g_strdup_printf(
        "driver=nbd,server.type=inet,server.host=198.18.0.2,"
        "server.port=%u,export=limevi-disk1", 7001);
    const char *argv[] = { "ip", "netns", "exec", ns, "qemu-img", "info",
                           "--image-opts", opts, NULL };
    g_autofree char *out = NULL;

    g_assert_cmpint(run(argv, &out), !=, 0);
    g_test_message("a plain NBD client: %s", out);
    g_assert_nonnull(strstr(out, "TLS"));
    g_assert_null(strstr(out, "virtual size"));
}

static void test_rollback_while_mirroring(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) p = g_subprocess_new(
        G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
        &error, env_path("LIMEVI_CLI"), "migrate", e2e.vc_file, "--to", "B",
        "--json", "--journal", e2e.journal, NULL);
    g_autoptr(GString) said = g_string_new(NULL);
    gint64 deadline = harness_deadline(120000);
    gboolean mirroring[G_N_ELEMENTS(vms)] = { FALSE };
    guint seen = 0;
    HLines lines;
    char *line;

    g_assert_no_error(error);
    hlines_init(&lines, g_unix_input_stream_get_fd(G_UNIX_INPUT_STREAM(
                    g_subprocess_get_stdout_pipe(p))), said);
    /* Once every VM's mirror has a length, the mirrors run. */
    while (seen < G_N_ELEMENTS(vms) &&
           (line = hlines_read(&lines, deadline, NULL))) {
        for (guint i = 0; i < G_N_ELEMENTS(vms); i++) {
            g_autofree char *vm = g_strdup_printf("{\"vm\":\"%s\"", vms[i]);

            if (!mirroring[i] && g_str_has_prefix(line, vm) &&
                !strstr(line, "\"disk_total\":0,")) {
                mirroring[i] = TRUE;
                seen++;
            }
        }
        g_free(line);
    }
    if (seen < G_N_ELEMENTS(vms)) {
        g_error("the mirrors never ran:\n%s", said->str);
    }
    assert_plain_nbd_refused();
    g_subprocess_send_signal(p, SIGINT);
    while ((line = hlines_read(&lines, deadline, NULL))) {
        g_free(line);
    }
    g_assert_true(harness_wait_process(p, 60000));
    g_test_message("limevi migrate, interrupted:\n%s", said->str);
    hlines_clear(&lines);
    g_assert_cmpint(harness_process_status(p), ==, 1);
    g_assert_nonnull(strstr(said->str, "rolled back"));
    assert_no_qemu_on("b1");
    assert_vc_at("A");
}

/* The VC moves to B: every VM with its disk, d1 writing all along; every
 * block d1 ever wrote reads back from B's disk, and no frame is lost. */
static void test_vc_moves_with_its_disks(void)
{
    g_autofree char *report = g_build_filename(e2e.dir, "report.json", NULL);
    const char *argv[] = { env_path("LIMEVI_CLI"), "migrate", e2e.vc_file,
                           "--to", "B", "--report", report, "--journal",
                           e2e.journal, NULL };
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *out = NULL, *text = NULL;
    g_autofree char *d1_b = log_path("b1", "d1");
    g_autofree char *written = NULL, *checked = NULL;
    JsonArray *list;
    int status;

    status = run(argv, &out);
    g_test_message("limevi migrate:\n%s", out);
    g_assert_cmpint(status, ==, 0);
    g_assert_true(g_file_get_contents(report, &text, NULL, NULL));
    list = json_object_get_array_member(parse(parser, text), "vms");
    for (guint i = 0; i < json_array_get_length(list); i++) {
        JsonObject *vm = json_array_get_object_element(list, i);

        g_assert_true(json_object_get_boolean_member(vm, "ok"));
        g_assert_cmpint(json_object_get_int_member(vm, "disks"), ==, 1);
        g_assert_cmpint(json_object_get_int_member(vm, "disk_bytes"), >, 0);
    }
    assert_vc_at("B");
    assert_no_qemu_on("a1");

    /* d1 went on writing at B, then read every block back there. */
    written = must_see(d1_b, "\"disk\":\"d1\",\"written\":7500,",
                       SECONDS + 60);
    checked = must_see(d1_b, "\"checked\"", 60);
    g_test_message("d1 at B: %s\n%s", written, checked);
    {
        g_autoptr(JsonParser) p2 = json_parser_new();
        JsonObject *o = parse(p2, checked);

        g_assert_cmpint(json_object_get_int_member(o, "checked"), ==,
                        WRITES * SECONDS);
        g_assert_cmpint(json_object_get_int_member(o, "bad"), ==, 0);
    }
    /* Every stream whole, read at B. */
    for (guint i = 0; i < G_N_ELEMENTS(vms); i++) {
        g_autofree char *log = log_path("b1", vms[(i + 1) % 3]);
        g_autofree char *key = g_strdup_printf("{\"sender\":\"%s\","
                                               "\"received\"", vms[i]);
        g_autofree char *res = must_see(log, key, SECONDS + 60);
        g_autoptr(JsonParser) p3 = json_parser_new();
        JsonObject *o = parse(p3, res);

        g_test_message("%s", res);
        g_assert_cmpint(json_object_get_int_member(o, "received"), ==,
                        RATE * SECONDS);
        g_assert_cmpint(json_object_get_int_member(o, "lost"), ==, 0);
        g_assert_cmpint(json_object_get_int_member(o, "duplicated"), ==, 0);
    }
}

/* ---- Setup ---- */

static void setup(void)
{
    g_autofree char *ns_wan = NULL, *ready = NULL;
    g_autoptr(GError) error = NULL;
    const char *argv[] = { "bash", env_path("LIMEVI_WAN_SITES"), "up",
                           NULL, "A", "B", NULL };

    e2e.tag = g_strdup_printf("lvd%d", (int)getpid());
    e2e.dir = g_dir_make_tmp("limevi-disks-XXXXXX", &error);
    g_assert_no_error(error);
    argv[3] = e2e.tag;
    g_assert_cmpint(run(argv, NULL), ==, 0);
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
    if (!g_file_test(ready, G_FILE_TEST_EXISTS)) {
        g_error("limevi-wan did not come up in 10 s");
    }
    {
        /* As users make them: for the addresses of both sites' hosts. */
        g_autofree char *tls = g_build_filename(e2e.dir, "tls", NULL);
        const char *certs[] = { "bash", env_path("LIMEVI_TLS_CERTS"), tls,
                                "disks", "198.18.0.1", "198.18.0.2", NULL };

        g_assert_cmpint(run(certs, NULL), ==, 0);
    }
    e2e.vc_file = write_vc_file("disks.conf", "8M");
    e2e.journal = g_build_filename(e2e.dir, "journal.db", NULL);
    e2e.wan_pid = g_ascii_strtoll(g_subprocess_get_identifier(e2e.wan),
                                  NULL, 10);
    {
        g_autofree char *cli = g_shell_quote(env_path("LIMEVI_CLI"));
        g_autofree char *vc = g_shell_quote(e2e.vc_file);
        g_autofree char *sites = g_shell_quote(env_path("LIMEVI_WAN_SITES"));

        e2e.stop_cmd = g_strdup_printf("%s stop %s >/dev/null 2>&1", cli,
                                       vc);
        e2e.down_cmd = g_strdup_printf("bash %s down %s A B", sites,
                                       e2e.tag);
    }
}

static gboolean teardown(void)
{
    const char *argv[] = { "bash", g_getenv("LIMEVI_WAN_SITES"), "down",
                           e2e.tag, "A", "B", NULL };
    int status = 0;

    if (e2e.vc_file) {
        limevi("stop", e2e.vc_file, NULL);
    }
    if (e2e.wan) {
        g_subprocess_send_signal(e2e.wan, SIGTERM);
    }
    if (e2e.tag && argv[1]) {
        g_autoptr(GError) error = NULL;

        status = harness_run(argv, 60000, NULL, &error);
    }
    g_clear_pointer(&e2e.tag, g_free);  /* once, even from on_abort */
    return status == 0;
}

/* A failed assertion aborts: the QEMUs, WAN and namespaces must not
 * outlive it. */
static void on_abort(int sig)
{
    signal(SIGABRT, SIG_DFL);
    alarm(90);
    if (e2e.stop_cmd && system(e2e.stop_cmd) != 0) {
        /* Nothing more to do from here. */
    }
    if (e2e.wan_pid > 0) {
        kill(e2e.wan_pid, SIGTERM);
    }
    if (e2e.down_cmd && system(e2e.down_cmd) != 0) {
        /* Nothing more to do from here. */
    }
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
    g_test_add_func("/disks/size-mismatch-at-start-is-refused",
                    test_size_mismatch_refused);
    g_test_add_func("/disks/start-creates-missing-disks",
                    test_start_creates_missing_disks);
    g_test_add_func("/disks/rollback-while-mirroring-keeps-the-source",
                    test_rollback_while_mirroring);
    g_test_add_func("/disks/vc-moves-with-its-disks-losing-nothing",
                    test_vc_moves_with_its_disks);
    ret = g_test_run();
    if (!teardown()) {
        ret = 1;
    }
    return ret;
}
