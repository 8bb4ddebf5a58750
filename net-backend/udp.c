/*
 * UDP endpoints and the tunnel socket: parsing "HOST:PORT", binding,
 * single sends and waiting for room.  The batched reads and sends are
 * in udp-batch.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE             /* struct mmsghdr in udp-private.h */
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "udp-private.h"
#include "wire.h"

static gboolean parse_port(const char *s, gboolean any_port, guint16 *port)
{
    guint64 value;

    if (!g_ascii_string_to_unsigned(s, 10, any_port ? 0 : 1, G_MAXUINT16,
                                    &value, NULL)) {
        return FALSE;
    }
    *port = value;
    return TRUE;
}

/* Picks the first IPv4 address, else the first: loopback peers are
 * usually configured with IPv4 sockets. */
static GInetAddress *resolve_host(const char *host, const char *what,
                                  GError **error)
{
    g_autoptr(GResolver) resolver = g_resolver_get_default();
    g_autoptr(GError) local_error = NULL;
    GList *addrs = g_resolver_lookup_by_name(resolver, host, NULL,
                                             &local_error);
    GInetAddress *chosen = NULL;

    if (!addrs) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_ENDPOINT,
                    "'%s' cannot resolve '%s': %s", what, host,
                    local_error->message);
        return NULL;
    }
    for (GList *l = addrs; l; l = l->next) {
        if (g_inet_address_get_family(l->data) == G_SOCKET_FAMILY_IPV4) {
            chosen = l->data;
            break;
        }
    }
    chosen = g_object_ref(chosen ? chosen : addrs->data);
    g_resolver_free_addresses(addrs);
    return chosen;
}

GSocketAddress *limevi_udp_parse_endpoint(const char *spec, const char *what,
                                          gboolean any_port, GError **error)
{
    g_autofree char *host = NULL;
    g_autoptr(GInetAddress) addr = NULL;
    const char *port_str;
    gboolean bracketed = FALSE;
    guint16 port;

    if (!spec) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_ENDPOINT,
                    "'%s' is required", what);
        return NULL;
    }
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');

        if (!end || end[1] != ':') {
            goto malformed;
        }
        host = g_strndup(spec + 1, end - spec - 1);
        port_str = end + 2;
        bracketed = TRUE;
    } else {
        const char *colon = strrchr(spec, ':');

        if (!colon) {
            goto malformed;
        }
        host = g_strndup(spec, colon - spec);
        port_str = colon + 1;
        /* An IPv6 address needs brackets to be told from its port. */
        if (strchr(host, ':')) {
            goto malformed;
        }
    }
    if (!host[0] || !parse_port(port_str, any_port, &port)) {
        goto malformed;
    }

    addr = g_inet_address_new_from_string(host);
    if (bracketed && (!addr || g_inet_address_get_family(addr) !=
                      G_SOCKET_FAMILY_IPV6)) {
        goto malformed;
    }
    if (!addr) {
        addr = resolve_host(host, what, error);
        if (!addr) {
            return NULL;
        }
    }
    return g_inet_socket_address_new(addr, port);

malformed:
    g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_ENDPOINT,
                "'%s' expects HOST:PORT, got '%s'", what, spec);
    return NULL;
}

char *limevi_udp_address_to_string(GSocketAddress *addr)
{
    GInetSocketAddress *inet = G_INET_SOCKET_ADDRESS(addr);
    GInetAddress *ip = g_inet_socket_address_get_address(inet);
    g_autofree char *ip_str = g_inet_address_to_string(ip);
    guint16 port = g_inet_socket_address_get_port(inet);

    if (g_inet_address_get_family(ip) == G_SOCKET_FAMILY_IPV6) {
        return g_strdup_printf("[%s]:%u", ip_str, port);
    }
    return g_strdup_printf("%s:%u", ip_str, port);
}

