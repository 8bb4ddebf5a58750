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

static gboolean guest_tick(gpointer data)
{
    LimeviPort *port = data;

    limevi_pace_retried(&port->guest_pace);
    if (limevi_guest_here(port)) {
        limevi_guest_flush(port);
    }
    return G_SOURCE_REMOVE;
}

/*
 * Whether one more frame may reach the guest now.  Every frame counts,
 * so a burst from the network is paced as well as one from the buffer;
 * outside a switchover's catching up the pace learns the guest's rate,
 * so a busy guest is not held back by it.  When not, the buffer is
 * flushed again once it may.
 */
static gboolean guest_paced(LimeviPort *port)
{
    gint64 now = g_get_monotonic_time();

    /* A guest just resumed on a new host runs slowly at first (a new
     * QEMU translates its code anew): start low, double every 50 ms. */
    if (port->reseq && !limevi_pace_ramped(&port->guest_pace)) {
        limevi_pace_ramp(&port->guest_pace, LIMEVI_GUEST_RATE_START, now);
    } else if (!port->reseq && limevi_pace_ramped(&port->guest_pace)) {
        limevi_pace_end_ramp(&port->guest_pace);
    }
    if (limevi_pace_take(&port->guest_pace, 1, now)) {
        /* Not while catching up after a switchover: that is no rate the
         * guest ever had. */
        if (!port->reseq) {
            limevi_pace_observe(&port->guest_pace, 1, now);
        }
        return TRUE;
    }
    limevi_pace_retry_later(&port->guest_pace, 1, now, port->context,
                            guest_tick, port);
    return FALSE;
}

void limevi_guest_flush(LimeviPort *port)
{
    const guint8 *frame;
    gsize len;

    while ((frame = limevi_buffer_peek(port->held, &len))) {
        if (!guest_can_receive(port) || !guest_paced(port)) {
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
    if (limevi_buffer_is_empty(port->held) && guest_can_receive(port) &&
        guest_paced(port)) {
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

gboolean limevi_guest_init(LimeviPort *port, const LimeviPortConfig *config,
                           GError **error)
{
    guint64 rate;

    if (!limevi_pace_rate_valid(config->guest_rate, LIMEVI_GUEST_RATE_DEFAULT,
                                LIMEVI_GUEST_RATE_MIN, LIMEVI_GUEST_RATE_MAX,
                                "guest-rate", "frames/s", &rate, error)) {
        return FALSE;
    }
    limevi_pace_init(&port->guest_pace, rate, rate, LIMEVI_GUEST_BURST,
                     g_get_monotonic_time());
    return TRUE;
}

void limevi_guest_cleanup(LimeviPort *port)
{
    limevi_pace_retried(&port->guest_pace);
}
