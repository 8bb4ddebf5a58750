/*
 * What udp.c and udp-batch.c share, and nothing else includes: the
 * socket's state, and the batched half's entry points.  udp.c calls
 * udp-batch.c, never the reverse.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_UDP_PRIVATE_H
#define LIMEVI_UDP_PRIVATE_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before the first include: struct mmsghdr"
#endif

#include <errno.h>
#include <sys/socket.h>

#include "udp.h"

/* Datagrams one recvmmsg() reads. */
#define UDP_RX_BATCH 32

typedef struct UdpBatch UdpBatch;

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
    gboolean gso_off;           /* the kernel refused UDP_SEGMENT */
    guint64 gso_segments;       /* datagrams sent in UDP_SEGMENT sends */
    guint64 gro_segments;       /* datagrams read in UDP_GRO reads */
    guint8 rx_cmsg[UDP_RX_BATCH][CMSG_SPACE(sizeof(int))];
};

/* An ICMP error the kernel reports (IP_RECVERR) for an earlier datagram. */
static inline gboolean limevi_udp_errno_icmp(int err)
{
    return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH ||
           err == EHOSTDOWN;
}

/*
 * The receive buffers and the source that reads @udp's socket with
 * recvmmsg(), attached to @udp->context.  Freed by limevi_udp_free().
 */
void limevi_udp_reader_start(LimeviUdp *udp);
/* Reads the socket's error queue off (at most LIMEVI_UDP_BURST). */
void limevi_udp_drain_errors(int fd);
/* Frees the batch of limevi_udp_batch_add(), if any. */
void limevi_udp_batch_free(LimeviUdp *udp);

/*
 * Seals @hdr and @payload into @out (LIMEVI_WIRE_PACKET_MAX bytes) with
 * @udp's sealer; the length, 0 on failure.  Uses up a counter, failed
 * or not.
 */
gsize limevi_udp_seal(LimeviUdp *udp, guint8 *out,
                      const guint8 *hdr, gsize hdr_len,
                      const guint8 *payload, gsize len);

/* ---- udp-gso.c: segmentation offloads ---- */

/* Asks the kernel to coalesce what arrives (UDP_GRO), where it can. */
void limevi_udp_gro_enable(LimeviUdp *udp);
/* The size of each datagram a read coalesced (its UDP_GRO control
 * message), 0 for a read of one datagram. */
guint limevi_udp_gro_size(const struct msghdr *msg);
/* How many of the @n datagrams from @msgs on can leave as one UDP_SEGMENT
 * send: to one peer, of one size but for a shorter last one. */
guint limevi_udp_gso_group(const struct mmsghdr *msgs, guint n);
/* Builds in @out the UDP_SEGMENT send of the @count datagrams of @msgs,
 * with their iovecs copied into @iov (room for all of them) and the
 * control message in @cmsg_buf (CMSG_SPACE(sizeof(guint16))); returns
 * the number of iovecs used. */
gsize limevi_udp_gso_build(struct msghdr *out, struct iovec *iov,
                           guint8 *cmsg_buf, const struct mmsghdr *msgs,
                           guint count);
/* Whether @err says the kernel cannot do UDP_SEGMENT on this socket. */
gboolean limevi_udp_gso_unsupported(int err);

#endif /* LIMEVI_UDP_PRIVATE_H */
