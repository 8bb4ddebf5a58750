/*
 * A port's migration state (docs/state.md): collected from the port,
 * encoded in the versioned byte format, decoded (this version and every
 * older one), and applied to the destination's port.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_STATE_H
#define LIMEVI_STATE_H

#include "port.h"

#define LIMEVI_STATE_VERSION        4
#define LIMEVI_STATE_VERSION_MIN    1

/* Version 1 was a GVariant of this type: version, epoch, the source's
 * endpoint, routes, receive sequence, learnt MACs, held frames. */
#define LIMEVI_STATE_V1_TYPE        "(uusa(ssssuutay)a(st)a(ays)ay)"

/* What a decoder or the port may hold at most, whatever a stream says. */
#define LIMEVI_STATE_ROWS_MAX       65536

typedef struct {
    char *vm;
    char *endpoint;
    char *vc;
    char *lan;
    guint32 status;
    guint32 epoch;
    guint64 tx_seq;
    GBytes *held;               /* a saved LimeviBuffer; empty: none */
} LimeviStateRoute;

typedef struct {
    char *vm;
    guint64 next;
    /* Version 4: what waits for a gap before @next, with its numbers
     * (limevi_buffer_save_seq(); NULL or empty: nothing). */
    GBytes *held;
} LimeviStateSender;

typedef struct {
    guint8 mac[6];
    char *vm;
} LimeviStateMac;

/* The state as plain data, independent of any port. */
typedef struct {
    guint32 epoch;
    char *source;               /* "HOST:PORT" where the source is reached */
    GArray *routes;             /* LimeviStateRoute */
    GArray *senders;            /* LimeviStateSender */
    GArray *macs;               /* LimeviStateMac */
    GBytes *held;               /* a saved LimeviBuffer: frames for the guest */
    /* Version 3: the next nonce counter the source seals with (0: it has
     * no key), and its replay windows (limevi_auth_save(); empty: none). */
    guint64 tx_counter;
    GBytes *replay;
} LimeviState;

LimeviState *limevi_state_new(void);
void limevi_state_free(LimeviState *state);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviState, limevi_state_free)

/* Version LIMEVI_STATE_VERSION bytes of @state. */
GBytes *limevi_state_encode(const LimeviState *state);
/* Any version from LIMEVI_STATE_VERSION_MIN; NULL with @error on a
 * malformed or unknown state. */
LimeviState *limevi_state_decode(const guint8 *data, gsize len,
                                 GError **error);
/* version 1 decoder (state-v1.c). */
LimeviState *limevi_state_decode_v1(const guint8 *data, gsize len,
                                    GError **error);

/* What limevi_port_save() sends and limevi_port_load() applies.  Load
 * replaces the port's tables; on error it changes nothing. */
GBytes *limevi_state_save(LimeviPort *port);
gboolean limevi_state_load(LimeviPort *port, const guint8 *data, gsize len,
                           GError **error);

#endif /* LIMEVI_STATE_H */
