/*
 * The harness's live migration on plain QEMU networking: guest A and
 * guest B on a "-netdev dgram" wire over 127.0.0.1; B migrates into a
 * QEMU B2 started with "-incoming defer".  B2 cannot bind B's UDP port
 * while B lives, so its wire has a port of its own and reaches A one
 * way only (A still sends to B's port): enough to see the NIC survive.
 */
#include <string.h>

#include "harness.h"

#define BOOT_TIMEOUT_MS 60000
#define CMD_TIMEOUT_MS 30000
#define MIGRATE_TIMEOUT_MS 300000

#define MAC_A "52:54:00:4c:57:11"
#define MAC_B "52:54:00:4c:57:12"

static HVm *start_guest(const char *name, const char *ip, const char *mac,
                        guint16 local, guint16 remote, const char *incoming)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *netdev = g_strdup_printf(
        "dgram,local.type=inet,local.host=127.0.0.1,local.port=%u,"
        "remote.type=inet,remote.host=127.0.0.1,remote.port=%u",
        local, remote);
    HVmConfig cfg = {
        .name = name, .ip = ip, .mac = mac, .netdev = netdev,
        .incoming = incoming,
    };
    HVm *vm = hvm_start(&cfg, &err);

    g_assert_no_error(err);
    return vm;
}

static char *exec_ok(HVm *vm, const char *cmd)
{
    g_autoptr(GError) err = NULL;
    char *out = NULL;
    int status = hvm_exec(vm, cmd, CMD_TIMEOUT_MS, &out, &err);

    g_assert_no_error(err);
    if (status != 0) {
        g_test_message("%s: '%s' exited %d:\n%s", hvm_name(vm), cmd, status,
                       out);
    }
    g_assert_cmpint(status, ==, 0);
    return out;
}

static const char *status_of(HVm *vm, JsonNode **holder)
{
    g_autoptr(GError) err = NULL;

    *holder = hvm_qmp(vm, "query-status", NULL, &err);
    g_assert_no_error(err);
    return json_object_get_string_member(json_node_get_object(*holder),
                                         "status");
}

static void test_migrate_keeps_the_guest(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(HVm) a = NULL;
    g_autoptr(HVm) b = NULL;
    g_autoptr(HVm) b2 = NULL;
    g_autoptr(JsonNode) st_b = NULL;
    g_autoptr(JsonNode) st_b2 = NULL;
    g_autoptr(JsonNode) report = NULL;
    g_autofree char *out = NULL;
    g_autofree char *up_before = NULL;
    g_autofree char *up_after = NULL;
    g_autofree char *early = NULL;
    g_autofree char *sent = NULL;
    g_autofree char *line = NULL;
    guint16 port_a = harness_free_udp_port();
    guint16 port_b = harness_free_udp_port();
    guint16 port_b2 = harness_free_udp_port();
    HMigrateOptions opts = {
        .return_path = TRUE, .timeout_ms = MIGRATE_TIMEOUT_MS,
    };
    HMigrateResult res;
    JsonObject *r;

    a = start_guest("vm1", "198.18.1.11/24", MAC_A, port_a, port_b, NULL);
    b = start_guest("vm2", "198.18.1.12/24", MAC_B, port_b, port_a, NULL);
    /* The target waits with QMP up, and no guest yet. */
    b2 = start_guest("vm2-b2", "198.18.1.12/24", MAC_B, port_b2, port_a,
                     "defer");
    g_assert_cmpint(hvm_exec(b2, "true", 1000, NULL, &err), ==, -1);
    g_assert_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED);
    g_clear_error(&err);
    g_assert_true(hvm_wait_ready(a, BOOT_TIMEOUT_MS, &err));
    g_assert_no_error(err);
    g_assert_true(hvm_wait_ready(b, BOOT_TIMEOUT_MS, &err));
    g_assert_no_error(err);

    out = exec_ok(a, "ping -c 2 -W 2 198.18.1.12");
    g_assert_nonnull(strstr(out, "2 packets received"));
    exec_ok(b, "echo before-migration >/tmp/mark");
    up_before = exec_ok(b, "cut -d' ' -f1 /proc/uptime");
    /* Output printed as B2 runs, before its first command: its console
     * starts mid-line (if the migration is quicker than the sleep). */
    early = exec_ok(b, "(sleep 1.5; printf stale-partial-line) &");

    g_assert_true(hvm_migrate(b, b2, &opts, &res, &err));
    g_assert_no_error(err);
    g_test_message("migration: total %" G_GINT64_FORMAT " ms, setup %"
                   G_GINT64_FORMAT " ms, downtime %" G_GINT64_FORMAT
                   " ms (QEMU), pause %" G_GINT64_FORMAT " ms (events), "
                   "port %u", res.total_time_ms, res.setup_time_ms,
                   res.downtime_ms, res.pause_ms, res.port);
    g_assert_cmpint(res.total_time_ms, >, 0);
    g_assert_cmpint(res.downtime_ms, >, 0);
    g_assert_cmpint(res.setup_time_ms, >=, 0);
    g_assert_cmpint(res.pause_ms, >=, 0);
    g_assert_cmpuint(res.port, >, 0);

    g_usleep(2 * G_USEC_PER_SEC);
    g_assert_cmpstr(status_of(b, &st_b), ==, "postmigrate");
    g_assert_cmpstr(status_of(b2, &st_b2), ==, "running");

    /* Same guest: its hostname and file, its clock going on. */
    g_clear_pointer(&out, g_free);
    out = exec_ok(b2, "hostname; cat /tmp/mark");
    g_assert_cmpstr(out, ==, "vm2\nbefore-migration\n");
    up_after = exec_ok(b2, "cut -d' ' -f1 /proc/uptime");
    g_assert_cmpfloat(g_ascii_strtod(up_after, NULL), >,
                      g_ascii_strtod(up_before, NULL));
    g_test_message("uptime %s -> %s; stale line on %s", g_strchomp(up_before),
                   g_strchomp(up_after),
                   strstr(hvm_console(b2), "stale-partial-line") ? "B2"
                   : strstr(hvm_console(b), "stale-partial-line") ? "B"
                   : "neither");

    /* The NIC too: B2 -> A over B2's own port (A's answers go to B's). */
    /* Busybox's ip has no "neigh replace"; a static entry needs no ARP
     * answer, which would go to B. */
    exec_ok(b2, "arp -i eth0 -s 198.18.1.11 " MAC_A);
    exec_ok(a, "rm -f /tmp/recv.ready; probe recv --port 7000 --senders 1 "
            "--ready-file /tmp/recv.ready >/tmp/recv.json &");
    exec_ok(a, "i=0; while [ ! -e /tmp/recv.ready ] && [ $i -lt 100 ]; do "
            "sleep 0.1; i=$((i + 1)); done; [ -e /tmp/recv.ready ]");
    sent = exec_ok(b2, "probe send --to 198.18.1.11:7000 --rate 200 "
                   "--count 200");
    line = exec_ok(a, "wait; cat /tmp/recv.json");
    g_test_message("recv on A: %s", line);
    report = json_from_string(line, &err);
    g_assert_no_error(err);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(report));
    r = json_node_get_object(report);
    g_assert_cmpint(json_object_get_int_member(r, "received"), ==, 200);
}

