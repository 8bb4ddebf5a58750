/*
 * limevi-gateway with a TAP device as its LAN's guest, in namespaces:
 *
 *   site   limevi-gateway (7300) and limevi-tap (7301), tunnelled over
 *          site's loopback; an HTTP server and a UDP receiver on that
 *          loopback, which the LAN reaches through the gateway's NAT
 *   guest  the TAP device, moved here: udhcpc, nslookup, wget, httpd
 *
 * The guest takes a lease, resolves a --dns-name, fetches from site's
 * loopback, sends UDP out, and site reaches the guest's httpd and its
 * UDP receiver through --forwards.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gw-fixture.h"

#define TAP_MAC "52:54:00:19:00:15"
#define LEASE "198.19.0.15"

static struct {
    HNetns *site, *guest;
    GwProcess *gw;
    char *dir;
} t;

static char *path_in(const char *name)
{
    return g_build_filename(t.dir, name, NULL);
}

/* A file of @size pseudo-random bytes; returns its SHA-256. */
static char *write_file(const char *name, gsize size)
{
    g_autofree char *path = path_in(name);
    g_autofree guint8 *data = g_malloc(size);
    g_autoptr(GRand) rand = g_rand_new_with_seed(size);
    g_autoptr(GError) err = NULL;

    for (gsize i = 0; i < size; i++) {
        data[i] = g_rand_int(rand);
    }
    g_file_set_contents(path, (char *)data, size, &err);
    g_assert_no_error(err);
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, size);
}

static void setup(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *www = NULL, *script = NULL;
    g_autofree char *control = path_in("gw.sock");
    const char *gw_args[] = {
        "--control", control, "--vm", "gw", "--vc", "vc1", "--lan", "lan1",
        "--listen", "127.0.0.1:7300", "--route", "tap1=127.0.0.1:7301",
        "--net", "198.19.0.0/24", "--host", "198.19.0.2",
        "--dhcp-start", LEASE, "--dns", "198.19.0.3",
        "--dns-name", "files.example=198.19.0.2",
        "--forward", "tcp:127.0.0.1:8080-" LEASE ":80",
        "--forward", "udp:127.0.0.1:5300-" LEASE ":5300", NULL };
    const char *tap[] = { g_getenv("LIMEVI_TAP"), "--tap", "lvgw0",
        "--vm", "tap1", "--vc", "vc1", "--lan", "lan1",
        "--listen", "127.0.0.1:7301", "--route", "gw=127.0.0.1:7300", NULL };
    guint i;

    t.site = hnetns_new("gwsite", &err);
    g_assert_no_error(err);
    t.guest = hnetns_new("gwguest", &err);
    g_assert_no_error(err);
    t.gw = gw_start(t.site, gw_args, &err);
    g_assert_no_error(err);
    g_assert_nonnull(hnetns_spawn(t.site, tap, &err));
    g_assert_no_error(err);
    for (i = 0; i < 100; i++) {
        if (hnetns_run(t.site, (const char *[]){ "ip", "link", "show",
                       "lvgw0", NULL }, 5000, NULL, NULL) == 0) {
            break;
        }
        g_usleep(50000);
    }
    g_assert_cmpuint(i, <, 100);
    /* The TAP fd stays with limevi-tap; the device joins the guest. */
    g_free(ns_ok(t.site, (const char *[]){ "ip", "link", "set", "lvgw0",
                 "netns", hnetns_name(t.guest), NULL }));
    g_free(ns_ok(t.guest, (const char *[]){ "ip", "link", "set", "lvgw0",
                 "address", TAP_MAC, "up", NULL }));
    /* udhcpc leaves configuring to its script. */
    script = path_in("udhcpc.sh");
    g_file_set_contents(script,
        "#!/bin/sh\n"
        "[ \"$1\" = bound ] || exit 0\n"
        "ip addr add $ip/$mask dev $interface\n"
        "ip route add default via $router\n"
        "echo \"ip=$ip mask=$mask router=$router dns=$dns\" > $0.lease\n",
        -1, &err);
    g_assert_no_error(err);
    g_chmod(script, 0755);
    www = path_in("www");
    g_mkdir(www, 0755);
}

static void teardown(void)
{
    gw_stop(t.gw);
    hnetns_free(t.guest);
    hnetns_free(t.site);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", t.dir);
    g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL);
    g_free(t.dir);
}

