/*
 * The replay window: a counter once, out of order within the window,
 * never too old; a check that changes nothing; and the save/load pair a
 * live migration carries.
 */
#include <string.h>

#include "limevi.h"
#include "replay.h"

static void test_replay_refused(void)
{
    LimeviReplay replay;

    limevi_replay_init(&replay);
    g_assert_true(limevi_replay_accept(&replay, 0));
    g_assert_false(limevi_replay_check(&replay, 0));
    g_assert_false(limevi_replay_accept(&replay, 0));
    g_assert_true(limevi_replay_accept(&replay, 5));
    g_assert_false(limevi_replay_accept(&replay, 5));
}

static void test_out_of_order_within_window(void)
{
    LimeviReplay replay;
    guint64 top = 10000;

    limevi_replay_init(&replay);
    g_assert_true(limevi_replay_accept(&replay, top));
    /* Every counter the window covers arrives late, in reverse. */
    for (guint64 c = top - 1; c >= top - LIMEVI_REPLAY_WINDOW; c--) {
        g_assert_true(limevi_replay_accept(&replay, c));
    }
    for (guint64 c = top - LIMEVI_REPLAY_WINDOW; c <= top; c++) {
        g_assert_false(limevi_replay_check(&replay, c));
    }
}

static void test_too_old_refused(void)
{
    LimeviReplay replay;
    guint64 top = 100000;

    limevi_replay_init(&replay);
    g_assert_true(limevi_replay_accept(&replay, top));
    g_assert_false(limevi_replay_accept(&replay,
                                        top - LIMEVI_REPLAY_BITS - 1));
    g_assert_false(limevi_replay_accept(&replay, 3));
    /* A jump far ahead forgets the old window entirely. */
    g_assert_true(limevi_replay_accept(&replay, top * 10));
    g_assert_false(limevi_replay_accept(&replay, top + 1));
    g_assert_true(limevi_replay_accept(&replay, top * 10 - 1));
}

static void test_check_changes_nothing(void)
{
    LimeviReplay replay, before;

    limevi_replay_init(&replay);
    g_assert_true(limevi_replay_accept(&replay, 50));
    before = replay;
    /* What a forged packet is judged by before it fails to open. */
    g_assert_true(limevi_replay_check(&replay, G_MAXUINT64 / 2));
    g_assert_true(limevi_replay_check(&replay, 49));
    g_assert_true(memcmp(&before, &replay, sizeof(replay)) == 0);
}

static void test_counter_end_refused(void)
{
    LimeviReplay replay;

    limevi_replay_init(&replay);
    g_assert_false(limevi_replay_accept(&replay, G_MAXUINT64));
    g_assert_false(limevi_replay_accept(&replay, LIMEVI_REPLAY_COUNTER_MAX));
    g_assert_true(limevi_replay_accept(&replay,
                                       LIMEVI_REPLAY_COUNTER_MAX - 1));
}

static void test_save_load(void)
{
    LimeviReplay replay, loaded;
    guint8 state[LIMEVI_REPLAY_STATE_LEN];
    g_autoptr(GError) err = NULL;

    limevi_replay_init(&replay);
    for (guint64 c = 3000; c < 6000; c += 3) {
        g_assert_true(limevi_replay_accept(&replay, c));
    }
    limevi_replay_save(&replay, state);
    limevi_replay_init(&loaded);
    g_assert_true(limevi_replay_load(&loaded, state, sizeof(state), NULL));
    /* The destination refuses what the source accepted, and only that. */
    for (guint64 c = 6000 - LIMEVI_REPLAY_WINDOW; c < 6000; c++) {
        g_assert_cmpint(limevi_replay_check(&loaded, c), ==, (c % 3) != 0);
    }
    g_assert_true(limevi_replay_accept(&loaded, 6001));

    g_assert_false(limevi_replay_load(&loaded, state, sizeof(state) - 1,
                                      &err));
    g_assert_cmpstr(err->message, ==,
                    "replay window: 263 bytes, expected 264");
    g_clear_error(&err);
    memset(state, 0xff, 8);
    loaded.top = 77;
    g_assert_false(limevi_replay_load(&loaded, state, sizeof(state), &err));
    g_assert_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    g_assert_cmpuint(loaded.top, ==, 77);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/replay/refuses-a-counter-seen", test_replay_refused);
    g_test_add_func("/replay/accepts-out-of-order-within-the-window",
                    test_out_of_order_within_window);
    g_test_add_func("/replay/refuses-too-old", test_too_old_refused);
    g_test_add_func("/replay/check-changes-nothing",
                    test_check_changes_nothing);
    g_test_add_func("/replay/refuses-the-counter-end",
                    test_counter_end_refused);
    g_test_add_func("/replay/save-load-round-trip", test_save_load);
    return g_test_run();
}
