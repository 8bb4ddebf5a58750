/*
 * The migration state's byte format (docs/state.md): it round-trips, the
 * previous version still loads, and anything malformed is refused with
 * an error and changes nothing.
 */
#include <string.h>

#include "fake-guest.h"
#include "port.h"
#include "state.h"

static LimeviPort *start(FakeGuest *g, GMainContext *ctx, const char *vm)
{
    return fake_guest_start(g, ctx, vm, "vc1", "lan1", NULL);
}

static LimeviState *sample(void)
{
    LimeviState *state = limevi_state_new();
    LimeviStateRoute r = {
        .vm = g_strdup("p"), .endpoint = g_strdup("127.0.0.1:7001"),
        .vc = g_strdup("vc1"), .lan = g_strdup("lan1"), .status = 1,
        .epoch = 7, .tx_seq = 42, .held = g_bytes_new(NULL, 0),
    };
    LimeviStateSender s = { g_strdup("p"), 1000 };
    LimeviStateMac m = { { 2, 0, 0, 0, 0, 9 }, g_strdup("p") };

    state->epoch = 5;
    state->source = g_strdup("127.0.0.1:7000");
    g_array_append_val(state->routes, r);
    g_array_append_val(state->senders, s);
    g_array_append_val(state->macs, m);
    return state;
}

static void test_round_trip(void)
{
    g_autoptr(LimeviState) state = sample();
    g_autoptr(GBytes) bytes = limevi_state_encode(state);
    g_autoptr(GError) error = NULL;
    gsize len;
    const guint8 *data = g_bytes_get_data(bytes, &len);
    g_autoptr(LimeviState) back = limevi_state_decode(data, len, &error);

    g_assert_no_error(error);
    g_assert_cmpuint(back->epoch, ==, 5);
    g_assert_cmpstr(back->source, ==, "127.0.0.1:7000");
    g_assert_cmpuint(back->routes->len, ==, 1);
    g_assert_cmpuint(g_array_index(back->routes, LimeviStateRoute, 0).tx_seq,
                     ==, 42);
    g_assert_cmpuint(g_array_index(back->senders, LimeviStateSender,
                                   0).next, ==, 1000);
    g_assert_cmpstr(g_array_index(back->macs, LimeviStateMac, 0).vm, ==,
                    "p");
    /* Big-endian, as docs/state.md says: the version after the magic. */
    g_assert_cmpmem(data, 8, "LVS2\0\0\0\4", 8);
}

/* Version 1, as liblimevi 0.1 wrote it, still loads. */
static void test_version_1_loads(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) d = fake_guest_new();
    g_autoptr(GVariant) v1 = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviPortInfo) info = NULL;
    g_autoptr(GBytes) empty = g_bytes_new_static("LVB1\0\0\0\0\0\0\0\0\0\0\0\0",
                                                 16);
    GVariantBuilder routes, rx, macs;

    start(d, ctx, "r");
    g_variant_builder_init(&routes, G_VARIANT_TYPE("a(ssssuutay)"));
    g_variant_builder_add(&routes, "(ssssuut@ay)", "p", "127.0.0.1:7001",
                          "vc1", "lan1", 0u, 3u, (guint64)9,
                          g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE,
                                                    NULL, 0, 1));
    g_variant_builder_init(&rx, G_VARIANT_TYPE("a(st)"));
    g_variant_builder_add(&rx, "(st)", "p", (guint64)77);
    g_variant_builder_init(&macs, G_VARIANT_TYPE("a(ays)"));
    v1 = g_variant_ref_sink(g_variant_new(
        "(uus@a(ssssuutay)@a(st)@a(ays)@ay)", 1u, 11u, "127.0.0.1:7000",
        g_variant_builder_end(&routes), g_variant_builder_end(&rx),
        g_variant_builder_end(&macs),
        g_variant_new_from_bytes(G_VARIANT_TYPE("ay"), empty, TRUE)));
    limevi_port_event(d->port, LIMEVI_EVENT_INCOMING);
    g_assert_true(limevi_port_load(d->port, g_variant_get_data(v1),
                                   g_variant_get_size(v1), &error));
    g_assert_no_error(error);
    info = limevi_port_get_info(d->port);
    g_assert_cmpuint(info->epoch, ==, 11);
    g_assert_cmpuint(info->routes->len, ==, 1);
    g_assert_cmpuint(((LimeviRouteInfo *)info->routes->pdata[0])->epoch, ==,
                     3);
}

