/*
 * A port's keys: secure by default (no key, no listening beyond
 * loopback, unless insecure), and key rotation under traffic: two ports
 * of a VC move from one key to the next in the three documented steps
 * while frames flow both ways, and not one frame is lost; once both
 * forgot the old key, a packet sealed with it is refused.
 */
#include <string.h>

#include "fake-guest.h"

#define OLD_KEY "0101010101010101010101010101010101010101010101010101010101010101"
#define NEW_KEY "0202020202020202020202020202020202020202020202020202020202020202"
#define PER_STEP 20

static const guint8 mac_a[6] = { 0x52, 0x54, 0, 0, 0, 0x0a };
static const guint8 mac_b[6] = { 0x52, 0x54, 0, 0, 0, 0x0b };

/* @n frames each way, numbered from @first; waits until all arrived. */
static void exchange(GMainContext *ctx, FakeGuest *a, FakeGuest *b,
                     guint first, guint n)
{
    guint8 frame[100];

    for (guint i = first; i < first + n; i++) {
        test_frame(frame, sizeof(frame), mac_b, mac_a, i);
        limevi_port_send(a->port, frame, sizeof(frame));
        test_frame(frame, sizeof(frame), mac_a, mac_b, i);
        limevi_port_send(b->port, frame, sizeof(frame));
    }
    g_assert_true(fake_guest_wait_frames(ctx, b, first + n));
    g_assert_true(fake_guest_wait_frames(ctx, a, first + n));
}

static void rollover(FakeGuest *g)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(limevi_port_key_rollover(g->port, (const guint8 *)NEW_KEY,
                                           strlen(NEW_KEY), &error));
    g_assert_no_error(error);
}

static void test_rotation_loses_no_frame(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    g_autoptr(FakeGuest) old = fake_guest_new();
    LimeviPortConfig ca = { .key = (const guint8 *)OLD_KEY,
                            .key_len = strlen(OLD_KEY) };
    LimeviPortConfig cb = ca, cold = ca;
    guint8 frame[100];
    guint sent = 0;

    fake_guest_start(a, ctx, "a", "vc1", "lan1", &ca);
    fake_guest_start(b, ctx, "b", "vc1", "lan1", &cb);
    fake_guest_start(old, ctx, "c", "vc1", "lan1", &cold);
    fake_guest_route(a, "b", b);
    fake_guest_route(b, "a", a);
    fake_guest_route(old, "a", a);

    exchange(ctx, a, b, sent, PER_STEP), sent += PER_STEP;
    rollover(a);
    exchange(ctx, a, b, sent, PER_STEP), sent += PER_STEP;
    rollover(b);
    exchange(ctx, a, b, sent, PER_STEP), sent += PER_STEP;
    limevi_port_key_rollover_seal(a->port);
    exchange(ctx, a, b, sent, PER_STEP), sent += PER_STEP;
    limevi_port_key_rollover_seal(b->port);
    exchange(ctx, a, b, sent, PER_STEP), sent += PER_STEP;
    limevi_port_key_rollover_end(a->port);
    exchange(ctx, a, b, sent, PER_STEP), sent += PER_STEP;
    limevi_port_key_rollover_end(b->port);
    exchange(ctx, a, b, sent, PER_STEP), sent += PER_STEP;

    g_assert_cmpuint(a->frames->len, ==, sent);
    g_assert_cmpuint(b->frames->len, ==, sent);
    for (guint i = 0; i < sent; i++) {
        g_assert_cmpuint(test_frame_id(a->frames->pdata[i]), ==, i);
        g_assert_cmpuint(test_frame_id(b->frames->pdata[i]), ==, i);
    }
    g_assert_cmpuint(fake_guest_stats(a).rx_auth_failed, ==, 0);
    g_assert_cmpuint(fake_guest_stats(b).rx_auth_failed, ==, 0);

    /* The old key opens nothing any more. */
    test_frame(frame, sizeof(frame), mac_a, mac_b, 999);
    limevi_port_send(old->port, frame, sizeof(frame));
    test_spin(ctx, 50);
    g_assert_cmpuint(a->frames->len, ==, sent);
    g_assert_cmpuint(fake_guest_stats(a).rx_auth_failed, ==, 1);
}

