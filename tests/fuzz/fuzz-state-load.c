/*
 * libFuzzer target: the migration state loader, limevi_port_load(), on a
 * destination port waiting for its VM (INCOMING), with a key (so the
 * replay windows load too) and routes of its own.  Every version it reads
 * is reached: 2 and 3 ("LVS2"), and 1 (a GVariant).
 *
 * A state it refuses must leave the port as it was (what it would save
 * is unchanged); a state it takes must give a port that runs: the guest
 * arrives, frames flow, timers fire, and what it saves then loads again.
 *
 * Seeds: tests/fuzz/corpus/state-load, states saved by real ports in
 * every state a source saves in, with held frames, learnt MACs, moving
 * peers and replay windows (fuzz-seeds.c).
 */
#include <string.h>

#include "fuzz-common.h"
#include "state.h"

static const guint8 key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, [31] = 0x11 };

static LimeviPort *start(GMainContext *context, FuzzGuest *guest)
{
    static const LimeviRouteConfig routes[] = {
        { .vm = "vm2", .endpoint = "127.0.0.1:9" },
        { .vm = "vm3", .endpoint = "127.0.0.1:7", .lan = "lan2" },
    };
    LimeviPortConfig config = {
        .vm = "vm1",
        .vc = "vc1",
        .lan = "lan1",
        .listen = "127.0.0.1:0",
        .routes = routes,
        .n_routes = G_N_ELEMENTS(routes),
        .buffer_limit = 65536,
        .context = context,
        .key = key,
        .key_len = sizeof(key),
    };
    LimeviPortOps ops = fuzz_guest_ops();
    g_autoptr(GError) error = NULL;

    guest->can_receive = TRUE;
    guest->now = 1000 * G_USEC_PER_SEC;
    guest->port = limevi_port_new(&config, &ops, guest, &error);
    g_assert_no_error(error);
    limevi_port_event(guest->port, LIMEVI_EVENT_INCOMING);
    return guest->port;
}

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) before = NULL, after = NULL;
    FuzzGuest guest = { 0 };
    LimeviPort *port;

    fuzz_init();
    port = start(context, &guest);
    before = limevi_state_save(port);
    if (!limevi_port_load(port, data, size, &error)) {
        g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
        after = limevi_state_save(port);
        /* "On error it changes nothing" (state.h). */
        g_assert_true(g_bytes_equal(before, after));
        g_assert_cmpint(limevi_port_get_state(port), ==,
                        LIMEVI_PORT_INCOMING);
    } else {
        static const guint8 frame[60] = {
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0x52, 0x54, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06,
        };
        g_autoptr(LimeviPortInfo) info = NULL;
        g_autoptr(LimeviState) again = NULL;
        gsize len;
        const guint8 *p;

        info = limevi_port_get_info(port);
        g_assert_cmpuint(info->routes->len, <=, LIMEVI_PEERS_MAX);
        /* The VM runs here: what the state held goes out and in. */
        limevi_port_event(port, LIMEVI_EVENT_GUEST_RUNNING);
        limevi_port_send(port, frame, sizeof(frame));
        guest.now += 3 * G_USEC_PER_SEC;
        fuzz_fire_timers(port, context);
        limevi_port_guest_ready(port);
        /* What it saves now is a state it reads. */
        after = limevi_state_save(port);
        p = g_bytes_get_data(after, &len);
        again = limevi_state_decode(p, len, &error);
        g_assert_no_error(error);
        g_assert_nonnull(again);
    }
    limevi_port_free(port);
    fuzz_sent_clear();
    while (g_main_context_iteration(context, FALSE)) {
    }
    return 0;
}
