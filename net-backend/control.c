/*
 * Control messages (control.h): sent until answered, retransmitted every
 * LIMEVI_CONTROL_RETRY_MS up to LIMEVI_CONTROL_ATTEMPTS times, applied
 * by epoch, answered with ACK or STALE, relayed by a VM's old host.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "control.h"
#include "epoch.h"
#include "pending.h"
#include "rx.h"
#include "tx.h"

/* The most control messages waiting for an answer: one announcement per
 * peer, and one RELAY per VM, of a port at its bound of peers. */
#define CONTROL_PENDING_MAX (2 * LIMEVI_PEERS_MAX + 2)

/*
 * Our VM has left, and a peer announces a move of its own: the VM's new
 * host must hear of it too, or its route would point at the peer's old
 * host.  The RELAY carries the endpoint, since its own source address is
 * ours, not the peer's; it is sent until the new host answers, and only
 * then is the peer answered, with that answer: the peer counts us as
 * synced only once the host that now has our VM's table is.
 */
static void relay_to_destination(LimeviPort *port, const char *vm,
                                 guint8 op, guint32 epoch,
                                 GSocketAddress *from)
{
    Pending *p;

    for (guint i = 0; i < port->pending->len; i++) {
        Pending *old = port->pending->pdata[i];

        if (!old->about || strcmp(old->about, vm)) {
            continue;
        }
        /* A newer one, or this very one, is on its way already. */
        if (old->epoch > epoch ||
            (old->epoch == epoch && old->relayed_op == op)) {
            return;
        }
        g_ptr_array_remove_index(port->pending, i);
        break;
    }
    if (port->pending->len >= CONTROL_PENDING_MAX) {
        port->stats.rx_over_limit++;
        return;
    }
    p = g_new0(Pending, 1);
    p->peer = g_strdup("");
    p->op = LIMEVI_CONTROL_RELAY;
    p->epoch = epoch;
    p->about = g_strdup(vm);
    p->relayed_op = op;
    p->endpoint = g_object_ref(from);
    limevi_pending_add(port, p);
}

/* Our VM's new host answered a RELAY: the peer gets the answer. */
static void relay_answered(LimeviPort *port, Pending *p,
                           const LimeviWirePacket *answer)
{
    ControlMsg msg = {
        .op = answer->op,
        .acked_op = p->relayed_op,
        .epoch = answer->op == LIMEVI_CONTROL_STALE ? answer->epoch
                                                    : p->epoch,
        .dst = p->about,
    };

    limevi_pending_send_control(port, p->endpoint, &msg);
}

static gboolean our_vm_left(LimeviPort *port)
{
    return port->state == PORT_FORWARDING || port->state == PORT_SAVED;
}

/* ---- Control messages received ---- */

static void on_invalidate(LimeviPort *port, LimeviRoute *route,
                          guint32 epoch)
{
    if (!route) {
        return;                 /* a VM we never send to */
    }
    if (route->status != LIMEVI_ROUTE_INVALID || route->epoch != epoch) {
        route->status = LIMEVI_ROUTE_INVALID;
        route->epoch = epoch;
        limevi_port_route_changed(port, route, FALSE);
    }
}

static void on_update(LimeviPort *port, const char *vm, LimeviRoute *route,
                      guint32 epoch, GSocketAddress *from)
{
    g_autofree char *endpoint = limevi_udp_address_to_string(from);
    gboolean changed = route->status != LIMEVI_ROUTE_VALID ||
                       route->epoch != epoch ||
                       strcmp(route->endpoint, endpoint) != 0;

    route = limevi_route_update(port->routes, vm, from, endpoint,
                                LIMEVI_ROUTE_VALID, port->vc, route->lan,
                                epoch);
    /* A retransmission already applied tells the embedder nothing. */
    if (changed) {
        limevi_port_route_changed(port, route, FALSE);
    }
    limevi_tx_flush_held_for(port, route);
}

typedef enum {
    MOVE_APPLIED,
    MOVE_STALE,                 /* answered STALE with the epoch held */
    MOVE_REFUSED,               /* not answered: a member's epoch cannot
                                 * jump that far, nor near its end */
} MoveOutcome;