/*
 * Not g_socket_bind(): on Linux its SO_REUSEADDR lets two UDP sockets
 * share an address, which would split a port's traffic silently, and
 * bind()'s errno gives the user the exact reason.
 */
static gboolean udp_bind(GSocket *socket, GSocketAddress *addr,
                         const char *spec, const char *what, GError **error)
{
    struct sockaddr_storage native;
    gsize native_len = g_socket_address_get_native_size(addr);
    int fd = g_socket_get_fd(socket);
    int value = 0;

    if (!g_socket_address_to_native(addr, &native, sizeof(native), NULL)) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_ENDPOINT,
                    "'%s' %s: not a socket address", what, spec);
        return FALSE;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &value, sizeof(value));
    if (bind(fd, (struct sockaddr *)&native, native_len) < 0) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_BIND, "'%s' %s: %s",
                    what, spec, g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/*
 * While QEMU stops a guest for switchover its main loop does not run, and
 * datagrams queue in the kernel for the whole downtime: the default
 * receive buffer (about a hundred datagrams) would drop most of them.
 * SO_RCVBUFFORCE passes rmem_max when we may (CAP_NET_ADMIN).
 */
static void udp_grow_receive_buffer(int fd)
{
    int size = LIMEVI_UDP_RCVBUF;

    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
}

/*
 * Without IP_RECVERR the kernel hides from UDP that a full qdisc (tbf on
 * a shaped link) dropped the datagram: sendmsg() succeeds and the frame
 * is gone.  With it, the drop is ENOBUFS and the frame waits instead.
 */
static void udp_report_qdisc_drops(int fd, GSocketFamily family)
{
    int on = 1;

    if (family == G_SOCKET_FAMILY_IPV6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
    }
    setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
}

LimeviUdp *limevi_udp_new(GSocketAddress *addr, const char *spec,
                          const char *what, GMainContext *context,
                          LimeviUdpRecvFunc recv, gpointer opaque,
                          GError **error)
{
    g_autoptr(GSocket) socket = NULL;
    g_autoptr(GError) local_error = NULL;
    LimeviUdp *udp;

    socket = g_socket_new(g_socket_address_get_family(addr),
                          G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP,
                          &local_error);
    if (!socket) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_BIND, "'%s' %s: %s",
                    what, spec, local_error->message);
        return NULL;
    }
    if (!udp_bind(socket, addr, spec, what, error)) {
        return NULL;
    }
    /* limevi_port_send() must never block on a full socket buffer. */
    g_socket_set_blocking(socket, FALSE);
    udp_grow_receive_buffer(g_socket_get_fd(socket));
    udp_report_qdisc_drops(g_socket_get_fd(socket),
                           g_socket_address_get_family(addr));

    udp = g_new0(LimeviUdp, 1);
    udp->socket = g_steal_pointer(&socket);
    udp->recv = recv;
    udp->opaque = opaque;
    udp->context = context ? g_main_context_ref(context) :
                   g_main_context_ref_thread_default();
    limevi_udp_reader_start(udp);
    return udp;
}

void limevi_udp_free(LimeviUdp *udp)
{
    if (!udp) {
        return;
    }
    g_source_destroy(udp->source);
    g_source_unref(udp->source);
    if (udp->out_source) {
        g_source_destroy(udp->out_source);
        g_source_unref(udp->out_source);
    }
    g_main_context_unref(udp->context);
    g_object_unref(udp->socket);
    g_free(udp->rx_buffer);
    g_free(udp->tx_buffer);
    limevi_udp_batch_free(udp);
    g_free(udp);
}

/* Connecting a UDP socket sends nothing: it only has the kernel choose a
 * route, and with it the source address. */
