/*
 * The port's one state machine (its table is above limevi_port_handle):
 * the embedder reports events, this decides the transitions, and every
 * transition names the state it leaves.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "control.h"
#include "fsm.h"
#include "guest.h"
#include "rx.h"
#include "state.h"
#include "tx.h"

static const char *const port_state_names[PORT_N_STATES] = {
    [PORT_ACTIVE] = "active",
    [PORT_MIGRATING] = "migrating",
    [PORT_FROZEN] = "frozen",
    [PORT_SAVED] = "saved",
    [PORT_FORWARDING] = "forwarding",
    [PORT_INCOMING] = "incoming",
};

LimeviPortState limevi_port_public_state(PortState state)
{
    static const LimeviPortState map[PORT_N_STATES] = {
        [PORT_ACTIVE] = LIMEVI_PORT_ACTIVE,
        [PORT_MIGRATING] = LIMEVI_PORT_MIGRATING,
        [PORT_FROZEN] = LIMEVI_PORT_FROZEN,
        [PORT_SAVED] = LIMEVI_PORT_FROZEN,
        [PORT_FORWARDING] = LIMEVI_PORT_FORWARDING,
        [PORT_INCOMING] = LIMEVI_PORT_INCOMING,
    };

    return map[state];
}

static const char *port_event_name(guint event)
{
    switch (event) {
    case PORT_EVENT_STATE_SAVED:
        return "state-saved";
    case PORT_EVENT_DEST_ANNOUNCED:
        return "dest-announced";
    }
    return limevi_port_event_name(event);
}

/* Every transition names the state it leaves, as migrate_set_state(). */
static void port_set_state(LimeviPort *port, PortState old, PortState new)
{
    g_return_if_fail(port->state == old);

    g_debug("port %s: %s -> %s", port->vm, port_state_names[old],
            port_state_names[new]);
    port->state = new;
    if (limevi_guest_here(port)) {
        limevi_guest_flush(port);
    }
}

/* ---- What each transition does ---- */

/* Source, guest stopped for switchover: peers hold frames for our VM. */
static void port_freeze(LimeviPort *port)
{
    port_set_state(port, PORT_MIGRATING, PORT_FROZEN);
    port->epoch++;
    limevi_control_announce(port, LIMEVI_CONTROL_INVALIDATE);
}

/* Source: our VM runs at the destination; what still comes for it goes
 * there.  What the guest had not received travelled in the state. */
static void port_forward(LimeviPort *port)
{
    limevi_guest_discard(port);
    limevi_tx_discard(port);
    port_set_state(port, port->state, PORT_FORWARDING);
    limevi_rx_forward_flush(port);
}

/* Source: the VM stays.  Above the destination's epoch + 1, so a late
 * announcement of the destination can never win over ours. */
static void port_stay(LimeviPort *port)
{
    port->epoch += 2;
    limevi_control_forget_move(port);
    port_set_state(port, port->state, PORT_ACTIVE);
    /* Frames that arrived after the state was saved come after the held
     * ones, in their order. */
    limevi_rx_take_back_forwarded(port);
    limevi_control_announce(port, LIMEVI_CONTROL_UPDATE);
    limevi_tx_drain(port);
}

/* Destination: the guest runs here now. */
static void port_arrive(LimeviPort *port)
{
    port->epoch++;
    port->reseq = TRUE;
    port_set_state(port, PORT_INCOMING, PORT_ACTIVE);
    limevi_control_announce_arrival(port);
    /* What the source's link had no room for, from the state. */
    limevi_tx_drain(port);
}

/*
 * The state machine.  Rows: states; columns: events; "-": ignored
 * (traced).  "ready": the guest can receive again (flush what is held).
 *
 *             SETUP     SWITCHOVER SAVED  DEST_ANN.  DONE     FAILED  INCOMING RUNNING
 * ACTIVE      MIGRATING -          -      -          -        -       INCOMING ready
 * MIGRATING   -         FROZEN     -      FORWARDING FORWARD. ACTIVE  -        ready
 * FROZEN      -         -          SAVED  FORWARDING FORWARD. stay    -        stay
 * SAVED       -         -          -      FORWARDING FORWARD. stay    -        stay
 * FORWARDING  -         -          -      (follow)   -        stay    -        ready
 * INCOMING    -         -          -      -          -        -       -        arrive
 *
 * "stay" = back to ACTIVE at epoch + 2, announcing; "arrive" = ACTIVE at
 * epoch + 1, announcing to every peer and to the source.  GUEST_STOPPED
 * changes no state: while the guest is stopped frames are held because
 * deliver() or can_receive() says no.
 */
