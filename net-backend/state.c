/*
 * The state that travels with a migration (docs/state.md): our epoch,
 * where the destination reaches the source, the routing table with each
 * peer's sequence counter and held frames, each sender's next sequence
 * number, the learnt MACs and the frames held for the guest.
 *
 * Versions 2 to 4, every integer big-endian:
 *   "LVS2" u32 version, u32 epoch, str source,
 *   u32 n, n x (str vm, str endpoint, str vc, str lan, u8 status,
 *               u32 epoch, u64 tx_seq, blob held),
 *   u32 n, n x (str vm, u64 next, version 4: blob held),
 *   u32 n, n x (6 bytes mac, str vm),
 *   blob held,
 *   version 3 on: u64 tx_counter, blob replay windows
 * with str = u16 length + bytes (no NUL), blob = u32 length + bytes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "bytes.h"
#include "rx.h"
#include "state.h"

#define STATE_MAGIC "LVS2"
#define STATE_STR_MAX 512

static void route_clear(gpointer data)
{
    LimeviStateRoute *r = data;

    g_free(r->vm);
    g_free(r->endpoint);
    g_free(r->vc);
    g_free(r->lan);
    g_clear_pointer(&r->held, g_bytes_unref);
}

static void sender_clear(gpointer data)
{
    LimeviStateSender *s = data;

    g_free(s->vm);
    g_clear_pointer(&s->held, g_bytes_unref);
}

static void mac_clear(gpointer data)
{
    g_free(((LimeviStateMac *)data)->vm);
}

LimeviState *limevi_state_new(void)
{
    LimeviState *state = g_new0(LimeviState, 1);

    state->routes = g_array_new(FALSE, TRUE, sizeof(LimeviStateRoute));
    g_array_set_clear_func(state->routes, route_clear);
    state->senders = g_array_new(FALSE, TRUE, sizeof(LimeviStateSender));
    g_array_set_clear_func(state->senders, sender_clear);
    state->macs = g_array_new(FALSE, TRUE, sizeof(LimeviStateMac));
    g_array_set_clear_func(state->macs, mac_clear);
    return state;
}

void limevi_state_free(LimeviState *state)
{
    if (!state) {
        return;
    }
    g_free(state->source);
    g_array_unref(state->routes);
    g_array_unref(state->senders);
    g_array_unref(state->macs);
    g_clear_pointer(&state->held, g_bytes_unref);
    g_clear_pointer(&state->replay, g_bytes_unref);
    g_free(state);
}

/* ---- Encoding ---- */

static void put_u8(GByteArray *out, guint8 v)
{
    g_byte_array_append(out, &v, 1);
}

static void put_u32(GByteArray *out, guint32 v)
{
    guint8 b[4];

    limevi_put_be32(b, v);
    g_byte_array_append(out, b, 4);
}

static void put_u64(GByteArray *out, guint64 v)
{
    guint8 b[8];

    limevi_put_be64(b, v);
    g_byte_array_append(out, b, 8);
}

static void put_str(GByteArray *out, const char *s)
{
    gsize len = MIN(strlen(s), STATE_STR_MAX);
    guint8 b[2];

    limevi_put_be16(b, len);
    g_byte_array_append(out, b, 2);
    g_byte_array_append(out, (const guint8 *)s, len);
}

static void put_blob(GByteArray *out, GBytes *blob)
{
    gsize len = blob ? g_bytes_get_size(blob) : 0;

    put_u32(out, len);
    if (len) {
        g_byte_array_append(out, g_bytes_get_data(blob, NULL), len);
    }
}

GBytes *limevi_state_encode(const LimeviState *state)
{
    GByteArray *out = g_byte_array_new();

    g_byte_array_append(out, (const guint8 *)STATE_MAGIC, 4);
    put_u32(out, LIMEVI_STATE_VERSION);
    put_u32(out, state->epoch);
    put_str(out, state->source ? state->source : "");
    put_u32(out, state->routes->len);
    for (guint i = 0; i < state->routes->len; i++) {
        LimeviStateRoute *r = &g_array_index(state->routes,
                                             LimeviStateRoute, i);

        put_str(out, r->vm);
        put_str(out, r->endpoint);
        put_str(out, r->vc);
        put_str(out, r->lan);
        put_u8(out, r->status);
        put_u32(out, r->epoch);
        put_u64(out, r->tx_seq);
        put_blob(out, r->held);
    }
    put_u32(out, state->senders->len);
    for (guint i = 0; i < state->senders->len; i++) {
        LimeviStateSender *s = &g_array_index(state->senders,
                                              LimeviStateSender, i);

        put_str(out, s->vm);
        put_u64(out, s->next);
        put_blob(out, s->held);
    }
    put_u32(out, state->macs->len);
    for (guint i = 0; i < state->macs->len; i++) {
        LimeviStateMac *m = &g_array_index(state->macs, LimeviStateMac, i);

        g_byte_array_append(out, m->mac, 6);
        put_str(out, m->vm);
    }
    put_blob(out, state->held);
    put_u64(out, state->tx_counter);
    put_blob(out, state->replay);
    return g_byte_array_free_to_bytes(out);
}

