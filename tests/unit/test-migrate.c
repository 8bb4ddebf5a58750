/*
 * The migration protocol of liblimevi with three real ports on 127.0.0.1:
 * peer p streams to VM r, which moves from port s (source) to port d
 * (destination).  No frame is lost or duplicated and the guest sees them
 * in order, whichever way each came: in the state, forwarded by the
 * source, or held and flushed by the peer.
 */
#include <string.h>

#include "fake-guest.h"
#include "port.h"

static const guint8 mac_p[6] = { 0x02, 0, 0, 0, 0, 0x0e };

typedef struct {
    GMainContext *context;
    FakeGuest *p, *s, *d;
} Trio;

static void route(FakeGuest *from, const char *vm, FakeGuest *to)
{
    g_autofree char *endpoint = fake_guest_listen(to);
    g_autoptr(GError) error = NULL;

    g_assert_true(limevi_port_route_set(from->port, vm, endpoint, NULL,
                                        LIMEVI_ROUTE_VALID, &error));
    g_assert_no_error(error);
}

static void trio_init(Trio *t)
{
    t->context = g_main_context_new();
    t->p = fake_guest_new();
    t->s = fake_guest_new();
    t->d = fake_guest_new();
    fake_guest_start(t->p, t->context, "p", "vc1", "lan1", NULL);
    fake_guest_start(t->s, t->context, "r", "vc1", "lan1", NULL);
    fake_guest_start(t->d, t->context, "r", "vc1", "lan1", NULL);
    route(t->p, "r", t->s);
    route(t->s, "p", t->p);
    route(t->d, "p", t->p);
}

static void trio_clear(Trio *t)
{
    fake_guest_free(t->p);
    fake_guest_free(t->s);
    fake_guest_free(t->d);
    g_main_context_unref(t->context);
}

/* Broadcast frames @first..@last from p's guest. */
static void p_sends(Trio *t, guint32 first, guint32 last)
{
    for (guint32 id = first; id <= last; id++) {
        guint8 frame[60];

        test_frame(frame, sizeof(frame), test_broadcast, mac_p, id);
        limevi_port_send(t->p->port, frame, sizeof(frame));
    }
}

static LimeviPortInfo *info(FakeGuest *g)
{
    return limevi_port_get_info(g->port);
}

typedef struct {
    FakeGuest *guest;
    const char *peer;
    LimeviRouteStatus status;
    guint frames;
    guint64 held;
} Want;

static gboolean route_is(gpointer data)
{
    Want *w = data;
    g_autoptr(LimeviPortInfo) i = info(w->guest);

    for (guint k = 0; k < i->routes->len; k++) {
        LimeviRouteInfo *r = i->routes->pdata[k];

        if (!strcmp(r->vm, w->peer)) {
            return r->status == w->status;
        }
    }
    return FALSE;
}

static gboolean has_frames(gpointer data)
{
    Want *w = data;

    return w->guest->frames->len >= w->frames;
}

static gboolean buffer_has(gpointer data)
{
    Want *w = data;
    g_autoptr(LimeviPortInfo) i = info(w->guest);

    return i->buffer.frames >= w->held;
}

static gboolean is_synced(gpointer data)
{
    Want *w = data;
    g_autoptr(LimeviPortInfo) i = info(w->guest);

    return i->peers_synced;
}

static void assert_ids(FakeGuest *g, guint32 first, guint32 last)
{
    g_assert_cmpuint(g->frames->len, ==, last - first + 1);
    for (guint i = 0; i < g->frames->len; i++) {
        g_assert_cmpuint(test_frame_id(g->frames->pdata[i]), ==, first + i);
    }
}

/*
 * Frames 0-2 wait in s's buffer (its guest is stopped) and travel in the
 * state; 3-4 reach s after it saved and are forwarded; 5-7 wait at p
 * while r's route is invalid and are flushed to d.
 */