void limevi_port_handle(LimeviPort *port, guint event)
{
    PortState s = port->state;

    switch (event) {
    case LIMEVI_EVENT_MIGRATION_SETUP:
        if (s == PORT_ACTIVE) {
            port_set_state(port, s, PORT_MIGRATING);
            return;
        }
        break;
    case LIMEVI_EVENT_SWITCHOVER:
        if (s == PORT_MIGRATING) {
            port_freeze(port);
            return;
        }
        break;
    case PORT_EVENT_STATE_SAVED:
        if (s == PORT_FROZEN) {
            port_set_state(port, s, PORT_SAVED);
            return;
        }
        break;
    case PORT_EVENT_DEST_ANNOUNCED:
        if (s == PORT_FORWARDING) {
            limevi_rx_forward_flush(port);
            return;
        }
        /* fall through */
    case LIMEVI_EVENT_MIGRATION_DONE:
        if (s == PORT_MIGRATING || s == PORT_FROZEN || s == PORT_SAVED) {
            port_forward(port);
            return;
        }
        break;
    case LIMEVI_EVENT_MIGRATION_FAILED:
        if (s == PORT_MIGRATING) {
            port_set_state(port, s, PORT_ACTIVE);
            return;
        }
        if (s == PORT_FROZEN || s == PORT_SAVED || s == PORT_FORWARDING) {
            port_stay(port);
            return;
        }
        break;
    case LIMEVI_EVENT_INCOMING:
        if (s == PORT_ACTIVE) {
            port_set_state(port, s, PORT_INCOMING);
            return;
        }
        break;
    case LIMEVI_EVENT_GUEST_RUNNING:
        if (s == PORT_INCOMING) {
            port_arrive(port);
        } else if (s == PORT_FROZEN || s == PORT_SAVED) {
            port_stay(port);        /* running here again: not moved */
        } else {
            limevi_port_guest_ready(port);
        }
        return;
    case LIMEVI_EVENT_GUEST_STOPPED:
        return;
    }
    g_debug("port %s: event %s ignored in state %s", port->vm,
            port_event_name(event), port_state_names[s]);
}

void limevi_port_event(LimeviPort *port, LimeviPortEvent event)
{
    g_return_if_fail((guint)event <= LIMEVI_EVENT_GUEST_RUNNING);

    limevi_port_handle(port, event);
}

const char *limevi_port_event_name(LimeviPortEvent event)
{
    static const char *const names[] = {
        [LIMEVI_EVENT_MIGRATION_SETUP] = "migration-setup",
        [LIMEVI_EVENT_SWITCHOVER] = "switchover",
        [LIMEVI_EVENT_MIGRATION_DONE] = "migration-done",
        [LIMEVI_EVENT_MIGRATION_FAILED] = "migration-failed",
        [LIMEVI_EVENT_INCOMING] = "incoming",
        [LIMEVI_EVENT_GUEST_STOPPED] = "guest-stopped",
        [LIMEVI_EVENT_GUEST_RUNNING] = "guest-running",
    };

    return (guint)event < G_N_ELEMENTS(names) ? names[event] : "unknown";
}

/* The calls the glue used before limevi_port_event(). */
void limevi_port_migration_start(LimeviPort *port)
{
    limevi_port_handle(port, LIMEVI_EVENT_MIGRATION_SETUP);
}

void limevi_port_freeze(LimeviPort *port)
{
    limevi_port_handle(port, LIMEVI_EVENT_SWITCHOVER);
}

void limevi_port_migration_done(LimeviPort *port)
{
    limevi_port_handle(port, LIMEVI_EVENT_MIGRATION_DONE);
}

void limevi_port_migration_failed(LimeviPort *port)
{
    limevi_port_handle(port, LIMEVI_EVENT_MIGRATION_FAILED);
}

void limevi_port_set_incoming(LimeviPort *port)
{
    limevi_port_handle(port, LIMEVI_EVENT_INCOMING);
}

void limevi_port_activate(LimeviPort *port)
{
    if (port->state == PORT_INCOMING) {
        limevi_port_handle(port, LIMEVI_EVENT_GUEST_RUNNING);
    }
}

LimeviPortState limevi_port_get_state(LimeviPort *port)
{
    return limevi_port_public_state(port->state);
}

GBytes *limevi_port_save(LimeviPort *port)
{
    GBytes *state;

    /* What waits for a gap travels with its numbers and waits on at the
     * destination: released now, the late frame would be a duplicate. */
    state = limevi_state_save(port);

    limevi_port_handle(port, PORT_EVENT_STATE_SAVED);
    return state;
}

gboolean limevi_port_load(LimeviPort *port, const guint8 *data, gsize len,
                          GError **error)
{
    return limevi_state_load(port, data, len, error);
}

guint32 limevi_state_version(void)
{
    return LIMEVI_STATE_VERSION;
}

