/*
 * Routing: the epoch rule of the table, and route-set/route-del on a port
 * (epoch bumps, notifications, precise errors that change nothing).
 */
#include "fake-guest.h"
#include "route.h"
#include "udp.h"

static GSocketAddress *address(const char *spec)
{
    g_autoptr(GError) error = NULL;
    GSocketAddress *addr = limevi_udp_parse_endpoint(spec, "test", FALSE,
                                                     &error);

    g_assert_no_error(error);
    return addr;
}

static void test_update_ignores_lower_epoch(void)
{
    LimeviRouteTable *table = limevi_route_table_new();
    g_autoptr(GSocketAddress) a = address("127.0.0.1:7001");
    g_autoptr(GSocketAddress) b = address("127.0.0.1:7002");
    LimeviRoute *route;

    route = limevi_route_update(table, "vm2", a, "127.0.0.1:7001",
                                LIMEVI_ROUTE_VALID, "vc1", "lan1", 5);
    g_assert_nonnull(route);
    g_assert_null(limevi_route_update(table, "vm2", b, "127.0.0.1:7002",
                                      LIMEVI_ROUTE_INVALID, "vc1", "lan2",
                                      4));
    route = limevi_route_lookup(table, "vm2");
    g_assert_cmpstr(route->endpoint, ==, "127.0.0.1:7001");
    g_assert_cmpint(route->status, ==, LIMEVI_ROUTE_VALID);
    g_assert_cmpstr(route->lan, ==, "lan1");
    g_assert_cmpuint(route->epoch, ==, 5);
    g_assert_true(route->addr == a);

    /* The same epoch is a repeat, not a stale update: it applies. */
    g_assert_nonnull(limevi_route_update(table, "vm2", b, "127.0.0.1:7002",
                                         LIMEVI_ROUTE_INVALID, "vc1",
                                         "lan1", 5));
    g_assert_cmpstr(route->endpoint, ==, "127.0.0.1:7002");
    g_assert_cmpint(route->status, ==, LIMEVI_ROUTE_INVALID);
    g_assert_nonnull(limevi_route_update(table, "vm2", a, "127.0.0.1:7001",
                                         LIMEVI_ROUTE_VALID, "vc1", "lan1",
                                         6));
    g_assert_cmpuint(route->epoch, ==, 6);
    g_assert_cmpuint(limevi_route_table_size(table), ==, 1);
    limevi_route_table_free(table);
}

static void test_update_keeps_the_sequence_counter(void)
{
    LimeviRouteTable *table = limevi_route_table_new();
    g_autoptr(GSocketAddress) a = address("127.0.0.1:7001");
    g_autoptr(GSocketAddress) b = address("127.0.0.1:7002");
    LimeviRoute *route;

    route = limevi_route_update(table, "vm2", a, "127.0.0.1:7001",
                                LIMEVI_ROUTE_VALID, "vc1", "lan1", 0);
    route->tx_seq = 10;
    route = limevi_route_update(table, "vm2", b, "127.0.0.1:7002",
                                LIMEVI_ROUTE_VALID, "vc1", "lan1", 1);
    g_assert_cmpuint(route->tx_seq, ==, 10);
    g_assert_true(limevi_route_remove(table, "vm2"));
    g_assert_false(limevi_route_remove(table, "vm2"));
    route = limevi_route_update(table, "vm2", b, "127.0.0.1:7002",
                                LIMEVI_ROUTE_VALID, "vc1", "lan1", 0);
    g_assert_cmpuint(route->tx_seq, ==, 0);
    limevi_route_table_free(table);
}

static LimeviRouteInfo *info_route(LimeviPortInfo *info, guint i)
{
    g_assert_cmpuint(i, <, info->routes->len);
    return info->routes->pdata[i];
}