/* Every proper prefix of a valid state is refused, and nothing changes. */
static void test_truncated_refused_changes_nothing(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) d = fake_guest_new();
    g_autoptr(LimeviState) state = sample();
    g_autoptr(GBytes) bytes = NULL;
    gsize len;
    const guint8 *data;

    state->held = g_bytes_new_static("LVB1\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    bytes = limevi_state_encode(state);
    data = g_bytes_get_data(bytes, &len);
    start(d, ctx, "r");
    limevi_port_event(d->port, LIMEVI_EVENT_INCOMING);
    for (gsize n = 0; n < len; n++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(LimeviPortInfo) info = NULL;

        g_assert_false(limevi_port_load(d->port, data, n, &error));
        g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
        g_assert_true(g_str_has_prefix(error->message, "migration state"));
        info = limevi_port_get_info(d->port);
        g_assert_cmpuint(info->routes->len, ==, 0);
        g_assert_cmpuint(info->epoch, ==, 0);
    }
    {
        g_autoptr(GError) error = NULL;

        g_assert_true(limevi_port_load(d->port, data, len, &error));
        g_assert_no_error(error);
    }
}

static void assert_refused(GBytes *bytes, const char *message_part)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    g_autoptr(FakeGuest) d = fake_guest_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviPortInfo) info = NULL;
    gsize len;
    const guint8 *data = g_bytes_get_data(bytes, &len);

    start(d, ctx, "r");
    g_assert_false(limevi_port_load(d->port, data, len, &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, message_part));
    info = limevi_port_get_info(d->port);
    g_assert_cmpuint(info->routes->len, ==, 0);
}

/* A saved sequence-tagged buffer: "LVQ1", dropped 0, one frame @seq of
 * 60 bytes. */
static GBytes *held_one(guint64 seq)
{
    guint8 *b = g_malloc0(16 + 12 + 60);

    memcpy(b, "LVQ1", 4);
    b[15] = 1;
    for (int i = 0; i < 8; i++) {
        b[16 + i] = seq >> (56 - 8 * i);
    }
    b[16 + 11] = 60;
    memset(b + 28, 0xff, 12);
    return g_bytes_new_take(b, 16 + 12 + 60);
}

/* What waits for a gap travels with its number (version 4); a number
 * at or below the sender's next is refused, and changes nothing. */
static void test_sender_held_round_trip(void)
{
    g_autoptr(LimeviState) state = sample();
    g_autoptr(LimeviState) back = NULL;
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(GError) error = NULL;
    LimeviStateSender *s = &g_array_index(state->senders,
                                          LimeviStateSender, 0);
    gsize len;
    const guint8 *data;

    s->held = held_one(1002);
    bytes = limevi_state_encode(state);
    data = g_bytes_get_data(bytes, &len);
    back = limevi_state_decode(data, len, &error);
    g_assert_no_error(error);
    g_assert_true(g_bytes_equal(g_array_index(back->senders,
                                              LimeviStateSender, 0).held,
                                s->held));
    g_clear_pointer(&bytes, g_bytes_unref);
    g_bytes_unref(s->held);
    s->held = held_one(1000);
    bytes = limevi_state_encode(state);
    assert_refused(bytes, "sender p: saved buffer: frame 1 of 1 is out of "
                          "sequence");
}

/* Version 3 (no held frames per sender) still loads: the v4 bytes of a
 * state whose sender holds nothing, less that empty blob. */