static void test_no_loss_no_duplicate_in_order(void)
{
    Trio t;
    Want w = { 0 };
    g_autoptr(GBytes) state = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviPortInfo) si = NULL;
    g_autoptr(LimeviPortInfo) di = NULL;
    g_autofree char *d_listen = NULL;
    gsize len;
    const guint8 *data;

    trio_init(&t);
    t.s->can_receive = FALSE;
    t.d->can_receive = TRUE;
    p_sends(&t, 0, 2);
    w = (Want){ .guest = t.s, .held = 3 };
    g_assert_true(test_wait(t.context, buffer_has, &w));

    limevi_port_migration_start(t.s->port);
    limevi_port_freeze(t.s->port);
    /* Before p hears of it: these two go to s, which has saved. */
    state = limevi_port_save(t.s->port);
    p_sends(&t, 3, 4);
    w = (Want){ .guest = t.p, .peer = "r", .status = LIMEVI_ROUTE_INVALID };
    g_assert_true(test_wait(t.context, route_is, &w));
    p_sends(&t, 5, 7);
    g_assert_cmpuint(info(t.p)->stats.tx_held, ==, 3);

    limevi_port_set_incoming(t.d->port);
    data = g_bytes_get_data(state, &len);
    g_assert_true(limevi_port_load(t.d->port, data, len, &error));
    g_assert_no_error(error);
    limevi_port_activate(t.d->port);
    w = (Want){ .guest = t.d, .frames = 8 };
    g_assert_true(test_wait(t.context, has_frames, &w));
    w = (Want){ .guest = t.d };
    g_assert_true(test_wait(t.context, is_synced, &w));
    test_spin(t.context, 50);

    assert_ids(t.d, 0, 7);
    g_assert_cmpuint(t.s->frames->len, ==, 0);
    si = info(t.s);
    g_assert_cmpint(si->state, ==, LIMEVI_PORT_FORWARDING);
    g_assert_cmpuint(si->stats.rx_forwarded, ==, 2);
    di = info(t.d);
    g_assert_cmpint(di->state, ==, LIMEVI_PORT_ACTIVE);
    g_assert_cmpuint(di->epoch, ==, 2);
    g_assert_cmpuint(di->stats.rx_duplicates, ==, 0);
    g_assert_cmpuint(di->stats.rx_gaps, ==, 0);
    g_assert_cmpuint(di->peers_pending, ==, 0);
    /* p now sends to d: its route follows d's source address. */
    d_listen = fake_guest_listen(t.d);
    w = (Want){ .guest = t.p, .peer = "r", .status = LIMEVI_ROUTE_VALID };
    g_assert_true(route_is(&w));
    {
        g_autoptr(LimeviPortInfo) pi = info(t.p);
        LimeviRouteInfo *r = pi->routes->pdata[0];

        g_assert_cmpstr(r->endpoint, ==, d_listen);
        g_assert_cmpuint(r->epoch, ==, 2);
    }
    p_sends(&t, 8, 8);
    w = (Want){ .guest = t.d, .frames = 9 };
    g_assert_true(test_wait(t.context, has_frames, &w));
    assert_ids(t.d, 0, 8);
    trio_clear(&t);
}

/* The migration fails after the freeze: r stays at s, which gets every
 * frame in order once p sends to it again. */
static void test_failure_keeps_everything_at_source(void)
{
    Trio t;
    Want w = { 0 };
    g_autoptr(GBytes) state = NULL;
    g_autoptr(LimeviPortInfo) si = NULL;

    trio_init(&t);
    p_sends(&t, 0, 1);
    w = (Want){ .guest = t.s, .frames = 2 };
    g_assert_true(test_wait(t.context, has_frames, &w));
    limevi_port_migration_start(t.s->port);
    limevi_port_freeze(t.s->port);
    state = limevi_port_save(t.s->port);
    p_sends(&t, 2, 3);          /* reach s after its save */
    w = (Want){ .guest = t.p, .peer = "r", .status = LIMEVI_ROUTE_INVALID };
    g_assert_true(test_wait(t.context, route_is, &w));
    p_sends(&t, 4, 5);          /* held at p */

    limevi_port_migration_failed(t.s->port);
    w = (Want){ .guest = t.s, .frames = 6 };
    g_assert_true(test_wait(t.context, has_frames, &w));
    test_spin(t.context, 50);
    assert_ids(t.s, 0, 5);
    si = info(t.s);
    g_assert_cmpint(si->state, ==, LIMEVI_PORT_ACTIVE);
    g_assert_cmpuint(si->epoch, ==, 3);
    w = (Want){ .guest = t.p, .peer = "r", .status = LIMEVI_ROUTE_VALID };
    g_assert_true(route_is(&w));
    trio_clear(&t);
}

/* A stale or malformed state changes nothing at the destination. */
static void test_load_rejects_bad_state(void)
{
    Trio t;
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviPortInfo) before = NULL;
    g_autoptr(LimeviPortInfo) after = NULL;
    static const guint8 junk[] = { 1, 2, 3, 4, 5, 6, 7 };

    trio_init(&t);
    before = info(t.d);
    g_assert_false(limevi_port_load(t.d->port, junk, sizeof(junk), &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    g_assert_true(g_str_has_prefix(error->message, "migration state"));
    after = info(t.d);
    g_assert_cmpuint(after->routes->len, ==, before->routes->len);
    g_assert_cmpuint(after->epoch, ==, before->epoch);
    trio_clear(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migrate/no-loss-no-duplicate-in-order",
                    test_no_loss_no_duplicate_in_order);
    g_test_add_func("/migrate/failure-keeps-everything-at-source",
                    test_failure_keeps_everything_at_source);
    g_test_add_func("/migrate/load-rejects-bad-state",
                    test_load_rejects_bad_state);
    return g_test_run();
}
