/*
 * TAP offloads for limevi-tap: the kernel hands us TCP super-frames (up
 * to 64 KB, with a virtio_net_hdr) instead of one read() per MTU-size
 * frame; we cut them to MTU-size frames ourselves, so the wire format,
 * sequence numbers, AEAD and migration see ordinary frames.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_TAP_OFFLOAD_H
#define LIMEVI_TAP_OFFLOAD_H

#include <glib.h>
#include <sys/uio.h>

/* The vnet header the TAP prepends to every frame (struct virtio_net_hdr). */
#define TAP_VNET_HDR_LEN 10

/* Opens TAP device @name (non-blocking); with @offload, with vnet headers
 * and checksum and TSO4/6 offloads.  -1 with @error set. */
int tap_offload_open(const char *name, gboolean offload, GError **error);

/*
 * @buf: one read() from the TAP, vnet header first.  Completes a pending
 * checksum and cuts a GSO frame into frames of at most @mtu bytes of IP
 * (plus Ethernet), written to @out (@out_cap bytes).  @segs receives up
 * to @max_segs frames, without the vnet header; a frame that needs no
 * cutting points into @buf.  Returns their count, 0 to drop a frame we
 * cannot parse, -1 if @out or @segs is too small.
 */
int tap_offload_split(guint8 *buf, gsize len, guint mtu, guint8 *out,
                      gsize out_cap, struct iovec *segs, int max_segs);

/*
 * The other way: frames received for the TAP, one TCP flow's segments
 * in a row coalesced into one TSO frame, so the kernel takes a 64 KB
 * frame in one write() instead of 41.  Only what it would itself have
 * cut the same way: IPv4 (no options, no fragment) or IPv6 (no
 * extension header), ACK or ACK|PSH, one size but for a shorter last,
 * in sequence, with every other header field equal.
 */
#define TAP_COALESCE_MAX 65535

typedef struct {
    guint8 buf[TAP_VNET_HDR_LEN + 14 + 4 + TAP_COALESCE_MAX];
    gsize len;                  /* frame bytes after the vnet header */
    guint segs;                 /* 0: empty */
    gsize l3, l4, hdrs;         /* offsets in the frame */
    int version;
    gsize mss;                  /* payload of the first segment */
    guint32 next_seq;
    gboolean closed;            /* a shorter segment or PSH ended it */
} TapCoalesce;

/*
 * Adds Ethernet frame @f to @c: TRUE when it started or continued the
 * run.  FALSE when it cannot join (write @c out, then add it again; a
 * frame that cannot start a run either is written alone).
 */
gboolean tap_coalesce_add(TapCoalesce *c, const guint8 *f, gsize len);

/* The run as one frame, vnet header first, in @c's buffer (a TSO frame
 * when it holds more than one segment); its length.  Empties @c. */
gsize tap_coalesce_finish(TapCoalesce *c, const guint8 **out);

#endif
