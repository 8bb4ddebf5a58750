/*
 * The limevi netdev with real guests: five patched QEMUs and a limevi-tap
 * endpoint, all in one network namespace of the test's own (so the
 * tunnels use its private 127.0.0.1 and the TAP device its 198.18.1.0/24).
 *
 *   a  vc1/lan1  198.18.1.1  routes: b, c (lie: c is on lan2), x (lie: vc2)
 *   b  vc1/lan1  198.18.1.2  routes: a, c (lan2, the truth: never used)
 *   c  vc1/lan2  198.18.1.3  routes: a, b (lie: both said to be on lan2)
 *   x  vc2/lan1  198.18.1.4  routes: a (JSON -netdev syntax)
 *   t  the TAP endpoint (limevi-tap), vc1/lan1, host side 198.18.1.100
 *
 * Every guest is on the same IP subnet, so only LimeVI's isolation keeps
 * c and x away from a and b; the lies make frames actually reach the
 * wrong ports, where they must be dropped and counted.  vc1's members
 * share one key, x another (each a secret object, key-secret=vckey), as
 * users run them: isolation holds before authentication.
 */
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define BOOT_TIMEOUT_MS 180000
#define CMD_TIMEOUT_MS 60000

typedef struct {
    HNetns *ns;
    HVm *a, *b, *c, *x;
    char *vc1_key;              /* key files, one per VC */
    char *vc2_key;
    char *vc1_secret;           /* -object secret,... for them */
    char *vc2_secret;
} Cluster;

static Cluster cl;

#define EP_A "127.0.0.1:7001"
#define EP_B "127.0.0.1:7002"
#define EP_C "127.0.0.1:7003"
#define EP_X "127.0.0.1:7004"
#define EP_T "127.0.0.1:7100"

static HVm *start_vm(const char *name, const char *ip, const char *mac,
                     const char *netdev, const char *const *extra)
{
    g_autoptr(GError) err = NULL;
    HVmConfig cfg = {
        .name = name, .ip = ip, .mac = mac, .netdev = netdev,
        .extra_args = extra, .netns = hnetns_name(cl.ns),
    };
    HVm *vm = hvm_start(&cfg, &err);

    g_assert_no_error(err);
    return vm;
}

#define KEYED ",key-secret=vckey"

/* A key file of 64 hex digits of @digit; g_free() the path. */
static char *key_file(char digit)
{
    g_autofree char *hex = g_strnfill(64, digit);
    g_autoptr(GError) err = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("limevi-key-XXXXXX", &path, &err);

    g_assert_no_error(err);
    close(fd);
    g_assert_true(g_file_set_contents(path, hex, -1, &err));
    return path;
}

static void cluster_keys(void)
{
    cl.vc1_key = key_file('1');
    cl.vc2_key = key_file('2');
    cl.vc1_secret = g_strdup_printf("secret,id=vckey,file=%s", cl.vc1_key);
    cl.vc2_secret = g_strdup_printf("secret,id=vckey,file=%s", cl.vc2_key);
}

