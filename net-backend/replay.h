/*
 * A sliding replay window per sender, WireGuard's counter.c algorithm:
 * which 64-bit counters of one sender were already accepted, within the
 * last LIMEVI_REPLAY_WINDOW of the highest; serializable so a live
 * migration carries it to the destination.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_REPLAY_H
#define LIMEVI_REPLAY_H

#include <glib.h>

#define LIMEVI_REPLAY_BITS 2048
#define LIMEVI_REPLAY_WORDS (LIMEVI_REPLAY_BITS / 64)
/* One word of the ring is always being recycled, so the window a counter
 * is guaranteed to be judged within is one word short of the ring. */
#define LIMEVI_REPLAY_WINDOW (LIMEVI_REPLAY_BITS - 64)
/* Counters at or above this are refused: a sender never gets there and a
 * forged one must not push the window to its end. */
#define LIMEVI_REPLAY_COUNTER_MAX (G_MAXUINT64 - LIMEVI_REPLAY_BITS)
/* limevi_replay_save(): counter (8 bytes) then every word (8 bytes each),
 * all big-endian. */
#define LIMEVI_REPLAY_STATE_LEN (8 + 8 * LIMEVI_REPLAY_WORDS)

typedef struct LimeviReplay {
    guint64 top;        /* highest counter accepted, plus one; 0: none */
    guint64 words[LIMEVI_REPLAY_WORDS];
} LimeviReplay;

void limevi_replay_init(LimeviReplay *replay);

/*
 * TRUE when @counter may be accepted: not seen, not older than the window,
 * below LIMEVI_REPLAY_COUNTER_MAX.  Changes nothing, so a packet is judged
 * before authentication and recorded only after it.
 */
gboolean limevi_replay_check(const LimeviReplay *replay, guint64 counter);

/* Records @counter, which limevi_replay_check() accepted and whose packet
 * authenticated; FALSE (and nothing changed) if it no longer passes. */
gboolean limevi_replay_accept(LimeviReplay *replay, guint64 counter);

/* Writes LIMEVI_REPLAY_STATE_LEN bytes to @out. */
void limevi_replay_save(const LimeviReplay *replay, guint8 *out);

/* Reads what limevi_replay_save() wrote; FALSE with @err set and @replay
 * untouched if @len is wrong or the counter impossible. */
gboolean limevi_replay_load(LimeviReplay *replay, const guint8 *data,
                            gsize len, GError **err);

#endif
