/*
 * The bounded queue: a doubly linked list of items, one allocation per
 * held item (holding is the exception, not the steady state).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "buffer.h"
#include "bytes.h"
#include "wire.h"

#define SAVE_MAGIC      "LVB1"
#define SAVE_SEQ_MAGIC  "LVQ1"
#define SAVE_HEADER_LEN (4 + 8 + 4)

typedef struct Item Item;
struct Item {
    Item *prev;
    Item *next;
    guint64 seq;
    gsize len;
    guint8 data[];
};

struct LimeviBuffer {
    Item *head;
    Item *tail;
    guint64 frames;
    guint64 bytes;
    guint64 limit;
    guint64 dropped;
};

LimeviBuffer *limevi_buffer_new(guint64 limit)
{
    LimeviBuffer *buffer = g_new0(LimeviBuffer, 1);

    buffer->limit = limit;
    return buffer;
}

void limevi_buffer_free(LimeviBuffer *buffer)
{
    if (!buffer) {
        return;
    }
    while (buffer->head) {
        limevi_buffer_pop(buffer);
    }
    g_free(buffer);
}

static Item *item_new(guint64 seq, const guint8 *frame, gsize len)
{
    Item *item = g_malloc(sizeof(*item) + len);

    item->seq = seq;
    item->len = len;
    memcpy(item->data, frame, len);
    return item;
}

/* Links @item after @prev (NULL: at the head). */
static void link_after(LimeviBuffer *buffer, Item *prev, Item *item)
{
    item->prev = prev;
    item->next = prev ? prev->next : buffer->head;
    if (item->next) {
        item->next->prev = item;
    } else {
        buffer->tail = item;
    }
    if (prev) {
        prev->next = item;
    } else {
        buffer->head = item;
    }
    buffer->frames++;
    buffer->bytes += item->len;
}

static void unlink_free(LimeviBuffer *buffer, Item *item)
{
    if (item->prev) {
        item->prev->next = item->next;
    } else {
        buffer->head = item->next;
    }
    if (item->next) {
        item->next->prev = item->prev;
    } else {
        buffer->tail = item->prev;
    }
    buffer->frames--;
    buffer->bytes -= item->len;
    g_free(item);
}

gboolean limevi_buffer_fits(LimeviBuffer *buffer, gsize len)
{
    /* push_front() may have taken it past the limit. */
    return buffer->bytes < buffer->limit &&
           len <= buffer->limit - buffer->bytes;
}

gboolean limevi_buffer_push(LimeviBuffer *buffer, const guint8 *frame,
                            gsize len)
{
    g_return_val_if_fail(len > 0 && len <= LIMEVI_BUFFER_ITEM_MAX, FALSE);

    if (!limevi_buffer_fits(buffer, len)) {
        buffer->dropped++;
        return FALSE;
    }
    link_after(buffer, buffer->tail, item_new(0, frame, len));
    return TRUE;
}

void limevi_buffer_push_front(LimeviBuffer *buffer, const guint8 *frame,
                              gsize len)
{
    g_return_if_fail(len > 0 && len <= LIMEVI_BUFFER_ITEM_MAX);

    link_after(buffer, NULL, item_new(0, frame, len));
}

gboolean limevi_buffer_insert_seq(LimeviBuffer *buffer, guint64 seq,
                                  const guint8 *frame, gsize len)
{
    Item *prev = buffer->tail;

    g_return_val_if_fail(len > 0 && len <= LIMEVI_BUFFER_ITEM_MAX, FALSE);

    if (!limevi_buffer_fits(buffer, len)) {
        buffer->dropped++;
        return FALSE;
    }
    /* Frames mostly arrive in order: search from the tail. */
    while (prev && prev->seq > seq) {
        prev = prev->prev;
    }
    link_after(buffer, prev, item_new(seq, frame, len));
    return TRUE;
}

gboolean limevi_buffer_has_seq(LimeviBuffer *buffer, guint64 seq)
{
    for (Item *item = buffer->tail; item && item->seq >= seq;
         item = item->prev) {
        if (item->seq == seq) {
            return TRUE;
        }
    }
    return FALSE;
}

gboolean limevi_buffer_head_seq(LimeviBuffer *buffer, guint64 *seq)
{
    if (!buffer->head) {
        return FALSE;
    }
    *seq = buffer->head->seq;
    return TRUE;
}

gboolean limevi_buffer_tail_seq(LimeviBuffer *buffer, guint64 *seq)
{
    if (!buffer->tail) {
        return FALSE;
    }
    *seq = buffer->tail->seq;
    return TRUE;
}

const guint8 *limevi_buffer_peek(LimeviBuffer *buffer, gsize *len)
{
    if (!buffer->head) {
        *len = 0;
        return NULL;
    }
    *len = buffer->head->len;
    return buffer->head->data;
}

void limevi_buffer_pop(LimeviBuffer *buffer)
{
    if (buffer->head) {
        unlink_free(buffer, buffer->head);
    }
}