static Cluster *cluster_get(void)
{
    const char *x_args[] = {
        "-netdev",
        "{\"type\":\"limevi\",\"id\":\"n0\",\"vm\":\"x\",\"vc\":\"vc2\","
        "\"lan\":\"lan1\",\"listen\":\"" EP_X "\",\"key-secret\":\"vckey\","
        "\"routes\":[{\"vm\":\"a\",\"endpoint\":\"" EP_A "\"}]}",
        "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:18:01:04",
        "-object", NULL, NULL,
    };
    /* A netdev of another type, for the "not a limevi netdev" error. */
    const char *a_args[] = { "-netdev", "user,id=u0", "-object", NULL, NULL };
    const char *vc1_args[] = { "-object", NULL, NULL };
    g_autoptr(GError) err = NULL;
    HVm *all[4];
    gint64 start;

    if (cl.a) {
        return &cl;
    }
    cl.ns = hnetns_new("qemu", &err);
    g_assert_no_error(err);
    cluster_keys();
    x_args[5] = cl.vc2_secret;
    a_args[3] = cl.vc1_secret;
    vc1_args[1] = cl.vc1_secret;
    start = g_get_monotonic_time();
    cl.a = start_vm("a", "198.18.1.1/24", "52:54:00:18:01:01",
                    "limevi,vm=a,vc=vc1,lan=lan1,listen=" EP_A
                    ",routes.0.vm=b,routes.0.endpoint=" EP_B
                    ",routes.1.vm=c,routes.1.endpoint=" EP_C
                    ",routes.2.vm=x,routes.2.endpoint=" EP_X KEYED, a_args);
    cl.b = start_vm("b", "198.18.1.2/24", "52:54:00:18:01:02",
                    "limevi,vm=b,vc=vc1,lan=lan1,listen=" EP_B
                    ",routes.0.vm=a,routes.0.endpoint=" EP_A
                    ",routes.1.vm=c,routes.1.endpoint=" EP_C
                    ",routes.1.lan=lan2" KEYED, vc1_args);
    cl.c = start_vm("c", "198.18.1.3/24", "52:54:00:18:01:03",
                    "limevi,vm=c,vc=vc1,lan=lan2,listen=" EP_C
                    ",routes.0.vm=a,routes.0.endpoint=" EP_A
                    ",routes.1.vm=b,routes.1.endpoint=" EP_B KEYED, vc1_args);
    cl.x = start_vm("x", "198.18.1.4/24", NULL, NULL, x_args);
    all[0] = cl.a; all[1] = cl.b; all[2] = cl.c; all[3] = cl.x;
    for (guint i = 0; i < G_N_ELEMENTS(all); i++) {
        if (!hvm_wait_ready(all[i], BOOT_TIMEOUT_MS, &err)) {
            g_error("%s did not boot: %s\nconsole:\n%s", hvm_name(all[i]),
                    err->message, hvm_console(all[i]));
        }
    }
    g_test_message("4 guests ready in %.1f s",
                   (g_get_monotonic_time() - start) / 1e6);
    return &cl;
}

static char *guest_ok(HVm *vm, const char *cmd)
{
    return hvm_exec_ok(vm, cmd, CMD_TIMEOUT_MS);
}

static int guest_status(HVm *vm, const char *cmd)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    int status = hvm_exec(vm, cmd, CMD_TIMEOUT_MS, &out, &err);

    g_assert_no_error(err);
    return status;
}

static gint64 stat_of(HVm *vm, const char *name)
{
    JsonNode *holder;
    JsonObject *o = hvm_limevi_port(vm, &holder);
    gint64 v = json_object_get_int_member(
        json_object_get_object_member(o, "stats"), name);

    json_node_unref(holder);
    return v;
}

/* The route of @peer in @vm's table, as a JSON string, for assertions. */
static char *route_of(HVm *vm, const char *peer)
{
    JsonNode *holder;
    JsonObject *o = hvm_limevi_port(vm, &holder);
    JsonArray *routes = json_object_get_array_member(o, "routes");
    char *s = NULL;

    for (guint i = 0; i < json_array_get_length(routes); i++) {
        JsonObject *r = json_array_get_object_element(routes, i);

        if (!strcmp(json_object_get_string_member(r, "vm"), peer)) {
            s = g_strdup_printf("%s %s %s/%s epoch %" G_GINT64_FORMAT,
                json_object_get_string_member(r, "endpoint"),
                json_object_get_string_member(r, "status"),
                json_object_get_string_member(r, "vc"),
                json_object_get_string_member(r, "lan"),
                json_object_get_int_member(r, "epoch"));
        }
    }
    json_node_unref(holder);
    return s;
}

static void qmp_ok(HVm *vm, const char *cmd, const char *args)
{
    g_autoptr(GError) err = NULL;
    JsonNode *ret = hvm_qmp(vm, cmd, args, &err);

    g_assert_no_error(err);
    json_node_unref(ret);
}

/* ---- Tests ---- */

