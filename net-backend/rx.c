/*
 * Tunnel -> guest.  In the steady state a frame is checked, its sender's
 * next sequence number noted (the state a migration carries), and handed
 * to the guest: no allocation, no copy.  Only after a migration does a
 * frame ahead of a gap wait in its sender's queue (resequencing).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "control.h"
#include "guest.h"
#include "keys.h"
#include "rx.h"
#include "rx-sender.h"
#include "tx.h"

#define ETH_ALEN 6

/* The embedder's clock, like the MAC table's: tests step it. */
static gint64 now_us(LimeviPort *port)
{
    return port->ops.now ? port->ops.now(port->opaque)
                         : g_get_monotonic_time();
}

void limevi_rx_init(LimeviPort *port)
{
    port->rx = limevi_rx_senders_new();
    port->forward = limevi_buffer_new(port->buffer_limit);
}

void limevi_rx_cleanup(LimeviPort *port)
{
    if (port->rx_tick) {
        g_source_destroy(port->rx_tick);
        g_clear_pointer(&port->rx_tick, g_source_unref);
    }
    g_clear_pointer(&port->rx, g_hash_table_unref);
    g_clear_pointer(&port->forward, limevi_buffer_free);
}

/*
 * Whether the sender of @pkt is a member of our VC and LAN this port
 * knows: a peer it has a route to, or, for control messages, our own
 * VM's other host during a migration.  Nothing a packet says makes one.
 * Frames may also come from a VM we have no route to yet (it floods
 * first); with a key, only the key proves them from the VC.
 */
static gboolean rx_from_member(LimeviPort *port, const LimeviWirePacket *pkt)
{
    char name[LIMEVI_WIRE_NAME_MAX + 1];

    if (limevi_wire_name_equal(&pkt->src, port->vm, port->vm_len)) {
        return pkt->type == LIMEVI_WIRE_TYPE_CONTROL;
    }
    if (pkt->type == LIMEVI_WIRE_TYPE_DATA) {
        return TRUE;
    }
    memcpy(name, pkt->src.str, pkt->src.len);
    name[pkt->src.len] = '\0';
    return limevi_route_in_lan(limevi_route_lookup(port->routes, name),
                               port->vc, port->lan);
}

static gboolean rx_check(LimeviPort *port, const guint8 *data, gsize len,
                         LimeviWirePacket *pkt, gboolean again)
{
    switch (limevi_wire_decode(data, len, pkt)) {
    case LIMEVI_WIRE_OK:
        break;
    case LIMEVI_WIRE_BAD_VERSION:
        port->stats.rx_bad_version++;
        return FALSE;
    default:
        port->stats.rx_malformed++;
        return FALSE;
    }
    /* Isolation: nothing crosses a VC or a LAN boundary. */
    if (!limevi_wire_name_equal(&pkt->vc, port->vc, port->vc_len)) {
        port->stats.rx_wrong_vc++;
        return FALSE;
    }
    if (!limevi_wire_name_equal(&pkt->lan, port->lan, port->lan_len)) {
        port->stats.rx_wrong_lan++;
        return FALSE;
    }
    if (pkt->dst.len &&
        !limevi_wire_name_equal(&pkt->dst, port->vm, port->vm_len)) {
        port->stats.rx_not_for_us++;
        return FALSE;
    }
    if (!rx_from_member(port, pkt)) {
        port->stats.rx_not_member++;
        return FALSE;
    }
    return limevi_keys_open(port, pkt, again);
}

gboolean limevi_rx_check(LimeviPort *port, const guint8 *data, gsize len,
                         LimeviWirePacket *pkt)
{
    return rx_check(port, data, len, pkt, FALSE);
}

/* ---- Forwarding from the source ---- */

void limevi_rx_forward_flush(LimeviPort *port)
{
    const guint8 *data;
    gsize len;

    while (port->forward_to &&
           (data = limevi_buffer_peek(port->forward, &len))) {
        /* At the pace, not as one burst into the migration's stream. */
        if (!limevi_tx_paced(port, len)) {
            return;
        }
        if (limevi_udp_forward_to(port->udp, port->forward_to, data,
                                  len) == LIMEVI_UDP_FULL) {
            limevi_tx_refused(port);
            return;
        }
        limevi_buffer_pop(port->forward);
    }
    if (port->forward_to) {
        limevi_control_forwarded_all(port);
    }
}

/* A datagram for our VM reached us after its state left: the destination
 * gets it as it came, with the sender's name and sequence number.  Queued
 * until the destination announces itself, and while the link is full. */
