/*
 * limevi-tap: joins a Linux TAP device to a VC LAN as a member port, so
 * host tools (ping, iperf3, the probe) can talk to guests over LimeVI.
 * The same LimeviPort as inside QEMU; only the I/O side differs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <linux/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "limevi.h"
#include "tap-offload.h"
#include "tap-options.h"

/* Largest frame a TAP device hands us without offloads. */
#define TAP_FRAME_MAX 65536
/* Frames read per wakeup, so the tunnel side is served even under a
 * flood; they leave in batches of LIMEVI_UDP_BATCH. */
#define TAP_BURST 64
/* Room for the segments of a few super-frames per batch; when full, the
 * batch is sent and the room reused. */
#define TAP_SEG_ROOM (4 * 72 * 1024)
#define TAP_SEG_MAX 256

typedef struct {
    int fd;
    LimeviPort *port;
    GMainLoop *loop;
    guint write_watch;          /* set while the kernel's TAP queue is full */
    gboolean offload;           /* vnet headers, TSO: see tap-offload.h */
    guint mtu;                  /* the TAP's, which segments must fit */
    guint64 gso_frames, segments;   /* super-frames read, frames cut */
    /* Frames for the TAP: a run of TCP segments waits in @co until the
     * main loop turns (@co_flush), then goes as one TSO frame; @run is
     * that frame while the TAP queue is too full to take it. */
    TapCoalesce *co;
    GSource *co_flush;
    const guint8 *run;
    gsize run_len;
    guint64 runs, run_segments;     /* TSO frames written, frames in them */
    gsize seg_used;
    struct iovec segs[TAP_SEG_MAX];
    guint8 seg_room[TAP_SEG_ROOM];
    /* A wakeup's frames, valid until its batch is sent; pages are only
     * touched as far as frames reach. */
    guint8 frames[TAP_BURST][TAP_VNET_HDR_LEN + TAP_FRAME_MAX];
} TapEndpoint;

/* Sets the MTU of @name to @mtu, or with @mtu 0 reads it into *@mtu_out. */
static gboolean tap_set_mtu(const char *name, int mtu, guint *mtu_out,
                            GError **error)
{
    struct ifreq ifr = { .ifr_mtu = mtu };
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    gboolean ok;

    g_strlcpy(ifr.ifr_name, name, IFNAMSIZ);
    ok = fd >= 0 && ioctl(fd, mtu ? SIOCSIFMTU : SIOCGIFMTU, &ifr) == 0;
    *mtu_out = ifr.ifr_mtu;
    if (!ok) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    mtu ? "'--path-mtu': setting the MTU of %s to %d: %s"
                        : "reading the MTU of %s%.0d: %s",
                    name, mtu, g_strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

static gboolean tap_writable(gint fd, GIOCondition cond, gpointer opaque);

/* Whether a write to the TAP went (or failed for good, as a NIC drops
 * on a link down); FALSE, watching for room, when its queue is full. */
static gboolean tap_wrote(TapEndpoint *tap, ssize_t n)
{
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!tap->write_watch) {
            tap->write_watch = g_unix_fd_add(tap->fd, G_IO_OUT,
                                             tap_writable, tap);
        }
        return FALSE;
    }
    return TRUE;
}

/* Writes the run of @co, if any; FALSE while the TAP queue is full. */
static gboolean tap_write_run(TapEndpoint *tap)
{
    if (!tap->run_len && tap->co->segs) {
        guint segs = tap->co->segs;

        tap->run_len = tap_coalesce_finish(tap->co, &tap->run);
        if (segs > 1) {
            tap->runs++;
            tap->run_segments += segs;
        }
    }
    if (tap->run_len && !tap_wrote(tap, write(tap->fd, tap->run,
                                              tap->run_len))) {
        return FALSE;
    }
    tap->run_len = 0;
    return TRUE;
}

static gboolean tap_flush_run(gpointer opaque)
{
    TapEndpoint *tap = opaque;

    g_clear_pointer(&tap->co_flush, g_source_unref);
    tap_write_run(tap);
    return G_SOURCE_REMOVE;
}

static gboolean tap_writable(gint fd, GIOCondition cond, gpointer opaque)
{
    TapEndpoint *tap = opaque;

    tap->write_watch = 0;
    if (tap_write_run(tap)) {
        limevi_port_guest_ready(tap->port);
    }
    return G_SOURCE_REMOVE;
}

