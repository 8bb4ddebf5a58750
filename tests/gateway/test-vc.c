/*
 * A VC of 3 VMs behind a gateway, moved by `limevi migrate` while a client
 * outside the VC downloads through the gateway's forward.  Everything as a
 * user runs it: a VC file with a [gateway] group, `limevi start`, the CLI's
 * status, migrate and stop; sites A and B joined by the WAN emulator
 * (tests/wan/wan-sites.sh), 25 ms apart.
 *
 *   site A (198.18.0.1): the gateway gw (LAN front, 198.19.0.0/24), an
 *     httpd outside the VC, the client; w1 w2 w3 start here
 *   site B (198.18.0.2): where the VMs go; the gateway stays at A
 *
 * The VMs take their addresses by DHCP from the gateway (each asks for
 * its own), w2 and w3 resolve a name the gateway answers and fetch from
 * the httpd outside the VC through its NAT; w1 serves a file of known
 * checksum that the client downloads through the forward for the whole
 * of the move: never reset, every byte, no stall longer than 3 s.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <signal.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "gw-fixture.h"

#define RUN_TIMEOUT_MS (10 * 60 * 1000)
#define BOOT_S 240
#define BIG_MIB 16
#define PACE (192 * 1024)       /* bytes/s: the download outlasts the move */
#define MARK "outside the VC"
#define MAX_STALL_MS 3000       /* a client that waits longer notices */

static struct {
    char *tag, *dir, *vc_file;
    GSubprocess *wan;
    HNetns *site_a;             /* adopted: wan-sites.sh owns it */
} t;

static const char *env_path(const char *name)
{
    const char *v = g_getenv(name);

    if (!v) {
        g_error("%s is not set: run this with 'make check'", name);
    }
    return v;
}

/* Runs @argv (bounded); returns its status with stdout and stderr. */
static int run(const char *const *argv, char **out, char **err)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *both = NULL;
    int status = harness_run(argv, RUN_TIMEOUT_MS, &both, &error);

    g_assert_no_error(error);
    if (out) {
        *out = g_strdup(both);
    }
    if (err) {
        *err = g_strdup(both);
    }
    return status;
}

static int limevi(const char *cmd, const char *a1, const char *a2,
                  char **out)
{
    const char *argv[] = { env_path("LIMEVI_CLI"), cmd, t.vc_file, a1, a2,
                           NULL };

    return run(argv, out, NULL);
}

static void vm_block(GString *s, const char *name, guint n,
                     const char *runs)
{
    g_string_append_printf(s,
        "[vm %s]\nhost = a1\nlan = front\nmac = 52:54:00:19:00:%02x\n"
        "memory = 128\nport = %u\n"
        "qemu = %s -machine pc -accel tcg -cpu max -m ${memory} -nodefaults "
        "-no-user-config -display none -kernel %s/vmlinux -initrd "
        "%s/initrd.img -append \"console=ttyS0 quiet no_timer_check "
        "limevi.ip=dhcp:198.19.0.%u limevi.name=%s %s\" "
        "-serial file:${run_dir}/${vm}.log\n\n",
        name, 0x20 + n, 7000 + n, env_path("LIMEVI_QEMU"),
        env_path("LIMEVI_GUEST_DIR"), env_path("LIMEVI_GUEST_DIR"),
        14 + n, name, runs);
}

static void write_vc_file(void)
{
    g_autoptr(GString) s = g_string_new("[vc]\nname = vc1\nlans = front\n"
                                        "key = vc1.key\n\n");
    g_autofree char *key = g_build_filename(t.dir, "vc1.key", NULL);
    g_autoptr(GError) error = NULL;

    /* Keyed, as users run it: the VMs' netdevs and the gateway alike. */
    g_assert_true(g_file_set_contents(key, "0123456789abcdef0123456789abcdef"
                                      "fedcba9876543210fedcba9876543210\n", -1, &error));

    for (guint i = 1; i <= 2; i++) {
        g_string_append_printf(s, "[host %c1]\nsite = %c\naddress = "
                               "198.18.0.%u\nnetns = %s-%c\nrun-dir = "
                               "%s/%c1\n\n", 'a' + i - 1, 'A' + i - 1, i,
                               t.tag, 'A' + i - 1, t.dir, 'a' + i - 1);
    }
    /* w1 serves 16 MiB of zeros: a checksum the test knows. */
    vm_block(s, "w1", 1, "limevi.run=dd,if=/dev/zero,of=/tmp/big,bs=1M,"
             "count=" G_STRINGIFY(BIG_MIB) " limevi.run=httpd,-p,80,-h,/tmp");
    vm_block(s, "w2", 2, "limevi.run=wget,-O,-,"
             "http://files.example:8000/hello.txt");
    vm_block(s, "w3", 3, "limevi.run=wget,-O,-,"
             "http://files.example:8000/hello.txt");
    g_string_append(s, "[gateway gw]\nhost = a1\nlan = front\nport = 7050\n"
                    "net = 198.19.0.0/24\n"
                    "dns-names = files.example=198.18.0.1\n"
                    "forwards = tcp:198.18.0.1:8080-198.19.0.15:80\n");
    g_assert_true(g_file_set_contents(t.vc_file, s->str, -1, &error));
}