/* Why the steps: sealing with a key the peer does not open yet loses. */
static void test_sealing_too_early_is_refused(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(FakeGuest) b = fake_guest_new();
    LimeviPortConfig ca = { .key = (const guint8 *)OLD_KEY,
                            .key_len = strlen(OLD_KEY) };
    LimeviPortConfig cb = ca;
    guint8 frame[100];

    fake_guest_start(a, ctx, "a", "vc1", "lan1", &ca);
    fake_guest_start(b, ctx, "b", "vc1", "lan1", &cb);
    fake_guest_route(a, "b", b);
    rollover(a);
    limevi_port_key_rollover_seal(a->port);
    test_frame(frame, sizeof(frame), mac_b, mac_a, 1);
    limevi_port_send(a->port, frame, sizeof(frame));
    test_spin(ctx, 50);
    g_assert_cmpuint(b->frames->len, ==, 0);
    g_assert_cmpuint(fake_guest_stats(b).rx_auth_failed, ==, 1);
}

static void test_rollover_without_key_refused(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) a = fake_guest_new();
    g_autoptr(GError) error = NULL;

    fake_guest_start(a, ctx, "a", "vc1", "lan1", NULL);
    g_assert_false(limevi_port_key_rollover(a->port, (const guint8 *)NEW_KEY,
                                            strlen(NEW_KEY), &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
}

static gboolean deliver_nothing(gpointer opaque, const guint8 *f, gsize len)
{
    return TRUE;
}

/* @key NULL: none.  NULL, or the one-line error message. */
static char *start_error(const char *listen, const char *key,
                         gboolean insecure)
{
    LimeviPortConfig config = {
        .vm = "a", .vc = "vc1", .lan = "lan1", .listen = listen,
        .key = (const guint8 *)key, .key_len = key ? strlen(key) : 0,
        .insecure = insecure, .key_option = "'key-secret'",
        .insecure_option = "'insecure=on'",
    };
    LimeviPortOps ops = { .deliver = deliver_nothing };
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviPort) port = limevi_port_new(&config, &ops, NULL,
                                                 &error);

    g_assert_true((port == NULL) == (error != NULL));
    return error ? g_strdup(error->message) : NULL;
}

static void test_secure_by_default(void)
{
    g_autofree char *wildcard = start_error("0.0.0.0:0", NULL, FALSE);
    g_autofree char *bad_key = start_error("0.0.0.0:0", "abc", FALSE);
    g_autofree char *ok = NULL;

    g_assert_cmpstr(wildcard, ==, "listening on 0.0.0.0:0, which is not "
                    "loopback, needs a key: give 'key-secret', or "
                    "'insecure=on' to run unauthenticated");
    g_assert_nonnull(bad_key);
    g_assert_true(g_str_has_prefix(bad_key, "'key-secret': "));
    g_assert_null(ok = start_error("0.0.0.0:0", NULL, TRUE));
    g_assert_null(ok = start_error("0.0.0.0:0", NEW_KEY, FALSE));
    g_assert_null(ok = start_error("127.0.0.1:0", NULL, FALSE));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/keys/secure-by-default/refuses-without-key",
                    test_secure_by_default);
    g_test_add_func("/keys/rotation/under-traffic/loses-no-frame",
                    test_rotation_loses_no_frame);
    g_test_add_func("/keys/rotation/sealing-too-early/is-refused",
                    test_sealing_too_early_is_refused);
    g_test_add_func("/keys/rotation/without-key/refused",
                    test_rollover_without_key_refused);
    return g_test_run();
}
