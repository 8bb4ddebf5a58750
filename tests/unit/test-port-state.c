/*
 * The port's state machine: every (state, event) pair of the table in
 * net-backend/port.c, ignored ones included, as the embedder sees it.
 */
#include "fake-guest.h"
#include "port.h"
#include "wire.h"

/* Where a port is taken before the event: the events that lead there. */
typedef struct {
    const char *name;
    LimeviPortState reported;
    int path[4];                /* LimeviPortEvent; -2: save(); -1: end */
} Start;

#define SAVE -2
#define END -1

static const Start starts[] = {
    { "active", LIMEVI_PORT_ACTIVE, { END } },
    { "migrating", LIMEVI_PORT_MIGRATING,
      { LIMEVI_EVENT_MIGRATION_SETUP, END } },
    { "frozen", LIMEVI_PORT_FROZEN,
      { LIMEVI_EVENT_MIGRATION_SETUP, LIMEVI_EVENT_SWITCHOVER, END } },
    { "saved", LIMEVI_PORT_FROZEN,
      { LIMEVI_EVENT_MIGRATION_SETUP, LIMEVI_EVENT_SWITCHOVER, SAVE, END } },
    { "forwarding", LIMEVI_PORT_FORWARDING,
      { LIMEVI_EVENT_MIGRATION_SETUP, LIMEVI_EVENT_SWITCHOVER,
        LIMEVI_EVENT_MIGRATION_DONE, END } },
    { "incoming", LIMEVI_PORT_INCOMING, { LIMEVI_EVENT_INCOMING, END } },
};

#define A LIMEVI_PORT_ACTIVE
#define M LIMEVI_PORT_MIGRATING
#define Z LIMEVI_PORT_FROZEN
#define F LIMEVI_PORT_FORWARDING
#define I LIMEVI_PORT_INCOMING

/* The state reported after each event, by start (rows as in starts[])
 * and event (columns in LimeviPortEvent order: SETUP, SWITCHOVER, DONE,
 * FAILED, INCOMING, GUEST_STOPPED, GUEST_RUNNING). */
static const LimeviPortState expected[][7] = {
    /* active */     { M, A, A, A, I, A, A },
    /* migrating */  { M, Z, F, A, M, M, M },
    /* frozen */     { Z, Z, F, A, Z, Z, A },
    /* saved */      { Z, Z, F, A, Z, Z, A },
    /* forwarding */ { F, F, F, A, F, F, F },
    /* incoming */   { I, I, I, I, I, I, A },
};

/* Epoch change each event causes, same layout: freeze +1, stay +2,
 * arrival +1. */
static const guint32 epoch_step[][7] = {
    /* active */     { 0, 0, 0, 0, 0, 0, 0 },
    /* migrating */  { 0, 1, 0, 0, 0, 0, 0 },
    /* frozen */     { 0, 0, 0, 2, 0, 0, 2 },
    /* saved */      { 0, 0, 0, 2, 0, 0, 2 },
    /* forwarding */ { 0, 0, 0, 2, 0, 0, 0 },
    /* incoming */   { 0, 0, 0, 0, 0, 0, 1 },
};

static guint32 port_epoch(LimeviPort *port)
{
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(port);

    return info->epoch;
}

static void test_every_pair(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();

    for (guint s = 0; s < G_N_ELEMENTS(starts); s++) {
        for (guint e = 0; e <= LIMEVI_EVENT_GUEST_RUNNING; e++) {
            g_autoptr(FakeGuest) g = fake_guest_new();
            guint32 before;

            fake_guest_start(g, ctx, "a", "vc1", "lan1", NULL);
            for (guint i = 0; starts[s].path[i] != END; i++) {
                if (starts[s].path[i] == SAVE) {
                    g_bytes_unref(limevi_port_save(g->port));
                } else {
                    limevi_port_event(g->port, starts[s].path[i]);
                }
            }
            g_assert_cmpint(limevi_port_get_state(g->port), ==,
                            starts[s].reported);
            before = port_epoch(g->port);
            limevi_port_event(g->port, e);
            g_test_message("%s + %s", starts[s].name,
                           limevi_port_event_name(e));
            g_assert_cmpint(limevi_port_get_state(g->port), ==,
                            expected[s][e]);
            g_assert_cmpuint(port_epoch(g->port), ==,
                             before + epoch_step[s][e]);
        }
    }
}

/* A snapshot (save outside a migration) does not make the port forward. */
static void test_save_while_active_changes_nothing(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) g = fake_guest_new();

    fake_guest_start(g, ctx, "a", "vc1", "lan1", NULL);
    g_bytes_unref(limevi_port_save(g->port));
    g_assert_cmpint(limevi_port_get_state(g->port), ==, LIMEVI_PORT_ACTIVE);
    limevi_port_event(g->port, LIMEVI_EVENT_MIGRATION_SETUP);
    limevi_port_event(g->port, LIMEVI_EVENT_SWITCHOVER);
    {
        LimeviWireHeader hdr = {
            .type = LIMEVI_WIRE_TYPE_DATA, .seq = 0, .vc = "vc1",
            .lan = "lan1", .src = "b", .dst = "a",
        };
        guint8 pkt[LIMEVI_WIRE_HEADER_MAX + 64];
        gsize hlen = limevi_wire_encode(&hdr, pkt, sizeof(pkt));
        g_autoptr(LimeviPortInfo) info = NULL;

        test_frame(pkt + hlen, 64, test_broadcast, (guint8[6]){ 2, 0, 0,
                   0, 0, 2 }, 1);
        limevi_port_receive(g->port, pkt, hlen + 64);
        info = limevi_port_get_info(g->port);
        /* Held for the guest and carried in the state, not forwarded. */
        g_assert_cmpuint(info->buffer.frames, ==, 1);
        g_assert_cmpuint(info->stats.rx_forwarded, ==, 0);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/port/state/every-state-and-event", test_every_pair);
    g_test_add_func("/port/state/snapshot-save-changes-nothing",
                    test_save_while_active_changes_nothing);
    return g_test_run();
}
