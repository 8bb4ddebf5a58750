/*
 * limevi-tap on a 1500-byte path, in two namespaces joined by a veth of
 * MTU 1500 (198.18.110.0/24), the TAPs on 198.18.111.0/24:
 *   - --path-mtu 1500 sets the TAP MTU to the path less the tunnel's
 *     headers (with the VC key's seal and tag, as users run it), and a
 *     full-size ping with DF crosses the tunnel;
 *   - told a path larger than the veth (--path-mtu 1600), the datagrams
 *     of a full-size ping do not fit: they are refused and counted in
 *     tx-too-big, and the kernel fragments nothing;
 *   - with TAP offloads (the default), a TCP stream of 16 MB arrives
 *     whole (length and SHA-256) and limevi-tap did cut TSO super-frames.
 * Needs root; no QEMU.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* ns_ok(): runs a command in a namespace, asserting it succeeds. */
#include "gw-fixture.h"

/* The names limevi-tap puts in every header: vc1, lan1, a and b; then
 * the seal (key id, counter) and the tag of a sealed packet. */
#define HEADER_LEN (24 + 3 + 4 + 1 + 1 + 9 + 16)
/* TAP MTU on a path of @path: IPv4, UDP, our header, Ethernet. */
#define TAP_MTU(path) ((path) - 20 - 8 - HEADER_LEN - 14)

typedef struct {
    HNetns *ns;
    GSubprocess *tap;
    char *out;                  /* limevi-tap's stdout */
} Side;

static Side a, b;
static char *key_file;          /* the VC's key, both sides' */

/* limevi-tap in @s, its stdout to a file (hnetns_spawn() discards it). */
static void tap_start(Side *s, const char *self, const char *peer,
                      int path_mtu)
{
    g_autoptr(GSubprocessLauncher) launcher =
        harness_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
    g_autoptr(GError) err = NULL;
    g_autofree char *listen = g_strdup_printf("198.18.110.%s:7000",
                                              self[0] == 'a' ? "1" : "2");
    g_autofree char *route = g_strdup_printf("%s=198.18.110.%s:7000", peer,
                                             peer[0] == 'a' ? "1" : "2");
    g_autofree char *mtu = g_strdup_printf("%d", path_mtu);
    const char *argv[] = { "ip", "netns", "exec", hnetns_name(s->ns),
        g_getenv("LIMEVI_TAP"), "--tap", "lvmtu0", "--vm", self,
        "--vc", "vc1", "--lan", "lan1", "--listen", listen,
        "--route", route, "--path-mtu", mtu, "--key-file", key_file, NULL };
    int fd = g_file_open_tmp("limevi-tap-mtu-XXXXXX", &s->out, &err);
    gint64 deadline = harness_deadline(10000);

    g_assert_no_error(err);
    close(fd);
    g_subprocess_launcher_set_stdout_file_path(launcher, s->out);
    s->tap = g_subprocess_launcher_spawnv(launcher, argv, &err);
    g_assert_no_error(err);
    /* Up once its tunnel socket is bound, which follows the MTU. */
    for (;;) {
        g_autofree char *bound = ns_ok(s->ns, (const char *[]){ "ss", "-Hlun",
                                       "sport = :7000", NULL });

        if (*bound) {
            break;
        }
        g_assert_cmpint(harness_remaining_ms(deadline), >, 0);
        g_usleep(50000);
    }
    g_free(ns_ok(s->ns, (const char *[]){ "ip", "addr", "replace",
                 self[0] == 'a' ? "198.18.111.1/24" : "198.18.111.2/24",
                 "dev", "lvmtu0", NULL }));
    g_free(ns_ok(s->ns, (const char *[]){ "ip", "link", "set", "lvmtu0",
                 "up", NULL }));
}

/* Stops @s's limevi-tap; returns its counters, the JSON it prints. */
static JsonObject *tap_stop(Side *s, JsonNode **holder)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;
    guint n;

    g_subprocess_send_signal(s->tap, SIGTERM);
    g_assert_true(harness_wait_process(s->tap, 10000));
    g_assert_cmpint(harness_process_status(s->tap), ==, 0);
    g_file_get_contents(s->out, &out, NULL, &err);
    g_assert_no_error(err);
    lines = g_strsplit(g_strstrip(out), "\n", -1);
    n = g_strv_length(lines);
    g_assert_cmpuint(n, >, 0);
    *holder = json_from_string(lines[n - 1], &err);
    g_assert_no_error(err);
    g_clear_object(&s->tap);
    g_unlink(s->out);
    g_clear_pointer(&s->out, g_free);
    return json_node_get_object(*holder);
}

static int tap_mtu(Side *s)
{
    g_autofree char *mtu = ns_ok(s->ns, (const char *[]){ "cat",
                                 "/sys/class/net/lvmtu0/mtu", NULL });

    return atoi(mtu);
}

