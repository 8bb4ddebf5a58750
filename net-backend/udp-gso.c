/*
 * UDP segmentation offloads for the batched sends and reads: a run of
 * equal-sized datagrams to one peer leaves as one UDP_SEGMENT send (the
 * kernel cuts it, one pass through the stack for all of them), and the
 * reader takes what UDP_GRO coalesced and hands it on datagram by
 * datagram.  Each datagram stays whole and sealed on its own: nothing on
 * the wire changes, and a peer without GRO receives what it always did.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE             /* struct mmsghdr */
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>

#include "udp-private.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* What one GSO send may carry: the kernel's UDP_MAX_SEGMENTS (64 on
 * Linux 6.1) and an IP datagram's 64 KiB. */
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES (65535 - 8 - 40)

void limevi_udp_gro_enable(LimeviUdp *udp)
{
    int on = 1;

    /* Refused by kernels before 5.0: then every read is one datagram. */
    setsockopt(g_socket_get_fd(udp->socket), SOL_UDP, UDP_GRO, &on,
               sizeof(on));
}

guint limevi_udp_gro_size(const struct msghdr *msg)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)msg); c;
         c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
        int size;

        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
            c->cmsg_len >= CMSG_LEN(sizeof(size))) {
            memcpy(&size, CMSG_DATA(c), sizeof(size));
            return size > 0 ? size : 0;
        }
    }
    return 0;
}

static gsize msg_bytes(const struct msghdr *msg)
{
    gsize n = 0;

    for (gsize i = 0; i < msg->msg_iovlen; i++) {
        n += msg->msg_iov[i].iov_len;
    }
    return n;
}

static gboolean same_peer(const struct msghdr *a, const struct msghdr *b)
{
    return a->msg_namelen == b->msg_namelen &&
           !memcmp(a->msg_name, b->msg_name, a->msg_namelen);
}

guint limevi_udp_gso_group(const struct mmsghdr *msgs, guint n)
{
    const struct msghdr *first = &msgs[0].msg_hdr;
    gsize size = msg_bytes(first), total = size;
    guint count = 1;

    /* Equal sizes, the last one possibly shorter: what UDP_SEGMENT cuts. */
    while (count < n && count < GSO_MAX_SEGMENTS) {
        const struct msghdr *m = &msgs[count].msg_hdr;
        gsize len = msg_bytes(m);

        if (len > size || !len || total + len > GSO_MAX_BYTES ||
            !same_peer(first, m)) {
            break;
        }
        total += len;
        count++;
        if (len < size) {
            break;
        }
    }
    return count;
}

gsize limevi_udp_gso_build(struct msghdr *out, struct iovec *iov,
                           guint8 *cmsg_buf, const struct mmsghdr *msgs,
                           guint count)
{
    struct cmsghdr *c;
    guint16 size = msg_bytes(&msgs[0].msg_hdr);
    gsize k = 0;

    for (guint i = 0; i < count; i++) {
        const struct msghdr *m = &msgs[i].msg_hdr;

        for (gsize j = 0; j < m->msg_iovlen; j++) {
            iov[k++] = m->msg_iov[j];
        }
    }
    *out = (struct msghdr) {
        .msg_name = msgs[0].msg_hdr.msg_name,
        .msg_namelen = msgs[0].msg_hdr.msg_namelen,
        .msg_iov = iov,
        .msg_iovlen = k,
        .msg_control = cmsg_buf,
        .msg_controllen = CMSG_SPACE(sizeof(size)),
    };
    c = CMSG_FIRSTHDR(out);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(size));
    memcpy(CMSG_DATA(c), &size, sizeof(size));
    return k;
}

gboolean limevi_udp_gso_unsupported(int err)
{
    /* No UDP_SEGMENT (before Linux 4.18), or no checksum offload on the
     * way out (EIO): plain datagrams from then on. */
    return err == ENOPROTOOPT || err == EOPNOTSUPP || err == EIO;
}

void limevi_udp_disable_gso(LimeviUdp *udp)
{
    udp->gso_off = TRUE;
}

guint64 limevi_udp_gso_segments(LimeviUdp *udp)
{
    return udp->gso_segments;
}

guint64 limevi_udp_gro_segments(LimeviUdp *udp)
{
    return udp->gro_segments;
}