static void test_route_set_bumps_epoch_and_notifies(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) guest = fake_guest_new();
    g_autoptr(GError) error = NULL;
    LimeviRouteConfig routes[] = {
        { .vm = "vm3", .endpoint = "127.0.0.1:7003" },
    };
    LimeviPortConfig config = { .routes = routes, .n_routes = 1 };
    LimeviRouteInfo *changed;

    fake_guest_start(guest, context, "vm1", "vc1", "lan1", &config);
    /* Configured routes are the start, not a change: no notification. */
    g_assert_cmpuint(guest->routes->len, ==, 0);

    g_assert_true(limevi_port_route_set(guest->port, "vm3", "127.0.0.1:7013",
                                        NULL, LIMEVI_ROUTE_VALID, &error));
    g_assert_no_error(error);
    g_assert_true(limevi_port_route_set(guest->port, "vm2", "127.0.0.1:7002",
                                        "lan2", LIMEVI_ROUTE_INVALID,
                                        &error));
    g_assert_true(limevi_port_route_set(guest->port, "vm3", "127.0.0.1:7023",
                                        NULL, LIMEVI_ROUTE_VALID, &error));
    g_assert_no_error(error);

    g_assert_cmpuint(guest->routes->len, ==, 3);
    changed = guest->routes->pdata[0];
    g_assert_cmpstr(changed->vm, ==, "vm3");
    g_assert_cmpstr(changed->endpoint, ==, "127.0.0.1:7013");
    g_assert_cmpuint(changed->epoch, ==, 1);
    changed = guest->routes->pdata[1];
    g_assert_cmpstr(changed->vm, ==, "vm2");
    g_assert_cmpint(changed->status, ==, LIMEVI_ROUTE_INVALID);
    g_assert_cmpstr(changed->lan, ==, "lan2");
    g_assert_cmpstr(changed->vc, ==, "vc1");
    g_assert_cmpuint(changed->epoch, ==, 1);
    changed = guest->routes->pdata[2];
    g_assert_cmpuint(changed->epoch, ==, 2);
    g_assert_false(g_array_index(guest->removed, gboolean, 2));

    {
        g_autoptr(LimeviPortInfo) info = limevi_port_get_info(guest->port);

        g_assert_cmpuint(info->routes->len, ==, 2);     /* sorted by vm */
        g_assert_cmpstr(info_route(info, 0)->vm, ==, "vm2");
        g_assert_cmpstr(info_route(info, 1)->vm, ==, "vm3");
        g_assert_cmpstr(info_route(info, 1)->endpoint, ==, "127.0.0.1:7023");
        g_assert_cmpstr(info_route(info, 1)->lan, ==, "lan1");
        g_assert_cmpuint(info_route(info, 1)->epoch, ==, 2);
    }
}

static void test_route_set_keeps_lan_when_not_given(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) guest = fake_guest_new();
    g_autoptr(LimeviPortInfo) info = NULL;

    fake_guest_start(guest, context, "vm1", "vc1", "lan1", NULL);
    g_assert_true(limevi_port_route_set(guest->port, "vm2", "127.0.0.1:7002",
                                        "lan2", LIMEVI_ROUTE_VALID, NULL));
    g_assert_true(limevi_port_route_set(guest->port, "vm2", "127.0.0.1:7012",
                                        NULL, LIMEVI_ROUTE_VALID, NULL));
    info = limevi_port_get_info(guest->port);
    g_assert_cmpstr(info_route(info, 0)->lan, ==, "lan2");
    g_assert_cmpstr(info_route(info, 0)->endpoint, ==, "127.0.0.1:7012");
}

static void test_route_del_removes_and_notifies(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) guest = fake_guest_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviPortInfo) info = NULL;
    LimeviRouteInfo *changed;

    fake_guest_start(guest, context, "vm1", "vc1", "lan1", NULL);
    g_assert_true(limevi_port_route_set(guest->port, "vm2", "127.0.0.1:7002",
                                        NULL, LIMEVI_ROUTE_VALID, NULL));
    g_assert_true(limevi_port_route_del(guest->port, "vm2", &error));
    g_assert_no_error(error);
    g_assert_cmpuint(guest->routes->len, ==, 2);
    changed = guest->routes->pdata[1];
    g_assert_cmpstr(changed->vm, ==, "vm2");
    g_assert_cmpint(changed->status, ==, LIMEVI_ROUTE_INVALID);
    g_assert_true(g_array_index(guest->removed, gboolean, 1));
    info = limevi_port_get_info(guest->port);
    g_assert_cmpuint(info->routes->len, ==, 0);

    g_assert_false(limevi_port_route_del(guest->port, "vm2", &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_NOT_FOUND);
    g_assert_cmpstr(error->message, ==, "'vm' 'vm2' has no route");
    g_assert_cmpuint(guest->routes->len, ==, 2);
}

