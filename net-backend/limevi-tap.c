/*
 * limevi-tap: joins a Linux TAP device to a VC LAN as a member port, so
 * host tools (ping, iperf3, the probe) can talk to guests over LimeVI.
 * The same LimeviPort as inside QEMU; only the I/O side differs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glib-unix.h>

#include "limevi.h"

/* Largest frame a TAP device hands us without offloads. */
#define TAP_FRAME_MAX 65536

typedef struct {
    int fd;
    LimeviPort *port;
    GMainLoop *loop;
    guint write_watch;          /* set while the kernel's TAP queue is full */
    guint8 frame[TAP_FRAME_MAX];
} TapEndpoint;

static int tap_open(const char *name, GError **error)
{
    struct ifreq ifr = { 0 };
    int fd;

    if (strlen(name) >= IFNAMSIZ) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'--tap' name '%s' is longer than %d characters",
                    name, IFNAMSIZ - 1);
        return -1;
    }
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "/dev/net/tun: %s", g_strerror(errno));
        return -1;
    }
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    g_strlcpy(ifr.ifr_name, name, IFNAMSIZ);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'--tap' %s: %s", name, g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static gboolean tap_writable(gint fd, GIOCondition cond, gpointer opaque)
{
    TapEndpoint *tap = opaque;

    tap->write_watch = 0;
    limevi_port_guest_ready(tap->port);
    return G_SOURCE_REMOVE;
}

static gboolean tap_deliver(gpointer opaque, const guint8 *frame, gsize len)
{
    TapEndpoint *tap = opaque;
    ssize_t n = write(tap->fd, frame, len);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        /* The port keeps the frame; we retry when the fd is writable. */
        if (!tap->write_watch) {
            tap->write_watch = g_unix_fd_add(tap->fd, G_IO_OUT,
                                             tap_writable, tap);
        }
        return FALSE;
    }
    /* Other errors (link down) drop the frame as a NIC would. */
    return TRUE;
}

static gboolean tap_can_receive(gpointer opaque)
{
    TapEndpoint *tap = opaque;

    return tap->write_watch == 0;
}

