/*
 * The replay window: WireGuard's counter_validate() split in two, a check
 * that changes nothing and an accept once the packet authenticated, so a
 * forged packet cannot move the window.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "limevi.h"
#include "replay.h"

void limevi_replay_init(LimeviReplay *replay)
{
    memset(replay, 0, sizeof(*replay));
}

static gboolean replay_bit_set(const LimeviReplay *replay, guint64 n)
{
    guint64 word = replay->words[(n >> 6) % LIMEVI_REPLAY_WORDS];

    return (word >> (n & 63)) & 1;
}

gboolean limevi_replay_check(const LimeviReplay *replay, guint64 counter)
{
    /* Counted from 1 so that top == 0 means nothing seen. */
    guint64 n = counter + 1;

    if (counter >= LIMEVI_REPLAY_COUNTER_MAX) {
        return FALSE;
    }
    if (n + LIMEVI_REPLAY_WINDOW < replay->top) {
        return FALSE;
    }
    if (n > replay->top) {
        return TRUE;
    }
    return !replay_bit_set(replay, n);
}

gboolean limevi_replay_accept(LimeviReplay *replay, guint64 counter)
{
    guint64 n = counter + 1;
    guint64 index = n >> 6;

    if (!limevi_replay_check(replay, counter)) {
        return FALSE;
    }
    if (n > replay->top) {
        /* Clear the words the window slides over, at most the whole ring. */
        guint64 current = replay->top >> 6;
        guint64 span = MIN(index - current, (guint64)LIMEVI_REPLAY_WORDS);

        for (guint64 i = 1; i <= span; i++) {
            replay->words[(current + i) % LIMEVI_REPLAY_WORDS] = 0;
        }
        replay->top = n;
    }
    replay->words[index % LIMEVI_REPLAY_WORDS] |= G_GUINT64_CONSTANT(1)
                                                  << (n & 63);
    return TRUE;
}

static void put_be64(guint8 *out, guint64 v)
{
    v = GUINT64_TO_BE(v);
    memcpy(out, &v, 8);
}

static guint64 get_be64(const guint8 *in)
{
    guint64 v;

    memcpy(&v, in, 8);
    return GUINT64_FROM_BE(v);
}

void limevi_replay_save(const LimeviReplay *replay, guint8 *out)
{
    put_be64(out, replay->top);
    for (int i = 0; i < LIMEVI_REPLAY_WORDS; i++) {
        put_be64(out + 8 + 8 * i, replay->words[i]);
    }
}

gboolean limevi_replay_load(LimeviReplay *replay, const guint8 *data,
                            gsize len, GError **err)
{
    guint64 top;

    if (len != LIMEVI_REPLAY_STATE_LEN) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "replay window: %" G_GSIZE_FORMAT " bytes, expected %d",
                    len, LIMEVI_REPLAY_STATE_LEN);
        return FALSE;
    }
    top = get_be64(data);
    if (top > LIMEVI_REPLAY_COUNTER_MAX) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "replay window: counter %" G_GUINT64_FORMAT
                    " beyond the last a sender may use", top);
        return FALSE;
    }
    replay->top = top;
    for (int i = 0; i < LIMEVI_REPLAY_WORDS; i++) {
        replay->words[i] = get_be64(data + 8 + 8 * i);
    }
    return TRUE;
}