void limevi_buffer_pop_tail(LimeviBuffer *buffer)
{
    if (buffer->tail) {
        unlink_free(buffer, buffer->tail);
    }
}

gboolean limevi_buffer_is_empty(LimeviBuffer *buffer)
{
    return buffer->head == NULL;
}

guint64 limevi_buffer_bytes(LimeviBuffer *buffer)
{
    return buffer->bytes;
}

void limevi_buffer_count_drop(LimeviBuffer *buffer)
{
    buffer->dropped++;
}

void limevi_buffer_get_info(LimeviBuffer *buffer, LimeviBufferInfo *info)
{
    info->frames = buffer->frames;
    info->bytes = buffer->bytes;
    info->limit = buffer->limit;
    info->dropped = buffer->dropped;
}

/* @tag: 8 when each frame carries its u64 sequence number ("LVQ1"). */
static GBytes *buffer_save(LimeviBuffer *buffer, const char *magic,
                           guint tag)
{
    gsize size = SAVE_HEADER_LEN + buffer->frames * (tag + 4) + buffer->bytes;
    guint8 *data = g_malloc(size);
    guint8 *p = data;

    memcpy(p, magic, 4);
    limevi_put_be64(p + 4, buffer->dropped);
    limevi_put_be32(p + 12, buffer->frames);
    p += SAVE_HEADER_LEN;
    for (Item *item = buffer->head; item; item = item->next) {
        if (tag) {
            limevi_put_be64(p, item->seq);
        }
        limevi_put_be32(p + tag, item->len);
        memcpy(p + tag + 4, item->data, item->len);
        p += tag + 4 + item->len;
    }
    return g_bytes_new_take(data, size);
}

GBytes *limevi_buffer_save(LimeviBuffer *buffer)
{
    return buffer_save(buffer, SAVE_MAGIC, 0);
}

GBytes *limevi_buffer_save_seq(LimeviBuffer *buffer)
{
    return buffer_save(buffer, SAVE_SEQ_MAGIC, 8);
}

/* Checks every length of a saved buffer before anything is read, and
 * with @tag that the numbers rise and are all above @after. */
static gboolean buffer_check(const guint8 *data, gsize len,
                             const char *magic, guint tag, guint64 after,
                             GError **error)
{
    guint32 count;
    gsize off = SAVE_HEADER_LEN;

    if (len < SAVE_HEADER_LEN || memcmp(data, magic, 4) != 0) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "saved buffer: bad header");
        return FALSE;
    }
    count = limevi_get_be32(data + 12);
    for (guint32 i = 0; i < count; i++) {
        guint32 n;

        if (len - off < tag + 4) {
            g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                        "saved buffer: frame %u of %u is truncated",
                        i + 1, count);
            return FALSE;
        }
        if (tag) {
            guint64 seq = limevi_get_be64(data + off);

            if (seq <= after) {
                g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                            "saved buffer: frame %u of %u is out of "
                            "sequence", i + 1, count);
                return FALSE;
            }
            after = seq;
        }
        n = limevi_get_be32(data + off + tag);
        if (n == 0 || n > LIMEVI_WIRE_FRAME_MAX || len - off - tag - 4 < n) {
            g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                        "saved buffer: frame %u of %u has a bad length %u",
                        i + 1, count, n);
            return FALSE;
        }
        off += tag + 4 + n;
    }
    if (off != len) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "saved buffer: %zu bytes after the last frame",
                    len - off);
        return FALSE;
    }
    return TRUE;
}

gboolean limevi_buffer_load(LimeviBuffer *buffer, const guint8 *data,
                            gsize len, GError **error)
{
    guint32 count;
    gsize off = SAVE_HEADER_LEN;

    if (!buffer_check(data, len, SAVE_MAGIC, 0, 0, error)) {
        return FALSE;
    }
    count = limevi_get_be32(data + 12);
    for (guint32 i = 0; i < count; i++) {
        guint32 n = limevi_get_be32(data + off);

        limevi_buffer_push(buffer, data + off + 4, n);
        off += 4 + n;
    }
    buffer->dropped += limevi_get_be64(data + 4);
    return TRUE;
}

gboolean limevi_buffer_load_seq(LimeviBuffer *buffer, guint64 after,
                                const guint8 *data, gsize len,
                                GError **error)
{
    guint32 count;
    gsize off = SAVE_HEADER_LEN;

    if (!buffer_check(data, len, SAVE_SEQ_MAGIC, 8, after, error)) {
        return FALSE;
    }
    count = limevi_get_be32(data + 12);
    for (guint32 i = 0; i < count; i++) {
        guint32 n = limevi_get_be32(data + off + 8);

        /* Past the limit the latest are dropped, as rx_hold drops. */
        if (limevi_buffer_fits(buffer, n)) {
            limevi_buffer_insert_seq(buffer, limevi_get_be64(data + off),
                                     data + off + 12, n);
        }
        off += 12 + n;
    }
    return TRUE;
}
