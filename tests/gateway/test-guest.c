/*
 * limevi-gateway with real guests (patched QEMU under TCG), all in one
 * namespace "site":
 *
 *   gw   limevi-gateway, LimeVI port 7400, forward 127.0.0.1:8080 to the
 *        guest's port 80
 *   g1   a guest taking its address by DHCP (limevi.ip=dhcp), port 7402;
 *        it moves by live migration into a second QEMU on port 7403
 *
 * The guest gets a lease of the range, resolves a --dns-name through the
 * nameserver its lease named, fetches from site's loopback through the
 * NAT; then a client on site downloads a file of known checksum from the
 * guest's busybox httpd through the forward while the guest migrates:
 * never reset, every byte, the longest stall reported.  The gateway stays
 * where it is; the guest's route follows it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib/gstdio.h>
#include <string.h>

#include "gw-fixture.h"

#define BOOT_TIMEOUT_MS 180000
#define CMD_TIMEOUT_MS 60000
#define G1_MAC "52:54:00:19:00:21"
#define LEASE "198.19.0.15"
#define NETDEV(port) "limevi,vm=g1,vc=vc1,lan=lan1,listen=127.0.0.1:" port \
    ",routes.0.vm=gw,routes.0.endpoint=127.0.0.1:7400"
#define BIG_MIB 12
#define PACE (256 * 1024)       /* bytes/s: the download outlasts the move */

static struct {
    HNetns *site;
    GwProcess *gw;
    HVm *g1;
    char *dir;
} t;

static HVm *start_g1(const char *port_netdev, const char *incoming)
{
    g_autoptr(GError) err = NULL;
    HVmConfig cfg = {
        .name = "g1", .ip = "dhcp", .mac = G1_MAC, .netdev = port_netdev,
        .netns = hnetns_name(t.site), .incoming = incoming,
    };
    HVm *vm = hvm_start(&cfg, &err);

    g_assert_no_error(err);
    return vm;
}

static char *guest_ok(HVm *vm, const char *cmd)
{
    return hvm_exec_ok(vm, cmd, CMD_TIMEOUT_MS);
}

static void setup(void)
{
    g_autoptr(GError) err = NULL;
    const char *gw_args[] = {
        "--vm", "gw", "--vc", "vc1", "--lan", "lan1",
        "--listen", "127.0.0.1:7400", "--route", "g1=127.0.0.1:7402",
        "--net", "198.19.0.0/24", "--dhcp-start", LEASE,
        "--dns-name", "files.example=198.19.0.2",
        "--forward", "tcp:127.0.0.1:8080-" LEASE ":80", NULL };

    t.dir = g_dir_make_tmp("limevi-gwq-XXXXXX", &err);
    g_assert_no_error(err);
    t.site = hnetns_new("gwq", &err);
    g_assert_no_error(err);
    t.gw = gw_start(t.site, gw_args, &err);
    g_assert_no_error(err);
    t.g1 = start_g1(NETDEV("7402"), NULL);
    if (!hvm_wait_ready(t.g1, BOOT_TIMEOUT_MS, &err)) {
        g_error("g1 did not boot: %s\n%s", err->message, hvm_console(t.g1));
    }
}

static void teardown(void)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", t.dir);

    hvm_free(t.g1);
    gw_stop(t.gw);
    hnetns_free(t.site);
    g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL);
    g_free(t.dir);
}

static void test_lease(void)
{
    g_autofree char *lease = guest_ok(t.g1, "cat /tmp/lease");
    g_autofree char *addr = guest_ok(t.g1, "ip -4 -o addr show eth0");

    g_assert_true(g_str_has_prefix(lease, "ip=" LEASE " mask=24 "
                                   "router=198.19.0.2 dns=198.19.0.3 "));
    g_assert_nonnull(strstr(addr, LEASE "/24"));
    g_assert_true(gw_has_lease(t.gw, G1_MAC, LEASE));
}

