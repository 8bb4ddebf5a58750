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

#endif /* LIMEVI_UDP_PRIVATE_H */
