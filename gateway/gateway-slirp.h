/*
 * libslirp embedded on a GMainContext, as QEMU's net/slirp.c embeds it on
 * QEMU's main loop: slirp's config from the options, its callbacks, its
 * timers as GLib timeouts, and its sockets polled by one GSource.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <slirp/libslirp.h>

#include "gateway.h"

typedef struct GatewaySlirp GatewaySlirp;

/*
 * Creates the slirp stack for @opts on @context (NULL: the default).
 * @send_packet gets every frame slirp sends to the LAN.  Forwards are
 * not installed yet: gateway_slirp_add_forwards() does that.
 */
GatewaySlirp *gateway_slirp_new(const GatewayOptions *opts,
                                SlirpWriteCb send_packet, gpointer opaque,
                                GMainContext *context);
void gateway_slirp_free(GatewaySlirp *gs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GatewaySlirp, gateway_slirp_free)

Slirp *gateway_slirp_get(GatewaySlirp *gs);

/*
 * Opens every forward of @opts.  A host address that is in use or not
 * local fails with GATEWAY_ERROR_START naming the forward; the forwards
 * opened before it are closed again.
 */
gboolean gateway_slirp_add_forwards(GatewaySlirp *gs,
                                    const GatewayOptions *opts,
                                    GError **error);

/* Guest errors libslirp reported (malformed frames from the LAN). */
guint64 gateway_slirp_guest_errors(GatewaySlirp *gs);
