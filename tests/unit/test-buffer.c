/*
 * The bounded frame buffer: order, the byte bound, overflow dropping the
 * newest frame, and the save/load pair a migration will carry.
 */
#include <string.h>

#include "buffer.h"
#include "fake-guest.h"

static const guint8 mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };

static void push_frame(LimeviBuffer *buffer, gsize len, guint32 id,
                       gboolean expect_kept)
{
    g_autofree guint8 *frame = g_malloc(len);

    test_frame(frame, len, test_broadcast, mac_a, id);
    g_assert_cmpint(limevi_buffer_push(buffer, frame, len), ==, expect_kept);
}

static guint32 pop_id(LimeviBuffer *buffer, gsize expect_len)
{
    gsize len;
    const guint8 *frame = limevi_buffer_peek(buffer, &len);
    g_autoptr(GBytes) copy = NULL;

    g_assert_nonnull(frame);
    g_assert_cmpuint(len, ==, expect_len);
    copy = g_bytes_new(frame, len);
    limevi_buffer_pop(buffer);
    return test_frame_id(copy);
}

static void assert_info(LimeviBuffer *buffer, guint64 frames, guint64 bytes,
                        guint64 dropped)
{
    LimeviBufferInfo info;

    limevi_buffer_get_info(buffer, &info);
    g_assert_cmpuint(info.frames, ==, frames);
    g_assert_cmpuint(info.bytes, ==, bytes);
    g_assert_cmpuint(info.dropped, ==, dropped);
}

static void test_keeps_frames_in_order(void)
{
    LimeviBuffer *buffer = limevi_buffer_new(LIMEVI_BUFFER_LIMIT_MIN);
    gsize len;

    g_assert_true(limevi_buffer_is_empty(buffer));
    for (guint32 i = 0; i < 10; i++) {
        push_frame(buffer, 60 + i, i, TRUE);
    }
    assert_info(buffer, 10, 10 * 60 + 45, 0);
    for (guint32 i = 0; i < 10; i++) {
        g_assert_cmpuint(pop_id(buffer, 60 + i), ==, i);
    }
    g_assert_true(limevi_buffer_is_empty(buffer));
    g_assert_null(limevi_buffer_peek(buffer, &len));
    assert_info(buffer, 0, 0, 0);
    limevi_buffer_free(buffer);
}

static void test_overflow_drops_the_newest_frame(void)
{
    LimeviBuffer *buffer = limevi_buffer_new(2048);

    push_frame(buffer, 1000, 1, TRUE);
    push_frame(buffer, 1000, 2, TRUE);
    push_frame(buffer, 100, 3, FALSE);      /* 2100 > 2048 */
    push_frame(buffer, 48, 4, TRUE);        /* exactly 2048 */
    push_frame(buffer, 18, 5, FALSE);
    assert_info(buffer, 3, 2048, 2);
    g_assert_cmpuint(pop_id(buffer, 1000), ==, 1);
    g_assert_cmpuint(pop_id(buffer, 1000), ==, 2);
    g_assert_cmpuint(pop_id(buffer, 48), ==, 4);
    /* Room again once frames leave. */
    push_frame(buffer, 2048, 6, TRUE);
    assert_info(buffer, 1, 2048, 2);
    limevi_buffer_free(buffer);
}

static void test_save_load_round_trips_frames_and_drops(void)
{
    LimeviBuffer *from = limevi_buffer_new(4096);
    LimeviBuffer *to = limevi_buffer_new(4096);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) saved = NULL;
    gsize len;
    const guint8 *data;

    push_frame(from, 1500, 1, TRUE);
    push_frame(from, 60, 2, TRUE);
    push_frame(from, 4000, 3, FALSE);
    push_frame(to, 100, 0, TRUE);
    saved = limevi_buffer_save(from);
    assert_info(from, 2, 1560, 1);          /* saving changes nothing */

    data = g_bytes_get_data(saved, &len);
    g_assert_true(limevi_buffer_load(to, data, len, &error));
    g_assert_no_error(error);
    assert_info(to, 3, 1660, 1);
    g_assert_cmpuint(pop_id(to, 100), ==, 0);
    g_assert_cmpuint(pop_id(to, 1500), ==, 1);
    g_assert_cmpuint(pop_id(to, 60), ==, 2);
    limevi_buffer_free(from);
    limevi_buffer_free(to);
}