static GInetAddress *udp_source_toward(GSocketAddress *peer)
{
    g_autoptr(GSocket) probe = g_socket_new(
        g_socket_address_get_family(peer), G_SOCKET_TYPE_DATAGRAM,
        G_SOCKET_PROTOCOL_UDP, NULL);
    g_autoptr(GSocketAddress) local = NULL;

    if (!probe || !g_socket_connect(probe, peer, NULL, NULL)) {
        return NULL;
    }
    local = g_socket_get_local_address(probe, NULL);
    if (!local) {
        return NULL;
    }
    return g_object_ref(g_inet_socket_address_get_address(
        G_INET_SOCKET_ADDRESS(local)));
}

char *limevi_udp_endpoint_toward(LimeviUdp *udp, GSocketAddress *peer)
{
    g_autoptr(GSocketAddress) local =
        g_socket_get_local_address(udp->socket, NULL);
    g_autoptr(GInetAddress) source = NULL;
    g_autoptr(GSocketAddress) reached = NULL;
    GInetSocketAddress *inet;

    if (!local) {
        return g_strdup("");
    }
    inet = G_INET_SOCKET_ADDRESS(local);
    if (!peer ||
        !g_inet_address_get_is_any(g_inet_socket_address_get_address(inet)) ||
        !(source = udp_source_toward(peer))) {
        return limevi_udp_address_to_string(local);
    }
    reached = g_inet_socket_address_new(source,
                                        g_inet_socket_address_get_port(inet));
    return limevi_udp_address_to_string(reached);
}

/* Errors that mean "the socket or the qdisc is full for now". */
static gboolean udp_errno_transient(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS ||
           err == ENOMEM;
}

static LimeviUdpResult udp_sendmsg(LimeviUdp *udp, GSocketAddress *to,
                                   const guint8 *hdr, gsize hdr_len,
                                   const guint8 *payload, gsize len);

void limevi_udp_set_sealer(LimeviUdp *udp, LimeviCrypto *crypto,
                           LimeviCryptoSender *self, guint64 counter)
{
    udp->crypto = crypto;
    udp->self = self;
    udp->counter = counter;
    if (!udp->tx_buffer) {
        udp->tx_buffer = g_malloc(LIMEVI_WIRE_PACKET_MAX);
    }
}

guint64 limevi_udp_next_counter(LimeviUdp *udp)
{
    return udp->crypto ? udp->counter : 0;
}

void limevi_udp_set_next_counter(LimeviUdp *udp, guint64 counter)
{
    udp->counter = counter;
}

LimeviUdpResult limevi_udp_send_to(LimeviUdp *udp, GSocketAddress *to,
                                   const guint8 *hdr, gsize hdr_len,
                                   const guint8 *payload, gsize len)
{
    gsize sealed_len;

    if (!udp->crypto) {
        return udp_sendmsg(udp, to, hdr, hdr_len, payload, len);
    }
    sealed_len = limevi_udp_seal(udp, udp->tx_buffer, hdr, hdr_len, payload,
                                 len);
    if (!sealed_len) {
        return LIMEVI_UDP_FAILED;
    }
    return udp_sendmsg(udp, to, udp->tx_buffer, sealed_len, NULL, 0);
}

LimeviUdpResult limevi_udp_forward_to(LimeviUdp *udp, GSocketAddress *to,
                                      const guint8 *data, gsize len)
{
    return udp_sendmsg(udp, to, data, len, NULL, 0);
}

