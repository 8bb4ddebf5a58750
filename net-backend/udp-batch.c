/*
 * The batched half of the tunnel socket: reads through recvmmsg() into
 * preallocated buffers, queued sends through one sendmmsg(), and the
 * sealing both send paths share, so the per-datagram path allocates
 * nothing and costs a fraction of a syscall.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE             /* recvmmsg(), sendmmsg() */
#include <string.h>

#include "bytes.h"
#include "udp-private.h"
#include "wire.h"

G_STATIC_ASSERT(LIMEVI_WIRE_TAG_LEN == LIMEVI_CRYPTO_TAG_LEN);

/* Larger than any UDP payload, so no datagram is ever truncated. */
#define UDP_RX_BUFFER_SIZE 65536

/* Datagrams queued with limevi_udp_batch_add(), sent by one sendmmsg().
 * Allocated on the first batch; sealed ones are built in @sealed. */
struct UdpBatch {
    struct mmsghdr msgs[LIMEVI_UDP_BATCH];
    struct iovec iov[LIMEVI_UDP_BATCH][2];
    struct sockaddr_storage to[LIMEVI_UDP_BATCH];
    guint8 hdr[LIMEVI_UDP_BATCH][LIMEVI_WIRE_HEADER_MAX];
    guint8 *sealed;             /* LIMEVI_UDP_BATCH packets, when sealing */
    GSocketAddress *last_to;    /* @to of the latest entry, converted */
    guint len;
    /* The same datagrams as UDP_SEGMENT sends: message m carries
     * @gso_count[m] of them. */
    struct mmsghdr gso_msgs[LIMEVI_UDP_BATCH];
    struct iovec gso_iov[LIMEVI_UDP_BATCH * 2];
    guint8 gso_cmsg[LIMEVI_UDP_BATCH][CMSG_SPACE(sizeof(guint16))];
    guint gso_count[LIMEVI_UDP_BATCH];
};

void limevi_udp_drain_errors(int fd)
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
            udp->rx_msgs[i].msg_hdr.msg_controllen =
                sizeof(udp->rx_cmsg[i]);
        }
        n = recvmmsg(fd, udp->rx_msgs, want, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* Woken with nothing to read: an ICMP error whose errno a
                 * send already took still sits in the error queue, and
                 * keeps the socket polling ready (POLLERR) until read. */
                if (!done) {
                    limevi_udp_drain_errors(fd);
                }
                break;          /* drained */
            }
            /* An ICMP error IP_RECVERR queued (a peer's port closed):
             * read it off, or the socket would stay readable. */
            limevi_udp_drain_errors(fd);
            done++;
            continue;
        }
        for (int i = 0; i < n; i++) {
            const guint8 *data = udp->rx_iov[i].iov_base;
            gsize len = udp->rx_msgs[i].msg_len;
            gsize size = limevi_udp_gro_size(&udp->rx_msgs[i].msg_hdr);
            gsize off;

            /* Coalesced by GRO: the datagrams as they were sent. */
            if (!size || size >= len) {
                size = len;
            } else {
                udp->gro_segments += (len + size - 1) / size;
            }
            /* Once at least: an empty datagram is handed on too. */
            off = 0;
            do {
                udp->recv(udp->opaque, data + off, MIN(size, len - off),
                          &udp->rx_from[i],
                          udp->rx_msgs[i].msg_hdr.msg_namelen);
                off += size;
            } while (off < len);
        }
        done += n;
        if ((guint)n < want) {
            break;              /* drained for now; poll says when not */
        }
    }
    return G_SOURCE_CONTINUE;
}

void limevi_udp_reader_start(LimeviUdp *udp)
{
    /* Pages are touched only as far as datagrams reach. */
    udp->rx_buffer = g_malloc(UDP_RX_BATCH * UDP_RX_BUFFER_SIZE);
    for (guint i = 0; i < UDP_RX_BATCH; i++) {
        udp->rx_iov[i].iov_base = udp->rx_buffer + i * UDP_RX_BUFFER_SIZE;
        udp->rx_iov[i].iov_len = UDP_RX_BUFFER_SIZE;
        udp->rx_msgs[i].msg_hdr.msg_name = &udp->rx_from[i];
        udp->rx_msgs[i].msg_hdr.msg_iov = &udp->rx_iov[i];
        udp->rx_msgs[i].msg_hdr.msg_iovlen = 1;
        udp->rx_msgs[i].msg_hdr.msg_control = udp->rx_cmsg[i];
    }
    limevi_udp_gro_enable(udp);
    udp->source = g_socket_create_source(udp->socket, G_IO_IN, NULL);
    g_source_set_callback(udp->source, G_SOURCE_FUNC(udp_readable), udp,
                          NULL);
    g_source_set_name(udp->source, "limevi-udp");
    g_source_attach(udp->source, udp->context);
}

/*
 * The counter is used up first: a datagram sealed and then not sent may
 * be sent later with another header, and must not share its nonce.
 */
gsize limevi_udp_seal(LimeviUdp *udp, guint8 *out,
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

void limevi_udp_batch_free(LimeviUdp *udp)
{
    if (udp->batch) {
        g_free(udp->batch->sealed);
        g_free(udp->batch);
    }
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
        gsize sealed_len = limevi_udp_seal(udp, out, hdr, hdr_len,
                                            payload, len);

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

/*
 * The batch as UDP_SEGMENT sends where datagrams group (limevi-tap's cut
 * TCP segments do), from the front; how many datagrams went.  0 when
 * none group: the plain path does the same with less work.
 */
static guint batch_flush_gso(LimeviUdp *udp, UdpBatch *b, int fd)
{
    guint m = 0, done = 0, sent = 0;
    gsize iovs = 0;
    gboolean retried = FALSE;

    for (guint i = 0; i < b->len; m++) {
        guint count = limevi_udp_gso_group(&b->msgs[i], b->len - i);

        b->gso_count[m] = count;
        if (count == 1) {
            b->gso_msgs[m].msg_hdr = b->msgs[i].msg_hdr;
        } else {
            iovs += limevi_udp_gso_build(&b->gso_msgs[m].msg_hdr,
                                         &b->gso_iov[iovs], b->gso_cmsg[m],
                                         &b->msgs[i], count);
        }
        i += count;
    }
    if (m == b->len) {
        return 0;
    }
    while (done < m) {
        int n = sendmmsg(fd, &b->gso_msgs[done], m - done, MSG_DONTWAIT);

        if (n > 0) {
            for (int j = 0; j < n; j++, done++) {
                sent += b->gso_count[done];
                if (b->gso_count[done] > 1) {
                    udp->gso_segments += b->gso_count[done];
                }
            }
            retried = FALSE;
            continue;
        }
        if (errno == EINTR || (limevi_udp_errno_icmp(errno) && !retried)) {
            retried = TRUE;
            continue;
        }
        if (b->gso_count[done] > 1 && limevi_udp_gso_unsupported(errno)) {
            udp->gso_off = TRUE;
        }
        /* The plain path takes it from here and says why it stops. */
        break;
    }
    return sent;
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
    /* The test seam counts datagrams one by one. */
    if (!udp->gso_off && !udp->test_refuse) {
        sent = batch_flush_gso(udp, b, fd);
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
        if (errno == EINTR || (limevi_udp_errno_icmp(errno) && !retried)) {
            retried = TRUE;
            continue;
        }
        break;
    }
    b->len = 0;
    return sent;
}
