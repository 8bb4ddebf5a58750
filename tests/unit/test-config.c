/*
 * Configuration: limevi_port_new() refuses each bad option with the right
 * error code and a message that names the option, binds nothing doing
 * so, and accepts a good one.
 */
#include <string.h>

#include <gio/gio.h>

#include "fake-guest.h"

static const char name_64[] =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static const LimeviRouteConfig route_bad_endpoint[] = {
    { .vm = "vm2", .endpoint = "127.0.0.1" },
};
static const LimeviRouteConfig route_port_0[] = {
    { .vm = "vm2", .endpoint = "127.0.0.1:0" },
};
static const LimeviRouteConfig route_duplicate[] = {
    { .vm = "vm2", .endpoint = "127.0.0.1:7002" },
    { .vm = "vm2", .endpoint = "127.0.0.1:7012" },
};
static const LimeviRouteConfig route_to_itself[] = {
    { .vm = "vm1", .endpoint = "127.0.0.1:7001" },
};
static const LimeviRouteConfig route_bad_vm[] = {
    { .vm = "vm 2", .endpoint = "127.0.0.1:7002" },
};
static const LimeviRouteConfig route_bad_lan[] = {
    { .vm = "vm2", .endpoint = "127.0.0.1:7002", .lan = "" },
};

typedef struct {
    const char *name;
    const char *vm;
    const char *vc;
    const char *lan;
    const char *listen;
    const LimeviRouteConfig *routes;
    guint n_routes;
    guint64 buffer_limit;
    gint code;
    const char *option;         /* the message must contain it */
    const char *message;        /* NULL: only the option is checked */
} BadConfig;

#define GOOD_NAMES "vm1", "vc1", "lan1"
#define LISTEN "127.0.0.1:0"

static const BadConfig bad_configs[] = {
    { "vm/missing", NULL, "vc1", "lan1", LISTEN, NULL, 0, 0,
      LIMEVI_ERROR_INVALID, "'vm'", "'vm' is required" },
    { "vm/empty", "", "vc1", "lan1", LISTEN, NULL, 0, 0,
      LIMEVI_ERROR_INVALID, "'vm'", "'vm' must not be empty" },
    { "vm/too-long", name_64, "vc1", "lan1", LISTEN, NULL, 0, 0,
      LIMEVI_ERROR_INVALID, "'vm'",
      "'vm' must be at most 63 characters, got 64" },
    { "vm/bad-char", "vm/1", "vc1", "lan1", LISTEN, NULL, 0, 0,
      LIMEVI_ERROR_INVALID, "'vm'", NULL },
    { "vc/missing", "vm1", NULL, "lan1", LISTEN, NULL, 0, 0,
      LIMEVI_ERROR_INVALID, "'vc'", "'vc' is required" },
    { "vc/empty", "vm1", "", "lan1", LISTEN, NULL, 0, 0,
      LIMEVI_ERROR_INVALID, "'vc'", "'vc' must not be empty" },
    { "vc/too-long", "vm1", name_64, "lan1", LISTEN, NULL, 0, 0,
      LIMEVI_ERROR_INVALID, "'vc'", NULL },
    { "vc/bad-char", "vm1", "vc 1", "lan1", LISTEN, NULL, 0, 0,
      LIMEVI_ERROR_INVALID, "'vc'", NULL },
    { "lan/missing", "vm1", "vc1", NULL, LISTEN, NULL, 0, 0,
      LIMEVI_ERROR_INVALID, "'lan'", "'lan' is required" },
    { "lan/empty", "vm1", "vc1", "", LISTEN, NULL, 0, 0,
      LIMEVI_ERROR_INVALID, "'lan'", NULL },
    { "lan/too-long", "vm1", "vc1", name_64, LISTEN, NULL, 0, 0,
      LIMEVI_ERROR_INVALID, "'lan'", NULL },
    { "lan/bad-char", "vm1", "vc1", "lan:1", LISTEN, NULL, 0, 0,
      LIMEVI_ERROR_INVALID, "'lan'", NULL },
    { "listen/missing", GOOD_NAMES, NULL, NULL, 0, 0,
      LIMEVI_ERROR_ENDPOINT, "'listen'", "'listen' is required" },
    { "listen/nonsense", GOOD_NAMES, "nonsense", NULL, 0, 0,
      LIMEVI_ERROR_ENDPOINT, "'listen'",
      "'listen' expects HOST:PORT, got 'nonsense'" },
    { "listen/no-port", GOOD_NAMES, "1.2.3.4", NULL, 0, 0,
      LIMEVI_ERROR_ENDPOINT, "'listen'", NULL },
    { "listen/port-too-big", GOOD_NAMES, "1.2.3.4:99999", NULL, 0, 0,
      LIMEVI_ERROR_ENDPOINT, "'listen'", NULL },
    { "listen/colon-only", GOOD_NAMES, ":", NULL, 0, 0,
      LIMEVI_ERROR_ENDPOINT, "'listen'", NULL },
    { "listen/ipv6-unbracketed", GOOD_NAMES, "::1:7000", NULL, 0, 0,
      LIMEVI_ERROR_ENDPOINT, "'listen'", NULL },
    { "routes/bad-endpoint", GOOD_NAMES, LISTEN, route_bad_endpoint, 1, 0,
      LIMEVI_ERROR_ENDPOINT, "'routes'",
      "'routes' entry 0: 'endpoint' expects HOST:PORT, got '127.0.0.1'" },
    { "routes/endpoint-port-0", GOOD_NAMES, LISTEN, route_port_0, 1, 0,
      LIMEVI_ERROR_ENDPOINT, "'routes'", NULL },
    { "routes/duplicate", GOOD_NAMES, LISTEN, route_duplicate, 2, 0,
      LIMEVI_ERROR_DUPLICATE, "'routes'",
      "'routes' has VM 'vm2' more than once" },
    { "routes/to-itself", GOOD_NAMES, LISTEN, route_to_itself, 1, 0,
      LIMEVI_ERROR_INVALID, "'routes'",
      "'routes' entry 0: 'vm' 'vm1' is this port's own VM, not a peer" },
    { "routes/bad-vm", GOOD_NAMES, LISTEN, route_bad_vm, 1, 0,
      LIMEVI_ERROR_INVALID, "'routes'", NULL },
    { "routes/bad-lan", GOOD_NAMES, LISTEN, route_bad_lan, 1, 0,
      LIMEVI_ERROR_INVALID, "'routes'", NULL },
    { "buffer-limit/too-small", GOOD_NAMES, LISTEN, NULL, 0,
      LIMEVI_BUFFER_LIMIT_MIN - 1,
      LIMEVI_ERROR_INVALID, "'buffer-limit'", NULL },
    { "buffer-limit/too-large", GOOD_NAMES, LISTEN, NULL, 0,
      LIMEVI_BUFFER_LIMIT_MAX + 1,
      LIMEVI_ERROR_INVALID, "'buffer-limit'", NULL },
};

