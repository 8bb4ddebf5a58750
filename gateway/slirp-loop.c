/*
 * libslirp on a GMainContext.  QEMU calls slirp_pollfds_fill() before its
 * poll and slirp_pollfds_poll() after it; here one GSource does the same
 * from its prepare and dispatch, so slirp's sockets and TCP timers run on
 * the same loop as the LimeVI port.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway-slirp.h"

typedef struct {
    GSource source;
    GatewaySlirp *gs;
} SlirpSource;

struct GatewaySlirp {
    Slirp *slirp;
    GMainContext *context;
    SlirpWriteCb send_packet;
    gpointer opaque;
    SlirpSource *source;
    GArray *fill;               /* of GPollFD: what slirp asks for now */
    GArray *polled;             /* of GPollFD: what the source polls */
    guint64 guest_errors;
};

typedef struct {
    GatewaySlirp *gs;
    SlirpTimerId id;
    void *cb_opaque;
    GSource *timeout;
} SlirpTimer;

static int poll_to_gio(int events)
{
    return (events & SLIRP_POLL_IN ? G_IO_IN : 0) |
           (events & SLIRP_POLL_OUT ? G_IO_OUT : 0) |
           (events & SLIRP_POLL_PRI ? G_IO_PRI : 0) |
           (events & SLIRP_POLL_ERR ? G_IO_ERR : 0) |
           (events & SLIRP_POLL_HUP ? G_IO_HUP : 0);
}

static int gio_to_poll(int events)
{
    return (events & G_IO_IN ? SLIRP_POLL_IN : 0) |
           (events & G_IO_OUT ? SLIRP_POLL_OUT : 0) |
           (events & G_IO_PRI ? SLIRP_POLL_PRI : 0) |
           (events & G_IO_ERR ? SLIRP_POLL_ERR : 0) |
           (events & G_IO_HUP ? SLIRP_POLL_HUP : 0);
}

static int add_poll(int fd, int events, void *opaque)
{
    GatewaySlirp *gs = opaque;
    GPollFD pfd = { .fd = fd, .events = poll_to_gio(events) };

    g_array_append_val(gs->fill, pfd);
    return gs->fill->len - 1;
}

static int get_revents(int idx, void *opaque)
{
    GatewaySlirp *gs = opaque;

    return gio_to_poll(g_array_index(gs->polled, GPollFD, idx).revents);
}

static gboolean same_polls(GArray *a, GArray *b)
{
    if (a->len != b->len) {
        return FALSE;
    }
    for (guint i = 0; i < a->len; i++) {
        GPollFD *x = &g_array_index(a, GPollFD, i);
        GPollFD *y = &g_array_index(b, GPollFD, i);

        if (x->fd != y->fd || x->events != y->events) {
            return FALSE;
        }
    }
    return TRUE;
}

/*
 * slirp says before every poll which sockets it wants and for what.
 * Adding or removing a poll wakes the context, so the source's polls
 * change only when slirp's set does, or the loop would never sleep.
 * The indices slirp got from add_poll() then index @polled too.
 */
static gboolean source_prepare(GSource *source, gint *timeout)
{
    GatewaySlirp *gs = ((SlirpSource *)source)->gs;
    uint32_t ms = UINT32_MAX;

    g_array_set_size(gs->fill, 0);
    slirp_pollfds_fill(gs->slirp, &ms, add_poll, gs);
    if (!same_polls(gs->fill, gs->polled)) {
        for (guint i = 0; i < gs->polled->len; i++) {
            g_source_remove_poll(source,
                                 &g_array_index(gs->polled, GPollFD, i));
        }
        g_array_set_size(gs->polled, 0);
        g_array_append_vals(gs->polled, gs->fill->data, gs->fill->len);
        for (guint i = 0; i < gs->polled->len; i++) {
            g_source_add_poll(source, &g_array_index(gs->polled, GPollFD, i));
        }
    }
    *timeout = ms == UINT32_MAX ? -1 : (gint)MIN(ms, G_MAXINT);
    return FALSE;
}

/* slirp_pollfds_poll() also runs slirp's TCP timers, so it runs after
 * every poll, ready or not, as in QEMU. */
static gboolean source_check(GSource *source)
{
    return TRUE;
}

static gboolean source_dispatch(GSource *source, GSourceFunc cb,
                                gpointer data)
{
    GatewaySlirp *gs = ((SlirpSource *)source)->gs;

    slirp_pollfds_poll(gs->slirp, 0, get_revents, gs);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs slirp_source_funcs = {
    .prepare = source_prepare,
    .check = source_check,
    .dispatch = source_dispatch,
};

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    GatewaySlirp *gs = opaque;

    return gs->send_packet(buf, len, gs->opaque);
}

static void cb_guest_error(const char *msg, void *opaque)
{
    GatewaySlirp *gs = opaque;

    gs->guest_errors++;
    g_debug("guest error: %s", msg);
}

/* slirp's clock; its timers expire in milliseconds of the same clock. */
static int64_t cb_clock_get_ns(void *opaque)
{
    return g_get_monotonic_time() * 1000;
}

static void cb_init_completed(Slirp *slirp, void *opaque)
{
    GatewaySlirp *gs = opaque;

    gs->slirp = slirp;
}

