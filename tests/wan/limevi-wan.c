/*
 * limevi-wan: a user-space WAN between emulated sites.  It runs in a
 * namespace holding one interface per site (a veth whose other end is in
 * the site's namespace), switches Ethernet frames between them by learned
 * source MACs, and carries each over the link between the two sites with
 * that link's loss, rate, delay and jitter.  The machine has no netem, and
 * in user space the same emulation runs anywhere.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "wan.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define VNET_HDR_LEN    ((guint)sizeof(struct virtio_net_hdr))
/* A GSO frame from a site with offloads on is at most 64 KiB. */
#define FRAME_MAX       (65536 + ETH_HLEN + 4)
#define SOCKET_BUFFER   (16 * 1024 * 1024)
/* Frames read per wake-up, so one busy site cannot starve the others. */
#define READ_BATCH      256
/* Learned MACs; past this the table starts over, as a switch's ages out. */
#define MAC_TABLE_MAX   8192

static gint64 now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static guint64 mac_key(const guint8 *mac)
{
    guint64 key = 0;

    for (int i = 0; i < ETH_ALEN; i++) {
        key = key << 8 | mac[i];
    }
    return key;
}

static WanPath *wan_path_for(Wan *wan, guint src, guint dst)
{
    WanLink *link = wan->pair[src * wan->n_sites + dst];

    return &link->path[src == link->a ? 0 : 1];
}

/* ---- Releasing frames ---- */

static void wan_arm(Wan *wan)
{
    gint64 next = G_MAXINT64;
    struct itimerspec its = { 0 };

    for (guint i = 0; i < wan->n_links; i++) {
        next = MIN(next, wan_path_next_ns(&wan->links[i].path[0]));
        next = MIN(next, wan_path_next_ns(&wan->links[i].path[1]));
    }
    if (next == wan->armed_ns) {
        return;
    }
    wan->armed_ns = next;
    if (next != G_MAXINT64) {
        /* An absolute 0 would disarm the timer. */
        next = MAX(next, 1);
        its.it_value.tv_sec = next / 1000000000;
        its.it_value.tv_nsec = next % 1000000000;
    }
    if (timerfd_settime(wan->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
        g_error("limevi-wan: timerfd_settime: %s", g_strerror(errno));
    }
}

static void wan_release(Wan *wan, WanPath *path, WanSite *dst, gint64 now)
{
    WanFrame *frame;

    while ((frame = wan_path_due(path, now))) {
        frame = wan_path_pop(path);
        if (send(dst->fd, frame->data, frame->len, MSG_DONTWAIT) ==
            (ssize_t)frame->len) {
            path->stats.frames++;
            path->stats.bytes += frame->wire_len;
        } else {
            path->stats.send_errors++;
        }
        g_free(frame);
    }
}

static gboolean on_timer(int fd, GIOCondition cond, gpointer data)
{
    Wan *wan = data;
    guint64 expirations;
    gint64 now = now_ns();

    if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN) {
        g_error("limevi-wan: timerfd read: %s", g_strerror(errno));
    }
    wan->armed_ns = G_MAXINT64;     /* it fired; a one-shot is disarmed */
    for (guint i = 0; i < wan->n_links; i++) {
        WanLink *link = &wan->links[i];

        wan_release(wan, &link->path[0], &wan->sites[link->b], now);
        wan_release(wan, &link->path[1], &wan->sites[link->a], now);
    }
    wan_arm(wan);
    return G_SOURCE_CONTINUE;
}

/* ---- Receiving frames ---- */

static void wan_forward(Wan *wan, guint src, const guint8 *data, guint len)
{
    const guint8 *eth = data + VNET_HDR_LEN;
    guint wire_len = len - VNET_HDR_LEN;
    gint64 now = now_ns();
    gpointer found = NULL;

    /* Learn like a switch: the sender sits behind the port it came from,
     * and a VM that migrated is found at its new site by its first frame
     * (QEMU announces it after a migration). */
    if (!(eth[ETH_ALEN] & 1)) {
        guint64 key = mac_key(eth + ETH_ALEN);
        gpointer port = GUINT_TO_POINTER(src + 1);

        if (g_hash_table_lookup(wan->macs, &key) != port) {
            if (g_hash_table_size(wan->macs) >= MAC_TABLE_MAX) {
                g_hash_table_remove_all(wan->macs);
            }
            g_hash_table_insert(wan->macs, g_memdup2(&key, sizeof(key)),
                                port);
        }
    }
    if (!(eth[0] & 1)) {
        guint64 key = mac_key(eth);

        found = g_hash_table_lookup(wan->macs, &key);
    }
    if (found) {
        guint dst = GPOINTER_TO_UINT(found) - 1;

        /* Already at its site: a switch does not send it back. */
        if (dst != src) {
            wan_path_push(wan_path_for(wan, src, dst), wan->rand, now, data,
                          len, wire_len);
        }
        return;
    }
    for (guint dst = 0; dst < wan->n_sites; dst++) {
        if (dst != src) {
            wan_path_push(wan_path_for(wan, src, dst), wan->rand, now, data,
                          len, wire_len);
        }
    }
}