/* A UDP socket on 127.0.0.1:@port (0: one the kernel picks), or NULL
 * when that port is taken. */
static GSocket *udp_bind(guint16 port)
{
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(
        G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, port);
    g_autoptr(GSocket) s = g_socket_new(G_SOCKET_FAMILY_IPV4,
                                        G_SOCKET_TYPE_DATAGRAM,
                                        G_SOCKET_PROTOCOL_UDP, NULL);

    g_assert_nonnull(s);
    if (!g_socket_bind(s, addr, FALSE, NULL)) {
        return NULL;
    }
    return g_steal_pointer(&s);
}

/* A UDP port on 127.0.0.1 that was free a moment ago. */
static guint16 free_udp_port(void)
{
    g_autoptr(GSocket) s = udp_bind(0);
    g_autoptr(GSocketAddress) local = g_socket_get_local_address(s, NULL);

    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
}

/* How many sockets this process has open. */
static guint open_sockets(void)
{
    g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
    const char *name;
    guint n = 0;

    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename("/proc/self/fd", name, NULL);
        g_autofree char *target = g_file_read_link(path, NULL);

        n += target && g_str_has_prefix(target, "socket:");
    }
    return n;
}

/* Each bad option is refused with its error, and nothing is bound: no
 * socket is left open, and the port it would have listened on (a fixed
 * one here, not port 0) can be bound at once. */
static void test_rejects(gconstpointer data)
{
    const BadConfig *bad = data;
    LimeviPortConfig config = {
        .vm = bad->vm,
        .vc = bad->vc,
        .lan = bad->lan,
        .listen = bad->listen,
        .routes = bad->routes,
        .n_routes = bad->n_routes,
        .buffer_limit = bad->buffer_limit,
    };
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) guest = fake_guest_new();
    LimeviPortOps ops = fake_guest_ops();
    g_autoptr(GError) error = NULL;
    g_autofree char *listen = NULL;
    g_autoptr(GSocket) after = NULL;
    guint16 port = 0;
    guint sockets;

    if (!g_strcmp0(bad->listen, LISTEN)) {
        port = free_udp_port();
        listen = g_strdup_printf("127.0.0.1:%u", port);
        config.listen = listen;
    }
    config.context = context;
    sockets = open_sockets();
    g_assert_null(limevi_port_new(&config, &ops, guest, &error));
    g_assert_error(error, LIMEVI_ERROR, bad->code);
    g_assert_nonnull(strstr(error->message, bad->option));
    if (bad->message) {
        g_assert_cmpstr(error->message, ==, bad->message);
    }
    g_assert_cmpuint(open_sockets(), ==, sockets);
    if (port) {
        after = udp_bind(port);
        if (!after) {
            g_error("%s: port %u is bound after the config was refused",
                    listen, port);
        }
    }
}