static gboolean timer_fired(gpointer opaque)
{
    SlirpTimer *t = opaque;

    g_clear_pointer(&t->timeout, g_source_unref);
    slirp_handle_timer(t->gs->slirp, t->id, t->cb_opaque);
    return G_SOURCE_REMOVE;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque,
                                 void *opaque)
{
    SlirpTimer *t = g_new0(SlirpTimer, 1);

    t->gs = opaque;
    t->id = id;
    t->cb_opaque = cb_opaque;
    return t;
}

static void timer_stop(SlirpTimer *t)
{
    if (t->timeout) {
        g_source_destroy(t->timeout);
        g_clear_pointer(&t->timeout, g_source_unref);
    }
}

static void cb_timer_free(void *timer, void *opaque)
{
    timer_stop(timer);
    g_free(timer);
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    SlirpTimer *t = timer;
    gint64 now_ms = g_get_monotonic_time() / 1000;

    timer_stop(t);
    t->timeout = g_timeout_source_new(MAX(expire_ms - now_ms, 0));
    g_source_set_callback(t->timeout, timer_fired, t, NULL);
    g_source_attach(t->timeout, t->gs->context);
}

static void cb_register_poll_fd(int fd, void *opaque)
{
    /* Only Windows needs this (QEMU's WSAEventSelect). */
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
}

/* A socket can take more: wake the loop so the next prepare sees it. */
static void cb_notify(void *opaque)
{
    GatewaySlirp *gs = opaque;

    g_main_context_wakeup(gs->context);
}

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
    .init_completed = cb_init_completed,
    .timer_new_opaque = cb_timer_new_opaque,
};

GatewaySlirp *gateway_slirp_new(const GatewayOptions *opts,
                                SlirpWriteCb send_packet, gpointer opaque,
                                GMainContext *context)
{
    GatewaySlirp *gs = g_new0(GatewaySlirp, 1);
    SlirpConfig cfg = {
        .version = 4,
        .in_enabled = true,
        .vnetwork = opts->net,
        .vnetmask = opts->mask,
        .vhost = opts->host,
        .vhostname = "limevi-gateway",
        .vdhcp_start = opts->dhcp_start,
        .vnameserver = opts->dns,
        /* IPv6 would need its own prefix option; the LANs are IPv4. */
        .in6_enabled = false,
    };

    gs->context = context ? g_main_context_ref(context)
                          : g_main_context_ref_thread_default();
    gs->send_packet = send_packet;
    gs->opaque = opaque;
    gs->fill = g_array_new(FALSE, TRUE, sizeof(GPollFD));
    gs->polled = g_array_new(FALSE, TRUE, sizeof(GPollFD));
    slirp_new(&cfg, &slirp_callbacks, gs);
    g_assert(gs->slirp);
    gs->source = (SlirpSource *)g_source_new(&slirp_source_funcs,
                                             sizeof(SlirpSource));
    gs->source->gs = gs;
    /* GLib blocks a source while it dispatches by removing its polls and
     * re-adding them after, which wakes the context: as it dispatches
     * after every poll, the loop would never sleep.  Its dispatch never
     * iterates the context, so recursion cannot happen. */
    g_source_set_can_recurse(&gs->source->source, TRUE);
    g_source_attach(&gs->source->source, gs->context);
    return gs;
}

void gateway_slirp_free(GatewaySlirp *gs)
{
    if (!gs) {
        return;
    }
    g_source_destroy(&gs->source->source);
    g_source_unref(&gs->source->source);
    slirp_cleanup(gs->slirp);
    g_array_unref(gs->fill);
    g_array_unref(gs->polled);
    g_main_context_unref(gs->context);
    g_free(gs);
}

Slirp *gateway_slirp_get(GatewaySlirp *gs)
{
    return gs->slirp;
}

guint64 gateway_slirp_guest_errors(GatewaySlirp *gs)
{
    return gs->guest_errors;
}

/* slirp says only that it failed: find out why, for the message. */
static const char *bind_failure(const GatewayForward *fwd)
{
    struct sockaddr_in sin = {
        .sin_family = AF_INET,
        .sin_addr = fwd->host_addr,
        .sin_port = htons(fwd->host_port),
    };
    int fd = socket(AF_INET, fwd->udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    int one = 1, err = 0;

    if (fd < 0) {
        return g_strerror(errno);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        err = errno;
    }
    close(fd);
    if (err == EADDRINUSE) {
        return "the address is in use";
    }
    return err ? g_strerror(err) : "libslirp could not listen on it";
}

gboolean gateway_slirp_add_forwards(GatewaySlirp *gs,
                                    const GatewayOptions *opts,
                                    GError **error)
{
    for (guint i = 0; i < opts->forwards->len; i++) {
        const GatewayForward *f =
            &g_array_index(opts->forwards, GatewayForward, i);

        if (slirp_add_hostfwd(gs->slirp, f->udp, f->host_addr, f->host_port,
                              f->guest_addr, f->guest_port) < 0) {
            g_autofree char *spec = gateway_forward_to_string(f);

            g_set_error(error, GATEWAY_ERROR, GATEWAY_ERROR_START,
                        "'--forward' %s: cannot listen on the host: %s",
                        spec, bind_failure(f));
            while (i-- > 0) {
                f = &g_array_index(opts->forwards, GatewayForward, i);
                slirp_remove_hostfwd(gs->slirp, f->udp, f->host_addr,
                                     f->host_port);
            }
            return FALSE;
        }
    }
    return TRUE;
}