static void test_version_3_loads(void)
{
    g_autoptr(LimeviState) state = sample();
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviState) back = NULL;
    g_autoptr(GByteArray) v3 = g_byte_array_new();
    gsize len, at;
    const guint8 *data;

    g_array_set_size(state->routes, 0);
    bytes = limevi_state_encode(state);
    data = g_bytes_get_data(bytes, &len);
    /* magic, version, epoch, source, 0 routes, 1 sender, "p", next */
    at = 4 + 4 + 4 + 2 + strlen(state->source) + 4 + 4 + 2 + 1 + 8;
    g_assert_cmpmem(data + at, 4, "\0\0\0\0", 4);
    g_byte_array_append(v3, data, at);
    g_byte_array_append(v3, data + at + 4, len - at - 4);
    v3->data[7] = 3;
    back = limevi_state_decode(v3->data, v3->len, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(g_array_index(back->senders, LimeviStateSender,
                                   0).next, ==, 1000);
    g_assert_null(g_array_index(back->senders, LimeviStateSender, 0).held);
    g_assert_cmpstr(g_array_index(back->macs, LimeviStateMac, 0).vm, ==,
                    "p");
}

static void test_bad_version_bad_name_huge_count(void)
{
    g_autoptr(LimeviState) state = sample();
    g_autoptr(GBytes) good = NULL;
    g_autoptr(GBytes) bad_version = NULL;
    g_autoptr(GBytes) huge = NULL;
    g_autoptr(GBytes) bad_name = NULL;
    guint8 *copy;
    gsize len;

    state->held = g_bytes_new_static("LVB1\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    good = limevi_state_encode(state);
    len = g_bytes_get_size(good);
    copy = g_memdup2(g_bytes_get_data(good, NULL), len);
    copy[7] = 9;
    bad_version = g_bytes_new_take(copy, len);
    assert_refused(bad_version, "version 9 is not supported");

    /* The route count (after magic, version, epoch and the source). */
    copy = g_memdup2(g_bytes_get_data(good, NULL), len);
    copy[12 + 2 + 14] = 0xff;
    huge = g_bytes_new_take(copy, len);
    assert_refused(huge, "out of bounds");

    g_free(g_array_index(state->routes, LimeviStateRoute, 0).vm);
    g_array_index(state->routes, LimeviStateRoute, 0).vm = g_strdup("b a d");
    bad_name = limevi_state_encode(state);
    assert_refused(bad_name, "route 1 is malformed");
}

/*
 * A source saves each peer once (its table is keyed by VM); a stream
 * naming one twice is refused, whatever the epochs: the older second row
 * was dropped by the table and then written through (a crash found by
 * fuzz-state-load), an equal one overwrote the first row's held frames.
 */
static void test_repeated_route_refused(void)
{
    for (int older = 0; older <= 1; older++) {
        g_autoptr(LimeviState) state = sample();
        g_autoptr(GBytes) bytes = NULL;
        LimeviStateRoute again = {
            .vm = g_strdup("p"), .endpoint = g_strdup("127.0.0.1:7002"),
            .vc = g_strdup("vc1"), .lan = g_strdup("lan1"), .status = 0,
            .epoch = older ? 3 : 7, .tx_seq = 1,
            .held = g_bytes_new_static("LVB1\0\0\0\0\0\0\0\0"
                                       "\0\0\0\1\0\0\0\016"
                                       "aaaaaaaaaaaaaa", 34),
        };

        g_array_append_val(state->routes, again);
        bytes = limevi_state_encode(state);
        assert_refused(bytes, "route 2 repeats vm 'p'");
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/state/round-trip-big-endian", test_round_trip);
    g_test_add_func("/state/version-1-still-loads", test_version_1_loads);
    g_test_add_func("/state/version-3-still-loads", test_version_3_loads);
    g_test_add_func("/state/sender-held-round-trip-and-checked",
                    test_sender_held_round_trip);
    g_test_add_func("/state/truncated-refused-changes-nothing",
                    test_truncated_refused_changes_nothing);
    g_test_add_func("/state/bad-version-name-count-refused",
                    test_bad_version_bad_name_huge_count);
    g_test_add_func("/state/repeated-route-refused",
                    test_repeated_route_refused);
    return g_test_run();
}
