/*
 * Smoke test of the guest image and the harness on plain QEMU: two
 * guests on a "-netdev dgram" wire over 127.0.0.1 reach each other, and
 * a probe stream crosses without loss or duplicates.
 */
#include "harness.h"

#define BOOT_TIMEOUT_MS 60000
#define CMD_TIMEOUT_MS 30000

typedef struct {
    HVm *a;                     /* 198.18.1.11 */
    HVm *b;                     /* 198.18.1.12 */
} Pair;

static Pair pair;

static HVm *start_guest(const char *name, const char *ip, const char *mac,
                        guint16 local, guint16 remote)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *netdev = g_strdup_printf(
        "dgram,local.type=inet,local.host=127.0.0.1,local.port=%u,"
        "remote.type=inet,remote.host=127.0.0.1,remote.port=%u",
        local, remote);
    HVmConfig cfg = {
        .name = name, .ip = ip, .mac = mac, .netdev = netdev,
    };
    HVm *vm = hvm_start(&cfg, &err);

    g_assert_no_error(err);
    return vm;
}

/* Boots both guests once, for all the tests. */
static Pair *pair_get(void)
{
    g_autoptr(GError) err = NULL;
    guint16 port_a, port_b;
    gint64 start;

    if (pair.a) {
        return &pair;
    }
    port_a = harness_free_udp_port();
    port_b = harness_free_udp_port();
    start = g_get_monotonic_time();
    pair.a = start_guest("vm1", "198.18.1.11/24", "52:54:00:4c:56:11",
                         port_a, port_b);
    pair.b = start_guest("vm2", "198.18.1.12/24", "52:54:00:4c:56:12",
                         port_b, port_a);
    g_assert_true(hvm_wait_ready(pair.a, BOOT_TIMEOUT_MS, &err));
    g_assert_no_error(err);
    g_assert_true(hvm_wait_ready(pair.b, BOOT_TIMEOUT_MS, &err));
    g_assert_no_error(err);
    g_test_message("both guests ready in %.1f s",
                   (g_get_monotonic_time() - start) / 1e6);
    return &pair;
}

/* Runs @cmd in @vm and asserts it succeeds; returns its output. */
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

static void test_console_runs_commands(void)
{
    Pair *p = pair_get();
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    g_autofree char *partial = NULL;

    out = exec_ok(p->a, "hostname; cat /sys/class/net/eth0/operstate");
    g_assert_cmpstr(out, ==, "vm1\nup\n");
    /* Output without a final newline and a failing status. */
    g_assert_cmpint(hvm_exec(p->b, "printf half; false", CMD_TIMEOUT_MS,
                             &partial, &err), ==, 1);
    g_assert_no_error(err);
    g_assert_cmpstr(partial, ==, "half");
}

static void test_qmp_reports_running(void)
{
    Pair *p = pair_get();
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) status = hvm_qmp(p->a, "query-status", NULL, &err);
    g_autoptr(JsonNode) bad = NULL;

    g_assert_no_error(err);
    g_assert_cmpstr(json_object_get_string_member(
                        json_node_get_object(status), "status"),
                    ==, "running");
    bad = hvm_qmp(p->a, "no-such-command", NULL, &err);
    g_assert_null(bad);
    g_assert_error(err, HARNESS_ERROR, HARNESS_ERROR_QMP);
    g_assert_true(g_str_has_prefix(err->message, "CommandNotFound: "));
}

static void test_ping_crosses_the_wire(void)
{
    Pair *p = pair_get();
    g_autofree char *out = exec_ok(p->a, "ping -c 3 -W 2 198.18.1.12");

    g_assert_nonnull(strstr(out, "3 packets received"));
}

static void test_probe_stream_loses_nothing(void)
{
    Pair *p = pair_get();
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) report = NULL;
    g_autofree char *started = NULL;
    g_autofree char *waited = NULL;
    g_autofree char *sent = NULL;
    g_autofree char *line = NULL;
    JsonObject *r;

    /* In the background, its report to a file: the console stays ours. */
    started = exec_ok(p->b, "rm -f /tmp/recv.ready; "
                      "probe recv --port 7000 --senders 1 "
                      "--ready-file /tmp/recv.ready >/tmp/recv.json &");
    waited = exec_ok(p->b, "i=0; while [ ! -e /tmp/recv.ready ] && "
                     "[ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; "
                     "[ -e /tmp/recv.ready ]");
    sent = exec_ok(p->a, "probe send --to 198.18.1.12:7000 --rate 500 "
                   "--count 1000");
    g_test_message("send: %s", sent);
    /* recv ends after the last datagram, or 5 s without one. */
    line = exec_ok(p->b, "wait; cat /tmp/recv.json");
    g_test_message("recv: %s", line);
    report = json_from_string(line, &err);
    g_assert_no_error(err);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(report));
    r = json_node_get_object(report);
    g_assert_cmpint(json_object_get_int_member(r, "received"), ==, 1000);
    g_assert_cmpint(json_object_get_int_member(r, "lost"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(r, "duplicated"), ==, 0);
}

static void test_bad_option_fails_at_startup(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *stderr_text = NULL;
    const char *argv[] = {
        g_getenv("LIMEVI_QEMU"), "-nodefaults", "-display", "none",
        "-netdev", "no-such-backend,id=n0", NULL,
    };
    int status = harness_run_expect_fail(argv, 10000, &stderr_text, &err);

    g_assert_no_error(err);
    g_assert_cmpint(status, ==, 1);
    g_assert_nonnull(strstr(stderr_text, "no-such-backend"));
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    harness_require(FALSE);
    g_test_add_func("/smoke/bad-option-fails-at-startup",
                    test_bad_option_fails_at_startup);
    g_test_add_func("/smoke/console-runs-commands",
                    test_console_runs_commands);
    g_test_add_func("/smoke/qmp-reports-running", test_qmp_reports_running);
    g_test_add_func("/smoke/ping-crosses-the-wire",
                    test_ping_crosses_the_wire);
    g_test_add_func("/smoke/probe-stream-loses-nothing",
                    test_probe_stream_loses_nothing);
    ret = g_test_run();
    hvm_free(pair.b);
    hvm_free(pair.a);
    return ret;
}
