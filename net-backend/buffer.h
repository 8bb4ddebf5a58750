/*
 * The one bounded queue of the library, bounded in bytes: frames held for
 * the guest, frames held for a moving peer, datagrams queued for our VM's
 * new host, and frames a sender's resequencing holds ahead of a gap (kept
 * in sequence-number order).  save/load carry it in the migration stream.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_BUFFER_H
#define LIMEVI_BUFFER_H

#include <glib.h>

#include "limevi.h"

typedef struct LimeviBuffer LimeviBuffer;

/* The longest item: a whole datagram, for the forwarding queue. */
#define LIMEVI_BUFFER_ITEM_MAX (65535 + 512)

/* @limit: the most frame bytes held at once. */
LimeviBuffer *limevi_buffer_new(guint64 limit);
void limevi_buffer_free(LimeviBuffer *buffer);

/*
 * Appends a copy of @frame (1..LIMEVI_BUFFER_ITEM_MAX bytes).  When it does
 * not fit under the limit the frame is dropped, counted, and FALSE is
 * returned: overflow drops the newest frame, never one already held.
 */
gboolean limevi_buffer_push(LimeviBuffer *buffer, const guint8 *frame,
                            gsize len);

/* Puts @frame back before every other frame, bypassing the limit: it was
 * held before them and must not be lost to them. */
void limevi_buffer_push_front(LimeviBuffer *buffer, const guint8 *frame,
                              gsize len);

/* The oldest frame, owned by the buffer, valid until the next pop;
 * NULL when empty. */
const guint8 *limevi_buffer_peek(LimeviBuffer *buffer, gsize *len);
void limevi_buffer_pop(LimeviBuffer *buffer);
gboolean limevi_buffer_is_empty(LimeviBuffer *buffer);

/*
 * Sequence-ordered use (resequencing): inserts a copy of @frame tagged
 * @seq after every item with a lower or equal tag.  The caller makes room
 * first (limevi_buffer_fits, pop_tail); FALSE, counted, when it does not
 * fit.
 */
gboolean limevi_buffer_insert_seq(LimeviBuffer *buffer, guint64 seq,
                                  const guint8 *frame, gsize len);
/* Whether an item tagged @seq is held. */
gboolean limevi_buffer_has_seq(LimeviBuffer *buffer, guint64 seq);
/* The tag of the oldest (head) and the newest (tail) item; FALSE when
 * empty. */
gboolean limevi_buffer_head_seq(LimeviBuffer *buffer, guint64 *seq);
gboolean limevi_buffer_tail_seq(LimeviBuffer *buffer, guint64 *seq);
void limevi_buffer_pop_tail(LimeviBuffer *buffer);
/* Whether @len more bytes fit under the limit. */
gboolean limevi_buffer_fits(LimeviBuffer *buffer, gsize len);
guint64 limevi_buffer_bytes(LimeviBuffer *buffer);

/* Counts a frame dropped elsewhere on this buffer's behalf. */
void limevi_buffer_count_drop(LimeviBuffer *buffer);

void limevi_buffer_get_info(LimeviBuffer *buffer, LimeviBufferInfo *info);

/*
 * The held frames and the drop count as bytes for a migration stream;
 * the buffer is unchanged.  Big-endian:
 *   "LVB1", u64 dropped, u32 frame count, then per frame u32 length and
 *   the frame.
 * Free with g_bytes_unref().
 */
GBytes *limevi_buffer_save(LimeviBuffer *buffer);

/*
 * Appends the frames saved in @data, oldest first, after what @buffer
 * holds, and adds the saved drop count to its own; frames over the limit
 * are dropped as by push.  Malformed @data sets @error (LIMEVI_ERROR_INVALID)
 * and leaves @buffer unchanged.
 */
gboolean limevi_buffer_load(LimeviBuffer *buffer, const guint8 *data,
                            gsize len, GError **error);

/*
 * A sequence-ordered buffer (resequencing) saved with each frame's
 * number: "LVQ1", u64 dropped, u32 frame count, then per frame u64 seq,
 * u32 length and the frame.  Load checks every length, and that the
 * numbers rise and are above @after (the sender's next expected), before
 * it inserts; past the limit it leaves out the latest.  Malformed @data
 * sets @error (LIMEVI_ERROR_INVALID) and leaves @buffer unchanged.
 */
GBytes *limevi_buffer_save_seq(LimeviBuffer *buffer);
gboolean limevi_buffer_load_seq(LimeviBuffer *buffer, guint64 after,
                                const guint8 *data, gsize len,
                                GError **error);

#endif /* LIMEVI_BUFFER_H */