static gboolean tap_readable(gint fd, GIOCondition cond, gpointer opaque)
{
    TapEndpoint *tap = opaque;

    /* Bounded so the tunnel side is served even under a flood. */
    for (int i = 0; i < 64; i++) {
        ssize_t n = read(tap->fd, tap->frame, sizeof(tap->frame));

        if (n <= 0) {
            break;
        }
        limevi_port_send(tap->port, tap->frame, n);
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_signal(gpointer opaque)
{
    TapEndpoint *tap = opaque;

    g_main_loop_quit(tap->loop);
    return G_SOURCE_REMOVE;
}

/* "VM=HOST:PORT[@LAN]" into @route; strings point into @spec. */
static gboolean parse_route(char *spec, LimeviRouteConfig *route,
                            GError **error)
{
    char *eq = strchr(spec, '=');
    char *at;

    if (!eq || eq == spec || !eq[1]) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'--route' expects VM=HOST:PORT[@LAN], got '%s'", spec);
        return FALSE;
    }
    *eq = '\0';
    route->vm = spec;
    route->endpoint = eq + 1;
    at = strrchr(eq + 1, '@');
    if (at) {
        *at = '\0';
        route->lan = at + 1;
    }
    return TRUE;
}

static void print_stats(LimeviPort *port)
{
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(port);
    const LimeviStats *s = &info->stats;

    g_print("{\"vm\":\"%s\",\"tx-frames\":%" G_GUINT64_FORMAT
            ",\"tx-flooded\":%" G_GUINT64_FORMAT
            ",\"tx-no-route\":%" G_GUINT64_FORMAT
            ",\"rx-frames\":%" G_GUINT64_FORMAT
            ",\"rx-malformed\":%" G_GUINT64_FORMAT
            ",\"rx-wrong-vc\":%" G_GUINT64_FORMAT
            ",\"rx-wrong-lan\":%" G_GUINT64_FORMAT
            ",\"rx-not-for-us\":%" G_GUINT64_FORMAT
            ",\"rx-auth-failed\":%" G_GUINT64_FORMAT
            ",\"rx-replayed\":%" G_GUINT64_FORMAT
            ",\"buffer-dropped\":%" G_GUINT64_FORMAT "}\n",
            info->vm, s->tx_frames, s->tx_flooded, s->tx_no_route,
            s->rx_frames, s->rx_malformed, s->rx_wrong_vc, s->rx_wrong_lan,
            s->rx_not_for_us, s->rx_auth_failed, s->rx_replayed,
            info->buffer.dropped);
}

int main(int argc, char **argv)
{
    g_autofree char *tap_name = NULL, *vm = NULL, *vc = NULL, *lan = NULL;
    g_autofree char *listen = NULL, *key_file = NULL;
    g_autofree char *key = NULL;
    gsize key_len = 0;
    gboolean insecure = FALSE;
    g_auto(GStrv) route_specs = NULL;
    gint64 buffer_limit = 0;
    GOptionEntry entries[] = {
        { "tap", 0, 0, G_OPTION_ARG_STRING, &tap_name,
          "TAP device to create or attach to", "NAME" },
        { "vm", 0, 0, G_OPTION_ARG_STRING, &vm,
          "VM name of this endpoint in the VC", "NAME" },
        { "vc", 0, 0, G_OPTION_ARG_STRING, &vc, "virtual cluster", "VC" },
        { "lan", 0, 0, G_OPTION_ARG_STRING, &lan, "LAN of the VC", "LAN" },
        { "listen", 0, 0, G_OPTION_ARG_STRING, &listen,
          "UDP address of the tunnel endpoint", "HOST:PORT" },
        { "route", 0, 0, G_OPTION_ARG_STRING_ARRAY, &route_specs,
          "a peer (repeatable)", "VM=HOST:PORT[@LAN]" },
        { "buffer-limit", 0, 0, G_OPTION_ARG_INT64, &buffer_limit,
          "bytes held while the TAP queue is full", "BYTES" },
        { "key-file", 0, 0, G_OPTION_ARG_FILENAME, &key_file,
          "the VC's key: 32 bytes or 64 hex digits", "FILE" },
        { "insecure", 0, 0, G_OPTION_ARG_NONE, &insecure,
          "listen beyond loopback without a key", NULL },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- join a TAP device to a LimeVI LAN");
    g_autoptr(GError) error = NULL;
    g_autoptr(GArray) routes =
        g_array_new(FALSE, TRUE, sizeof(LimeviRouteConfig));
    TapEndpoint *tap = g_new0(TapEndpoint, 1);
    LimeviPortOps ops = {
        .deliver = tap_deliver,
        .can_receive = tap_can_receive,
    };
    LimeviPortConfig config = { 0 };

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx,
        "Example:\n  limevi-tap --tap lv0 --vm host1 --vc vc1 --lan lan1 \\\n"
        "    --listen 198.18.0.1:7000 --route vm1=198.18.0.2:7001 \\\n"
        "    --key-file vc1.key\n");
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        g_printerr("limevi-tap: %s\n", error->message);
        return 2;
    }
    if (!tap_name || !vm || !vc || !lan || !listen) {
        g_printerr("limevi-tap: '--%s' is required\n",
                   !tap_name ? "tap" : !vm ? "vm" : !vc ? "vc" :
                   !lan ? "lan" : "listen");
        return 2;
    }
    if (buffer_limit < 0) {
        g_printerr("limevi-tap: '--buffer-limit' must not be negative\n");
        return 2;
    }
    for (guint i = 0; route_specs && route_specs[i]; i++) {
        LimeviRouteConfig r = { 0 };

        if (!parse_route(route_specs[i], &r, &error)) {
            g_printerr("limevi-tap: %s\n", error->message);
            return 2;
        }
        g_array_append_val(routes, r);
    }

    if (key_file && !g_file_get_contents(key_file, &key, &key_len, &error)) {
        g_printerr("limevi-tap: '--key-file': %s\n", error->message);
        return 2;
    }
    config.key = (const guint8 *)key;
    config.key_len = key_len;
    config.insecure = insecure;
    config.key_option = "'--key-file'";
    config.insecure_option = "'--insecure'";
    config.vm = vm;
    config.vc = vc;
    config.lan = lan;
    config.listen = listen;
    config.routes = (const LimeviRouteConfig *)routes->data;
    config.n_routes = routes->len;
    config.buffer_limit = buffer_limit;

    tap->fd = tap_open(tap_name, &error);
    if (tap->fd < 0) {
        g_printerr("limevi-tap: %s\n", error->message);
        return 1;
    }
    tap->port = limevi_port_new(&config, &ops, tap, &error);
    if (!tap->port) {
        g_printerr("limevi-tap: %s\n", error->message);
        return 1;
    }
    tap->loop = g_main_loop_new(NULL, FALSE);
    g_unix_fd_add(tap->fd, G_IO_IN, tap_readable, tap);
    g_unix_signal_add(SIGTERM, on_signal, tap);
    g_unix_signal_add(SIGINT, on_signal, tap);

    g_print("ready\n");
    g_main_loop_run(tap->loop);

    print_stats(tap->port);
    limevi_port_free(tap->port);
    g_main_loop_unref(tap->loop);
    close(tap->fd);
    g_free(tap);
    return 0;
}