static LimeviUdpResult udp_sendmsg(LimeviUdp *udp, GSocketAddress *to,
                                   const guint8 *hdr, gsize hdr_len,
                                   const guint8 *payload, gsize len)
{
    struct sockaddr_storage ss;
    struct iovec iov[2] = {
        { (void *)hdr, hdr_len },
        { (void *)payload, len },
    };
    struct msghdr msg = {
        .msg_name = &ss,
        .msg_iov = iov,
        .msg_iovlen = payload ? 2 : 1,
    };
    int err;

    if (udp->test_refuse && !udp->test_accept) {
        udp->test_refuse--;
        err = udp->test_refuse_errno;
    } else {
        if (udp->test_refuse) {
            udp->test_accept--;
        }
        /* No GError: a full socket buffer must not cost an allocation. */
        if (!g_socket_address_to_native(to, &ss, sizeof(ss), NULL)) {
            return LIMEVI_UDP_FAILED;
        }
        msg.msg_namelen = g_socket_address_get_native_size(to);
        if (sendmsg(g_socket_get_fd(udp->socket), &msg, MSG_DONTWAIT) >= 0) {
            return LIMEVI_UDP_SENT;
        }
        err = errno;
        /* With IP_RECVERR a send reports an ICMP error an earlier datagram
         * (to any peer) caused; that one was not about this datagram. */
        if (limevi_udp_errno_icmp(err) &&
            sendmsg(g_socket_get_fd(udp->socket), &msg, MSG_DONTWAIT) >= 0) {
            return LIMEVI_UDP_SENT;
        }
        err = errno;
    }
    if (!udp_errno_transient(err)) {
        if (err == EMSGSIZE) {
            /* IP_RECVERR queued a local error too: read it off, or the
             * socket would stay readable (POLLERR) with nothing to read. */
            udp->too_big++;
            limevi_udp_drain_errors(g_socket_get_fd(udp->socket));
        }
        return LIMEVI_UDP_FAILED;
    }
    udp->full_errno = err;
    return LIMEVI_UDP_FULL;
}

gboolean limevi_udp_send(LimeviUdp *udp, GSocketAddress *to,
                         const guint8 *hdr, gsize hdr_len,
                         const guint8 *payload, gsize len)
{
    return limevi_udp_send_to(udp, to, hdr, hdr_len, payload, len) ==
           LIMEVI_UDP_SENT;
}

static gboolean udp_writable(gpointer data)
{
    LimeviUdp *udp = data;

    g_clear_pointer(&udp->out_source, g_source_unref);
    if (udp->writable) {
        udp->writable(udp->opaque);
    }
    return G_SOURCE_REMOVE;
}

static gboolean udp_socket_writable(GSocket *socket, GIOCondition cond,
                                    gpointer data)
{
    return udp_writable(data);
}

void limevi_udp_set_writable_func(LimeviUdp *udp, LimeviUdpWritableFunc func)
{
    udp->writable = func;
}

void limevi_udp_want_writable(LimeviUdp *udp)
{
    if (udp->out_source) {
        return;
    }
    /* A full qdisc (ENOBUFS) leaves the socket writable: poll would say
     * "ready" at once, so wait a millisecond for the qdisc to drain. */
    udp->out_source = udp->full_errno == ENOBUFS ?
        g_timeout_source_new(1) :
        g_socket_create_source(udp->socket, G_IO_OUT, NULL);
    g_source_set_callback(udp->out_source, udp->full_errno == ENOBUFS ?
                          udp_writable : G_SOURCE_FUNC(udp_socket_writable),
                          udp, NULL);
    g_source_set_name(udp->out_source, "limevi-udp-out");
    g_source_attach(udp->out_source, udp->context);
}

void limevi_udp_forbid_fragments(LimeviUdp *udp)
{
    int fd = g_socket_get_fd(udp->socket);
    int v4 = IP_PMTUDISC_DO, v6 = IPV6_PMTUDISC_DO;

    if (g_socket_get_family(udp->socket) == G_SOCKET_FAMILY_IPV6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v6, sizeof(v6));
    }
    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v4, sizeof(v4));
}

guint64 limevi_udp_too_big(LimeviUdp *udp)
{
    return udp->too_big;
}

void limevi_udp_test_refuse(LimeviUdp *udp, guint sends, int err)
{
    limevi_udp_test_refuse_after(udp, 0, sends, err);
}

void limevi_udp_test_refuse_after(LimeviUdp *udp, guint accept, guint sends,
                                  int err)
{
    udp->test_accept = accept;
    udp->test_refuse = sends;
    udp->test_refuse_errno = err;
}