/* Fragments the IP layer of @s made (/proc/net/snmp, Ip: FragCreates). */
static guint64 frag_creates(Side *s)
{
    g_autofree char *snmp = ns_ok(s->ns, (const char *[]){ "cat",
                                  "/proc/net/snmp", NULL });
    g_auto(GStrv) lines = g_strsplit(snmp, "\n", -1);
    g_auto(GStrv) names = g_strsplit(lines[0], " ", -1);
    g_auto(GStrv) values = g_strsplit(lines[1], " ", -1);

    for (guint i = 0; names[i] && values[i]; i++) {
        if (!strcmp(names[i], "FragCreates")) {
            return g_ascii_strtoull(values[i], NULL, 10);
        }
    }
    g_assert_not_reached();
}

/* ping -M do (DF, never fragment locally) with @size bytes of payload. */
static int ping_df(int size, char **output)
{
    g_autofree char *s = g_strdup_printf("%d", size);

    return hnetns_run(a.ns, (const char *[]){ "ping", "-M", "do", "-s", s,
                      "-c", "3", "-i", "0.2", "-W", "2", "198.18.111.2",
                      NULL }, 20000, output, NULL);
}

static void test_full_size_ping(void)
{
    g_autoptr(JsonNode) ha = NULL, hb = NULL;
    g_autofree char *out = NULL, *over = NULL;
    JsonObject *ca, *cb;
    int mtu;

    tap_start(&a, "a", "b", 1500);
    tap_start(&b, "b", "a", 1500);
    mtu = tap_mtu(&a);
    g_assert_cmpint(mtu, ==, TAP_MTU(1500));
    g_assert_cmpint(tap_mtu(&b), ==, TAP_MTU(1500));
    /* The largest ICMP payload the TAP MTU carries: IP 20, ICMP 8. */
    g_assert_cmpint(ping_df(mtu - 28, &out), ==, 0);
    g_assert_nonnull(strstr(out, "3 received"));
    /* One byte more: the host's own stack refuses it at the TAP. */
    g_assert_cmpint(ping_df(mtu - 27, &over), !=, 0);
    g_assert_nonnull(strstr(over, "message too long"));
    ca = tap_stop(&a, &ha);
    cb = tap_stop(&b, &hb);
    g_assert_cmpint(json_object_get_int_member(ca, "tx-too-big"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(cb, "tx-too-big"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(cb, "rx-frames"), >=, 3);
    g_assert_cmpuint(frag_creates(&a), ==, 0);
}

static void test_oversize_counted(void)
{
    g_autoptr(JsonNode) ha = NULL, hb = NULL;
    g_autofree char *out = NULL;
    guint64 frags = frag_creates(&a);
    JsonObject *ca;

    /* A path claimed larger than the veth: frames of up to TAP_MTU(1600)
     * reach the tunnel, and their datagrams exceed 1500 bytes. */
    tap_start(&a, "a", "b", 1600);
    tap_start(&b, "b", "a", 1500);
    g_assert_cmpint(tap_mtu(&a), ==, TAP_MTU(1600));
    /* A small ping first: the tunnel works, ARP is resolved. */
    g_assert_cmpint(ping_df(56, NULL), ==, 0);
    g_assert_cmpint(ping_df(TAP_MTU(1600) - 28, &out), !=, 0);
    g_assert_nonnull(strstr(out, "0 received"));
    ca = tap_stop(&a, &ha);
    tap_stop(&b, &hb);
    g_assert_cmpint(json_object_get_int_member(ca, "tx-too-big"), ==, 3);
    g_assert_cmpint(json_object_get_int_member(ca, "tx-errors"), >=, 3);
    g_assert_cmpuint(frag_creates(&a), ==, frags);
}

/* Receives one TCP connection on 198.18.111.2:5001, writes "LEN SHA256". */
static const char receiver_py[] =
    "import hashlib,socket,sys\n"
    "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.bind(('198.18.111.2',5001));s.listen(1);s.settimeout(30)\n"
    "c,_=s.accept();c.settimeout(30);h=hashlib.sha256();n=0\n"
    "while True:\n"
    "  b=c.recv(1<<16)\n"
    "  if not b: break\n"
    "  h.update(b);n+=len(b)\n"
    "open(sys.argv[1],'w').write('%d %s'%(n,h.hexdigest()))\n";
static const char sender_py[] =
    "import socket,sys\n"
    "c=socket.create_connection(('198.18.111.2',5001),timeout=30)\n"
    "c.sendall(open(sys.argv[1],'rb').read());c.close()\n";

static void test_offload_stream(void)
{
    g_autoptr(JsonNode) ha = NULL, hb = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *data_path = NULL, *result_path = NULL, *result = NULL;
    g_autofree char *want = NULL, *sum = NULL;
    GSubprocess *rx;                  /* the namespace owns it */
    gsize len = 16 << 20;
    g_autofree guint8 *data = g_malloc(len);
    GRand *rand = g_rand_new_with_seed(12);
    JsonObject *ca, *cb;

    for (gsize i = 0; i < len; i += 4) {
        guint32 r = g_rand_int(rand);

        memcpy(data + i, &r, 4);
    }
    g_rand_free(rand);
    close(g_file_open_tmp("limevi-offload-XXXXXX", &data_path, &err));
    close(g_file_open_tmp("limevi-offload-sum-XXXXXX", &result_path, &err));
    g_assert_no_error(err);
    g_assert_true(g_file_set_contents(data_path, (char *)data, len, &err));
    sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
    want = g_strdup_printf("%" G_GSIZE_FORMAT " %s", len, sum);

    tap_start(&a, "a", "b", 1500);
    tap_start(&b, "b", "a", 1500);
    g_assert_cmpint(ping_df(56, NULL), ==, 0);
    rx = hnetns_spawn(b.ns, (const char *[]){ "python3", "-c", receiver_py,
                      result_path, NULL }, &err);
    g_assert_no_error(err);
    g_usleep(500000);                       /* listening */
    g_assert_cmpint(hnetns_run(a.ns, (const char *[]){ "python3", "-c",
                    sender_py, data_path, NULL }, 60000, NULL, NULL), ==, 0);
    g_assert_true(harness_wait_process(rx, 30000));
    g_assert_true(g_file_get_contents(result_path, &result, NULL, &err));
    g_assert_cmpstr(result, ==, want);
    ca = tap_stop(&a, &ha);
    cb = tap_stop(&b, &hb);
    /* Side b wrote the segments to its TAP coalesced again. */
    g_test_message("b: %" G_GINT64_FORMAT " TSO frames of %" G_GINT64_FORMAT
                   " segments", json_object_get_int_member(cb,
                   "tap-tso-frames"), json_object_get_int_member(cb,
                   "tap-tso-segments"));
    g_assert_cmpint(json_object_get_int_member(cb, "tap-tso-frames"), >, 0);
    g_assert_cmpint(json_object_get_int_member(cb, "tap-tso-segments"), >,
                    json_object_get_int_member(cb, "tap-tso-frames"));
    /* The kernel handed side a super-frames, which it cut to the MTU. */
    g_assert_cmpint(json_object_get_int_member(ca, "tap-gso-frames"), >, 0);
    g_assert_cmpint(json_object_get_int_member(ca, "tap-segments"), >,
                    json_object_get_int_member(ca, "tap-gso-frames"));
    g_assert_cmpint(json_object_get_int_member(ca, "tx-too-big"), ==, 0);
    g_unlink(data_path);
    g_unlink(result_path);
}

/* A failed assertion still ends the taps and deletes the namespaces
 * (g_error() traps, g_assert() aborts), as test-tbf's handler does. */
static void on_abort(int sig)
{
    signal(sig, SIG_DFL);
    if (a.tap) {
        g_subprocess_force_exit(a.tap);
    }
    if (b.tap) {
        g_subprocess_force_exit(b.tap);
    }
    if (a.ns) {
        hnetns_free(a.ns);
    }
    if (b.ns) {
        hnetns_free(b.ns);
    }
    raise(sig);
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);
    signal(SIGABRT, on_abort);
    signal(SIGTRAP, on_abort);
    if (geteuid() != 0 || !g_getenv("LIMEVI_TAP")) {
        g_print("Bail out! needs root and LIMEVI_TAP (meson test sets it)\n");
        return 1;
    }
    close(g_file_open_tmp("limevi-mtu-key-XXXXXX", &key_file, &err));
    g_assert_no_error(err);
    g_assert_true(g_file_set_contents(key_file,
        "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
        -1, &err));
    a.ns = hnetns_new("lvedpmtu", &err);
    g_assert_no_error(err);
    b.ns = hnetns_new("lvedpmtu", &err);
    g_assert_no_error(err);
    g_free(ns_ok(a.ns, (const char *[]){ "ip", "link", "add", "lvmtu-a",
                 "mtu", "1500", "type", "veth", "peer", "name", "lvmtu-b",
                 "mtu", "1500", "netns", hnetns_name(b.ns), NULL }));
    g_free(ns_ok(a.ns, (const char *[]){ "ip", "addr", "add",
                 "198.18.110.1/24", "dev", "lvmtu-a", NULL }));
    g_free(ns_ok(b.ns, (const char *[]){ "ip", "addr", "add",
                 "198.18.110.2/24", "dev", "lvmtu-b", NULL }));
    g_free(ns_ok(a.ns, (const char *[]){ "ip", "link", "set", "lvmtu-a",
                 "up", NULL }));
    g_free(ns_ok(b.ns, (const char *[]){ "ip", "link", "set", "lvmtu-b",
                 "up", NULL }));

    g_test_add_func("/tap/mtu/full-size-ping-with-df-crosses-a-1500-path",
                    test_full_size_ping);
    g_test_add_func("/tap/mtu/oversize-datagram-counted-not-fragmented",
                    test_oversize_counted);
    g_test_add_func("/tap/offload/tcp-stream-arrives-whole",
                    test_offload_stream);
    ret = g_test_run();
    hnetns_free(a.ns);
    hnetns_free(b.ns);
    g_unlink(key_file);
    g_free(key_file);
    return ret;
}