static void test_lease(void)
{
    g_autofree char *script = path_in("udhcpc.sh");
    g_autofree char *lease_file = g_strconcat(script, ".lease", NULL);
    g_autofree char *lease = NULL, *addr = NULL;
    g_autoptr(GError) err = NULL;

    g_free(ns_ok(t.guest, (const char *[]){ "busybox", "udhcpc", "-i",
                 "lvgw0", "-n", "-q", "-t", "10", "-T", "1", "-s", script,
                 NULL }));
    g_file_get_contents(lease_file, &lease, NULL, &err);
    g_assert_no_error(err);
    g_strstrip(lease);
    g_assert_cmpstr(lease, ==, "ip=" LEASE " mask=24 router=198.19.0.2 "
                    "dns=198.19.0.3");
    addr = ns_ok(t.guest, (const char *[]){ "ip", "-4", "-o", "addr",
                 "show", "lvgw0", NULL });
    g_assert_nonnull(strstr(addr, LEASE "/24"));
    g_assert_true(gw_has_lease(t.gw, TAP_MAC, LEASE));
}

/* @name's address as the gateway's DNS server gives it to the guest
 * (the guest namespace's resolv.conf is the host's, so wget cannot). */
static char *resolve(const char *name)
{
    g_autofree char *out = ns_ok(t.guest, (const char *[]){ "busybox",
        "nslookup", name, "198.19.0.3", NULL });
    const char *last = g_strrstr(out, "Address: ");

    g_assert_nonnull(last);
    return g_strstrip(g_strndup(last + 9, strcspn(last + 9, "\n")));
}

static void test_dns_name(void)
{
    g_autofree char *addr = resolve("files.example");
    JsonNode *holder;
    JsonObject *stats;

    g_assert_cmpstr(addr, ==, "198.19.0.2");
    stats = gw_stats(t.gw, &holder);
    g_assert_cmpint(json_object_get_int_member(
        json_object_get_object_member(stats, "dns"), "answered"), >=, 1);
    json_node_unref(holder);
}

/* From the LAN to the gateway host's loopback, by the --dns-name. */
static void test_nat_tcp(void)
{
    g_autofree char *www = path_in("www");
    g_autofree char *sum = write_file("www/out.bin", 256 * 1024);
    g_autoptr(GError) err = NULL;
    const char *httpd[] = { "busybox", "httpd", "-f", "-p",
                            "127.0.0.1:8000", "-h", www, NULL };
    g_autofree char *addr = resolve("files.example");
    g_autofree char *cmd = g_strdup_printf(
        "busybox wget -q -O - http://%s:8000/out.bin | sha256sum", addr);
    g_autofree char *out = NULL;
    int status = 1;

    g_assert_nonnull(hnetns_spawn(t.site, httpd, &err));
    g_assert_no_error(err);
    /* Until httpd listens: each attempt is refused or gets the file. */
    for (guint i = 0; i < 50 && status; i++) {
        g_clear_pointer(&out, g_free);
        status = hnetns_run(t.guest, (const char *[]){ "sh", "-c", cmd,
                            NULL }, 30000, &out, NULL);
        if (status == 0 && !g_str_has_prefix(out, sum)) {
            status = 1;
            g_usleep(100000);
        }
    }
    g_assert_true(g_str_has_prefix(out, sum));
}

/* probe recv in @rx (bound to @bind:@port), probe send of 100 datagrams
 * from @tx to @to: every one arrives, none twice. */
static void udp_stream(HNetns *rx, const char *bind, guint port,
                       HNetns *tx, const char *to, const char *id)
{
    const char *probe = g_getenv("LIMEVI_PROBE");
    g_autofree char *tag = g_strdup_printf("udp-%s", id);
    g_autofree char *result = path_in(tag);
    g_autofree char *ready = g_strconcat(result, ".ready", NULL);
    g_autofree char *recv = g_strdup_printf(
        "%s recv --port %u --bind %s --senders 1 --timeout-ms 20000 "
        "--ready-file %s > %s 2>&1 &", probe, port, bind, ready, result);
    g_autofree char *expect = g_strdup_printf(
        "\"sender\":\"%s\",\"received\":100,\"lost\":0,", id);
    g_autofree char *line = NULL;
    guint i;

    g_free(ns_ok(rx, (const char *[]){ "sh", "-c", recv, NULL }));
    for (i = 0; i < 100 && !g_file_test(ready, G_FILE_TEST_EXISTS); i++) {
        g_usleep(50000);
    }
    g_assert_cmpuint(i, <, 100);
    g_free(ns_ok(tx, (const char *[]){ probe, "send", "--to", to, "--rate",
                 "200", "--count", "100", "--id", id, NULL }));
    /* recv ends once the sender's last datagram is in (or 20 s idle). */
    for (i = 0; i < 500; i++) {
        g_clear_pointer(&line, g_free);
        if (g_file_get_contents(result, &line, NULL, NULL) &&
            strchr(line, '\n')) {
            break;
        }
        g_usleep(50000);
    }
    g_assert_nonnull(line);
    if (!strstr(line, expect)) {
        g_error("UDP stream %s: %s", id, line);
    }
}

static void test_nat_udp(void)
{
    udp_stream(t.site, "127.0.0.1", 9000, t.guest, "198.19.0.2:9000",
               "out");
}

