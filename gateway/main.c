/*
 * limevi-gateway: a member of one VC LAN, like limevi-tap, whose "guest"
 * is libslirp: the LAN's VMs get DHCP, DNS, NAT through this host's
 * sockets, and port forwards from this host into the LAN.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include <glib-unix.h>

#include "gateway-main.h"

/* A DNS answer of ours: headers plus a question of at most 255 bytes. */
#define DNS_REPLY_MAX 512

/* A frame from the LAN: a DNS query for one of our names is answered
 * here, everything else is slirp's. */
static gboolean gw_deliver(gpointer opaque, const guint8 *frame, gsize len)
{
    Gateway *gw = opaque;
    guint8 reply[DNS_REPLY_MAX];
    gsize n = gateway_dns_answer(gw->opts, frame, len, reply, sizeof(reply));

    if (n) {
        gw->dns_answered++;
        limevi_port_send(gw->port, reply, n);
    } else if (len <= G_MAXINT) {
        slirp_input(gateway_slirp_get(gw->slirp), frame, len);
    }
    return TRUE;
}

/* A frame from slirp to the LAN. */
static ssize_t gw_send_packet(const void *buf, size_t len, void *opaque)
{
    Gateway *gw = opaque;

    gateway_leases_note(&gw->leases, buf, len, g_get_monotonic_time());
    limevi_port_send(gw->port, buf, len);
    return len;
}

static void print_stats(Gateway *gw)
{
    g_autofree char *line = gateway_stats_json(gw);

    printf("%s\n", line);
    fflush(stdout);
}

static gboolean on_usr1(gpointer opaque)
{
    print_stats(opaque);
    return G_SOURCE_CONTINUE;
}

static gboolean on_quit(gpointer opaque)
{
    Gateway *gw = opaque;

    g_main_loop_quit(gw->loop);
    return G_SOURCE_CONTINUE;
}

/* One connection to --control: the stats line, then close. */
static gboolean on_control(GSocketService *service,
                           GSocketConnection *conn, GObject *source,
                           gpointer opaque)
{
    g_autofree char *line = gateway_stats_json(opaque);
    g_autofree char *text = g_strconcat(line, "\n", NULL);

    /* Local and short: a blocking write is bounded by the socket's
     * buffer, and a reader that went away only fails this write. */
    g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
                              text, strlen(text), NULL, NULL, NULL);
    return TRUE;
}

static gboolean control_start(Gateway *gw, GError **error)
{
    g_autoptr(GSocketAddress) addr = NULL;

    if (!gw->opts->control) {
        return TRUE;
    }
    /* A stale socket of an earlier run would make the bind fail. */
    if (g_file_test(gw->opts->control, G_FILE_TEST_EXISTS) &&
        !g_file_test(gw->opts->control, G_FILE_TEST_IS_REGULAR |
                                        G_FILE_TEST_IS_DIR)) {
        g_unlink(gw->opts->control);
    }
    addr = g_unix_socket_address_new(gw->opts->control);
    gw->control = g_socket_service_new();
    if (!g_socket_listener_add_address(G_SOCKET_LISTENER(gw->control), addr,
                                       G_SOCKET_TYPE_STREAM,
                                       G_SOCKET_PROTOCOL_DEFAULT, NULL,
                                       NULL, error)) {
        g_prefix_error(error, "'--control' %s: ", gw->opts->control);
        return FALSE;
    }
    g_signal_connect(gw->control, "incoming", G_CALLBACK(on_control), gw);
    return TRUE;
}

static gboolean gateway_start(Gateway *gw, GError **error)
{
    static const LimeviPortOps ops = { .deliver = gw_deliver };
    g_autofree char *key = NULL;
    gsize key_len = 0;
    LimeviPortConfig config = {
        .vm = gw->opts->vm,
        .vc = gw->opts->vc,
        .lan = gw->opts->lan,
        .listen = gw->opts->listen,
        .routes = (const LimeviRouteConfig *)gw->opts->routes->data,
        .n_routes = gw->opts->routes->len,
        .insecure = gw->opts->insecure,
        .key_option = "'--key-file'",
        .insecure_option = "'--insecure'",
    };

    if (gw->opts->key_file &&
        !g_file_get_contents(gw->opts->key_file, &key, &key_len, error)) {
        g_prefix_error(error, "'--key-file': ");
        (*error)->domain = GATEWAY_ERROR;
        (*error)->code = GATEWAY_ERROR_OPTION;
        return FALSE;
    }
    config.key = (const guint8 *)key;
    config.key_len = key_len;
    /* The port keeps its own copy of the key. */
    gw->port = limevi_port_new(&config, &ops, gw, error);
    if (!gw->port) {
        return FALSE;
    }
    gw->slirp = gateway_slirp_new(gw->opts, gw_send_packet, gw, NULL);
    return gateway_slirp_add_forwards(gw->slirp, gw->opts, error) &&
           control_start(gw, error);
}

/* The library checks --listen, --route and the key as it binds: a value
 * it cannot parse is a bad option (2), a socket it cannot bind a failed
 * start (1). */
static int start_exit_status(const GError *error)
{
    if ((error->domain == LIMEVI_ERROR && error->code != LIMEVI_ERROR_BIND) ||
        g_error_matches(error, GATEWAY_ERROR, GATEWAY_ERROR_OPTION)) {
        return 2;
    }
    return 1;
}

int main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    Gateway gw = { 0 };
    guint sources[3];

    gw.opts = gateway_options_parse(argc, argv, &error);
    if (!gw.opts) {
        g_printerr("limevi-gateway: %s\n", error->message);
        return 2;
    }
    if (!gateway_start(&gw, &error)) {
        int status = start_exit_status(error);

        g_printerr("limevi-gateway: %s\n", error->message);
        g_clear_object(&gw.control);
        g_clear_pointer(&gw.slirp, gateway_slirp_free);
        g_clear_pointer(&gw.port, limevi_port_free);
        gateway_options_free(gw.opts);
        return status;
    }
    gw.loop = g_main_loop_new(NULL, FALSE);
    sources[0] = g_unix_signal_add(SIGTERM, on_quit, &gw);
    sources[1] = g_unix_signal_add(SIGINT, on_quit, &gw);
    sources[2] = g_unix_signal_add(SIGUSR1, on_usr1, &gw);

    printf("ready\n");
    fflush(stdout);
    g_main_loop_run(gw.loop);

    print_stats(&gw);
    for (guint i = 0; i < G_N_ELEMENTS(sources); i++) {
        g_source_remove(sources[i]);
    }
    if (gw.control) {
        g_socket_service_stop(gw.control);
        g_object_unref(gw.control);
        g_unlink(gw.opts->control);
    }
    gateway_slirp_free(gw.slirp);
    limevi_port_free(gw.port);
    g_main_loop_unref(gw.loop);
    gateway_options_free(gw.opts);
    return 0;
}
