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

#endif
