/*
 * limevi-gateway's command line and tables: options, forwards, DNS
 * names, and the forwards' start against a real libslirp (a host port in
 * use fails there).  Every bad input names its option.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway-slirp.h"

#define BASE "limevi-gateway", "--vm", "gw", "--vc", "vc1", "--lan", "lan1", \
    "--listen", "127.0.0.1:0"

static GatewayOptions *parse(const char *const *args, GError **error)
{
    g_auto(GStrv) argv = g_strdupv((char **)args);

    return gateway_options_parse(g_strv_length(argv), argv, error);
}

/* Parsing @args fails with a message containing @expect. */
static void assert_refused(const char *const *args, const char *expect)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GatewayOptions) opts = parse(args, &error);

    g_assert_null(opts);
    g_assert_error(error, GATEWAY_ERROR, GATEWAY_ERROR_OPTION);
    if (!strstr(error->message, expect)) {
        g_error("'%s' does not say '%s'", error->message, expect);
    }
}

static char *addr_str(struct in_addr a)
{
    return g_strdup(inet_ntoa(a));
}

static void test_defaults(void)
{
    const char *args[] = { BASE, "--net", "198.19.0.0/24", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(GatewayOptions) opts = parse(args, &error);
    g_autofree char *host = NULL, *dns = NULL, *start = NULL;

    g_assert_no_error(error);
    host = addr_str(opts->host);
    dns = addr_str(opts->dns);
    start = addr_str(opts->dhcp_start);
    g_assert_cmpstr(host, ==, "198.19.0.2");
    g_assert_cmpstr(dns, ==, "198.19.0.3");
    g_assert_cmpstr(start, ==, "198.19.0.15");
    g_assert_cmpuint(opts->prefix, ==, 24);
}

static void test_full(void)
{
    const char *args[] = { BASE, "--net", "198.19.4.0/22",
        "--host", "198.19.4.1", "--dns", "198.19.4.53",
        "--dhcp-start", "198.19.5.100", "--route", "vm1=127.0.0.1:7001",
        "--route", "vm2=127.0.0.1:7002@lan2",
        "--forward", "tcp:127.0.0.1:8080-198.19.5.100:80",
        "--forward", "udp::5353-:53", "--dns-name", "Files.Example.=198.19.0.9",
        NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(GatewayOptions) opts = parse(args, &error);
    g_autofree char *f0 = NULL, *f1 = NULL;
    const GatewayDnsName *name;

    g_assert_no_error(error);
    g_assert_cmpuint(opts->routes->len, ==, 2);
    g_assert_cmpuint(opts->forwards->len, ==, 2);
    f0 = gateway_forward_to_string(
        &g_array_index(opts->forwards, GatewayForward, 0));
    f1 = gateway_forward_to_string(
        &g_array_index(opts->forwards, GatewayForward, 1));
    g_assert_cmpstr(f0, ==, "tcp:127.0.0.1:8080-198.19.5.100:80");
    /* As QEMU's hostfwd: empty host = any, empty guest = first lease. */
    g_assert_cmpstr(f1, ==, "udp:0.0.0.0:5353-198.19.5.100:53");
    name = gateway_dns_lookup(opts, "files.example");
    g_assert_nonnull(name);
    g_assert_null(gateway_dns_lookup(opts, "other.example"));
}

static void test_required(void)
{
    const char *no_net[] = { BASE, NULL };
    const char *no_vm[] = { "limevi-gateway", "--vc", "v", "--lan", "l",
                            "--listen", "127.0.0.1:0", "--net",
                            "198.19.0.0/24", NULL };
    const char *unknown[] = { BASE, "--net", "198.19.0.0/24", "--bogus",
                              NULL };
    const char *extra[] = { BASE, "--net", "198.19.0.0/24", "stray", NULL };
    const char *bad_vm[] = { "limevi-gateway", "--vm", "a b", "--vc", "v",
                             "--lan", "l", "--listen", "127.0.0.1:0",
                             "--net", "198.19.0.0/24", NULL };

    assert_refused(no_net, "'--net' is required");
    assert_refused(no_vm, "'--vm' is required");
    assert_refused(unknown, "--bogus");
    assert_refused(extra, "unexpected argument 'stray'");
    assert_refused(bad_vm, "--vm");
}

static void test_bad_network(void)
{
    const char *no_len[] = { BASE, "--net", "198.19.0.0", NULL };
    const char *host_bits[] = { BASE, "--net", "198.19.0.1/24", NULL };
    const char *too_small[] = { BASE, "--net", "198.19.0.0/28", NULL };
    const char *host_out[] = { BASE, "--net", "198.19.0.0/24", "--host",
                               "198.18.0.2", NULL };
    const char *host_bcast[] = { BASE, "--net", "198.19.0.0/24", "--host",
                                 "198.19.0.255", NULL };
    const char *dns_bad[] = { BASE, "--net", "198.19.0.0/24", "--dns",
                              "nameserver", NULL };
    const char *range_full[] = { BASE, "--net", "198.19.0.0/24",
                                 "--dhcp-start", "198.19.0.250", NULL };
    const char *range_host[] = { BASE, "--net", "198.19.0.0/24",
                                 "--dhcp-start", "198.19.0.1", NULL };
    const char *same[] = { BASE, "--net", "198.19.0.0/24", "--dns",
                           "198.19.0.2", NULL };

    assert_refused(no_len, "'--net' expects ADDR/LEN");
    assert_refused(host_bits, "'--net' 198.19.0.1/24 has host bits set");
    assert_refused(too_small, "LEN 8..27");
    assert_refused(host_out, "'--host' 198.18.0.2 is not a host address");
    assert_refused(host_bcast, "'--host' 198.19.0.255 is not a host");
    assert_refused(dns_bad, "'--dns' expects an IPv4 address");
    assert_refused(range_full, "'--dhcp-start' leaves no room");
    assert_refused(range_host, "takes the address of '--host'");
    assert_refused(same, "'--dns' must differ from '--host'");
}

static void test_bad_forward(void)
{
    static const struct {
        const char *spec, *expect;
    } cases[] = {
        { "sctp:127.0.0.1:80-198.19.0.15:80", "expects tcp: or udp: first" },
        { "tcp:127.0.0.1:80", "expects HOSTADDR:HOSTPORT-GUESTADDR" },
        { "tcp:127.0.0.1-198.19.0.15:80", "bad host address '127.0.0.1'" },
        { "tcp:127.0.0.1:0-198.19.0.15:80", "bad host address" },
        { "tcp:127.0.0.1:70000-198.19.0.15:80", "bad host address" },
        { "tcp:localhost:80-198.19.0.15:80", "bad host address" },
        { "tcp:127.0.0.1:80-198.19.0.15:", "bad guest address" },
        { "tcp:127.0.0.1:80-198.19.0.15:8x", "bad guest address" },
        /* Outside the LAN: slirp would send it nowhere. */
        { "tcp:127.0.0.1:80-198.18.0.15:80",
          "guest address 198.18.0.15 is not a guest's address in --net" },
        { "tcp:127.0.0.1:80-198.19.0.2:80", "198.19.0.2 is not a guest's" },
        { "tcp:127.0.0.1:80-198.19.0.3:80", "198.19.0.3 is not a guest's" },
        { "tcp:127.0.0.1:80-198.19.0.255:80", "is not a guest's" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *args[] = { BASE, "--net", "198.19.0.0/24", "--forward",
                               cases[i].spec, NULL };

        assert_refused(args, cases[i].expect);
    }
}

/* Two forwards on one host socket: the second names the first. */
static void test_forward_collision(void)
{
    const char *twice[] = { BASE, "--net", "198.19.0.0/24",
        "--forward", "tcp:127.0.0.1:8080-198.19.0.15:80",
        "--forward", "tcp:127.0.0.1:8080-198.19.0.16:80", NULL };
    const char *any[] = { BASE, "--net", "198.19.0.0/24",
        "--forward", "tcp::8080-198.19.0.15:80",
        "--forward", "tcp:127.0.0.1:8080-198.19.0.16:80", NULL };
    const char *other_proto[] = { BASE, "--net", "198.19.0.0/24",
        "--forward", "tcp:127.0.0.1:8080-198.19.0.15:80",
        "--forward", "udp:127.0.0.1:8080-198.19.0.15:80", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(GatewayOptions) opts = NULL;

    assert_refused(twice, "its host port is taken by '--forward' "
                   "tcp:127.0.0.1:8080-198.19.0.15:80");
    assert_refused(any, "taken by '--forward' tcp:0.0.0.0:8080");
    opts = parse(other_proto, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(opts->forwards->len, ==, 2);
}

static void test_bad_dns_name(void)
{
    static const struct {
        const char *spec, *expect;
    } cases[] = {
        { "files.example", "'--dns-name' expects NAME=ADDR" },
        { "=198.19.0.9", "'' is not a DNS name" },
        { "bad_name.example=198.19.0.9", "is not a DNS name" },
        { "a..b=198.19.0.9", "is not a DNS name" },
        { "files.example=198.19.0", "'198.19.0' is not an IPv4 address" },
    };
    const char *twice[] = { BASE, "--net", "198.19.0.0/24",
        "--dns-name", "a.example=198.19.0.9",
        "--dns-name", "A.EXAMPLE=198.19.0.10", NULL };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *args[] = { BASE, "--net", "198.19.0.0/24", "--dns-name",
                               cases[i].spec, NULL };

        assert_refused(args, cases[i].expect);
    }
    assert_refused(twice, "'a.example' is given twice");
}

static ssize_t drop_packet(const void *buf, size_t len, void *opaque)
{
    return len;
}

/* A host port someone else holds: the start fails, naming the forward. */
static void test_forward_in_use(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t sl = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    g_autofree char *busy = NULL, *spec = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GatewayOptions) opts = NULL;
    g_autoptr(GatewaySlirp) gs = NULL;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
    g_assert_cmpint(listen(fd, 1), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sin, &sl), ==, 0);
    busy = g_strdup_printf("tcp:127.0.0.1:%u-198.19.0.15:80",
                           ntohs(sin.sin_port));
    {
        const char *args[] = { BASE, "--net", "198.19.0.0/24",
                               "--forward", busy, NULL };

        opts = parse(args, &error);
    }
    g_assert_no_error(error);
    gs = gateway_slirp_new(opts, drop_packet, NULL, NULL);
    g_assert_false(gateway_slirp_add_forwards(gs, opts, &error));
    g_assert_error(error, GATEWAY_ERROR, GATEWAY_ERROR_START);
    spec = g_strdup_printf("'--forward' %s: cannot listen on the host: the "
                           "address is in use", busy);
    g_assert_cmpstr(error->message, ==, spec);
    close(fd);
    /* Free now, the same forward opens. */
    g_clear_error(&error);
    g_assert_true(gateway_slirp_add_forwards(gs, opts, &error));
    g_assert_no_error(error);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/gateway/options/defaults-as-slirp", test_defaults);
    g_test_add_func("/gateway/options/every-option", test_full);
    g_test_add_func("/gateway/options/required-and-unknown", test_required);
    g_test_add_func("/gateway/options/bad-network", test_bad_network);
    g_test_add_func("/gateway/forward/bad-spec-named", test_bad_forward);
    g_test_add_func("/gateway/forward/one-host-socket-once",
                    test_forward_collision);
    g_test_add_func("/gateway/forward/in-use-fails-at-start",
                    test_forward_in_use);
    g_test_add_func("/gateway/dns-name/bad-spec-named", test_bad_dns_name);
    return g_test_run();
}