/* With offloads: into the run if it continues it, else after it. */
static gboolean tap_deliver_offloaded(TapEndpoint *tap, const guint8 *frame,
                                      gsize len)
{
    /* Every frame carries a vnet header: zero, no GSO. */
    static const guint8 vnet[TAP_VNET_HDR_LEN];
    struct iovec iov[2] = {
        { (void *)vnet, sizeof(vnet) }, { (void *)frame, len },
    };

    if (tap_coalesce_add(tap->co, frame, len)) {
        if (!tap->co_flush) {
            /* At the default priority: once this turn's reads are done. */
            tap->co_flush = g_idle_source_new();
            g_source_set_priority(tap->co_flush, G_PRIORITY_DEFAULT);
            g_source_set_callback(tap->co_flush, tap_flush_run, tap, NULL);
            g_source_attach(tap->co_flush, NULL);
        }
        return TRUE;
    }
    if (tap->co->segs) {
        if (!tap_write_run(tap)) {
            return FALSE;       /* the port keeps this frame */
        }
        if (tap_coalesce_add(tap->co, frame, len)) {
            return TRUE;        /* starts the next run; the flush is due */
        }
    }
    return tap_wrote(tap, writev(tap->fd, iov, 2));
}

static gboolean tap_deliver(gpointer opaque, const guint8 *frame, gsize len)
{
    TapEndpoint *tap = opaque;

    if (tap->run_len) {
        return FALSE;           /* the blocked run goes first */
    }
    if (tap->offload) {
        return tap_deliver_offloaded(tap, frame, len);
    }
    /* The port keeps a frame not taken; we retry when the fd is
     * writable. */
    return tap_wrote(tap, write(tap->fd, frame, len));
}

static gboolean tap_can_receive(gpointer opaque)
{
    TapEndpoint *tap = opaque;

    return tap->write_watch == 0;
}

/* One offloaded read: its frames, cut to the MTU, into the batch. */
static void tap_send_offloaded(TapEndpoint *tap, guint8 *buf, gsize len)
{
    int n = tap_offload_split(buf, len, tap->mtu, tap->seg_room + tap->seg_used,
                              TAP_SEG_ROOM - tap->seg_used, tap->segs,
                              TAP_SEG_MAX);

    if (n < 0) {
        /* Out of room: send what the batch holds, then reuse it. */
        limevi_port_send_batch_end(tap->port);
        limevi_port_send_batch_begin(tap->port);
        tap->seg_used = 0;
        n = tap_offload_split(buf, len, tap->mtu, tap->seg_room,
                              TAP_SEG_ROOM, tap->segs, TAP_SEG_MAX);
    }
    if (n > 1 || (n == 1 && tap->segs[0].iov_base != buf + TAP_VNET_HDR_LEN)) {
        tap->gso_frames++;
        tap->segments += n;
    }
    for (int i = 0; i < n; i++) {
        limevi_port_send(tap->port, tap->segs[i].iov_base,
                         tap->segs[i].iov_len);
        if (tap->segs[i].iov_base != buf + TAP_VNET_HDR_LEN) {
            tap->seg_used += tap->segs[i].iov_len;
        }
    }
}

static gboolean tap_readable(gint fd, GIOCondition cond, gpointer opaque)
{
    TapEndpoint *tap = opaque;

    /* A TAP has no batched read; the sends of a wakeup are batched. */
    limevi_port_send_batch_begin(tap->port);
    tap->seg_used = 0;
    for (int i = 0; i < TAP_BURST; i++) {
        ssize_t n = read(tap->fd, tap->frames[i], sizeof(tap->frames[i]));

        if (n <= 0) {
            break;
        }
        if (tap->offload) {
            tap_send_offloaded(tap, tap->frames[i], n);
        } else {
            limevi_port_send(tap->port, tap->frames[i], n);
        }
    }
    limevi_port_send_batch_end(tap->port);
    return G_SOURCE_CONTINUE;
}

static gboolean on_signal(gpointer opaque)
{
    TapEndpoint *tap = opaque;

    g_main_loop_quit(tap->loop);
    return G_SOURCE_REMOVE;
}

