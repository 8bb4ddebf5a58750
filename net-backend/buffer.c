/*
 * The bounded frame FIFO: a singly linked list of frames, one allocation
 * per held frame (holding is the exception, not the steady state).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "buffer.h"
#include "wire.h"

#define SAVE_MAGIC      "LVB1"
#define SAVE_HEADER_LEN (4 + 8 + 4)

typedef struct HeldFrame HeldFrame;
struct HeldFrame {
    HeldFrame *next;
    gsize len;
    guint8 data[];
};

struct LimeviBuffer {
    HeldFrame *head;
    HeldFrame **tail;           /* where the next frame is linked */
    guint64 frames;
    guint64 bytes;
    guint64 limit;
    guint64 dropped;
};

LimeviBuffer *limevi_buffer_new(guint64 limit)
{
    LimeviBuffer *buffer = g_new0(LimeviBuffer, 1);

    buffer->tail = &buffer->head;
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

gboolean limevi_buffer_push(LimeviBuffer *buffer, const guint8 *frame,
                            gsize len)
{
    HeldFrame *held;

    g_return_val_if_fail(len > 0 && len <= LIMEVI_WIRE_FRAME_MAX, FALSE);

    /* push_front() may have taken it past the limit. */
    if (buffer->bytes >= buffer->limit ||
        len > buffer->limit - buffer->bytes) {
        buffer->dropped++;
        return FALSE;
    }
    held = g_malloc(sizeof(*held) + len);
    held->next = NULL;
    held->len = len;
    memcpy(held->data, frame, len);
    *buffer->tail = held;
    buffer->tail = &held->next;
    buffer->frames++;
    buffer->bytes += len;
    return TRUE;
}

void limevi_buffer_push_front(LimeviBuffer *buffer, const guint8 *frame,
                              gsize len)
{
    HeldFrame *held;

    g_return_if_fail(len > 0 && len <= LIMEVI_WIRE_FRAME_MAX);

    held = g_malloc(sizeof(*held) + len);
    held->len = len;
    memcpy(held->data, frame, len);
    held->next = buffer->head;
    if (!buffer->head) {
        buffer->tail = &held->next;
    }
    buffer->head = held;
    buffer->frames++;
    buffer->bytes += len;
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
    HeldFrame *held = buffer->head;

    if (!held) {
        return;
    }
    buffer->head = held->next;
    if (!buffer->head) {
        buffer->tail = &buffer->head;
    }
    buffer->frames--;
    buffer->bytes -= held->len;
    g_free(held);
}

gboolean limevi_buffer_is_empty(LimeviBuffer *buffer)
{
    return buffer->head == NULL;
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

static void put_be32(guint8 *p, guint32 v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static guint32 get_be32(const guint8 *p)
{
    return (guint32)p[0] << 24 | (guint32)p[1] << 16 |
           (guint32)p[2] << 8 | p[3];
}

GBytes *limevi_buffer_save(LimeviBuffer *buffer)
{
    gsize size = SAVE_HEADER_LEN + buffer->frames * 4 + buffer->bytes;
    guint8 *data = g_malloc(size);
    guint8 *p = data;

    memcpy(p, SAVE_MAGIC, 4);
    put_be32(p + 4, buffer->dropped >> 32);
    put_be32(p + 8, buffer->dropped);
    put_be32(p + 12, buffer->frames);
    p += SAVE_HEADER_LEN;
    for (HeldFrame *held = buffer->head; held; held = held->next) {
        put_be32(p, held->len);
        memcpy(p + 4, held->data, held->len);
        p += 4 + held->len;
    }
    return g_bytes_new_take(data, size);
}

gboolean limevi_buffer_load(LimeviBuffer *buffer, const guint8 *data,
                            gsize len, GError **error)
{
    guint64 dropped;
    guint32 count;
    gsize off;

    if (len < SAVE_HEADER_LEN || memcmp(data, SAVE_MAGIC, 4) != 0) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "saved buffer: bad header");
        return FALSE;
    }
    dropped = (guint64)get_be32(data + 4) << 32 | get_be32(data + 8);
    count = get_be32(data + 12);

    /* Check everything first so a bad stream changes nothing. */
    off = SAVE_HEADER_LEN;
    for (guint32 i = 0; i < count; i++) {
        guint32 n;

        if (len - off < 4) {
            g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                        "saved buffer: frame %u of %u is truncated",
                        i + 1, count);
            return FALSE;
        }
        n = get_be32(data + off);
        if (n == 0 || n > LIMEVI_WIRE_FRAME_MAX || len - off - 4 < n) {
            g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                        "saved buffer: frame %u of %u has a bad length %u",
                        i + 1, count, n);
            return FALSE;
        }
        off += 4 + n;
    }
    if (off != len) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "saved buffer: %zu bytes after the last frame",
                    len - off);
        return FALSE;
    }

    off = SAVE_HEADER_LEN;
    for (guint32 i = 0; i < count; i++) {
        guint32 n = get_be32(data + off);

        limevi_buffer_push(buffer, data + off + 4, n);
        off += 4 + n;
    }
    buffer->dropped += dropped;
    return TRUE;
}