static void test_load_drops_what_exceeds_the_limit(void)
{
    LimeviBuffer *from = limevi_buffer_new(8192);
    LimeviBuffer *to = limevi_buffer_new(2048);
    g_autoptr(GBytes) saved = NULL;
    gsize len;
    const guint8 *data;

    for (guint32 i = 0; i < 4; i++) {
        push_frame(from, 1000, i, TRUE);
    }
    saved = limevi_buffer_save(from);
    data = g_bytes_get_data(saved, &len);
    g_assert_true(limevi_buffer_load(to, data, len, NULL));
    assert_info(to, 2, 2000, 2);
    g_assert_cmpuint(pop_id(to, 1000), ==, 0);
    g_assert_cmpuint(pop_id(to, 1000), ==, 1);
    limevi_buffer_free(from);
    limevi_buffer_free(to);
}

static void assert_load_fails(const guint8 *data, gsize len)
{
    LimeviBuffer *to = limevi_buffer_new(4096);
    g_autoptr(GError) error = NULL;

    push_frame(to, 100, 0, TRUE);
    g_assert_false(limevi_buffer_load(to, data, len, &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    g_assert_true(g_str_has_prefix(error->message, "saved buffer: "));
    assert_info(to, 1, 100, 0);             /* unchanged */
    limevi_buffer_free(to);
}

static void test_load_rejects_malformed_and_changes_nothing(void)
{
    LimeviBuffer *from = limevi_buffer_new(4096);
    g_autoptr(GBytes) saved = NULL;
    g_autofree guint8 *copy = NULL;
    gsize len;

    push_frame(from, 60, 1, TRUE);
    push_frame(from, 70, 2, TRUE);
    saved = limevi_buffer_save(from);
    len = g_bytes_get_size(saved);
    copy = g_memdup2(g_bytes_get_data(saved, NULL), len);
    g_assert_cmpuint(len, ==, 16 + 4 + 60 + 4 + 70);

    assert_load_fails(copy, 0);
    assert_load_fails(copy, 15);                /* header cut */
    assert_load_fails(copy, len - 1);           /* last frame cut */
    assert_load_fails(copy, 16 + 2);            /* length cut */
    copy[0] = 'X';
    assert_load_fails(copy, len);               /* magic */
    copy[0] = 'L';
    copy[15] = 3;                               /* count above the data */
    assert_load_fails(copy, len);
    copy[15] = 1;                               /* data after the count */
    assert_load_fails(copy, len);
    copy[15] = 2;
    copy[16 + 3] = 0;                           /* zero-length frame */
    assert_load_fails(copy, len);
    copy[16 + 1] = 1;                           /* 65536 + 0 bytes */
    assert_load_fails(copy, len);
    copy[16 + 1] = 0;
    copy[16 + 3] = 60;
    {
        LimeviBuffer *to = limevi_buffer_new(4096);

        /* The control case: the repaired copy loads. */
        g_assert_true(limevi_buffer_load(to, copy, len, NULL));
        assert_info(to, 2, 130, 0);
        limevi_buffer_free(to);
    }
    limevi_buffer_free(from);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/buffer/keeps-frames-in-order",
                    test_keeps_frames_in_order);
    g_test_add_func("/buffer/overflow/drops-the-newest-frame",
                    test_overflow_drops_the_newest_frame);
    g_test_add_func("/buffer/save-load/round-trips-frames-and-drops",
                    test_save_load_round_trips_frames_and_drops);
    g_test_add_func("/buffer/load/drops-what-exceeds-the-limit",
                    test_load_drops_what_exceeds_the_limit);
    g_test_add_func("/buffer/load/rejects-malformed-and-changes-nothing",
                    test_load_rejects_malformed_and_changes_nothing);
    return g_test_run();
}