static char *vm_log(const char *host, const char *vm)
{
    g_autofree char *file = g_strdup_printf("%s.log", vm);
    g_autofree char *path = g_build_filename(t.dir, host, file, NULL);
    char *text = NULL;

    g_file_get_contents(path, &text, NULL, NULL);
    return text ? text : g_strdup("");
}

static void wait_for_log(const char *vm, const char *what)
{
    for (guint i = 0; i < BOOT_S * 10; i++) {
        g_autofree char *log = vm_log("a1", vm);

        if (strstr(log, what)) {
            return;
        }
        g_usleep(100000);
    }
    g_error("%s never printed '%s'", vm, what);
}

static void setup(void)
{
    g_autofree char *ready = NULL, *ns_wan = NULL, *ns_a = NULL;
    g_autofree char *www = NULL, *hello = NULL, *out = NULL;
    g_autoptr(GError) error = NULL;

    t.tag = g_strdup_printf("lvg%d", (int)getpid());
    t.dir = g_dir_make_tmp("limevi-gwvc-XXXXXX", &error);
    g_assert_no_error(error);
    t.vc_file = g_build_filename(t.dir, "vc1.conf", NULL);
    {
        const char *argv[] = { "bash", env_path("LIMEVI_WAN_SITES"), "up",
                               t.tag, "A", "B", NULL };

        g_assert_cmpint(run(argv, &out, NULL), ==, 0);
    }
    ns_wan = g_strdup_printf("%s-wan", t.tag);
    ready = g_build_filename(t.dir, "wan.ready", NULL);
    t.wan = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error,
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
    ns_a = g_strdup_printf("%s-A", t.tag);
    t.site_a = hnetns_adopt(ns_a);
    /* A server outside the VC, at site A. */
    www = g_build_filename(t.dir, "www", NULL);
    hello = g_build_filename(www, "hello.txt", NULL);
    g_mkdir(www, 0755);
    g_assert_true(g_file_set_contents(hello, MARK "\n", -1, NULL));
    {
        const char *httpd[] = { "busybox", "httpd", "-f", "-p",
                                "198.18.0.1:8000", "-h", www, NULL };

        g_assert_nonnull(hnetns_spawn(t.site_a, httpd, &error));
        g_assert_no_error(error);
    }
    write_vc_file();
}

static void teardown(void)
{
    g_autofree char *out = NULL;
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", t.dir);
    const char *argv[] = { "bash", g_getenv("LIMEVI_WAN_SITES"), "down",
                           t.tag, "A", "B", NULL };

    if (t.vc_file) {
        limevi("stop", NULL, NULL, NULL);
    }
    hnetns_free(t.site_a);
    if (t.wan) {
        g_subprocess_send_signal(t.wan, SIGTERM);
        g_subprocess_wait(t.wan, NULL, NULL);
        g_clear_object(&t.wan);
    }
    if (t.tag && argv[1] && run(argv, &out, NULL) != 0) {
        g_error("wan-sites.sh down %s: %s", t.tag, out);
    }
    g_clear_pointer(&t.tag, g_free);
    g_spawn_command_line_sync(rm, NULL, NULL, NULL, NULL);
}

/* limevi status --json, parsed; asserts it exits @want_status. */
static JsonObject *status_json(JsonParser *parser, int want_status)
{
    g_autofree char *out = NULL;
    const char *json_start;
    g_autoptr(GError) error = NULL;
    int status = limevi("status", "--json", NULL, &out);

    if (status != want_status) {
        g_error("limevi status exited %d, not %d: %s", status, want_status,
                out);
    }
    /* Errors, if any, come first on the merged output. */
    json_start = strstr(out, "{\"vc\"");
    g_assert_nonnull(json_start);
    g_assert_true(json_parser_load_from_data(parser, json_start, -1,
                                             &error));
    g_assert_no_error(error);
    return json_node_get_object(json_parser_get_root(parser));
}

/* The gateway's object of limevi status --json. */
static JsonObject *gateway_of(JsonObject *status)
{
    JsonArray *gws = json_object_get_array_member(status, "gateways");

    g_assert_cmpuint(json_array_get_length(gws), ==, 1);
    return json_array_get_object_element(gws, 0);
}

static void assert_leases(JsonObject *gw)
{
    JsonArray *leases = json_object_get_array_member(
        json_object_get_object_member(gw, "stats"), "leases");

    g_assert_cmpuint(json_array_get_length(leases), ==, 3);
    for (guint i = 0; i < 3; i++) {
        JsonObject *l = json_array_get_object_element(leases, i);
        const char *mac = json_object_get_string_member(l, "mac");
        g_autofree char *want = g_strdup_printf("198.19.0.%u",
            15 + (guint)g_ascii_strtoull(mac + 15, NULL, 16) - 0x21);

        g_assert_cmpstr(json_object_get_string_member(l, "addr"), ==, want);
    }
}

