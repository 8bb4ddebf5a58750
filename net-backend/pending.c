/*
 * Control messages sent until answered (pending.h): retransmitted every
 * LIMEVI_CONTROL_RETRY_MS, given up after LIMEVI_CONTROL_ATTEMPTS.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "pending.h"
#include "rx.h"

static void pending_free(gpointer data)
{
    Pending *p = data;

    g_free(p->peer);
    g_clear_object(&p->addr);
    g_free(p->about);
    g_clear_object(&p->endpoint);
    g_free(p);
}

void limevi_pending_init(LimeviPort *port, guint test_drop_control)
{
    port->pending = g_ptr_array_new_with_free_func(pending_free);
    port->drop_control = test_drop_control;
}

void limevi_pending_cleanup(LimeviPort *port)
{
    if (port->tick) {
        g_source_destroy(port->tick);
        g_clear_pointer(&port->tick, g_source_unref);
    }
    g_clear_pointer(&port->pending, g_ptr_array_unref);
}

/*
 * Whether our VM's old host may still forward frames to us: it answers
 * our UPDATE only once it forwards (and after what it queued), so until
 * then a gap is a frame on its way through it, however loaded it or the
 * WAN is.  Given up on with the UPDATE (a dead source).
 */
static void pending_note_source(LimeviPort *port)
{
    port->source_owes = FALSE;
    for (guint i = 0; i < port->pending->len; i++) {
        Pending *p = port->pending->pdata[i];

        if (!p->about && !p->peer[0] && p->op == LIMEVI_CONTROL_UPDATE) {
            port->source_owes = TRUE;
        }
    }
}

/* The 24-byte RELAY payload, with @endpoint written in. */
static void encode_relay(guint8 relayed_op, GSocketAddress *endpoint,
                         guint8 *buf)
{
    GInetSocketAddress *isa = G_INET_SOCKET_ADDRESS(endpoint);
    GInetAddress *ia = g_inet_socket_address_get_address(isa);

    limevi_wire_encode_relay(relayed_op, g_inet_address_get_family(ia) ==
                             G_SOCKET_FAMILY_IPV6 ? 6 : 4,
                             g_inet_address_to_bytes(ia),
                             g_inet_socket_address_get_port(isa), buf);
}

void limevi_pending_send_control(LimeviPort *port, GSocketAddress *to,
                                 const ControlMsg *msg)
{
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_CONTROL,
        /* About another VM, to our own VM's other host, sealed with our
         * key: the receiver must open it with its (and our) VM's. */
        .flags = msg->src && strcmp(msg->src, port->vm) != 0 ?
                 LIMEVI_WIRE_FLAG_BY_DST : 0,
        .epoch = msg->epoch,
        .vc = port->vc,
        .lan = port->lan,
        .src = msg->src ? msg->src : port->vm,
        .dst = msg->dst,
    };
    guint8 payload[LIMEVI_WIRE_RELAY_LEN];
    gsize plen = LIMEVI_WIRE_CONTROL_LEN;
    gsize hlen;

    /* Test seam: a WAN that loses control packets. */
    if (port->drop_control &&
        (msg->op == LIMEVI_CONTROL_UPDATE || msg->op == LIMEVI_CONTROL_ACK)) {
        port->drop_control--;
        return;
    }
    hlen = limevi_wire_encode(&hdr, port->tx_header, sizeof(port->tx_header));
    if (msg->op == LIMEVI_CONTROL_RELAY) {
        encode_relay(msg->acked_op, msg->endpoint, payload);
        plen = LIMEVI_WIRE_RELAY_LEN;
    } else {
        limevi_wire_encode_control(msg->op, msg->acked_op, payload);
    }
    if (!hlen || !limevi_udp_send(port->udp, to, port->tx_header, hlen,
                                  payload, plen)) {
        port->stats.tx_errors++;
    }
}

gboolean limevi_pending_send(LimeviPort *port, Pending *p)
{
    ControlMsg msg = { .op = p->op, .epoch = p->epoch };
    GSocketAddress *to = p->addr;

    if (p->about) {
        to = port->forward_to;
        msg.acked_op = p->relayed_op;
        msg.src = p->about;
        msg.dst = port->vm;
        msg.endpoint = p->endpoint;
    } else {
        msg.dst = p->peer[0] ? p->peer : port->vm;
    }
    if (!to) {
        return FALSE;
    }
    p->attempts++;
    limevi_pending_send_control(port, to, &msg);
    return TRUE;
}

