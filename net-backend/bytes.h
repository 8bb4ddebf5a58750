/*
 * Big-endian integers in byte buffers: the one set of helpers behind the
 * wire format, saved buffers and the migration state.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_BYTES_H
#define LIMEVI_BYTES_H

#include <glib.h>

static inline guint16 limevi_get_be16(const guint8 *p)
{
    return (guint16)(p[0] << 8 | p[1]);
}

static inline guint32 limevi_get_be32(const guint8 *p)
{
    return (guint32)p[0] << 24 | (guint32)p[1] << 16 |
           (guint32)p[2] << 8 | p[3];
}

static inline guint64 limevi_get_be64(const guint8 *p)
{
    return (guint64)limevi_get_be32(p) << 32 | limevi_get_be32(p + 4);
}

static inline void limevi_put_be16(guint8 *p, guint16 v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static inline void limevi_put_be32(guint8 *p, guint32 v)
{
    limevi_put_be16(p, v >> 16);
    limevi_put_be16(p + 2, v);
}

static inline void limevi_put_be64(guint8 *p, guint64 v)
{
    limevi_put_be32(p, v >> 32);
    limevi_put_be32(p + 4, v);
}

#endif /* LIMEVI_BYTES_H */
