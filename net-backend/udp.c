/*
 * UDP endpoints and the tunnel socket.  Reads go through recvmmsg() into
 * preallocated buffers and batched sends through one sendmmsg(), so the
 * per-datagram path allocates nothing and costs a fraction of a syscall.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE             /* recvmmsg(), sendmmsg() */
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "bytes.h"
#include "udp.h"
#include "wire.h"

G_STATIC_ASSERT(LIMEVI_WIRE_TAG_LEN == LIMEVI_CRYPTO_TAG_LEN);

/* Larger than any UDP payload, so no datagram is ever truncated. */
#define UDP_RX_BUFFER_SIZE 65536
/* Datagrams one recvmmsg() reads. */
#define UDP_RX_BATCH 32

/* Datagrams queued with limevi_udp_batch_add(), sent by one sendmmsg().
 * Allocated on the first batch; sealed ones are built in @sealed. */
typedef struct {
    struct mmsghdr msgs[LIMEVI_UDP_BATCH];
    struct iovec iov[LIMEVI_UDP_BATCH][2];
    struct sockaddr_storage to[LIMEVI_UDP_BATCH];
    guint8 hdr[LIMEVI_UDP_BATCH][LIMEVI_WIRE_HEADER_MAX];
    guint8 *sealed;             /* LIMEVI_UDP_BATCH packets, when sealing */
    GSocketAddress *last_to;    /* @to of the latest entry, converted */
    guint len;
} UdpBatch;

struct LimeviUdp {
    GSocket *socket;
    GSource *source;
    LimeviUdpRecvFunc recv;
    gpointer opaque;
    guint8 *rx_buffer;          /* UDP_RX_BATCH buffers */
    struct mmsghdr rx_msgs[UDP_RX_BATCH];
    struct iovec rx_iov[UDP_RX_BATCH];
    struct sockaddr_storage rx_from[UDP_RX_BATCH];
    UdpBatch *batch;
    GMainContext *context;
    GSource *out_source;        /* while waiting for room to send */
    LimeviUdpWritableFunc writable;
    int full_errno;             /* why the latest send found no room */
    LimeviCrypto *crypto;       /* NULL: datagrams leave unsealed */
    LimeviCryptoSender *self;
    guint64 counter;            /* the next nonce */
    guint8 *tx_buffer;          /* a sealed datagram */
    guint test_accept;          /* test seam: sends to let through, ... */
    guint test_refuse;          /* ... then sends to refuse ... */
    int test_refuse_errno;      /* ... with this errno */
    guint64 too_big;            /* sends refused with EMSGSIZE */
};

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

static void udp_drain_errors(int fd)
{
    guint8 buf[64];
    guint8 control[512];

    for (int i = 0; i < LIMEVI_UDP_BURST; i++) {
        struct iovec iov = { buf, sizeof(buf) };
        struct msghdr msg = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control,
            .msg_controllen = sizeof(control),
        };

        if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
            return;
        }
    }
}

static gboolean udp_readable(GSocket *socket, GIOCondition cond,
                             gpointer opaque)
{
    LimeviUdp *udp = opaque;
    int fd = g_socket_get_fd(socket);
    guint done = 0;

    while (done < LIMEVI_UDP_BURST) {
        guint want = MIN(UDP_RX_BATCH, LIMEVI_UDP_BURST - done);
        int n;

        for (guint i = 0; i < want; i++) {
            udp->rx_msgs[i].msg_hdr.msg_namelen = sizeof(udp->rx_from[i]);
        }
        n = recvmmsg(fd, udp->rx_msgs, want, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;          /* drained */
            }
            /* An ICMP error IP_RECVERR queued (a peer's port closed):
             * read it off, or the socket would stay readable. */
            udp_drain_errors(fd);
            done++;
            continue;
        }
        for (int i = 0; i < n; i++) {
            udp->recv(udp->opaque, udp->rx_iov[i].iov_base,
                      udp->rx_msgs[i].msg_len, &udp->rx_from[i],
                      udp->rx_msgs[i].msg_hdr.msg_namelen);
        }
        done += n;
        if ((guint)n < want) {
            break;              /* drained for now; poll says when not */
        }
    }
    return G_SOURCE_CONTINUE;
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
    /* Pages are touched only as far as datagrams reach. */
    udp->rx_buffer = g_malloc(UDP_RX_BATCH * UDP_RX_BUFFER_SIZE);
    for (guint i = 0; i < UDP_RX_BATCH; i++) {
        udp->rx_iov[i].iov_base = udp->rx_buffer + i * UDP_RX_BUFFER_SIZE;
        udp->rx_iov[i].iov_len = UDP_RX_BUFFER_SIZE;
        udp->rx_msgs[i].msg_hdr.msg_name = &udp->rx_from[i];
        udp->rx_msgs[i].msg_hdr.msg_iov = &udp->rx_iov[i];
        udp->rx_msgs[i].msg_hdr.msg_iovlen = 1;
    }
    udp->source = g_socket_create_source(udp->socket, G_IO_IN, NULL);
    g_source_set_callback(udp->source, G_SOURCE_FUNC(udp_readable), udp,
                          NULL);
    g_source_set_name(udp->source, "limevi-udp");
    udp->context = context ? g_main_context_ref(context) :
                   g_main_context_ref_thread_default();
    g_source_attach(udp->source, udp->context);
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
    if (udp->batch) {
        g_free(udp->batch->sealed);
        g_free(udp->batch);
    }
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