static void test_cancel_leaves_the_source_running(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(HVm) b = NULL;
    g_autoptr(HVm) b2 = NULL;
    g_autoptr(JsonNode) st = NULL;
    g_autoptr(JsonNode) ret = NULL;
    g_autofree char *out = NULL;
    /* Slow enough to be still running when cancelled. */
    HMigrateOptions opts = { .max_bandwidth = 1 << 20, .no_wait = TRUE };
    HMigrateResult res;

    b = start_guest("vm3", "198.18.1.13/24", NULL, harness_free_udp_port(),
                    harness_free_udp_port(), NULL);
    b2 = start_guest("vm3-b2", "198.18.1.13/24", NULL, harness_free_udp_port(),
                     harness_free_udp_port(), "defer");
    g_assert_true(hvm_wait_ready(b, BOOT_TIMEOUT_MS, &err));
    g_assert_no_error(err);
    g_assert_true(hvm_migrate(b, b2, &opts, &res, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(res.port, >, 0);
    ret = hvm_qmp(b, "migrate_cancel", NULL, &err);
    g_assert_no_error(err);
    g_assert_false(hvm_migrate_wait(b, b2, 30000, &res, &err));
    g_assert_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED);
    g_test_message("cancelled: %s", err->message);
    g_assert_nonnull(strstr(err->message, "cancelled"));
    g_clear_error(&err);

    g_assert_cmpstr(status_of(b, &st), ==, "running");
    out = exec_ok(b, "hostname");
    g_assert_cmpstr(out, ==, "vm3\n");
}

static void test_mismatched_target_fails(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(HVm) b = NULL;
    g_autoptr(HVm) b2 = NULL;
    HMigrateOptions opts = { .return_path = TRUE, .timeout_ms = 60000 };
    HVmConfig cfg = { .name = "vm4-b2", .incoming = "defer" };

    b = start_guest("vm4", "198.18.1.14/24", NULL, harness_free_udp_port(),
                    harness_free_udp_port(), NULL);
    /* No NIC: the target cannot load the source's virtio-net. */
    b2 = hvm_start(&cfg, &err);
    g_assert_no_error(err);
    g_assert_true(hvm_wait_ready(b, BOOT_TIMEOUT_MS, &err));
    g_assert_no_error(err);
    g_assert_false(hvm_migrate(b, b2, &opts, NULL, &err));
    g_assert_nonnull(err);
    g_test_message("mismatched: %s", err->message);
    g_assert_nonnull(strstr(err->message, "virtio-net"));
}

/* Certificates for 127.0.0.1 from scripts/tls-certs.sh, in a fresh
 * directory (g_free() it; the test's temporary files go with it). */
static char *tls_dir(void)
{
    g_autoptr(GError) err = NULL;
    char *dir = g_dir_make_tmp("limevi-tls-XXXXXX", &err);
    const char *argv[] = { "bash", g_getenv("LIMEVI_TLS_CERTS"), NULL,
                           "vc1", "127.0.0.1", NULL };
    g_autofree char *out = NULL;

    g_assert_no_error(err);
    argv[2] = dir;
    if (harness_run(argv, 120000, &out, &err) != 0) {
        g_error("tls-certs.sh: %s%s", err ? err->message : "", out);
    }
    return dir;
}

/* tls-creds-x509 object "tls0" of @endpoint on @vm, and the migration
 * parameter that uses it. */
static void tls_creds(HVm *vm, const char *dir, const char *endpoint)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *obj = g_strdup_printf(
        "{\"qom-type\":\"tls-creds-x509\",\"id\":\"tls0\","
        "\"dir\":\"%s\",\"endpoint\":\"%s\",\"verify-peer\":true}",
        dir, endpoint);

    g_assert_true(hvm_qmp_ok(vm, "object-add", obj, &err));
    g_assert_no_error(err);
    g_assert_true(hvm_qmp_ok(vm, "migrate-set-parameters",
                             "{\"tls-creds\":\"tls0\","
                             "\"tls-hostname\":\"127.0.0.1\"}", &err));
    g_assert_no_error(err);
}

