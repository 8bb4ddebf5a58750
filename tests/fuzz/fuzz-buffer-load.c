/*
 * libFuzzer target: the saved-buffer loader, limevi_buffer_load(), into
 * a small buffer that already holds frames (so loaded frames also
 * overflow it).  A saved buffer it refuses leaves the buffer as it was;
 * one it takes appends its frames, within the limit, and what the buffer
 * saves then loads again into an empty one, the same.
 *
 * Seeds: tests/fuzz/corpus/buffer-load, buffers saved by real ports'
 * queues and by limevi_buffer_save() (fuzz-seeds.c).
 */
#include <string.h>

#include "fuzz-common.h"

#define LIMIT 4096

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static const guint8 held[2][60] = { { 1, 2, 3 }, { 4, 5, 6 } };
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) before = NULL, after = NULL;
    LimeviBuffer *buffer, *copy;
    LimeviBufferInfo was, now;

    fuzz_init();
    buffer = limevi_buffer_new(LIMIT);
    limevi_buffer_push(buffer, held[0], sizeof(held[0]));
    limevi_buffer_push(buffer, held[1], sizeof(held[1]));
    limevi_buffer_get_info(buffer, &was);
    before = limevi_buffer_save(buffer);

    if (!limevi_buffer_load(buffer, data, size, &error)) {
        g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
        limevi_buffer_get_info(buffer, &now);
        g_assert_cmpmem(&was, sizeof(was), &now, sizeof(now));
        after = limevi_buffer_save(buffer);
        g_assert_true(g_bytes_equal(before, after));
        limevi_buffer_free(buffer);
        return 0;
    }
    limevi_buffer_get_info(buffer, &now);
    g_assert_cmpuint(now.bytes, <=, LIMIT);
    g_assert_cmpuint(now.frames, >=, was.frames);
    g_assert_cmpuint(now.dropped, >=, was.dropped);
    /* The frames held first stay first. */
    {
        gsize len;
        const guint8 *p = limevi_buffer_peek(buffer, &len);

        g_assert_cmpmem(p, len, held[0], sizeof(held[0]));
    }

    after = limevi_buffer_save(buffer);
    copy = limevi_buffer_new(2 * LIMIT);
    {
        g_autoptr(GBytes) again = NULL;
        gsize len;
        const guint8 *p = g_bytes_get_data(after, &len);

        g_assert_true(limevi_buffer_load(copy, p, len, &error));
        g_assert_no_error(error);
        again = limevi_buffer_save(copy);
        g_assert_true(g_bytes_equal(after, again));
    }
    /* Emptied, it holds nothing. */
    while (!limevi_buffer_is_empty(copy)) {
        limevi_buffer_pop(copy);
    }
    g_assert_cmpuint(limevi_buffer_bytes(copy), ==, 0);
    limevi_buffer_free(copy);
    limevi_buffer_free(buffer);
    return 0;
}