/*
 * Applies @vm's announcement @op at @epoch, @endpoint being where it is
 * now for an UPDATE.  Changes nothing unless applied: a late
 * retransmission must not undo a newer route (*@held gives the newer
 * epoch), and no announcement may exhaust a VM's epochs (epoch.h).
 */
static MoveOutcome apply_move(LimeviPort *port, const char *vm, guint8 op,
                              guint32 epoch, GSocketAddress *endpoint,
                              guint32 *held)
{
    LimeviRoute *route = limevi_route_lookup(port->routes, vm);

    if (!route) {
        port->stats.rx_not_member++;
        return MOVE_REFUSED;
    }
    switch (limevi_epoch_judge(TRUE, route->epoch, epoch)) {
    case LIMEVI_EPOCH_STALE:
        *held = route->epoch;
        return MOVE_STALE;
    case LIMEVI_EPOCH_TOO_FAR:
    case LIMEVI_EPOCH_EXHAUSTED:
        port->stats.rx_refused++;
        return MOVE_REFUSED;
    case LIMEVI_EPOCH_SAME:
    case LIMEVI_EPOCH_NEWER:
        break;
    }
    if (op == LIMEVI_CONTROL_INVALIDATE) {
        on_invalidate(port, route, epoch);
    } else {
        on_update(port, vm, route, epoch, endpoint);
    }
    return MOVE_APPLIED;
}

/* Our own VM announced from its destination: forward there from now on.
 * FALSE when we do not follow it (stale, or our VM did not leave). */
static gboolean on_own_update(LimeviPort *port, guint32 epoch,
                              GSocketAddress *from)
{
    /* Only while our VM migrates: QEMU may report the switchover after
     * the destination already runs, so MIGRATING counts too. */
    if (port->state != PORT_MIGRATING && port->state != PORT_FROZEN &&
        port->state != PORT_SAVED && port->state != PORT_FORWARDING) {
        port->stats.rx_refused++;
        return FALSE;
    }
    if (limevi_epoch_judge(TRUE, port->epoch, epoch) != LIMEVI_EPOCH_NEWER) {
        port->stats.rx_refused++;
        return FALSE;
    }
    g_set_object(&port->forward_to, from);
    limevi_pending_drop_op(port, LIMEVI_CONTROL_INVALIDATE);
    return TRUE;
}

/* Tells @vm's host at @to whether its @op at @epoch was applied. */
static void answer_move(LimeviPort *port, GSocketAddress *to,
                        const char *vm, guint8 op, guint32 epoch,
                        gboolean applied, guint32 held)
{
    ControlMsg msg = {
        .op = applied ? LIMEVI_CONTROL_ACK : LIMEVI_CONTROL_STALE,
        .acked_op = op,
        .epoch = applied ? epoch : held,
        .dst = vm,
    };

    limevi_pending_send_control(port, to, &msg);
}

void limevi_control_follow_own_vm(LimeviPort *port, GSocketAddress *from,
                                  guint32 epoch)
{
    /* Relays that waited for an address go now. */
    for (guint i = 0; i < port->pending->len; i++) {
        Pending *p = port->pending->pdata[i];

        if (p->about && !p->attempts) {
            limevi_pending_send(port, p);
        }
    }
    /* Answered only once what was queued has gone, which the pace may
     * make a while: the new host reads the answer as "nothing more
     * comes through the old host" and gives up on gaps from then on. */
    port->forward_answer_owed = TRUE;
    port->forward_answer_epoch = epoch;
    limevi_rx_forward_flush(port);
}

void limevi_control_forwarded_all(LimeviPort *port)
{
    if (!port->forward_answer_owed || !port->forward_to) {
        return;
    }
    port->forward_answer_owed = FALSE;
    answer_move(port, port->forward_to, port->vm, LIMEVI_CONTROL_UPDATE,
                port->forward_answer_epoch, TRUE, 0);
}

/*
 * A peer holds a newer epoch for our VM than we announced at (an
 * operator's limevi-route-set raised it, or our VM restarted at 0).  Where
 * our VM runs its announcement must win, so it goes again above that
 * epoch.  Elsewhere nothing is won: an INVALIDATE stops, an UPDATE stays
 * unanswered, so the peer is never counted as synced.
 */
