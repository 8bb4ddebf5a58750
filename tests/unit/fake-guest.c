/*
 * The fake guest of the unit tests (see fake-guest.h) and the small
 * helpers every port test needs: frames, bounded waits.
 */
#include <string.h>

#include "fake-guest.h"

const guint8 test_broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static gboolean guest_deliver(gpointer opaque, const guint8 *frame,
                              gsize len)
{
    FakeGuest *guest = opaque;

    if (guest->refuse_from && guest->frames->len >= guest->refuse_from) {
        return FALSE;
    }
    g_ptr_array_add(guest->frames, g_bytes_new(frame, len));
    return TRUE;
}

static gboolean guest_can_receive(gpointer opaque)
{
    FakeGuest *guest = opaque;

    return guest->can_receive;
}

static void guest_route_changed(gpointer opaque, const LimeviRouteInfo *info,
                                gboolean removed)
{
    FakeGuest *guest = opaque;
    LimeviRouteInfo *copy = g_new0(LimeviRouteInfo, 1);

    copy->vm = g_strdup(info->vm);
    copy->endpoint = g_strdup(info->endpoint);
    copy->status = info->status;
    copy->vc = g_strdup(info->vc);
    copy->lan = g_strdup(info->lan);
    copy->epoch = info->epoch;
    g_ptr_array_add(guest->routes, copy);
    g_array_append_val(guest->removed, removed);
}

static void guest_buffer_overflow(gpointer opaque, const char *peer,
                                  guint64 dropped)
{
    FakeGuest *guest = opaque;

    if (!peer) {
        guest->overflows++;
        guest->overflow_dropped = dropped;
    } else {
        guest->peer_overflows++;
        guest->peer_overflow_dropped = dropped;
    }
}

static gint64 guest_now(gpointer opaque)
{
    FakeGuest *guest = opaque;

    return guest->now;
}

LimeviPortOps fake_guest_ops(void)
{
    LimeviPortOps ops = {
        .deliver = guest_deliver,
        .can_receive = guest_can_receive,
        .route_changed = guest_route_changed,
        .now = guest_now,
        .buffer_overflow = guest_buffer_overflow,
    };

    return ops;
}

FakeGuest *fake_guest_new(void)
{
    FakeGuest *guest = g_new0(FakeGuest, 1);

    guest->frames = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_bytes_unref);
    guest->routes = g_ptr_array_new_with_free_func(
        (GDestroyNotify)limevi_route_info_free);
    guest->removed = g_array_new(FALSE, FALSE, sizeof(gboolean));
    guest->can_receive = TRUE;
    guest->now = 1000 * G_USEC_PER_SEC;
    return guest;
}

void fake_guest_free(FakeGuest *guest)
{
    limevi_port_free(guest->port);
    g_ptr_array_unref(guest->frames);
    g_ptr_array_unref(guest->routes);
    g_array_unref(guest->removed);
    g_free(guest);
}

LimeviPort *fake_guest_start(FakeGuest *guest, GMainContext *context,
                             const char *vm, const char *vc,
                             const char *lan, LimeviPortConfig *config)
{
    LimeviPortConfig defaults = { 0 };
    LimeviPortOps ops = fake_guest_ops();
    g_autoptr(GError) error = NULL;

    if (!config) {
        config = &defaults;
    }
    config->vm = vm;
    config->vc = vc;
    config->lan = lan;
    config->listen = config->listen ? config->listen : "127.0.0.1:0";
    config->context = context;
    guest->port = limevi_port_new(config, &ops, guest, &error);
    g_assert_no_error(error);
    g_assert_nonnull(guest->port);
    return guest->port;
}

char *fake_guest_listen(FakeGuest *guest)
{
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(guest->port);

    return g_strdup_printf("127.0.0.1:%s", strrchr(info->listen, ':') + 1);
}

void fake_guest_route(FakeGuest *from, const char *vm, FakeGuest *to)
{
    g_autofree char *endpoint = fake_guest_listen(to);
    g_autoptr(GError) error = NULL;

    g_assert_true(limevi_port_route_set(from->port, vm, endpoint, NULL,
                                        LIMEVI_ROUTE_VALID, &error));
    g_assert_no_error(error);
}

LimeviStats fake_guest_stats(FakeGuest *guest)
{
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(guest->port);

    return info->stats;
}

typedef struct {
    FakeGuest *guest;
    guint n;
} WantFrames;

static gboolean has_frames(gpointer data)
{
    WantFrames *w = data;

    return w->guest->frames->len >= w->n;
}

gboolean fake_guest_wait_frames(GMainContext *context, FakeGuest *guest,
                                guint n)
{
    WantFrames w = { guest, n };

    return test_wait(context, has_frames, &w);
}

void test_frame(guint8 *buf, gsize len, const guint8 *dst,
                const guint8 *src, guint32 id)
{
    g_assert_cmpuint(len, >=, 14);
    memset(buf, 0, len);
    memcpy(buf, dst, 6);
    memcpy(buf + 6, src, 6);
    buf[12] = 0x88;             /* a local experimental EtherType */
    buf[13] = 0xb5;
    if (len < 18) {
        return;                 /* a bare header carries no id */
    }
    buf[14] = id >> 24;
    buf[15] = id >> 16;
    buf[16] = id >> 8;
    buf[17] = id;
}

guint32 test_frame_id(GBytes *frame)
{
    gsize len;
    const guint8 *p = g_bytes_get_data(frame, &len);

    g_assert_cmpuint(len, >=, 18);
    return (guint32)p[14] << 24 | p[15] << 16 | p[16] << 8 | p[17];
}

gboolean test_wait(GMainContext *context, gboolean (*cond)(gpointer),
                   gpointer data)
{
    gint64 deadline = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;

    while (!cond(data)) {
        if (g_get_monotonic_time() > deadline) {
            return FALSE;
        }
        if (!g_main_context_iteration(context, FALSE)) {
            g_usleep(1000);
        }
    }
    return TRUE;
}

GSocket *test_socket_new(char **endpoint)
{
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(
        G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) local = NULL;
    g_autoptr(GError) error = NULL;
    GSocket *socket = g_socket_new(G_SOCKET_FAMILY_IPV4,
                                   G_SOCKET_TYPE_DATAGRAM,
                                   G_SOCKET_PROTOCOL_UDP, &error);

    g_assert_no_error(error);
    g_assert_true(g_socket_bind(socket, any, FALSE, &error));
    g_socket_set_blocking(socket, FALSE);
    local = g_socket_get_local_address(socket, &error);
    g_assert_no_error(error);
    *endpoint = g_strdup_printf(
        "127.0.0.1:%u", g_inet_socket_address_get_port(
                            G_INET_SOCKET_ADDRESS(local)));
    return socket;
}

void test_spin(GMainContext *context, guint ms)
{
    gint64 deadline = g_get_monotonic_time() + ms * 1000;

    while (g_get_monotonic_time() < deadline) {
        if (!g_main_context_iteration(context, FALSE)) {
            g_usleep(1000);
        }
    }
}

void test_fire(GMainContext *context, GSource *timer)
{
    g_assert_nonnull(timer);
    /* A timeout source is due at its ready time: 0 is overdue. */
    g_source_set_ready_time(timer, 0);
    g_main_context_iteration(context, FALSE);
}
