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
#include "tx.h"

#define ETH_ALEN 6
/* How many runs of sequence numbers a sender's resequencing queue
 * remembers having dropped, so that the guest does not wait for them. */
#define RX_DROPPED_RUNS 16

/* Sequence numbers first..last, dropped for want of room. */
typedef struct {
    guint64 first;
    guint64 last;
} SeqRun;

/* What the receive side knows of one sender. */
typedef struct {
    guint64 next;               /* the sequence number expected next */
    LimeviBuffer *held;         /* ahead of a gap, by seq; NULL: none */
    gint64 gap_since;           /* when the oldest gap opened (us) */
    SeqRun dropped[RX_DROPPED_RUNS];    /* by first */
    guint n_dropped;
} RxSender;

/* The embedder's clock, like the MAC table's: tests step it. */
static gint64 now_us(LimeviPort *port)
{
    return port->ops.now ? port->ops.now(port->opaque)
                         : g_get_monotonic_time();
}

static void rx_sender_free(gpointer data)
{
    RxSender *s = data;

    limevi_buffer_free(s->held);
    g_free(s);
}

GHashTable *limevi_rx_senders_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                 rx_sender_free);
}

void limevi_rx_senders_add(GHashTable *senders, const char *vm, guint64 next)
{
    RxSender *s = g_new0(RxSender, 1);

    s->next = next;
    g_hash_table_replace(senders, g_strdup(vm), s);
}

void limevi_rx_senders_replace(LimeviPort *port, GHashTable *senders)
{
    g_hash_table_unref(port->rx);
    port->rx = senders;
}

void limevi_rx_senders_foreach(LimeviPort *port, LimeviRxSenderFunc func,
                               gpointer data)
{
    GHashTableIter it;
    gpointer key, value;

    g_hash_table_iter_init(&it, port->rx);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        func(key, ((RxSender *)value)->next, data);
    }
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

/* The sender's receive state, created if there is room: NULL when the
 * table is at its bound (a port without a key takes frames from any
 * name, and no stranger may grow it). */
static RxSender *rx_sender(LimeviPort *port, const LimeviWireName *src,
                           gboolean *is_new)
{
    char name[LIMEVI_WIRE_NAME_MAX + 1];
    RxSender *s;

    memcpy(name, src->str, src->len);
    name[src->len] = '\0';
    s = g_hash_table_lookup(port->rx, name);
    *is_new = !s;
    if (!s && g_hash_table_size(port->rx) >= LIMEVI_RX_SENDERS_MAX) {
        port->stats.rx_over_limit++;
        return NULL;
    }
    if (!s) {
        s = g_new0(RxSender, 1);
        g_hash_table_insert(port->rx, g_strdup(name), s);
    }
    return s;
}

/* Whether @seq was dropped for want of room (so it was counted then). */
static gboolean rx_was_dropped(RxSender *s, guint64 seq)
{
    for (guint i = 0; i < s->n_dropped; i++) {
        if (seq >= s->dropped[i].first && seq <= s->dropped[i].last) {
            return TRUE;
        }
    }
    return FALSE;
}

/* How many numbers from next up to @end were dropped for want of room. */
static guint64 rx_dropped_before(RxSender *s, guint64 end)
{
    guint64 n = 0;

    for (guint i = 0; i < s->n_dropped; i++) {
        guint64 first = MAX(s->dropped[i].first, s->next);
        guint64 last = MIN(s->dropped[i].last, end - 1);

        n += first <= last ? last - first + 1 : 0;
    }
    return n;
}

/*
 * Remembers that @seq was dropped, in runs kept in order.  With every run
 * in use the number is not remembered: the guest then waits for it as for
 * any gap.
 */
static void rx_remember_dropped(RxSender *s, guint64 seq)
{
    guint i = 0;

    while (i < s->n_dropped && s->dropped[i].first < seq) {
        i++;
    }
    if (i > 0 && s->dropped[i - 1].last + 1 == seq) {
        s->dropped[i - 1].last = seq;
        if (i < s->n_dropped && s->dropped[i].first == seq + 1) {
            s->dropped[i - 1].last = s->dropped[i].last;
            s->n_dropped--;
            memmove(&s->dropped[i], &s->dropped[i + 1],
                    (s->n_dropped - i) * sizeof(s->dropped[0]));
        }
        return;
    }
    if (i < s->n_dropped && s->dropped[i].first == seq + 1) {
        s->dropped[i].first = seq;
        return;
    }
    if (s->n_dropped == RX_DROPPED_RUNS) {
        return;
    }
    memmove(&s->dropped[i + 1], &s->dropped[i],
            (s->n_dropped - i) * sizeof(s->dropped[0]));
    s->dropped[i] = (SeqRun){ seq, seq };
    s->n_dropped++;
}

/* Steps over numbers dropped for want of room: nothing to wait for. */
static void rx_skip_dropped(RxSender *s)
{
    while (s->n_dropped && s->dropped[0].first <= s->next) {
        s->next = MAX(s->next, s->dropped[0].last + 1);
        s->n_dropped--;
        memmove(&s->dropped[0], &s->dropped[1],
                s->n_dropped * sizeof(s->dropped[0]));
    }
}

static void rx_drop(LimeviPort *port, RxSender *s, guint64 seq)
{
    rx_remember_dropped(s, seq);
    limevi_guest_drop(port);
}

static gboolean rx_held_head(RxSender *s, guint64 *seq)
{
    return s->held && limevi_buffer_head_seq(s->held, seq);
}

/* Delivers what the sender's held queue has in sequence. */
static void rx_drain(LimeviPort *port, RxSender *s)
{
    guint64 seq;

    for (rx_skip_dropped(s); rx_held_head(s, &seq) && seq <= s->next;
         rx_skip_dropped(s)) {
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
        port->rx_tick = g_timeout_source_new(LIMEVI_CONTROL_RETRY_MS);
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
static void rx_hold(LimeviPort *port, RxSender *s,
                    const LimeviWirePacket *pkt)
{
    guint64 tail;

    if (!s->held) {
        s->held = limevi_buffer_new(port->buffer_limit);
    }
    if (limevi_buffer_has_seq(s->held, pkt->seq) ||
        rx_was_dropped(s, pkt->seq)) {
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
static void rx_resequence(LimeviPort *port, RxSender *s,
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

static void rx_accept(LimeviPort *port, const LimeviWirePacket *pkt)
{
    gboolean is_new;
    RxSender *s = rx_sender(port, &pkt->src, &is_new);

    if (!s) {
        return;
    }
    if (!port->reseq || is_new) {
        s->next = pkt->seq + 1;
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

/* Gives up on gaps that stayed open too long once the source answered. */
static gboolean rx_expire_gaps(LimeviPort *port, gint64 now)
{
    gboolean holding = FALSE;
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, port->rx);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        RxSender *s = value;
        guint64 head;

        if (!rx_held_head(s, &head)) {
            continue;
        }
        if (port->source_owes) {
            /* The timeout runs from the source's answer. */
            s->gap_since = now;
        } else if (now - s->gap_since > LIMEVI_GAP_TIMEOUT_MS * 1000) {
            /* What was dropped for want of room is counted already. */
            port->stats.rx_gaps += head - s->next -
                                   rx_dropped_before(s, head);
            s->next = head;
            rx_drain(port, s);
        }
        holding |= s->held != NULL;
    }
    return holding;
}

static gboolean rx_tick(gpointer data)
{
    LimeviPort *port = data;
    gint64 now = now_us(port);
    gboolean holding = rx_expire_gaps(port, now);

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