static void test_netdev_help_lists_limevi(void)
{
    const char *argv[] = { g_getenv("LIMEVI_QEMU"), "-netdev", "help",
                           NULL };
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;

    g_assert_cmpint(harness_run(argv, 30000, &out, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_nonnull(strstr(out, "\nlimevi\n"));
}

static void test_same_lan_ping(void)
{
    Cluster *c = cluster_get();
    g_autofree char *out = guest_ok(c->a, "ping -c 3 -W 5 198.18.1.2");

    g_assert_nonnull(strstr(out, "3 packets received"));
    g_free(guest_ok(c->b, "ping -c 3 -W 5 198.18.1.1"));
    /* Sealed and opened with vc1's key: nothing failed on the way. */
    g_assert_cmpint(stat_of(c->a, "rx-auth-failed"), ==, 0);
    g_assert_cmpint(stat_of(c->b, "rx-auth-failed"), ==, 0);
    g_assert_cmpint(stat_of(c->a, "rx-replayed"), ==, 0);
}

/* Starts "probe recv" in @vm's background and waits until it listens:
 * a datagram sent before would be dropped by the guest's kernel. */
static void recv_start(HVm *vm, guint port)
{
    g_autofree char *cmd = g_strdup_printf(
        "rm -f /tmp/recv.ready; probe recv --port %u --senders 1 "
        "--timeout-ms 20000 --ready-file /tmp/recv.ready "
        "> /tmp/recv.json 2>&1 &", port);

    g_free(guest_ok(vm, cmd));
    g_free(guest_ok(vm, "i=0; while [ ! -e /tmp/recv.ready ] && "
                    "[ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
                    "[ -e /tmp/recv.ready ]"));
}

/* Waits for @vm's background "probe recv" and parses its one line. */
static JsonObject *probe_result(HVm *vm, JsonParser *parser)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *out = guest_ok(vm, "wait; cat /tmp/recv.json");
    g_auto(GStrv) lines = g_strsplit(g_strstrip(out), "\n", -1);

    g_assert_cmpuint(g_strv_length(lines), ==, 1);
    if (!json_parser_load_from_data(parser, lines[0], -1, &err)) {
        g_error("probe output is not JSON: %s", out);
    }
    return json_node_get_object(json_parser_get_root(parser));
}

static void test_same_lan_probe_stream_loses_nothing(void)
{
    Cluster *c = cluster_get();
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *r;

    recv_start(c->b, 7000);
    g_free(guest_ok(c->a, "probe send --to 198.18.1.2:7000 --rate 1000 "
                    "--count 3000 --size 200 --id a"));
    r = probe_result(c->b, parser);
    g_test_message("a -> b: %s", json_to_string(
        json_parser_get_root(parser), FALSE));
    g_assert_cmpstr(json_object_get_string_member(r, "sender"), ==, "a");
    g_assert_cmpint(json_object_get_int_member(r, "received"), ==, 3000);
    g_assert_cmpint(json_object_get_int_member(r, "lost"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(r, "duplicated"), ==, 0);
}

static void test_isolation_other_lan(void)
{
    Cluster *c = cluster_get();
    gint64 c_wrong_lan = stat_of(c->c, "rx-wrong-lan");
    gint64 a_wrong_lan;
    gint64 b_tx = stat_of(c->b, "tx-frames");

    /* b's route to c says lan2: b never sends c anything.  The ping
     * fails either way; the counters tell: b did send (its ARP flood, to
     * its lan1 routes), and c got nothing, not even to drop.  First, so
     * that no ARP retry of a's pings below lands in this window. */
    g_assert_cmpint(guest_status(c->b, "ping -c 1 -W 2 198.18.1.3"), !=, 0);
    g_assert_cmpint(stat_of(c->b, "tx-frames"), >, b_tx);
    g_assert_cmpint(stat_of(c->c, "rx-wrong-lan"), ==, c_wrong_lan);
    g_assert_cmpint(stat_of(c->c, "rx-frames"), ==, 0);
    /* a floods its ARP requests to c too (a's route says lan1): c drops. */
    a_wrong_lan = stat_of(c->a, "rx-wrong-lan");
    g_assert_cmpint(guest_status(c->a, "ping -c 2 -W 2 198.18.1.3"), !=, 0);
    g_assert_cmpint(stat_of(c->c, "rx-wrong-lan"), >, c_wrong_lan);
    /* c floods to a and b as lan2: both drop. */
    g_assert_cmpint(guest_status(c->c, "ping -c 2 -W 2 198.18.1.1"), !=, 0);
    g_assert_cmpint(stat_of(c->a, "rx-wrong-lan"), >, a_wrong_lan);
    g_assert_cmpint(stat_of(c->c, "rx-frames"), ==, 0);
}

static void test_isolation_other_vc(void)
{
    Cluster *c = cluster_get();
    gint64 x_wrong_vc = stat_of(c->x, "rx-wrong-vc");
    gint64 a_wrong_vc = stat_of(c->a, "rx-wrong-vc");

    g_assert_cmpint(guest_status(c->x, "ping -c 2 -W 2 198.18.1.1"), !=, 0);
    g_assert_cmpint(stat_of(c->a, "rx-wrong-vc"), >, a_wrong_vc);
    g_assert_cmpint(guest_status(c->a, "ping -c 2 -W 2 198.18.1.4"), !=, 0);
    g_assert_cmpint(stat_of(c->x, "rx-wrong-vc"), >, x_wrong_vc);
    g_assert_cmpint(stat_of(c->x, "rx-frames"), ==, 0);
}

static void test_json_syntax_parses_routes(void)
{
    Cluster *c = cluster_get();
    g_autofree char *r = route_of(c->x, "a");

    g_assert_cmpstr(r, ==, EP_A " valid vc2/lan1 epoch 0");
}

/* limevi-route-set re-points b's route at a: a's traffic follows it. */
static void test_route_set_repoints_traffic(void)
{
    Cluster *c = cluster_get();
    g_autoptr(GError) err = NULL;
    g_autofree char *before = route_of(c->a, "b");
    g_autofree char *lost = NULL;
    g_autofree char *back = NULL;
    JsonNode *ev;
    JsonObject *data;

    g_assert_cmpstr(before, ==, EP_B " valid vc1/lan1 epoch 0");
    /* Nothing listens there: a's frames for b now go nowhere. */
    qmp_ok(c->a, "limevi-route-set",
           "{\"netdev\":\"n0\",\"vm\":\"b\",\"endpoint\":\"127.0.0.1:7999\"}");
    ev = hvm_qmp_wait_event(c->a, "LIMEVI_ROUTE_CHANGED", 10000, &err);
    g_assert_no_error(err);
    data = json_object_get_object_member(json_node_get_object(ev), "data");
    g_assert_false(json_object_get_boolean_member(data, "removed"));
    g_assert_cmpint(json_object_get_int_member(
        json_object_get_object_member(data, "route"), "epoch"), ==, 1);
    json_node_unref(ev);
    lost = route_of(c->a, "b");
    g_assert_cmpstr(lost, ==, "127.0.0.1:7999 valid vc1/lan1 epoch 1");
    g_assert_cmpint(guest_status(c->a, "ping -c 2 -W 2 198.18.1.2"), !=, 0);

    qmp_ok(c->a, "limevi-route-set",
           "{\"netdev\":\"n0\",\"vm\":\"b\",\"endpoint\":\"" EP_B "\"}");
    back = route_of(c->a, "b");
    g_assert_cmpstr(back, ==, EP_B " valid vc1/lan1 epoch 2");
    g_free(guest_ok(c->a, "ping -c 2 -W 5 198.18.1.2"));
}

static void assert_qmp_error(HVm *vm, const char *cmd, const char *args,
                             const char *expect)
{
    g_autoptr(GError) err = NULL;
    JsonNode *ret = hvm_qmp(vm, cmd, args, &err);

    g_assert_null(ret);
    g_assert_error(err, HARNESS_ERROR, HARNESS_ERROR_QMP);
    if (!strstr(err->message, expect)) {
        g_error("%s %s: expected '%s' in '%s'", cmd, args, expect,
                err->message);
    }
}

static void test_qmp_bad_arguments_change_nothing(void)
{
    Cluster *c = cluster_get();
    g_autofree char *before = route_of(c->a, "b");
    g_autofree char *after = NULL;
    g_autofree char *gone = NULL;

    assert_qmp_error(c->a, "limevi-route-set",
        "{\"netdev\":\"nope\",\"vm\":\"b\",\"endpoint\":\"" EP_B "\"}",
        "Netdev 'nope' not found");
    assert_qmp_error(c->a, "limevi-route-set",
        "{\"netdev\":\"u0\",\"vm\":\"b\",\"endpoint\":\"" EP_B "\"}",
        "is not a limevi netdev");
    assert_qmp_error(c->a, "limevi-route-set",
        "{\"netdev\":\"n0\",\"vm\":\"b\",\"endpoint\":\"nowhere\"}",
        "'endpoint'");
    assert_qmp_error(c->a, "limevi-route-set",
        "{\"netdev\":\"n0\",\"vm\":\"b\",\"endpoint\":\"127.0.0.1:99999\"}",
        "'endpoint'");
    assert_qmp_error(c->a, "limevi-route-set",
        "{\"netdev\":\"n0\",\"vm\":\"b/../\",\"endpoint\":\"" EP_B "\"}",
        "'vm'");
    assert_qmp_error(c->a, "limevi-route-set",
        "{\"netdev\":\"n0\",\"vm\":\"b\",\"endpoint\":\"" EP_B "\","
        "\"lan\":\"\"}", "'lan'");
    assert_qmp_error(c->a, "limevi-route-set",
        "{\"netdev\":\"n0\",\"vm\":\"b\",\"endpoint\":\"" EP_B "\","
        "\"status\":\"maybe\"}", "status");
    assert_qmp_error(c->a, "limevi-route-set",
        "{\"netdev\":\"n0\",\"vm\":\"a\",\"endpoint\":\"" EP_B "\"}",
        "own VM");
    assert_qmp_error(c->a, "limevi-route-del",
        "{\"netdev\":\"n0\",\"vm\":\"nobody\"}", "'nobody' has no route");
    after = route_of(c->a, "b");
    g_assert_cmpstr(after, ==, before);
    gone = route_of(c->a, "nobody");
    g_assert_null(gone);
}

static void test_route_del_removes_and_notifies(void)
{
    Cluster *c = cluster_get();
    g_autoptr(GError) err = NULL;
    g_autofree char *r = NULL;
    JsonNode *ev;

    qmp_ok(c->b, "limevi-route-set", "{\"netdev\":\"n0\",\"vm\":\"ghost\","
           "\"endpoint\":\"127.0.0.1:7998\",\"status\":\"invalid\"}");
    r = route_of(c->b, "ghost");
    g_assert_cmpstr(r, ==, "127.0.0.1:7998 invalid vc1/lan1 epoch 1");
    qmp_ok(c->b, "limevi-route-del", "{\"netdev\":\"n0\",\"vm\":\"ghost\"}");
    g_clear_pointer(&r, g_free);
    r = route_of(c->b, "ghost");
    g_assert_null(r);
    /* The set's event, then the removal's. */
    json_node_unref(hvm_qmp_wait_event(c->b, "LIMEVI_ROUTE_CHANGED", 10000,
                                       &err));
    g_assert_no_error(err);
    ev = hvm_qmp_wait_event(c->b, "LIMEVI_ROUTE_CHANGED", 10000, &err);
    g_assert_no_error(err);
    g_assert_true(json_object_get_boolean_member(
        json_object_get_object_member(json_node_get_object(ev), "data"),
        "removed"));
    json_node_unref(ev);
}

/* limevi-tap joins a TAP device to vc1/lan1: host tools reach guest a. */
static void test_tap_endpoint_exchanges_traffic(void)
{
    Cluster *c = cluster_get();
    const char *tap_argv[] = {
        g_getenv("LIMEVI_TAP"), "--tap", "lvtap0", "--vm", "t",
        "--vc", "vc1", "--lan", "lan1", "--listen", EP_T,
        "--route", "a=" EP_A, "--key-file", c->vc1_key, NULL,
    };
    const char *addr[] = { "ip", "addr", "add", "198.18.1.100/24", "dev",
                           "lvtap0", NULL };
    const char *up[] = { "ip", "link", "set", "lvtap0", "up", NULL };
    const char *show[] = { "ip", "link", "show", "lvtap0", NULL };
    const char *ping[] = { "ping", "-c", "3", "-W", "5", "198.18.1.1",
                           NULL };
    const char *send[] = { g_getenv("LIMEVI_PROBE"), "send", "--to",
                           "198.18.1.1:7001", "--rate", "500", "--count",
                           "1000", "--id", "tap", NULL };
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    JsonObject *r;
    int tries;

    hnetns_spawn(c->ns, tap_argv, &err);
    g_assert_no_error(err);
    for (tries = 0; tries < 50; tries++) {
        g_clear_pointer(&out, g_free);
        if (hnetns_run(c->ns, show, 5000, &out, NULL) == 0) {
            break;
        }
        g_usleep(100000);
    }
    g_assert_cmpint(tries, <, 50);
    g_assert_cmpint(hnetns_run(c->ns, addr, 5000, NULL, &err), ==, 0);
    g_assert_cmpint(hnetns_run(c->ns, up, 5000, NULL, &err), ==, 0);
    qmp_ok(c->a, "limevi-route-set",
           "{\"netdev\":\"n0\",\"vm\":\"t\",\"endpoint\":\"" EP_T "\"}");

    g_clear_pointer(&out, g_free);
    if (hnetns_run(c->ns, ping, 30000, &out, &err) != 0) {
        g_error("ping from the TAP side failed:\n%s", out);
    }
    recv_start(c->a, 7001);
    g_clear_pointer(&out, g_free);
    g_assert_cmpint(hnetns_run(c->ns, send, 30000, &out, &err), ==, 0);
    r = probe_result(c->a, parser);
    g_assert_cmpint(json_object_get_int_member(r, "received"), ==, 1000);
    g_assert_cmpint(json_object_get_int_member(r, "lost"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(r, "duplicated"), ==, 0);
}

/* ---- Bad options: QEMU must exit at startup naming the option ---- */

typedef struct {
    const char *name;
    const char *netdev;
    const char *expect;         /* in QEMU's one-line error */
} BadOption;

#define OK_BASE "limevi,id=n0,vm=v,vc=vc1,lan=lan1"
static const BadOption bad_options[] = {
    { "missing-vm", "limevi,id=n0,vc=vc1,lan=lan1,listen=127.0.0.1:0",
      "'vm' is missing" },
    { "missing-vc", "limevi,id=n0,vm=v,lan=lan1,listen=127.0.0.1:0",
      "'vc' is missing" },
    { "missing-lan", "limevi,id=n0,vm=v,vc=vc1,listen=127.0.0.1:0",
      "'lan' is missing" },
    { "missing-listen", OK_BASE, "'listen' is missing" },
    { "bad-name", "limevi,id=n0,vm=a/b,vc=vc1,lan=lan1,listen=127.0.0.1:0",
      "'vm'" },
    { "listen-unparsable", OK_BASE ",listen=nowhere", "'listen'" },
    { "listen-bad-port", OK_BASE ",listen=127.0.0.1:70000", "'listen'" },
    { "listen-in-use", OK_BASE ",listen=127.0.0.1:%u", "in use" },
    { "route-endpoint-unparsable", OK_BASE ",listen=127.0.0.1:0,"
      "routes.0.vm=w,routes.0.endpoint=1.2.3.4", "'routes'" },
    { "route-missing-endpoint", OK_BASE ",listen=127.0.0.1:0,"
      "routes.0.vm=w", "'routes.0.endpoint' is missing" },
    { "duplicate-route", OK_BASE ",listen=127.0.0.1:0,"
      "routes.0.vm=w,routes.0.endpoint=127.0.0.1:1,"
      "routes.1.vm=w,routes.1.endpoint=127.0.0.1:2", "more than once" },
    { "buffer-limit-too-small", OK_BASE ",listen=127.0.0.1:0,"
      "buffer-limit=100", "'buffer-limit'" },
    { "buffer-limit-too-big", OK_BASE ",listen=127.0.0.1:0,"
      "buffer-limit=2G", "'buffer-limit'" },
    { "buffer-limit-zero", OK_BASE ",listen=127.0.0.1:0,buffer-limit=0",
      "'buffer-limit'" },
    { "buffer-limit-not-a-size", OK_BASE ",listen=127.0.0.1:0,"
      "buffer-limit=lots", "buffer-limit" },
    { "unknown-option", OK_BASE ",listen=127.0.0.1:0,colour=green",
      "'colour'" },
    /* Secure by default: beyond loopback only with a key, or insecure. */
    { "no-key-beyond-loopback", OK_BASE ",listen=198.18.1.1:0",
      "'key-secret'" },
    { "no-key-on-wildcard", OK_BASE ",listen=0.0.0.0:0", "'insecure=on'" },
    { "key-secret-unknown", OK_BASE ",listen=127.0.0.1:0,key-secret=nosuch",
      "'key-secret'" },
};

static void test_bad_option(gconstpointer data)
{
    const BadOption *b = data;
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocket) sock = NULL;
    g_autofree char *netdev = NULL;
    g_autofree char *stderr_out = NULL;
    guint16 port = 0;
    int status;

    if (strstr(b->netdev, "%u")) {
        /* Hold a port so QEMU finds it in use. */
        g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(
            G_SOCKET_FAMILY_IPV4);
        g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
        g_autoptr(GSocketAddress) bound = NULL;

        sock = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                            G_SOCKET_PROTOCOL_UDP, &err);
        g_assert_no_error(err);
        g_assert_true(g_socket_bind(sock, any, FALSE, &err));
        bound = g_socket_get_local_address(sock, &err);
        port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
    }
    netdev = g_strdup_printf(b->netdev, port);
    {
        const char *argv[] = {
            g_getenv("LIMEVI_QEMU"), "-M", "none", "-nodefaults",
            "-display", "none", "-netdev", netdev, NULL,
        };

        status = harness_run_expect_fail(argv, 30000, &stderr_out, &err);
    }
    g_assert_no_error(err);
    g_assert_cmpint(status, ==, 1);
    g_strstrip(stderr_out);
    if (!strstr(stderr_out, b->expect) || strchr(stderr_out, '\n')) {
        g_error("-netdev %s: expected one line with '%s', got:\n%s",
                netdev, b->expect, stderr_out);
    }
    g_test_message("%s", stderr_out);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    harness_require(TRUE);
    if (!g_getenv("LIMEVI_TAP") || !g_getenv("LIMEVI_PROBE")) {
        g_printerr("LIMEVI_TAP and LIMEVI_PROBE must be set\n");
        return 1;
    }

    g_test_add_func("/limevi/netdev-help-lists-limevi",
                    test_netdev_help_lists_limevi);
    for (guint i = 0; i < G_N_ELEMENTS(bad_options); i++) {
        g_autofree char *path = g_strdup_printf("/limevi/bad-option/%s",
                                                bad_options[i].name);

        g_test_add_data_func(path, &bad_options[i], test_bad_option);
    }
    g_test_add_func("/limevi/same-lan/ping", test_same_lan_ping);
    g_test_add_func("/limevi/same-lan/probe-stream-loses-nothing",
                    test_same_lan_probe_stream_loses_nothing);
    g_test_add_func("/limevi/isolation/other-lan-dropped-and-counted",
                    test_isolation_other_lan);
    g_test_add_func("/limevi/isolation/other-vc-dropped-and-counted",
                    test_isolation_other_vc);
    g_test_add_func("/limevi/json-syntax/parses-routes",
                    test_json_syntax_parses_routes);
    g_test_add_func("/limevi/route-set/re-points-traffic",
                    test_route_set_repoints_traffic);
    g_test_add_func("/limevi/qmp/bad-arguments-change-nothing",
                    test_qmp_bad_arguments_change_nothing);
    g_test_add_func("/limevi/route-del/removes-and-notifies",
                    test_route_del_removes_and_notifies);
    g_test_add_func("/limevi/tap/exchanges-traffic-with-a-guest",
                    test_tap_endpoint_exchanges_traffic);
    ret = g_test_run();

    g_clear_pointer(&cl.a, hvm_free);
    g_clear_pointer(&cl.b, hvm_free);
    g_clear_pointer(&cl.c, hvm_free);
    g_clear_pointer(&cl.x, hvm_free);
    g_clear_pointer(&cl.ns, hnetns_free);
    if (cl.vc1_key) {
        unlink(cl.vc1_key);
        unlink(cl.vc2_key);
    }
    g_free(cl.vc1_key);
    g_free(cl.vc2_key);
    g_free(cl.vc1_secret);
    g_free(cl.vc2_secret);
    return ret;
}
