/*
 * The endpoint syntax docs/qemu.md and docs/tap.md give, on real UDP
 * sockets: an IPv6 address in brackets ([::1]:PORT) and a host name
 * (localhost:PORT), for listen and for routes; and what a route of the
 * other address family than listen does.
 */
#include <string.h>

#include "fake-guest.h"

static const guint8 mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const guint8 mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };

/* Where @g is bound, as query-limevi shows it. */
static char *bound(FakeGuest *g)
{
    g_autoptr(LimeviPortInfo) i = limevi_port_get_info(g->port);

    return g_strdup(i->listen);
}

/* @from's route to @vm at @endpoint, which the table then shows as
 * @resolved. */
static void route(FakeGuest *from, const char *vm, const char *endpoint,
                  const char *resolved)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviPortInfo) i = NULL;

    g_assert_true(limevi_port_route_set(from->port, vm, endpoint, NULL,
                                        LIMEVI_ROUTE_VALID, &error));
    g_assert_no_error(error);
    i = limevi_port_get_info(from->port);
    g_assert_cmpuint(i->routes->len, ==, 1);
    g_assert_cmpstr(((LimeviRouteInfo *)i->routes->pdata[0])->endpoint, ==,
                    resolved);
}

typedef struct {
    FakeGuest *g;
    guint frames;
} Want;

static gboolean has_frames(gpointer data)
{
    Want *w = data;

    return w->g->frames->len >= w->frames;
}

static void send_frame(FakeGuest *g, const guint8 *dst, const guint8 *src,
                       guint32 id)
{
    guint8 frame[60];

    test_frame(frame, sizeof(frame), dst, src, id);
    limevi_port_send(g->port, frame, sizeof(frame));
}

/* a and b listen on @listen (port 0) and route to each other by
 * @host:PORT; a broadcast and the unicast answer reach each guest once. */
static void check_pair(const char *listen, const char *host,
                       const char *bound_prefix)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    LimeviPortConfig config = { .listen = listen };
    g_autofree char *a_at = NULL, *b_at = NULL;
    g_autofree char *a_ep = NULL, *b_ep = NULL;
    Want w;

    fake_guest_start(a, context, "a", "vc1", "lan1", &config);
    fake_guest_start(b, context, "b", "vc1", "lan1", &config);
    a_at = bound(a);
    b_at = bound(b);
    g_assert_true(g_str_has_prefix(a_at, bound_prefix));
    g_assert_true(g_str_has_prefix(b_at, bound_prefix));
    a_ep = g_strdup_printf("%s:%s", host, strrchr(a_at, ':') + 1);
    b_ep = g_strdup_printf("%s:%s", host, strrchr(b_at, ':') + 1);
    route(a, "b", b_ep, b_at);
    route(b, "a", a_ep, a_at);

    send_frame(a, test_broadcast, mac_a, 1);
    w = (Want){ .g = b, .frames = 1 };
    g_assert_true(test_wait(context, has_frames, &w));
    send_frame(b, mac_a, mac_b, 2);
    w = (Want){ .g = a, .frames = 1 };
    g_assert_true(test_wait(context, has_frames, &w));
    test_spin(context, 20);
    g_assert_cmpuint(b->frames->len, ==, 1);
    g_assert_cmpuint(a->frames->len, ==, 1);
    g_assert_cmpuint(test_frame_id(b->frames->pdata[0]), ==, 1);
    g_assert_cmpuint(test_frame_id(a->frames->pdata[0]), ==, 2);
}

static void test_ipv6_in_brackets(void)
{
    check_pair("[::1]:0", "[::1]", "[::1]:");
}

static void test_host_name(void)
{
    /* localhost is 127.0.0.1 in /etc/hosts: nothing leaves the host. */
    check_pair("localhost:0", "localhost", "127.0.0.1:");
}

/*
 * An IPv4 listen reaches no IPv6 peer: the route is accepted (the peer
 * may be given before its family is known to matter), every frame to it
 * fails and is counted in tx-errors, and nothing arrives.
 */
static void test_other_family_counted_as_errors(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    LimeviPortConfig v6 = { .listen = "[::1]:0" };
    g_autofree char *b_at = NULL;
    g_autoptr(LimeviPortInfo) i = NULL;

    fake_guest_start(a, context, "a", "vc1", "lan1", NULL);
    fake_guest_start(b, context, "b", "vc1", "lan1", &v6);
    b_at = bound(b);
    route(a, "b", b_at, b_at);
    send_frame(a, test_broadcast, mac_a, 1);
    send_frame(a, test_broadcast, mac_a, 2);
    test_spin(context, 50);
    g_assert_cmpuint(b->frames->len, ==, 0);
    i = limevi_port_get_info(a->port);
    g_assert_cmpuint(i->stats.tx_errors, ==, 2);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/endpoints/ipv6-in-brackets/frames-flow",
                    test_ipv6_in_brackets);
    g_test_add_func("/endpoints/host-name/frames-flow", test_host_name);
    g_test_add_func("/endpoints/other-family/counted-as-tx-errors",
                    test_other_family_counted_as_errors);
    return g_test_run();
}
