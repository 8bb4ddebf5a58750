/*
 * The last step of the receive path: frames into the guest, in order,
 * held while it cannot take them.  Allocates only when holding.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "guest.h"

static gboolean guest_can_receive(LimeviPort *port)
{
    return !port->guest_blocked &&
           (!port->ops.can_receive || port->ops.can_receive(port->opaque));
}

gboolean limevi_guest_here(LimeviPort *port)
{
    return port->state == PORT_ACTIVE || port->state == PORT_MIGRATING;
}

void limevi_guest_flush(LimeviPort *port)
{
    const guint8 *frame;
    gsize len;

    while ((frame = limevi_buffer_peek(port->held, &len))) {
        if (!guest_can_receive(port)) {
            return;
        }
        if (!port->ops.deliver(port->opaque, frame, len)) {
            port->guest_blocked = TRUE;
            return;
        }
        port->stats.rx_frames++;
        port->stats.rx_bytes += len;
        limevi_buffer_pop(port->held);
    }
}

/* The guest's buffer counted a frame it dropped: the embedder hears of it. */
static void guest_overflowed(LimeviPort *port)
{
    LimeviBufferInfo info;

    if (port->ops.buffer_overflow) {
        limevi_buffer_get_info(port->held, &info);
        port->ops.buffer_overflow(port->opaque, NULL, info.dropped);
    }
}

void limevi_guest_drop(LimeviPort *port)
{
    limevi_buffer_count_drop(port->held);
    guest_overflowed(port);
}

static void guest_hold(LimeviPort *port, const guint8 *frame, gsize len)
{
    if (!limevi_buffer_push(port->held, frame, len)) {
        guest_overflowed(port);
    }
}

void limevi_guest_deliver(LimeviPort *port, const guint8 *frame, gsize len)
{
    /* A stopped or absent guest: QEMU's queue must not get the frame. */
    if (!limevi_guest_here(port)) {
        guest_hold(port, frame, len);
        return;
    }
    /* Held frames go first, or the guest would see them out of order. */
    if (!limevi_buffer_is_empty(port->held)) {
        limevi_guest_flush(port);
    }
    if (limevi_buffer_is_empty(port->held) && guest_can_receive(port)) {
        if (port->ops.deliver(port->opaque, frame, len)) {
            port->stats.rx_frames++;
            port->stats.rx_bytes += len;
            return;
        }
        port->guest_blocked = TRUE;
    }
    guest_hold(port, frame, len);
}

void limevi_guest_discard(LimeviPort *port)
{
    limevi_buffer_free(port->held);
    port->held = limevi_buffer_new(port->buffer_limit);
}