static void print_stats(TapEndpoint *tap)
{
    LimeviPort *port = tap->port;
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(port);
    const LimeviStats *s = &info->stats;

    g_print("{\"vm\":\"%s\",\"tx-frames\":%" G_GUINT64_FORMAT
            ",\"tx-flooded\":%" G_GUINT64_FORMAT
            ",\"tx-no-route\":%" G_GUINT64_FORMAT
            ",\"tx-errors\":%" G_GUINT64_FORMAT
            ",\"tx-too-big\":%" G_GUINT64_FORMAT
            ",\"rx-frames\":%" G_GUINT64_FORMAT
            ",\"rx-malformed\":%" G_GUINT64_FORMAT
            ",\"rx-wrong-vc\":%" G_GUINT64_FORMAT
            ",\"rx-wrong-lan\":%" G_GUINT64_FORMAT
            ",\"rx-not-for-us\":%" G_GUINT64_FORMAT
            ",\"rx-auth-failed\":%" G_GUINT64_FORMAT
            ",\"rx-replayed\":%" G_GUINT64_FORMAT
            ",\"buffer-dropped\":%" G_GUINT64_FORMAT
            ",\"tap-gso-frames\":%" G_GUINT64_FORMAT
            ",\"tap-segments\":%" G_GUINT64_FORMAT
            ",\"tx-gso-segments\":%" G_GUINT64_FORMAT
            ",\"rx-gro-segments\":%" G_GUINT64_FORMAT
            ",\"tap-tso-frames\":%" G_GUINT64_FORMAT
            ",\"tap-tso-segments\":%" G_GUINT64_FORMAT "}\n",
            info->vm, s->tx_frames, s->tx_flooded, s->tx_no_route,
            s->tx_errors, s->tx_too_big,
            s->rx_frames, s->rx_malformed, s->rx_wrong_vc, s->rx_wrong_lan,
            s->rx_not_for_us, s->rx_auth_failed, s->rx_replayed,
            info->buffer.dropped, tap->gso_frames, tap->segments,
            s->tx_gso_segments, s->rx_gro_segments, tap->runs,
            tap->run_segments);
}

/*
 * Opens the port, then the TAP device @tap_name (with @tap_mtu, 0:
 * as it is), and watches both and the signals from the default context.
 * Returns 0, else the exit status once it said why.
 */
static int tap_start(TapEndpoint *tap, const LimeviPortConfig *config,
                     const char *tap_name, gint tap_mtu, char **typed_routes,
                     gboolean offload)
{
    g_autoptr(GError) error = NULL;
    LimeviPortOps ops = {
        .deliver = tap_deliver,
        .can_receive = tap_can_receive,
    };

    /* The port first: it checks every value before it binds, so a bad
     * option creates no TAP device.  Nothing is delivered before the
     * main loop runs, by which time the TAP device is open. */
    tap->fd = -1;
    tap->port = limevi_port_new(config, &ops, tap, &error);
    if (!tap->port) {
        g_autofree char *msg = tap_option_message(error->message,
                                                  typed_routes);

        g_printerr("limevi-tap: %s\n", msg);
        return g_error_matches(error, LIMEVI_ERROR, LIMEVI_ERROR_BIND) ? 1
                                                                       : 2;
    }
    tap->offload = offload;
    tap->co = offload ? g_new0(TapCoalesce, 1) : NULL;
    tap->fd = tap_offload_open(tap_name, offload, &error);
    if (tap->fd < 0) {
        g_printerr("limevi-tap: %s\n", error->message);
        return 1;
    }
    if (!tap_set_mtu(tap_name, tap_mtu, &tap->mtu, &error)) {
        g_printerr("limevi-tap: %s\n", error->message);
        return 1;
    }
    tap->loop = g_main_loop_new(NULL, FALSE);
    g_unix_fd_add(tap->fd, G_IO_IN, tap_readable, tap);
    g_unix_signal_add(SIGTERM, on_signal, tap);
    g_unix_signal_add(SIGINT, on_signal, tap);
    return 0;
}

int main(int argc, char **argv)
{
    g_auto(TapOptions) opts = { 0 };
    g_auto(GStrv) typed_routes = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) routes =
        g_array_new(FALSE, TRUE, sizeof(LimeviRouteConfig));
    TapEndpoint *tap = g_new0(TapEndpoint, 1);
    LimeviPortConfig config = { 0 };
    g_autofree char *key = NULL;
    gint tap_mtu = 0;
    int status;

    if (!tap_options_parse(&opts, &argc, &argv, &error)) {
        g_printerr("limevi-tap: %s\n", error->message);
        return 2;
    }
    /* parse_route() cuts the specs up; messages quote them whole. */
    typed_routes = g_strdupv(opts.route_specs);
    if (!tap_config_from_options(&opts, routes, &key, &config, &tap_mtu,
                                 &error)) {
        g_printerr("limevi-tap: %s\n", error->message);
        return 2;
    }
    status = tap_start(tap, &config, opts.tap_name, tap_mtu, typed_routes,
                       !opts.no_offload);
    if (status) {
        return status;
    }

    g_print("ready\n");
    g_main_loop_run(tap->loop);

    if (tap->co) {
        tap_write_run(tap);     /* best effort: the last run */
    }
    print_stats(tap);
    limevi_port_free(tap->port);
    if (tap->co_flush) {
        g_source_destroy(tap->co_flush);
        g_source_unref(tap->co_flush);
    }
    g_main_loop_unref(tap->loop);
    close(tap->fd);
    g_free(tap->co);
    g_free(tap);
    return 0;
}
