/*
 * The senders a port accepts packets from: for each VM name of its VC it
 * knows, the derived key and the replay window; one call that judges a
 * received packet, and the windows' save/load pair for a migration.  A
 * table bounded in entries, filled only from what the port knows (its
 * configuration and routes), never from what a packet claims.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_AUTH_H
#define LIMEVI_AUTH_H

#include <glib.h>

#include "crypto.h"
#include "replay.h"

typedef enum {
    LIMEVI_AUTH_OK,
    LIMEVI_AUTH_UNKNOWN_SENDER, /* not a member this port knows */
    LIMEVI_AUTH_FAILED,         /* does not authenticate: forged, tampered
                                 * or another key */
    LIMEVI_AUTH_REPLAYED,       /* counter seen, or older than the window */
} LimeviAuthStatus;

typedef struct LimeviAuth LimeviAuth;

/* @crypto must outlive the table; at most @max_senders senders.  Freed
 * with limevi_auth_free(). */
LimeviAuth *limevi_auth_new(LimeviCrypto *crypto, guint max_senders);
void limevi_auth_free(LimeviAuth *auth);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviAuth, limevi_auth_free)

/* Makes @name a sender whose packets may be opened; TRUE if it already
 * was.  FALSE with @err set, nothing changed, when the table is full. */
gboolean limevi_auth_add(LimeviAuth *auth, const char *name, GError **err);
guint limevi_auth_count(const LimeviAuth *auth);
gboolean limevi_auth_knows(const LimeviAuth *auth, const char *name);
/* Forgets @name and its window; FALSE if it was not known. */
gboolean limevi_auth_remove(LimeviAuth *auth, const char *name);

/*
 * Judges a received packet from @name (@name_len bytes, not
 * NUL-terminated, as the wire decoder gives it): the replay window
 * first, then the tag; on LIMEVI_AUTH_OK @out holds @len -
 * LIMEVI_CRYPTO_TAG_LEN bytes of plaintext and the counter is recorded.
 * Any other status changed nothing.  @again: the packet was accepted
 * once already (kept sealed to be forwarded, then taken back), so only
 * the tag is checked and the window neither consulted nor changed.
 */
LimeviAuthStatus limevi_auth_open(LimeviAuth *auth, const char *name,
                                  gsize name_len, guint8 key_id,
                                  guint64 counter, const void *aad,
                                  gsize aad_len, const void *sealed,
                                  gsize len, void *out, gboolean again);

/*
 * The windows of every sender, for the migration state: u16 count, then
 * per sender u8 name length, the name, and two lives (the newest, then
 * the one before: a sender's counters jump when it restarts or migrates,
 * and its old life may still send for a while), each u64 lowest counter
 * and LIMEVI_REPLAY_STATE_LEN bytes of window; big-endian.  Appended to
 * @out.
 */
void limevi_auth_save(const LimeviAuth *auth, GByteArray *out);
/* Reads what limevi_auth_save() wrote, all @len bytes of it, adding
 * senders as needed; FALSE with @err set and the table unchanged if
 * anything is malformed, left over or beyond the table's bound. */
gboolean limevi_auth_load(LimeviAuth *auth, const guint8 *data, gsize len,
                          GError **err);

#endif