static gboolean pending_tick(gpointer data);

static void ensure_tick(LimeviPort *port)
{
    if (!port->tick) {
        port->tick = g_timeout_source_new(LIMEVI_CONTROL_RETRY_MS);
        g_source_set_callback(port->tick, pending_tick, port, NULL);
        g_source_set_name(port->tick, "limevi-control");
        g_source_attach(port->tick, port->context);
    }
}

void limevi_pending_add(LimeviPort *port, Pending *p)
{
    g_ptr_array_add(port->pending, p);
    pending_note_source(port);
    limevi_pending_send(port, p);
    ensure_tick(port);
}

void limevi_pending_send_reliably(LimeviPort *port, const char *peer,
                                  GSocketAddress *addr, guint8 op,
                                  guint32 epoch)
{
    Pending *p = g_new0(Pending, 1);

    for (guint i = 0; i < port->pending->len; i++) {
        Pending *old = port->pending->pdata[i];

        if (!old->about && !strcmp(old->peer, peer)) {
            g_ptr_array_remove_index(port->pending, i);
            break;
        }
    }
    p->peer = g_strdup(peer);
    p->addr = g_object_ref(addr);
    p->op = op;
    p->epoch = epoch;
    limevi_pending_add(port, p);
}

void limevi_pending_remove(LimeviPort *port, Pending *p)
{
    g_ptr_array_remove(port->pending, p);
    pending_note_source(port);
}

void limevi_pending_drop_op(LimeviPort *port, guint8 op)
{
    for (guint i = port->pending->len; i-- > 0;) {
        Pending *p = port->pending->pdata[i];

        if (p->op == op) {
            g_ptr_array_remove_index(port->pending, i);
        }
    }
    pending_note_source(port);
}

guint limevi_pending_count(LimeviPort *port, guint8 op)
{
    guint n = 0;

    for (guint i = 0; i < port->pending->len; i++) {
        n += ((Pending *)port->pending->pdata[i])->op == op;
    }
    return n;
}

void limevi_pending_check_synced(LimeviPort *port)
{
    if (!port->announcing ||
        limevi_pending_count(port, LIMEVI_CONTROL_UPDATE)) {
        return;
    }
    port->announcing = FALSE;
    port->peers_synced = TRUE;
    limevi_rx_reseq_end_after(port, LIMEVI_RESEQ_GRACE_MS);
    if (port->ops.peers_synced) {
        port->ops.peers_synced(port->opaque, port->epoch, port->announced);
    }
}

/* @p was never answered: given up on. */
static void pending_give_up(LimeviPort *port, guint i)
{
    Pending *p = port->pending->pdata[i];

    g_warning("limevi: port %s: %s never answered control message "
              "%u about '%s' (epoch %u)", port->vm,
              p->peer[0] ? p->peer : "its other host", p->op,
              p->about ? p->about : port->vm, p->epoch);
    g_ptr_array_remove_index(port->pending, i);
    pending_note_source(port);
    /* Not synced, but resequencing must not last for ever: a restarted
     * peer's frames would all look like duplicates. */
    if (port->announcing &&
        !limevi_pending_count(port, LIMEVI_CONTROL_UPDATE)) {
        port->announcing = FALSE;
        limevi_rx_reseq_end_after(port, LIMEVI_RESEQ_GRACE_MS);
    }
}

static gboolean pending_tick(gpointer data)
{
    LimeviPort *port = data;

    for (guint i = port->pending->len; i-- > 0;) {
        Pending *p = port->pending->pdata[i];
        gboolean first = !p->attempts;

        if (p->attempts >= LIMEVI_CONTROL_ATTEMPTS) {
            pending_give_up(port, i);
            continue;
        }
        if (limevi_pending_send(port, p) && !first) {
            port->stats.control_retransmits++;
        }
    }
    if (port->pending->len) {
        return G_SOURCE_CONTINUE;
    }
    g_clear_pointer(&port->tick, g_source_unref);
    return G_SOURCE_REMOVE;
}