static void test_buffer_limit_bounds_accepted(void)
{
    static const guint64 limits[] = {
        LIMEVI_BUFFER_LIMIT_MIN, LIMEVI_BUFFER_LIMIT_MAX,
    };

    for (gsize i = 0; i < G_N_ELEMENTS(limits); i++) {
        g_autoptr(GMainContext) context = g_main_context_new();
        g_autoptr(FakeGuest) guest = fake_guest_new();
        LimeviPortConfig config = { .buffer_limit = limits[i] };
        g_autoptr(LimeviPortInfo) info = NULL;

        /* The limit is a bound, not an allocation: 1 GiB costs nothing. */
        fake_guest_start(guest, context, "vm1", "vc1", "lan1", &config);
        info = limevi_port_get_info(guest->port);
        g_assert_cmpuint(info->buffer.limit, ==, limits[i]);
    }
}

static void test_listen_in_use(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) first = fake_guest_new();
    g_autoptr(FakeGuest) second = fake_guest_new();
    g_autofree char *listen = NULL;
    LimeviPortConfig config = { 0 };
    LimeviPortOps ops = fake_guest_ops();
    g_autoptr(GError) error = NULL;

    fake_guest_start(first, context, "vm1", "vc1", "lan1", NULL);
    listen = fake_guest_listen(first);

    config.vm = "vm2";
    config.vc = "vc1";
    config.lan = "lan1";
    config.listen = listen;
    config.context = context;
    g_assert_null(limevi_port_new(&config, &ops, second, &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_BIND);
    g_assert_nonnull(strstr(error->message, "'listen'"));
    g_assert_nonnull(strstr(error->message, "in use"));
    g_assert_nonnull(strstr(error->message, listen));
}

static void test_valid_config(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) guest = fake_guest_new();
    LimeviRouteConfig routes[] = {
        { .vm = "vm2", .endpoint = "127.0.0.1:7002" },
        { .vm = "vm3", .endpoint = "127.0.0.1:7003", .lan = "lan2" },
    };
    LimeviPortConfig config = {
        .routes = routes,
        .n_routes = G_N_ELEMENTS(routes),
        .buffer_limit = 4096,
    };
    g_autoptr(LimeviPortInfo) info = NULL;
    LimeviRouteInfo *route;
    const char *port_str;
    guint64 port_num;

    fake_guest_start(guest, context, "vm1", "vc1", "lan1", &config);
    info = limevi_port_get_info(guest->port);
    g_assert_cmpstr(info->vm, ==, "vm1");
    g_assert_cmpstr(info->vc, ==, "vc1");
    g_assert_cmpstr(info->lan, ==, "lan1");
    g_assert_cmpint(info->state, ==, LIMEVI_PORT_ACTIVE);
    g_assert_cmpuint(info->buffer.limit, ==, 4096);
    g_assert_cmpuint(info->buffer.frames, ==, 0);

    /* The listen address is reported with the port the kernel chose. */
    g_assert_true(g_str_has_prefix(info->listen, "127.0.0.1:"));
    port_str = info->listen + strlen("127.0.0.1:");
    g_assert_true(g_ascii_string_to_unsigned(port_str, 10, 1, G_MAXUINT16,
                                             &port_num, NULL));

    g_assert_cmpuint(info->routes->len, ==, 2);
    route = info->routes->pdata[0];
    g_assert_cmpstr(route->vm, ==, "vm2");
    g_assert_cmpstr(route->endpoint, ==, "127.0.0.1:7002");
    g_assert_cmpstr(route->vc, ==, "vc1");
    g_assert_cmpstr(route->lan, ==, "lan1");
    g_assert_cmpint(route->status, ==, LIMEVI_ROUTE_VALID);
    g_assert_cmpuint(route->epoch, ==, 0);
    route = info->routes->pdata[1];
    g_assert_cmpstr(route->vm, ==, "vm3");
    g_assert_cmpstr(route->lan, ==, "lan2");
}

static void test_default_buffer_limit(void)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(FakeGuest) guest = fake_guest_new();
    g_autoptr(LimeviPortInfo) info = NULL;

    fake_guest_start(guest, context, "vm1", "vc1", "lan1", NULL);
    info = limevi_port_get_info(guest->port);
    g_assert_cmpuint(info->buffer.limit, ==, LIMEVI_BUFFER_LIMIT_DEFAULT);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(bad_configs); i++) {
        g_autofree char *path = g_strdup_printf("/config/rejects/%s",
                                                bad_configs[i].name);

        g_test_add_data_func(path, &bad_configs[i], test_rejects);
    }
    g_test_add_func("/config/rejects/listen/in-use", test_listen_in_use);
    g_test_add_func("/config/accepts/buffer-limit-bounds",
                    test_buffer_limit_bounds_accepted);
    g_test_add_func("/config/accepts/valid", test_valid_config);
    g_test_add_func("/config/accepts/default-buffer-limit",
                    test_default_buffer_limit);
    return g_test_run();
}