static gboolean udp_errno_icmp(int err)
{
    return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH ||
           err == EHOSTDOWN;
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

/*
 * Seals @hdr and @payload into the tx buffer; its length, 0 on failure.
 * The counter is used up first: a datagram sealed and then not sent may
 * be sent later with another header, and must not share its nonce.
 */
static gsize udp_seal(LimeviUdp *udp, guint8 *out,
                      const guint8 *hdr, gsize hdr_len,
                      const guint8 *payload, gsize len)
{
    gsize sealed_len = hdr_len + LIMEVI_WIRE_SEAL_LEN;
    guint64 counter = udp->counter++;

    if (hdr_len < LIMEVI_WIRE_FIXED_LEN || hdr_len > LIMEVI_WIRE_HEADER_MAX ||
        len > LIMEVI_WIRE_FRAME_MAX) {
        return 0;
    }
    memcpy(out, hdr, hdr_len);
    limevi_put_be16(out + LIMEVI_WIRE_OFF_HEADER_LEN, sealed_len);
    limevi_put_be16(out + LIMEVI_WIRE_OFF_FLAGS,
                    limevi_get_be16(out + LIMEVI_WIRE_OFF_FLAGS) |
                    LIMEVI_WIRE_FLAG_SEALED);
    out[hdr_len] = limevi_crypto_key_id(udp->crypto);
    limevi_put_be64(out + hdr_len + 1, counter);
    if (!limevi_crypto_seal(udp->self, counter, out, sealed_len, payload,
                            len, out + sealed_len)) {
        return 0;
    }
    return sealed_len + len + LIMEVI_CRYPTO_TAG_LEN;
}

LimeviUdpResult limevi_udp_send_to(LimeviUdp *udp, GSocketAddress *to,
                                   const guint8 *hdr, gsize hdr_len,
                                   const guint8 *payload, gsize len)
{
    gsize sealed_len;

    if (!udp->crypto) {
        return udp_sendmsg(udp, to, hdr, hdr_len, payload, len);
    }
    sealed_len = udp_seal(udp, udp->tx_buffer, hdr, hdr_len, payload, len);
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
        if (udp_errno_icmp(err) &&
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
            udp_drain_errors(g_socket_get_fd(udp->socket));
        }
        return LIMEVI_UDP_FAILED;
    }
    udp->full_errno = err;
    return LIMEVI_UDP_FULL;
}

static UdpBatch *udp_batch(LimeviUdp *udp)
{
    if (!udp->batch) {
        udp->batch = g_new0(UdpBatch, 1);
    }
    if (udp->crypto && !udp->batch->sealed) {
        udp->batch->sealed = g_malloc(LIMEVI_UDP_BATCH *
                                      LIMEVI_WIRE_PACKET_MAX);
    }
    return udp->batch;
}

LimeviUdpResult limevi_udp_batch_add(LimeviUdp *udp, GSocketAddress *to,
                                     const guint8 *hdr, gsize hdr_len,
                                     const guint8 *payload, gsize len)
{
    UdpBatch *b = udp_batch(udp);
    guint i = b->len;
    struct msghdr *msg = &b->msgs[i].msg_hdr;

    g_return_val_if_fail(i < LIMEVI_UDP_BATCH, LIMEVI_UDP_FAILED);
    if (to != b->last_to || !i) {
        /* No GError: the per-frame path must not allocate. */
        if (!g_socket_address_to_native(to, &b->to[i], sizeof(b->to[i]),
                                        NULL)) {
            return LIMEVI_UDP_FAILED;
        }
        b->last_to = to;
    } else {
        b->to[i] = b->to[i - 1];
    }
    memset(msg, 0, sizeof(*msg));
    msg->msg_name = &b->to[i];
    msg->msg_namelen = g_socket_address_get_native_size(to);
    msg->msg_iov = b->iov[i];
    if (udp->crypto) {
        guint8 *out = b->sealed + i * LIMEVI_WIRE_PACKET_MAX;
        gsize sealed_len = udp_seal(udp, out, hdr, hdr_len, payload, len);

        if (!sealed_len) {
            return LIMEVI_UDP_FAILED;
        }
        b->iov[i][0] = (struct iovec) { out, sealed_len };
        msg->msg_iovlen = 1;
    } else {
        if (hdr_len > sizeof(b->hdr[i])) {
            return LIMEVI_UDP_FAILED;
        }
        memcpy(b->hdr[i], hdr, hdr_len);
        b->iov[i][0] = (struct iovec) { b->hdr[i], hdr_len };
        b->iov[i][1] = (struct iovec) { (void *)payload, len };
        msg->msg_iovlen = payload ? 2 : 1;
    }
    b->len++;
    return LIMEVI_UDP_SENT;
}

guint limevi_udp_batch_len(LimeviUdp *udp)
{
    return udp->batch ? udp->batch->len : 0;
}

guint limevi_udp_batch_flush(LimeviUdp *udp)
{
    UdpBatch *b = udp->batch;
    int fd = g_socket_get_fd(udp->socket);
    gboolean retried = FALSE;
    guint sent = 0;

    if (!b) {
        return 0;
    }
    while (sent < b->len) {
        guint want = b->len - sent;
        int n;

        if (udp->test_refuse) {
            want = MIN(want, udp->test_accept);
            if (!want) {
                break;          /* the next send is to be refused */
            }
        }
        n = sendmmsg(fd, &b->msgs[sent], want, MSG_DONTWAIT);
        if (n > 0) {
            if (udp->test_refuse) {
                udp->test_accept -= n;
            }
            sent += n;
            retried = FALSE;
            continue;
        }
        /* As in udp_sendmsg(): an ICMP error an earlier datagram caused
         * is reported once, and is not about this one. */
        if (errno == EINTR || (udp_errno_icmp(errno) && !retried)) {
            retried = TRUE;
            continue;
        }
        break;
    }
    b->len = 0;
    return sent;
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