typedef struct {
    const char *name;
    const char *vm;
    const char *endpoint;
    const char *lan;
    LimeviRouteStatus status;
    gint code;
    const char *message;
} BadRouteSet;

static const BadRouteSet bad_route_sets[] = {
    { "missing-vm", NULL, "127.0.0.1:7002", NULL, LIMEVI_ROUTE_VALID,
      LIMEVI_ERROR_INVALID, "'vm' is required" },
    { "bad-vm-name", "vm 2", "127.0.0.1:7002", NULL, LIMEVI_ROUTE_VALID,
      LIMEVI_ERROR_INVALID, "'vm' may contain only letters, digits, '_', "
      "'.' and '-', got 'vm 2'" },
    { "own-vm", "vm1", "127.0.0.1:7002", NULL, LIMEVI_ROUTE_VALID,
      LIMEVI_ERROR_INVALID, "'vm' 'vm1' is this port's own VM, not a peer" },
    { "bad-endpoint", "vm2", "127.0.0.1", NULL, LIMEVI_ROUTE_VALID,
      LIMEVI_ERROR_ENDPOINT, "'endpoint' expects HOST:PORT, got "
      "'127.0.0.1'" },
    { "endpoint-port-0", "vm2", "127.0.0.1:0", NULL, LIMEVI_ROUTE_VALID,
      LIMEVI_ERROR_ENDPOINT, "'endpoint' expects HOST:PORT, got "
      "'127.0.0.1:0'" },
    { "bad-lan", "vm2", "127.0.0.1:7002", "", LIMEVI_ROUTE_VALID,
      LIMEVI_ERROR_INVALID, "'lan' must not be empty" },
    { "bad-status", "vm2", "127.0.0.1:7002", NULL, 7,
      LIMEVI_ERROR_INVALID, "'status' must be 'valid' or 'invalid'" },
};

static void test_route_set_rejects(gconstpointer data)
{
    const BadRouteSet *bad = data;
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) guest = fake_guest_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviPortInfo) info = NULL;

    fake_guest_start(guest, context, "vm1", "vc1", "lan1", NULL);
    g_assert_true(limevi_port_route_set(guest->port, "vm2", "127.0.0.1:7000",
                                        NULL, LIMEVI_ROUTE_VALID, NULL));
    g_assert_false(limevi_port_route_set(guest->port, bad->vm, bad->endpoint,
                                         bad->lan, bad->status, &error));
    g_assert_error(error, LIMEVI_ERROR, bad->code);
    g_assert_cmpstr(error->message, ==, bad->message);
    /* Nothing changed and nobody was told. */
    g_assert_cmpuint(guest->routes->len, ==, 1);
    info = limevi_port_get_info(guest->port);
    g_assert_cmpuint(info->routes->len, ==, 1);
    g_assert_cmpstr(info_route(info, 0)->endpoint, ==, "127.0.0.1:7000");
    g_assert_cmpuint(info_route(info, 0)->epoch, ==, 1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/route/update/ignores-lower-epoch",
                    test_update_ignores_lower_epoch);
    g_test_add_func("/route/update/keeps-the-sequence-counter",
                    test_update_keeps_the_sequence_counter);
    g_test_add_func("/route/route-set/bumps-epoch-and-notifies",
                    test_route_set_bumps_epoch_and_notifies);
    g_test_add_func("/route/route-set/keeps-lan-when-not-given",
                    test_route_set_keeps_lan_when_not_given);
    g_test_add_func("/route/route-del/removes-and-notifies",
                    test_route_del_removes_and_notifies);
    for (gsize i = 0; i < G_N_ELEMENTS(bad_route_sets); i++) {
        g_autofree char *path = g_strdup_printf(
            "/route/route-set/rejects/%s", bad_route_sets[i].name);

        g_test_add_data_func(path, &bad_route_sets[i],
                             test_route_set_rejects);
    }
    return g_test_run();
}