static void test_resolve_and_fetch(void)
{
    g_autofree char *www = g_build_filename(t.dir, "www", NULL);
    g_autofree char *file = g_build_filename(www, "out.txt", NULL);
    g_autofree char *dns = guest_ok(t.g1, "nslookup files.example");
    g_autoptr(GError) err = NULL;
    const char *httpd[] = { "busybox", "httpd", "-f", "-p",
                            "127.0.0.1:8000", "-h", www, NULL };
    g_autofree char *out = NULL;
    const char *last;

    /* The nameserver the lease gave, from /etc/resolv.conf. */
    last = g_strrstr(dns, "Address: ");
    g_assert_nonnull(last);
    g_assert_true(g_str_has_prefix(last, "Address: 198.19.0.2"));
    g_mkdir(www, 0755);
    g_file_set_contents(file, "through the gateway\n", -1, &err);
    g_assert_no_error(err);
    g_assert_nonnull(hnetns_spawn(t.site, httpd, &err));
    g_assert_no_error(err);
    /* Bounded retries until site's httpd listens. */
    out = guest_ok(t.g1, "i=0; until wget -q -O - "
                   "http://files.example:8000/out.txt 2>/dev/null || "
                   "wget -q -O - http://198.19.0.2:8000/out.txt; do "
                   "[ $i -lt 50 ] || exit 1; i=$((i+1)); sleep 0.1; done");
    g_assert_cmpstr(out, ==, "through the gateway\n");
}

/* The route the gateway holds for g1: "ENDPOINT STATUS". */
static char *gw_route(void)
{
    JsonNode *holder;
    JsonObject *stats = gw_stats(t.gw, &holder);
    JsonArray *routes = json_object_get_array_member(stats, "routes");
    char *s = NULL;

    for (guint i = 0; i < json_array_get_length(routes); i++) {
        JsonObject *r = json_array_get_object_element(routes, i);

        if (!g_strcmp0(json_object_get_string_member(r, "vm"), "g1")) {
            s = g_strdup_printf("%s %s",
                                json_object_get_string_member(r, "endpoint"),
                                json_object_get_string_member(r, "status"));
        }
    }
    json_node_unref(holder);
    return s;
}

static void test_forward_survives_migration(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *sum_line = NULL, *route = NULL, *lease = NULL;
    HMigrateResult res = { 0 };
    GwDownloadThread *dl;
    GwDownload d = { 0 };
    guint64 at_switch;
    HVm *dst;
    guint i;

    sum_line = guest_ok(t.g1, "mkdir -p /tmp/www && dd if=/dev/urandom "
                        "of=/tmp/www/big bs=1M count=" G_STRINGIFY(BIG_MIB)
                        " 2>/dev/null && httpd -p 80 -h /tmp/www && "
                        "sha256sum /tmp/www/big");
    sum_line[64] = '\0';
    dst = start_g1(NETDEV("7403"), "defer");
    dl = gw_download_start(t.site, "127.0.0.1", 8080, "/big", 60000, PACE);
    /* Under way before the move starts: 1 MiB in. */
    for (i = 0; i < 600 && gw_download_progress(dl) < 1024 * 1024; i++) {
        g_usleep(50000);
    }
    g_assert_cmpuint(gw_download_progress(dl), >=, 1024 * 1024);
    if (!hvm_migrate(t.g1, dst, NULL, &res, &err)) {
        g_error("migration: %s\n%s", err->message, hvm_stderr(dst));
    }
    at_switch = gw_download_progress(dl);
    gw_download_finish(dl, &d);
    g_test_message("download through the forward across the migration: "
                   "%" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT
                   " at the migration's end, longest stall %" G_GINT64_FORMAT
                   " ms; guest pause %" G_GINT64_FORMAT " ms",
                   d.bytes, at_switch, d.longest_stall_ms, res.pause_ms);
    /* The connection was open across the whole move. */
    g_assert_cmpuint(at_switch, <, (guint64)BIG_MIB * 1024 * 1024);
    g_assert_cmpstr(d.error, ==, NULL);
    g_assert_false(d.reset);
    g_assert_cmpuint(d.bytes, ==, (guint64)BIG_MIB * 1024 * 1024);
    g_assert_cmpstr(d.sha256, ==, sum_line);
    gw_download_clear(&d);
    /* The gateway stayed; its route to g1 followed the guest. */
    route = gw_route();
    g_assert_cmpstr(route, ==, "127.0.0.1:7403 valid");
    hvm_free(t.g1);
    t.g1 = dst;
    lease = guest_ok(t.g1, "cat /tmp/lease");
    g_assert_true(g_str_has_prefix(lease, "ip=" LEASE " "));
}

int main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    harness_require(TRUE);
    g_test_add_func("/gateway/guest/dhcp-lease-in-range", test_lease);
    g_test_add_func("/gateway/guest/resolves-and-fetches-through-nat",
                    test_resolve_and_fetch);
    g_test_add_func("/gateway/guest/forward-survives-live-migration",
                    test_forward_survives_migration);
    setup();
    rc = g_test_run();
    teardown();
    return rc;
}