static gboolean on_readable(int fd, GIOCondition cond, gpointer data)
{
    WanSite *site = data;
    Wan *wan = site->wan;

    for (int i = 0; i < READ_BATCH; i++) {
        struct sockaddr_ll sll;
        socklen_t sll_len = sizeof(sll);
        ssize_t n = recvfrom(fd, wan->buf, FRAME_MAX + VNET_HDR_LEN,
                             MSG_DONTWAIT | MSG_TRUNC,
                             (struct sockaddr *)&sll, &sll_len);

        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                g_printerr("limevi-wan: read from '%s': %s\n", site->ifname,
                           g_strerror(errno));
            }
            break;
        }
        /* Ours going out (kernels without PACKET_IGNORE_OUTGOING), frames
         * from before bind(), truncated or runt frames. */
        if (sll.sll_pkttype == PACKET_OUTGOING ||
            sll.sll_ifindex != site->ifindex ||
            n > FRAME_MAX + VNET_HDR_LEN || n < VNET_HDR_LEN + ETH_HLEN) {
            continue;
        }
        site->rx_frames++;
        site->rx_bytes += n - VNET_HDR_LEN;
        /* The receiving kernel checks the checksum itself. */
        ((struct virtio_net_hdr *)wan->buf)->flags &=
            ~VIRTIO_NET_HDR_F_DATA_VALID;
        wan_forward(wan, site->index, wan->buf, n);
    }
    wan_arm(wan);
    return G_SOURCE_CONTINUE;
}

static gboolean on_signal(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_CONTINUE;
}

/* ---- Set-up ---- */