/*
 * A destination that takes migrations over TLS only (verify-peer, the
 * VC's CA): a plain stream, as a stranger on the path would send, is
 * refused and no guest runs from it; the source keeps its guest.  The
 * same destination setup with a source that has the VC's client
 * certificate does take the guest, so the refusal is the TLS one.
 */
static void test_plain_stream_refused_by_tls_destination(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = tls_dir();
    g_autoptr(HVm) b = NULL;
    g_autoptr(HVm) b2 = NULL;
    g_autoptr(HVm) b3 = NULL;
    g_autoptr(JsonNode) st = NULL;
    g_autofree char *out = NULL;
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", dir);
    const char *clean[] = { "sh", "-c", rm, NULL };
    HMigrateOptions opts = { .return_path = TRUE, .timeout_ms = 60000 };

    b = start_guest("vm5", "198.18.1.15/24", NULL, harness_free_udp_port(),
                    harness_free_udp_port(), NULL);
    b2 = start_guest("vm5-b2", "198.18.1.15/24", NULL,
                     harness_free_udp_port(), harness_free_udp_port(),
                     "defer");
    g_assert_true(hvm_wait_ready(b, BOOT_TIMEOUT_MS, &err));
    g_assert_no_error(err);
    exec_ok(b, "echo before >/tmp/mark");
    tls_creds(b2, dir, "server");

    g_assert_false(hvm_migrate(b, b2, &opts, NULL, &err));
    g_assert_nonnull(err);
    g_test_message("plain into TLS: %s", err->message);
    g_clear_error(&err);
    /* No guest came to life from it: the target is gone or still waits. */
    if (hvm_qmp_ok(b2, "query-status", NULL, NULL)) {
        g_assert_cmpstr(status_of(b2, &st), !=, "running");
        g_clear_pointer(&st, json_node_unref);
    }
    g_assert_cmpstr(status_of(b, &st), ==, "running");
    g_clear_pointer(&st, json_node_unref);
    out = exec_ok(b, "hostname; cat /tmp/mark");
    g_assert_cmpstr(out, ==, "vm5\nbefore\n");

    /* With the client certificate, the same kind of target takes it. */
    b3 = start_guest("vm5-b3", "198.18.1.15/24", NULL,
                     harness_free_udp_port(), harness_free_udp_port(),
                     "defer");
    tls_creds(b3, dir, "server");
    tls_creds(b, dir, "client");
    g_assert_true(hvm_migrate(b, b3, &opts, NULL, &err));
    g_assert_no_error(err);
    g_clear_pointer(&out, g_free);
    out = exec_ok(b3, "hostname; cat /tmp/mark");
    g_assert_cmpstr(out, ==, "vm5\nbefore\n");
    harness_run(clean, 10000, NULL, NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    harness_require(FALSE);
    g_test_add_func("/migrate-plain/migrate-keeps-the-guest",
                    test_migrate_keeps_the_guest);
    g_test_add_func("/migrate-plain/cancel-leaves-the-source-running",
                    test_cancel_leaves_the_source_running);
    g_test_add_func("/migrate-plain/mismatched-target-fails",
                    test_mismatched_target_fails);
    g_test_add_func("/migrate-plain/plain-stream-refused-by-tls-destination",
                    test_plain_stream_refused_by_tls_destination);
    return g_test_run();
}