/* Every route of the gateway points at @address, valid. */
static void assert_gateway_routes_at(JsonObject *gw, const char *address)
{
    JsonArray *routes = json_object_get_array_member(
        json_object_get_object_member(gw, "stats"), "routes");

    g_assert_cmpuint(json_array_get_length(routes), ==, 3);
    for (guint i = 0; i < 3; i++) {
        JsonObject *r = json_array_get_object_element(routes, i);

        g_assert_true(g_str_has_prefix(
            json_object_get_string_member(r, "endpoint"), address));
        g_assert_cmpstr(json_object_get_string_member(r, "status"), ==,
                        "valid");
    }
}

static char *zeros_sha256(void)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree guint8 *mib = g_malloc0(1024 * 1024);

    for (guint i = 0; i < BIG_MIB; i++) {
        g_checksum_update(sum, mib, 1024 * 1024);
    }
    return g_strdup(g_checksum_get_string(sum));
}

/* Not gone, nor a zombie left for whoever adopted it to reap. */
static gboolean process_runs(gint64 pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%" G_GINT64_FORMAT
                                            "/cmdline", pid);
    g_autofree char *cmdline = NULL;
    gsize len = 0;

    return g_file_get_contents(path, &cmdline, &len, NULL) && len > 0;
}

static void test_clients_keep_their_connection(void)
{
    g_autoptr(JsonParser) p1 = json_parser_new();
    g_autoptr(JsonParser) p2 = json_parser_new();
    g_autofree char *out = NULL, *sha = zeros_sha256();
    JsonObject *gw;
    GwDownloadThread *dl;
    GwDownload d = { 0 };
    guint64 at_end;
    gint64 gw_pid;
    int status;

    status = limevi("start", NULL, NULL, &out);
    g_test_message("limevi start:\n%s", out);
    g_assert_cmpint(status, ==, 0);
    g_assert_nonnull(strstr(out, "gateway gw: started on a1"));
    /* w2 and w3 resolved files.example and fetched through the NAT. */
    wait_for_log("w1", "@@LIMEVI-READY");
    wait_for_log("w2", MARK);
    wait_for_log("w3", MARK);
    gw = gateway_of(status_json(p1, 0));
    gw_pid = json_object_get_int_member(gw, "pid");
    g_assert_cmpint(gw_pid, >, 0);
    assert_leases(gw);
    assert_gateway_routes_at(gw, "198.18.0.1:");

    dl = gw_download_start(t.site_a, "198.18.0.1", 8080, "/big", 300000,
                           PACE);
    for (guint i = 0; i < 600 && gw_download_progress(dl) < 1024 * 1024;
         i++) {
        g_usleep(50000);
    }
    g_assert_cmpuint(gw_download_progress(dl), >=, 1024 * 1024);
    g_clear_pointer(&out, g_free);
    status = limevi("migrate", "--to", "B", &out);
    at_end = gw_download_progress(dl);
    g_test_message("limevi migrate:\n%s", out);
    g_assert_cmpint(status, ==, 0);
    gw_download_finish(dl, &d);
    g_test_message("download through the forward across limevi migrate: "
                   "%" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT
                   " when the move ended, longest stall %" G_GINT64_FORMAT
                   " ms", d.bytes, at_end, d.longest_stall_ms);
    /* Open across the whole move, never reset, every byte. */
    g_assert_cmpuint(at_end, <, (guint64)BIG_MIB * 1024 * 1024);
    g_assert_cmpstr(d.error, ==, NULL);
    g_assert_false(d.reset);
    g_assert_cmpuint(d.bytes, ==, (guint64)BIG_MIB * 1024 * 1024);
    g_assert_cmpstr(d.sha256, ==, sha);
    /* And it never stopped for long: the client reads at its pace from a
     * small receive buffer, so a read that waits is a stall of the path
     * from w1 through the gateway, before the move, in it or after it
     * (measured: 21 ms, the guests paused 90-210 ms). */
    g_assert_cmpint(d.longest_stall_ms, <, MAX_STALL_MS);
    gw_download_clear(&d);

    /* The VMs are at B; the gateway stayed at A, its routes followed. */
    gw = gateway_of(status_json(p2, 0));
    g_assert_cmpint(json_object_get_int_member(gw, "pid"), ==, gw_pid);
    assert_gateway_routes_at(gw, "198.18.0.2:");

    g_clear_pointer(&out, g_free);
    g_assert_cmpint(limevi("stop", NULL, NULL, &out), ==, 0);
    g_assert_nonnull(strstr(out, "gateway gw: stopped on a1"));
    g_assert_false(process_runs(gw_pid));
}

static void on_abort(int sig)
{
    signal(SIGABRT, SIG_DFL);
    (void)sig;
    teardown();
    raise(SIGABRT);
}

int main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    harness_require(TRUE);
    signal(SIGABRT, on_abort);
    /* g_error() traps rather than aborts. */
    signal(SIGTRAP, on_abort);
    g_test_add_func("/gateway/vc/clients-keep-their-connection-through-"
                    "limevi-migrate", test_clients_keep_their_connection);
    setup();
    rc = g_test_run();
    teardown();
    return rc;
}
