/*
 * The UDP side of a port: "HOST:PORT" endpoints, the bound tunnel socket,
 * its receive source on a GMainContext, and the two-vector send.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_UDP_H
#define LIMEVI_UDP_H

#include <gio/gio.h>

#include "crypto.h"
#include "limevi.h"

/* Datagrams read per wakeup, so one busy socket cannot starve the loop. */
#define LIMEVI_UDP_BURST 64
/* Kernel receive buffer asked for: holds the datagrams of a switchover's
 * downtime (tens of thousands of small ones). */
#define LIMEVI_UDP_RCVBUF (32 * 1024 * 1024)

/*
 * One received datagram; @data is the socket's buffer, valid only during
 * the call.  @from/@from_len: the sender as a native struct sockaddr.
 */
typedef void (*LimeviUdpRecvFunc)(gpointer opaque, const guint8 *data,
                                  gsize len, gconstpointer from,
                                  gsize from_len);

typedef struct LimeviUdp LimeviUdp;

/*
 * Parses @spec, "HOST:PORT" with HOST an IPv4 address, an IPv6 address in
 * brackets or a name resolved now (its first IPv4 address if it has one).
 * @what names the option in errors ("'listen' expects HOST:PORT, got 'x'").
 * Port 0 is accepted only if @any_port.  Returns a new reference.
 */
GSocketAddress *limevi_udp_parse_endpoint(const char *spec, const char *what,
                                          gboolean any_port, GError **error);

/* "1.2.3.4:5" or "[::1]:5"; free with g_free(). */
char *limevi_udp_address_to_string(GSocketAddress *addr);

/*
 * Binds a UDP socket to @addr (@spec, as typed, for messages) and reads
 * it from @context (NULL: the thread-default context), calling @recv for
 * each datagram.  Binding an address in use fails with LIMEVI_ERROR_BIND.
 */
LimeviUdp *limevi_udp_new(GSocketAddress *addr, const char *spec,
                          const char *what, GMainContext *context,
                          LimeviUdpRecvFunc recv, gpointer opaque,
                          GError **error);
void limevi_udp_free(LimeviUdp *udp);

/*
 * Where @peer reaches this socket, as "HOST:PORT" with the port the kernel
 * chose: the bound address, or when it is a wildcard (0.0.0.0, [::]), the
 * local address the kernel picks to send to @peer.  @peer NULL, or no
 * route to it, gives the bound address.  g_free() it.
 */
char *limevi_udp_endpoint_toward(LimeviUdp *udp, GSocketAddress *peer);

/*
 * Sends @hdr and @payload as one datagram, gathered by the kernel (no
 * copy here).  Never blocks; returns FALSE when the datagram was not sent.
 */
gboolean limevi_udp_send(LimeviUdp *udp, GSocketAddress *to,
                         const guint8 *hdr, gsize hdr_len,
                         const guint8 *payload, gsize len);

typedef enum {
    LIMEVI_UDP_SENT,
    LIMEVI_UDP_FULL,            /* transient: the socket buffer or the qdisc
                                 * is full (EAGAIN, ENOBUFS): keep the
                                 * datagram and send it when writable */
    LIMEVI_UDP_FAILED,          /* permanent for this datagram */
} LimeviUdpResult;

/* As limevi_udp_send(), telling a full link from a failure.  @payload
 * NULL sends @hdr alone. */
LimeviUdpResult limevi_udp_send_to(LimeviUdp *udp, GSocketAddress *to,
                                   const guint8 *hdr, gsize hdr_len,
                                   const guint8 *payload, gsize len);

/*
 * From now on every datagram limevi_udp_send_to() sends is sealed with
 * @self, a sender of @crypto, the nonce counter starting at @counter:
 * the header gains the SEALED flag, the key id and the counter, the
 * payload is encrypted and a tag follows (wire.h).  Both must outlive
 * @udp.  A counter is used up by every datagram sealed, sent or not.
 */
void limevi_udp_set_sealer(LimeviUdp *udp, LimeviCrypto *crypto,
                           LimeviCryptoSender *self, guint64 counter);
/* The counter the next sealed datagram takes (0: not sealing). */
guint64 limevi_udp_next_counter(LimeviUdp *udp);
void limevi_udp_set_next_counter(LimeviUdp *udp, guint64 counter);

/* Sends a datagram received from a peer on as it came (sealed by its
 * sender, never again by us). */
LimeviUdpResult limevi_udp_forward_to(LimeviUdp *udp, GSocketAddress *to,
                                      const guint8 *data, gsize len);

/*
 * Batched sends: up to LIMEVI_UDP_BATCH datagrams queued with
 * limevi_udp_batch_add() leave through one sendmmsg() in
 * limevi_udp_batch_flush().  @hdr is copied (or sealed, with a sealer:
 * the counter is used up now); @payload is not, and must stay valid until
 * the flush.  limevi_udp_batch_add() returns LIMEVI_UDP_SENT once queued,
 * LIMEVI_UDP_FAILED if the datagram cannot be built.
 */
#define LIMEVI_UDP_BATCH 32
LimeviUdpResult limevi_udp_batch_add(LimeviUdp *udp, GSocketAddress *to,
                                     const guint8 *hdr, gsize hdr_len,
                                     const guint8 *payload, gsize len);
guint limevi_udp_batch_len(LimeviUdp *udp);
/*
 * Sends the queued datagrams in order and empties the batch.  Returns how
 * many went, from the front: the kernel stops at the first it refuses
 * (full, too big, any error), and that one and all behind it were not
 * sent; the caller sends them again one by one with
 * limevi_udp_send_to(), which tells why.
 */
guint limevi_udp_batch_flush(LimeviUdp *udp);

/*
 * Segmentation offloads: a flush sends each run of equal-sized datagrams
 * to one peer as one UDP_SEGMENT send, and reads take what UDP_GRO
 * coalesced apart again.  Datagrams sent that way, and read that way.
 */
guint64 limevi_udp_gso_segments(LimeviUdp *udp);
guint64 limevi_udp_gro_segments(LimeviUdp *udp);
/* From now on every datagram of a flush leaves on its own. */
void limevi_udp_disable_gso(LimeviUdp *udp);

/* Called (with the recv opaque) once the socket can write again after
 * limevi_udp_want_writable(). */
typedef void (*LimeviUdpWritableFunc)(gpointer opaque);
void limevi_udp_set_writable_func(LimeviUdp *udp, LimeviUdpWritableFunc func);
void limevi_udp_want_writable(LimeviUdp *udp);

/*
 * Sets the Don't Fragment bit and never fragments (IP_PMTUDISC_DO): a
 * datagram over the path MTU is not sent, sendmsg() fails with EMSGSIZE,
 * and limevi_udp_too_big() counts it.
 */
void limevi_udp_forbid_fragments(LimeviUdp *udp);
guint64 limevi_udp_too_big(LimeviUdp *udp);

/* Test seam: the next @sends sends fail with @err without reaching the
 * kernel; with _after, once @accept sends went (batched or not). */
void limevi_udp_test_refuse(LimeviUdp *udp, guint sends, int err);
void limevi_udp_test_refuse_after(LimeviUdp *udp, guint accept, guint sends,
                                  int err);

#endif /* LIMEVI_UDP_H */