/* ---- Decoding: every length checked before it is read ---- */

typedef struct {
    const guint8 *p;
    gsize left;
    gboolean bad;
} Reader;

static const guint8 *take(Reader *r, gsize n)
{
    const guint8 *p = r->p;

    if (r->bad || r->left < n) {
        r->bad = TRUE;
        return NULL;
    }
    r->p += n;
    r->left -= n;
    return p;
}

static guint8 get_u8(Reader *r)
{
    const guint8 *p = take(r, 1);

    return p ? *p : 0;
}

static guint32 get_u32(Reader *r)
{
    const guint8 *p = take(r, 4);

    return p ? limevi_get_be32(p) : 0;
}

static guint64 get_u64(Reader *r)
{
    const guint8 *p = take(r, 8);

    return p ? limevi_get_be64(p) : 0;
}

static char *get_str(Reader *r)
{
    const guint8 *lp = take(r, 2);
    guint16 len = lp ? limevi_get_be16(lp) : 0;
    const guint8 *p;

    if (len > STATE_STR_MAX) {
        r->bad = TRUE;
    }
    p = take(r, len);
    return p ? g_strndup((const char *)p, len) : g_strdup("");
}

static GBytes *get_blob(Reader *r)
{
    guint32 len = get_u32(r);
    const guint8 *p = take(r, len);

    return g_bytes_new(p, p ? len : 0);
}

/* A count of rows, each at least @row_min bytes: no more than fit. */
static guint32 get_count(Reader *r, gsize row_min)
{
    guint32 n = get_u32(r);

    if (n > LIMEVI_STATE_ROWS_MAX || (gsize)n * row_min > r->left) {
        r->bad = TRUE;
        return 0;
    }
    return n;
}

static void decode_routes(Reader *r, LimeviState *state)
{
    guint32 n = get_count(r, 4 * 2 + 1 + 4 + 8 + 4);

    for (guint32 i = 0; i < n && !r->bad; i++) {
        LimeviStateRoute row = { 0 };

        row.vm = get_str(r);
        row.endpoint = get_str(r);
        row.vc = get_str(r);
        row.lan = get_str(r);
        row.status = get_u8(r);
        row.epoch = get_u32(r);
        row.tx_seq = get_u64(r);
        row.held = get_blob(r);
        g_array_append_val(state->routes, row);
    }
}

static void decode_tables(Reader *r, LimeviState *state, guint32 version)
{
    guint32 n = get_count(r, 2 + 8 + (version >= 4 ? 4 : 0));

    for (guint32 i = 0; i < n && !r->bad; i++) {
        LimeviStateSender s = { 0 };

        s.vm = get_str(r);
        s.next = get_u64(r);
        if (version >= 4) {
            s.held = get_blob(r);
        }
        g_array_append_val(state->senders, s);
    }
    n = get_count(r, 6 + 2);
    for (guint32 i = 0; i < n && !r->bad; i++) {
        LimeviStateMac m;
        const guint8 *mac = take(r, 6);

        if (mac) {
            memcpy(m.mac, mac, 6);
        }
        m.vm = get_str(r);
        g_array_append_val(state->macs, m);
    }
}

LimeviState *limevi_state_decode(const guint8 *data, gsize len,
                                 GError **error)
{
    g_autoptr(LimeviState) state = NULL;
    Reader r = { data, len, FALSE };
    guint32 version;

    if (len < 8 || memcmp(data, STATE_MAGIC, 4) != 0) {
        /* Version 1 had no magic: a GVariant starting with its version. */
        return limevi_state_decode_v1(data, len, error);
    }
    take(&r, 4);
    version = get_u32(&r);
    if (version < 2 || version > LIMEVI_STATE_VERSION) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "migration state: version %u is not supported "
                    "(%u to %u are)", version, LIMEVI_STATE_VERSION_MIN,
                    LIMEVI_STATE_VERSION);
        return NULL;
    }
    state = limevi_state_new();
    state->epoch = get_u32(&r);
    state->source = get_str(&r);
    decode_routes(&r, state);
    decode_tables(&r, state, version);
    state->held = get_blob(&r);
    if (version >= 3) {
        state->tx_counter = get_u64(&r);
        state->replay = get_blob(&r);
    }
    if (r.bad || r.left) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "migration state: %s at byte %zu of %zu",
                    r.bad ? "truncated or out of bounds" : "trailing bytes",
                    len - r.left, len);
        return NULL;
    }
    return g_steal_pointer(&state);
}