static void on_stale(LimeviPort *port, Pending *p, guint32 held)
{
    g_autofree char *peer = NULL;
    g_autoptr(GSocketAddress) addr = NULL;

    if (p->op == LIMEVI_CONTROL_INVALIDATE) {
        limevi_pending_remove(port, p);
        return;
    }
    if (port->state != PORT_ACTIVE || !p->peer[0]) {
        return;
    }
    /* Raising ours above @held must stay within what an announcement may
     * jump: a peer cannot push our epoch to its end. */
    if (limevi_epoch_judge(TRUE, port->epoch, held + 1) !=
        LIMEVI_EPOCH_NEWER || held + 1 == 0) {
        port->stats.rx_refused++;
        return;
    }
    peer = g_strdup(p->peer);
    addr = g_object_ref(p->addr);
    port->epoch = MAX(port->epoch, held + 1);
    limevi_pending_send_reliably(port, peer, addr, LIMEVI_CONTROL_UPDATE, port->epoch);
}

/* The pending message @answer (an ACK or STALE from @src) is about. */
static Pending *pending_answered(LimeviPort *port,
                                       const LimeviWirePacket *answer,
                                       const char *src, gboolean own)
{
    gboolean stale = answer->op == LIMEVI_CONTROL_STALE;
    gboolean relay = answer->acked_op == LIMEVI_CONTROL_RELAY;

    for (guint i = 0; i < port->pending->len; i++) {
        Pending *p = port->pending->pdata[i];

        if (p->op != answer->acked_op ||
            (stale ? p->epoch >= answer->epoch : p->epoch != answer->epoch)) {
            continue;
        }
        /* An answer to a RELAY names the VM it was about as its source. */
        if (relay ? !strcmp(p->about, src)
                  : !p->about && !strcmp(p->peer, own ? "" : src)) {
            return p;
        }
    }
    return NULL;
}

static void on_answer(LimeviPort *port, const LimeviWirePacket *pkt,
                      const char *src, gboolean own)
{
    Pending *p = pending_answered(port, pkt, src, own);

    if (!p) {
        return;                 /* late, or not ours */
    }
    if (p->about) {
        relay_answered(port, p, pkt);
    } else if (pkt->op == LIMEVI_CONTROL_STALE) {
        on_stale(port, p, pkt->epoch);
        return;
    }
    limevi_pending_remove(port, p);
    limevi_pending_check_synced(port);
}

static gboolean same_endpoint(GSocketAddress *a, GSocketAddress *b)
{
    GInetSocketAddress *ia = G_INET_SOCKET_ADDRESS(a);
    GInetSocketAddress *ib = G_INET_SOCKET_ADDRESS(b);

    return g_inet_socket_address_get_port(ia) ==
           g_inet_socket_address_get_port(ib) &&
           g_inet_address_equal(g_inet_socket_address_get_address(ia),
                                g_inet_socket_address_get_address(ib));
}

/* The endpoint a RELAY carries, NULL when no peer could be there. */
static GSocketAddress *relay_endpoint(const LimeviWirePacket *pkt)
{
    g_autoptr(GInetAddress) ia = g_inet_address_new_from_bytes(
        pkt->relay_addr, pkt->relay_family == 6 ? G_SOCKET_FAMILY_IPV6
                                                : G_SOCKET_FAMILY_IPV4);

    if (!pkt->relay_port || g_inet_address_get_is_any(ia) ||
        g_inet_address_get_is_multicast(ia)) {
        return NULL;
    }
    return g_inet_socket_address_new(ia, pkt->relay_port);
}

/* Our VM's old host passed on @src's announcement: apply it, and answer
 * the old host, which answers @src.  Only the old host relays, so a
 * RELAY from anywhere else is refused, as is an endpoint no peer has. */
static void on_relay(LimeviPort *port, const LimeviWirePacket *pkt,
                     const char *src, GSocketAddress *from)
{
    g_autoptr(GSocketAddress) endpoint = NULL;
    guint32 held = 0;
    MoveOutcome outcome;
    ControlMsg msg = {
        .acked_op = LIMEVI_CONTROL_RELAY,
        .src = src,
        .dst = port->vm,
    };

    if (!from || !port->source_addr ||
        !same_endpoint(from, port->source_addr) ||
        !(endpoint = relay_endpoint(pkt))) {
        port->stats.rx_refused++;
        return;
    }
    outcome = apply_move(port, src, pkt->acked_op, pkt->epoch, endpoint,
                         &held);
    if (outcome == MOVE_REFUSED) {
        return;
    }
    msg.op = outcome == MOVE_APPLIED ? LIMEVI_CONTROL_ACK
                                     : LIMEVI_CONTROL_STALE;
    msg.epoch = outcome == MOVE_APPLIED ? pkt->epoch : held;
    limevi_pending_send_control(port, from, &msg);
}