static int site_open(WanSite *site, GError **err)
{
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(ETH_P_ALL),
    };
    struct packet_mreq mreq = { .mr_type = PACKET_MR_PROMISC };
    struct ifreq ifr = { 0 };
    int one = 1, size = SOCKET_BUFFER;
    int fd;

    site->ifindex = if_nametoindex(site->ifname);
    if (!site->ifindex) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "site '%s': no interface '%s' in this namespace",
                    site->name, site->ifname);
        return -1;
    }
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
                htons(ETH_P_ALL));
    if (fd < 0) {
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(errno),
                    "packet socket: %s (run as root)", g_strerror(errno));
        return -1;
    }
    g_strlcpy(ifr.ifr_name, site->ifname, sizeof(ifr.ifr_name));
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "site '%s': interface '%s' is down", site->name,
                    site->ifname);
        close(fd);
        return -1;
    }
    /* With the virtio-net header, frames whose checksum the sending site
     * left to "hardware" (veth offloads) keep that state across us. */
    sll.sll_ifindex = site->ifindex;
    mreq.mr_ifindex = site->ifindex;
    if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq,
                   sizeof(mreq)) < 0) {
        g_set_error(err, G_IO_ERROR, g_io_error_from_errno(errno),
                    "site '%s': interface '%s': %s", site->name,
                    site->ifname, g_strerror(errno));
        close(fd);
        return -1;
    }
    /* Best effort: older kernels lack it and we filter on pkttype too. */
    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
    /* A burst must queue here, where the link's rules apply, not be
     * dropped by the kernel as if the WAN had lost it. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }
    site->fd = fd;
    return fd;
}

int main(int argc, char **argv)
{
    g_auto(GStrv) site_specs = NULL, link_specs = NULL;
    g_autofree char *defaults = NULL, *stats_path = NULL;
    g_autofree char *ready_path = NULL, *json = NULL, *seed_str = NULL;
    guint64 seed = 0;
    GOptionEntry entries[] = {
        { "site", 0, 0, G_OPTION_ARG_STRING_ARRAY, &site_specs,
          "a site and its interface here (repeatable)", "NAME=IFNAME" },
        { "link", 0, 0, G_OPTION_ARG_STRING_ARRAY, &link_specs,
          "a link's properties (repeatable)", "A-B:KEY=VALUE,..." },
        { "default", 0, 0, G_OPTION_ARG_STRING, &defaults,
          "properties of links not given", "KEY=VALUE,..." },
        { "seed", 0, 0, G_OPTION_ARG_STRING, &seed_str,
          "seed of loss and jitter (default: random, reported)", "N" },
        { "stats-json", 0, 0, G_OPTION_ARG_FILENAME, &stats_path,
          "write the statistics here at exit, not to stdout", "PATH" },
        { "ready-file", 0, 0, G_OPTION_ARG_FILENAME, &ready_path,
          "create once the sites' interfaces are open", "PATH" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- emulate a WAN between sites");
    g_autoptr(GError) error = NULL;
    Wan wan = { 0 };

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx,
        "KEY=VALUE: delay=25ms jitter=2ms loss=0.5% rate=100mbit queue=2mb\n"
        "(delay and jitter one way; no rate means not shaped).\n\n"
        "Example:\n  limevi-wan --site A=A --site B=B \\\n"
        "    --link A-B:delay=25ms,jitter=2ms,loss=0.5%,rate=100mbit\n");
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        g_printerr("limevi-wan: %s\n", error->message);
        return 2;
    }
    if (argc > 1) {
        g_printerr("limevi-wan: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    if (seed_str && !g_ascii_string_to_unsigned(seed_str, 10, 0, G_MAXUINT32,
                                                &seed, NULL)) {
        g_printerr("limevi-wan: '--seed' must be 0..%u, got '%s'\n",
                   G_MAXUINT32, seed_str);
        return 2;
    }
    if (!wan_parse_sites(&wan, site_specs, &error) ||
        !wan_parse_links(&wan, defaults, link_specs, &error)) {
        g_printerr("limevi-wan: %s\n", error->message);
        return 2;
    }
    wan.seed = seed_str ? (guint32)seed : g_random_int();
    wan.rand = g_rand_new_with_seed(wan.seed);
    wan.macs = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                     NULL);
    wan.buf = g_malloc(FRAME_MAX + VNET_HDR_LEN);
    wan.armed_ns = G_MAXINT64;
    wan.loop = g_main_loop_new(NULL, FALSE);
    wan.timer_fd = timerfd_create(CLOCK_MONOTONIC,
                                  TFD_NONBLOCK | TFD_CLOEXEC);
    if (wan.timer_fd < 0) {
        g_printerr("limevi-wan: timerfd: %s\n", g_strerror(errno));
        return 1;
    }
    for (guint i = 0; i < wan.n_sites; i++) {
        if (site_open(&wan.sites[i], &error) < 0) {
            g_printerr("limevi-wan: %s\n", error->message);
            return 1;
        }
        g_unix_fd_add(wan.sites[i].fd, G_IO_IN, on_readable, &wan.sites[i]);
    }
    g_unix_fd_add(wan.timer_fd, G_IO_IN, on_timer, &wan);
    g_unix_signal_add(SIGTERM, on_signal, wan.loop);
    g_unix_signal_add(SIGINT, on_signal, wan.loop);

    if (ready_path && !g_file_set_contents(ready_path, "", 0, &error)) {
        g_printerr("limevi-wan: %s\n", error->message);
        return 1;
    }
    g_printerr("limevi-wan: %u sites, %u links, seed %u\n", wan.n_sites,
               wan.n_links, wan.seed);
    g_main_loop_run(wan.loop);

    json = wan_stats_json(&wan);
    if (stats_path) {
        if (!g_file_set_contents(stats_path, json, -1, &error)) {
            g_printerr("limevi-wan: %s\n", error->message);
            return 1;
        }
    } else {
        g_print("%s\n", json);
    }
    for (guint i = 0; i < wan.n_links; i++) {
        wan_path_clear(&wan.links[i].path[0]);
        wan_path_clear(&wan.links[i].path[1]);
    }
    for (guint i = 0; i < wan.n_sites; i++) {
        close(wan.sites[i].fd);
        g_free(wan.sites[i].name);
        g_free(wan.sites[i].ifname);
    }
    g_free(wan.sites);
    g_free(wan.links);
    g_free(wan.pair);
    g_hash_table_unref(wan.macs);
    g_rand_free(wan.rand);
    g_free(wan.buf);
    g_main_loop_unref(wan.loop);
    close(wan.timer_fd);
    return 0;
}