static void rx_forward(LimeviPort *port, const guint8 *data, gsize len)
{
    port->stats.rx_forwarded++;
    if (port->forward_to && limevi_buffer_is_empty(port->forward) &&
        limevi_udp_forward_to(port->udp, port->forward_to, data,
                              len) != LIMEVI_UDP_FULL) {
        return;
    }
    if (!limevi_buffer_push(port->forward, data, len)) {
        limevi_guest_drop(port);
    }
    if (port->forward_to) {
        limevi_udp_want_writable(port->udp);
    }
}

void limevi_rx_take_back_forwarded(LimeviPort *port)
{
    LimeviBuffer *late = port->forward;
    const guint8 *data;
    gsize len;

    port->forward = limevi_buffer_new(port->buffer_limit);
    while ((data = limevi_buffer_peek(late, &len))) {
        LimeviWirePacket pkt;

        port->stats.rx_forwarded--;
        if (rx_check(port, data, len, &pkt, TRUE)) {
            limevi_rx_data(port, &pkt, data, len);
        }
        limevi_buffer_pop(late);
    }
    limevi_buffer_free(late);
}

/* ---- Resequencing ---- */

static void rx_drop(LimeviPort *port, LimeviRxSender *s, guint64 seq)
{
    limevi_rx_sender_remember_dropped(s, seq);
    limevi_guest_drop(port);
}

static gboolean rx_held_head(LimeviRxSender *s, guint64 *seq)
{
    return s->held && limevi_buffer_head_seq(s->held, seq);
}

/* Delivers what the sender's held queue has in sequence. */
static void rx_drain(LimeviPort *port, LimeviRxSender *s)
{
    guint64 seq;

    for (limevi_rx_sender_skip_dropped(s);
         rx_held_head(s, &seq) && seq <= s->next;
         limevi_rx_sender_skip_dropped(s)) {
        gsize len;
        const guint8 *frame = limevi_buffer_peek(s->held, &len);

        if (seq == s->next) {
            limevi_guest_deliver(port, frame, len);
            s->next++;
        } else {
            port->stats.rx_duplicates++;
        }
        limevi_buffer_pop(s->held);
    }
    if (s->held && limevi_buffer_is_empty(s->held)) {
        g_clear_pointer(&s->held, limevi_buffer_free);
    }
    s->gap_since = s->held ? now_us(port) : 0;
}

static gboolean rx_tick(gpointer data);

static void rx_ensure_tick(LimeviPort *port)
{
    if (!port->rx_tick) {
        port->rx_tick = g_timeout_source_new(port->reseq ?
                                             LIMEVI_CONTROL_RETRY_MS :
                                             LIMEVI_REORDER_MS / 2);
        g_source_set_callback(port->rx_tick, rx_tick, port, NULL);
        g_source_set_name(port->rx_tick, "limevi-reseq");
        g_source_attach(port->rx_tick, port->context);
    }
}

/*
 * Holds a frame that came ahead of a gap, within buffer-limit bytes per
 * sender.  Past it the frames latest in sequence, those the guest would
 * get last, are dropped and counted like the guest buffer's.
 */
static void rx_hold(LimeviPort *port, LimeviRxSender *s,
                    const LimeviWirePacket *pkt)
{
    guint64 tail;

    if (!s->held) {
        s->held = limevi_buffer_new(port->buffer_limit);
    }
    if (limevi_buffer_has_seq(s->held, pkt->seq) ||
        limevi_rx_sender_was_dropped(s, pkt->seq)) {
        port->stats.rx_duplicates++;
        return;
    }
    while (limevi_buffer_tail_seq(s->held, &tail) && tail > pkt->seq &&
           !limevi_buffer_fits(s->held, pkt->payload_len)) {
        limevi_buffer_pop_tail(s->held);
        rx_drop(port, s, tail);
    }
    if (!limevi_buffer_insert_seq(s->held, pkt->seq, pkt->payload,
                                  pkt->payload_len)) {
        rx_drop(port, s, pkt->seq);
        return;
    }
    if (!s->gap_since) {
        s->gap_since = now_us(port);
    }
    rx_ensure_tick(port);
}

/* In sequence, without duplicates: after a migration frames for the
 * guest come three ways (the state, the source, the peers' flushes). */
static void rx_resequence(LimeviPort *port, LimeviRxSender *s,
                          const LimeviWirePacket *pkt)
{
    if (pkt->seq < s->next) {
        port->stats.rx_duplicates++;
        return;
    }
    if (pkt->seq == s->next) {
        limevi_guest_deliver(port, pkt->payload, pkt->payload_len);
        s->next++;
        rx_drain(port, s);
        return;
    }
    /* Ahead of a gap: the frames before it are on their way through the
     * source. */
    rx_hold(port, s, pkt);
}

static void rx_give_up(LimeviPort *port, LimeviRxSender *s, guint64 head);