LimeviControlOutcome limevi_control_receive(LimeviPort *port,
                                            const LimeviWirePacket *pkt,
                                            GSocketAddress *from)
{
    char src[LIMEVI_WIRE_NAME_MAX + 1];
    gboolean own = limevi_wire_name_equal(&pkt->src, port->vm, port->vm_len);
    guint32 held = 0;

    memcpy(src, pkt->src.str, pkt->src.len);
    src[pkt->src.len] = '\0';
    switch (pkt->op) {
    case LIMEVI_CONTROL_ACK:
    case LIMEVI_CONTROL_STALE:
        on_answer(port, pkt, src, own);
        return LIMEVI_CONTROL_HANDLED;
    case LIMEVI_CONTROL_RELAY:
        if (!own) {
            on_relay(port, pkt, src, from);
        }
        return LIMEVI_CONTROL_HANDLED;
    }
    if (!from) {
        return LIMEVI_CONTROL_HANDLED;  /* nowhere to answer */
    }
    if (own) {
        /* From our VM's new host; answered only when followed, so a host
         * we do not forward to never counts us as synced. */
        if (pkt->op == LIMEVI_CONTROL_UPDATE &&
            on_own_update(port, pkt->epoch, from)) {
            return LIMEVI_CONTROL_OWN_VM_ARRIVED;
        }
    } else if (our_vm_left(port)) {
        /* Our table travelled with the state: changing it here would
         * send frames the destination has too.  Its new host decides. */
        relay_to_destination(port, src, pkt->op, pkt->epoch, from);
    } else {
        MoveOutcome outcome = apply_move(port, src, pkt->op, pkt->epoch,
                                         from, &held);

        if (outcome != MOVE_REFUSED) {
            answer_move(port, from, src, pkt->op, pkt->epoch,
                        outcome == MOVE_APPLIED, held);
        }
    }
    return LIMEVI_CONTROL_HANDLED;
}

void limevi_control_announce(LimeviPort *port, guint8 op)
{
    LimeviRouteIter it;
    LimeviRoute *route;

    limevi_route_iter_init(&it, port->routes);
    while ((route = limevi_route_iter_next(&it))) {
        /* Other LANs drop our packets: they are not peers of this port. */
        if (limevi_route_in_lan(route, port->vc, port->lan)) {
            limevi_pending_send_reliably(port, route->vm, route->addr, op,
                                         port->epoch);
        }
    }
}

void limevi_control_announce_arrival(LimeviPort *port)
{
    port->peers_synced = FALSE;
    port->announcing = TRUE;
    limevi_control_announce(port, LIMEVI_CONTROL_UPDATE);
    if (port->source_addr) {
        limevi_pending_send_reliably(port, "", port->source_addr,
                                     LIMEVI_CONTROL_UPDATE, port->epoch);
    }
    port->announced = limevi_pending_count(port, LIMEVI_CONTROL_UPDATE);
    limevi_pending_check_synced(port);
}

void limevi_control_forget_move(LimeviPort *port)
{
    g_clear_object(&port->forward_to);
    port->forward_answer_owed = FALSE;
    limevi_pending_drop_op(port, LIMEVI_CONTROL_INVALIDATE);
    /* Unanswered, their peers send again: to us, who apply them now. */
    limevi_pending_drop_op(port, LIMEVI_CONTROL_RELAY);
}

guint limevi_control_updates_pending(LimeviPort *port)
{
    return limevi_pending_count(port, LIMEVI_CONTROL_UPDATE);
}

void limevi_control_init(LimeviPort *port, guint test_drop_control)
{
    limevi_pending_init(port, test_drop_control);
}

void limevi_control_cleanup(LimeviPort *port)
{
    limevi_pending_cleanup(port);
    g_clear_object(&port->forward_to);
    g_clear_object(&port->source_addr);
}