static void test_forward_udp(void)
{
    udp_stream(t.guest, LEASE, 5300, t.site, "127.0.0.1:5300", "in");
}

/* From site's loopback through the forward to the guest's httpd. */
static void test_forward(void)
{
    g_autofree char *www = path_in("guestwww");
    g_autofree char *sum = NULL;
    g_autoptr(GError) err = NULL;
    const char *httpd[] = { "busybox", "httpd", "-f", "-p", LEASE ":80",
                            "-h", www, NULL };
    GwDownload d = { 0 };

    g_mkdir(www, 0755);
    sum = write_file("guestwww/in.bin", 4 * 1024 * 1024);
    g_assert_nonnull(hnetns_spawn(t.guest, httpd, &err));
    g_assert_no_error(err);
    for (guint i = 0; i < 50; i++) {
        gw_download_clear(&d);
        gw_download(t.site, "127.0.0.1", 8080, "/in.bin", 30000, &d);
        if (d.sha256) {
            break;
        }
        g_usleep(100000);
    }
    g_assert_cmpstr(d.error, ==, NULL);
    g_assert_false(d.reset);
    g_assert_cmpuint(d.bytes, ==, 4 * 1024 * 1024);
    g_assert_cmpstr(d.sha256, ==, sum);
    g_test_message("forward: %" G_GUINT64_FORMAT " bytes, longest stall "
                   "%" G_GINT64_FORMAT " ms", d.bytes, d.longest_stall_ms);
    gw_download_clear(&d);
}

/* --control answers every connection with the same line as SIGUSR1. */
static void test_control(void)
{
    g_autofree char *path = path_in("gw.sock");
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GDataInputStream) in = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *line = NULL;
    JsonObject *o;

    for (guint i = 0; i < 2; i++) {
        g_clear_object(&conn);
        g_clear_object(&in);
        g_clear_pointer(&line, g_free);
        conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr),
                                       NULL, &err);
        g_assert_no_error(err);
        in = g_data_input_stream_new(
            g_io_stream_get_input_stream(G_IO_STREAM(conn)));
        line = g_data_input_stream_read_line(in, NULL, NULL, &err);
        g_assert_no_error(err);
        json_parser_load_from_data(parser, line, -1, &err);
        g_assert_no_error(err);
        o = json_node_get_object(json_parser_get_root(parser));
        g_assert_cmpstr(json_object_get_string_member(o, "vm"), ==, "gw");
        g_assert_cmpuint(json_array_get_length(
            json_object_get_array_member(o, "leases")), ==, 1);
    }
}

/* What the gateway counted is what happened. */
static void test_stats(void)
{
    JsonNode *holder;
    JsonObject *stats = gw_stats(t.gw, &holder);
    JsonObject *port = json_object_get_object_member(stats, "stats");
    JsonArray *fwd = json_object_get_array_member(stats, "forwards");

    g_assert_cmpstr(json_object_get_string_member(stats, "vm"), ==, "gw");
    g_assert_cmpint(json_object_get_int_member(port, "rx-frames"), >, 3000);
    g_assert_cmpint(json_object_get_int_member(port, "tx-frames"), >, 1000);
    g_assert_cmpint(json_object_get_int_member(port, "rx-malformed"), ==, 0);
    g_assert_cmpuint(json_array_get_length(fwd), ==, 2);
    g_assert_cmpstr(json_array_get_string_element(fwd, 0), ==,
                    "tcp:127.0.0.1:8080-" LEASE ":80");
    g_assert_cmpstr(json_array_get_string_element(fwd, 1), ==,
                    "udp:127.0.0.1:5300-" LEASE ":5300");
    g_assert_cmpuint(json_array_get_length(
        json_object_get_array_member(stats, "connections")), >=, 1);
    json_node_unref(holder);
}

int main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    /* Namespaces need root; no QEMU or guest image here. */
    if (geteuid() != 0) {
        printf("Bail out! needs root (network namespaces)\n");
        return 1;
    }
    g_test_add_func("/gateway/tap/dhcp-lease-in-range", test_lease);
    g_test_add_func("/gateway/tap/dns-name-answered", test_dns_name);
    g_test_add_func("/gateway/tap/nat-out-tcp-to-host-loopback",
                    test_nat_tcp);
    g_test_add_func("/gateway/tap/nat-out-udp-every-datagram", test_nat_udp);
    g_test_add_func("/gateway/tap/forward-in-whole-file", test_forward);
    g_test_add_func("/gateway/tap/forward-in-udp-every-datagram",
                    test_forward_udp);
    g_test_add_func("/gateway/tap/stats-count-it", test_stats);
    g_test_add_func("/gateway/tap/control-socket-answers", test_control);
    t.dir = g_dir_make_tmp("limevi-gw-XXXXXX", NULL);
    g_assert_nonnull(t.dir);
    setup();
    rc = g_test_run();
    teardown();
    return rc;
}
