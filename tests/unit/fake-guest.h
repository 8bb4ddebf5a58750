/*
 * A fake guest behind a LimeviPort for the unit tests: it records the
 * frames and route changes the port hands it, and can refuse frames.
 */
#ifndef FAKE_GUEST_H
#define FAKE_GUEST_H

#include <gio/gio.h>

#include "limevi.h"

typedef struct {
    LimeviPort *port;
    GPtrArray *frames;          /* GBytes, in delivery order */
    gboolean can_receive;
    guint refuse_from;          /* deliver() says no at this many frames;
                                 * 0: never */
    GPtrArray *routes;          /* LimeviRouteInfo copies, per change */
    GArray *removed;            /* gboolean, per change */
    gint64 now;                 /* the port's clock, microseconds */
    guint overflows;            /* buffer_overflow() calls for our guest */
    guint64 overflow_dropped;   /* the count the latest one gave */
    guint peer_overflows;       /* ... for frames held for a peer */
    guint64 peer_overflow_dropped;
} FakeGuest;

FakeGuest *fake_guest_new(void);
void fake_guest_free(FakeGuest *guest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeGuest, fake_guest_free)

/* The ops that feed @guest; the clock is @guest->now. */
LimeviPortOps fake_guest_ops(void);

/*
 * Starts a port for @guest on @context, bound to @config->listen, or when
 * that is NULL to 127.0.0.1 with an ephemeral port; asserts it starts.
 * @config may be NULL for defaults.
 */
LimeviPort *fake_guest_start(FakeGuest *guest, GMainContext *context,
                             const char *vm, const char *vc,
                             const char *lan, LimeviPortConfig *config);

/* Where ports on this host reach the port, "127.0.0.1:PORT" (whichever
 * address it is bound to); g_free() it. */
char *fake_guest_listen(FakeGuest *guest);

/* Gives @from's port a valid route to @vm at @to's port; asserts it. */
void fake_guest_route(FakeGuest *from, const char *vm, FakeGuest *to);

/* The counters of @guest's port now. */
LimeviStats fake_guest_stats(FakeGuest *guest);
/* Iterates @context until @guest holds @n frames or 3 s pass. */
gboolean fake_guest_wait_frames(GMainContext *context, FakeGuest *guest,
                                guint n);

/* An Ethernet frame of @len bytes carrying @id after the header. */
void test_frame(guint8 *buf, gsize len, const guint8 *dst,
                const guint8 *src, guint32 id);
guint32 test_frame_id(GBytes *frame);

/* A non-blocking UDP socket on 127.0.0.1 with a port the kernel picks;
 * *@endpoint says where, "127.0.0.1:PORT" (g_free() it). */
GSocket *test_socket_new(char **endpoint);

/* Iterates @context until @cond holds or 3 s pass; returns @cond. */
gboolean test_wait(GMainContext *context, gboolean (*cond)(gpointer),
                   gpointer data);
/* Iterates @context for @ms milliseconds: lets stray packets arrive. */
void test_spin(GMainContext *context, guint ms);
/*
 * Dispatches @timer, one of a port's timer sources (not NULL), on
 * @context now, whatever the wall clock says.  With the port's clock in
 * FakeGuest.now, a test steps time itself: advance now, fire the timer.
 */
void test_fire(GMainContext *context, GSource *timer);

extern const guint8 test_broadcast[6];

#endif /* FAKE_GUEST_H */