/*
 * Out of a migration the underlay may reorder too (a WAN; a kernel that
 * hands a veth's datagrams to several CPUs): a frame up to
 * LIMEVI_REORDER_SPAN ahead of a gap waits LIMEVI_REORDER_MS for it.  One
 * behind goes as it comes (late after its gap was given up on, or from a
 * restarted sender), and so does one further ahead, behind what waited.
 */
static gboolean rx_out_of_window(LimeviPort *port, LimeviRxSender *s,
                                 guint64 seq)
{
    guint64 head;

    if (port->reseq || (seq >= s->next &&
                        seq - s->next <= LIMEVI_REORDER_SPAN)) {
        return FALSE;
    }
    if (seq > s->next) {
        while (rx_held_head(s, &head)) {
            rx_give_up(port, s, head);
        }
        s->next = seq + 1;
    }
    return TRUE;
}

static void rx_accept(LimeviPort *port, const LimeviWirePacket *pkt)
{
    gboolean is_new;
    LimeviRxSender *s = limevi_rx_sender_get(port, &pkt->src, &is_new);

    if (!s) {
        return;
    }
    if (is_new || rx_out_of_window(port, s, pkt->seq)) {
        s->next = MAX(s->next, pkt->seq + 1);
        limevi_guest_deliver(port, pkt->payload, pkt->payload_len);
        return;
    }
    rx_resequence(port, s, pkt);
}

void limevi_rx_data(LimeviPort *port, const LimeviWirePacket *pkt,
                    const guint8 *data, gsize len)
{
    /* Learnt before delivery, so the guest's reply goes straight back. */
    limevi_mac_table_learn(port->macs, pkt->payload + ETH_ALEN, pkt->src.str,
                           pkt->src.len);
    if (port->state == PORT_SAVED || port->state == PORT_FORWARDING) {
        rx_forward(port, data, len);
        return;
    }
    /* Held for the guest when it is not here, and carried in the state. */
    rx_accept(port, pkt);
}

/* Gives up on @s's oldest gap, @head waiting behind it: what waits goes,
 * up to the next gap. */
static void rx_give_up(LimeviPort *port, LimeviRxSender *s, guint64 head)
{
    /* What was dropped for want of room is counted already. */
    port->stats.rx_gaps += head - s->next -
                           limevi_rx_sender_dropped_before(s, head);
    s->next = head;
    rx_drain(port, s);
}

/* Gives up on gaps that stayed open too long once the source answered
 * (after a migration) or for LIMEVI_REORDER_MS (out of one); @all: on
 * every gap now. */
static gboolean rx_expire_gaps(LimeviPort *port, gint64 now, gboolean all)
{
    gint64 wait = (port->reseq ? LIMEVI_GAP_TIMEOUT_MS : LIMEVI_REORDER_MS) *
                  G_GINT64_CONSTANT(1000);
    gboolean holding = FALSE;
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, port->rx);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        LimeviRxSender *s = value;
        guint64 head;

        if (!rx_held_head(s, &head)) {
            continue;
        }
        if (port->source_owes && !all) {
            /* The timeout runs from the source's answer. */
            s->gap_since = now;
        } else if (all || now - s->gap_since > wait) {
            do {
                rx_give_up(port, s, head);
            } while (all && rx_held_head(s, &head));
        }
        holding |= s->held != NULL;
    }
    return holding;
}

static gboolean rx_tick(gpointer data)
{
    LimeviPort *port = data;
    gint64 now = now_us(port);
    gboolean holding = rx_expire_gaps(port, now, FALSE);

    if (port->reseq && port->reseq_until && now > port->reseq_until &&
        !holding) {
        port->reseq = FALSE;
    }
    if (holding || (port->reseq && port->reseq_until)) {
        return G_SOURCE_CONTINUE;
    }
    g_clear_pointer(&port->rx_tick, g_source_unref);
    return G_SOURCE_REMOVE;
}

void limevi_rx_senders_replace(LimeviPort *port, GHashTable *senders)
{
    GHashTableIter it;
    gpointer value;
    gboolean holding = FALSE;

    g_hash_table_unref(port->rx);
    port->rx = senders;
    g_hash_table_iter_init(&it, port->rx);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        LimeviRxSender *s = value;

        if (s->held) {
            s->gap_since = now_us(port);
            holding = TRUE;
        }
    }
    if (holding) {
        rx_ensure_tick(port);
    }
}

void limevi_rx_give_up_gaps(LimeviPort *port)
{
    rx_expire_gaps(port, now_us(port), TRUE);
}

void limevi_rx_reseq_begin(LimeviPort *port)
{
    port->reseq = TRUE;
    port->reseq_until = 0;
}

void limevi_rx_reseq_end_after(LimeviPort *port, guint ms)
{
    port->reseq_until = now_us(port) + (gint64)ms * 1000;
    rx_ensure_tick(port);
}
