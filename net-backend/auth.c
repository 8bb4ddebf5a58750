/*
 * The table of senders: a hash table by name, bounded, of each sender's
 * derived key and replay window.  Nothing here is created by a packet.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "auth.h"
#include "bytes.h"
#include "limevi.h"
#include "wire.h"

/* A life in the saved state: u64 base, then the window. */
#define AUTH_LIFE_LEN (8 + LIMEVI_REPLAY_STATE_LEN)

/*
 * A sender's counters jump when it starts a new life: a restart (they
 * follow the clock) or a migration's destination (a gap above the
 * source's).  The old life may still send for a while (a migration's
 * source answering and relaying), so it keeps a window of its own.
 */
#define AUTH_NEW_LIFE (LIMEVI_CRYPTO_MIGRATION_GAP / 2)

typedef struct {
    LimeviReplay window;
    guint64 base;           /* the lowest counter this life judges */
} AuthLife;

typedef struct AuthSender {
    LimeviCryptoSender *keys;
    AuthLife life;          /* the newest */
    AuthLife prev;          /* the one before; window.top 0: none */
} AuthSender;

struct LimeviAuth {
    LimeviCrypto *crypto;
    guint max_senders;
    GHashTable *senders;    /* name -> AuthSender, both owned */
};

static void auth_sender_free(gpointer data)
{
    AuthSender *sender = data;

    limevi_crypto_sender_free(sender->keys);
    g_free(sender);
}

LimeviAuth *limevi_auth_new(LimeviCrypto *crypto, guint max_senders)
{
    LimeviAuth *auth = g_new0(LimeviAuth, 1);

    auth->crypto = crypto;
    auth->max_senders = max_senders;
    auth->senders = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          auth_sender_free);
    return auth;
}

void limevi_auth_free(LimeviAuth *auth)
{
    if (auth) {
        g_hash_table_destroy(auth->senders);
        g_free(auth);
    }
}

guint limevi_auth_count(const LimeviAuth *auth)
{
    return g_hash_table_size(auth->senders);
}

static AuthSender *auth_add(LimeviAuth *auth, const char *name,
                            GError **err)
{
    AuthSender *sender = g_hash_table_lookup(auth->senders, name);
    LimeviCryptoSender *keys;

    if (sender) {
        return sender;
    }
    if (g_hash_table_size(auth->senders) >= auth->max_senders) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "cannot know more than %u senders", auth->max_senders);
        return NULL;
    }
    keys = limevi_crypto_sender_new(auth->crypto, name, err);
    if (!keys) {
        return NULL;
    }
    sender = g_new0(AuthSender, 1);
    sender->keys = keys;
    limevi_replay_init(&sender->life.window);
    limevi_replay_init(&sender->prev.window);
    g_hash_table_insert(auth->senders, g_strdup(name), sender);
    return sender;
}

gboolean limevi_auth_knows(const LimeviAuth *auth, const char *name)
{
    return g_hash_table_contains(auth->senders, name);
}

gboolean limevi_auth_remove(LimeviAuth *auth, const char *name)
{
    return g_hash_table_remove(auth->senders, name);
}

gboolean limevi_auth_add(LimeviAuth *auth, const char *name, GError **err)
{
    return auth_add(auth, name, err) != NULL;
}

static AuthSender *auth_lookup(LimeviAuth *auth, const char *name,
                               gsize name_len)
{
    char key[LIMEVI_WIRE_NAME_MAX + 1];

    if (name_len > LIMEVI_WIRE_NAME_MAX) {
        return NULL;
    }
    memcpy(key, name, name_len);
    key[name_len] = '\0';
    return g_hash_table_lookup(auth->senders, key);
}

/*
 * The life whose window judges @counter, NULL if none accepts it.  A
 * counter far above the newest life's starts another (*@new_life): it
 * is judged by an empty window, and the newest becomes the previous once
 * the packet authenticates.  Changes nothing.
 */
static AuthLife *auth_life_of(AuthSender *sender, guint64 counter,
                              gboolean *new_life)
{
    AuthLife *life = &sender->life;

    *new_life = FALSE;
    if (counter >= LIMEVI_REPLAY_COUNTER_MAX) {
        return NULL;
    }
    if (!life->window.top) {
        *new_life = TRUE;
        return life;
    }
    if (counter >= life->base) {
        if (counter > life->window.top &&
            counter - life->window.top >= AUTH_NEW_LIFE) {
            *new_life = TRUE;
            return life;
        }
        return limevi_replay_check(&life->window, counter) ? life : NULL;
    }
    life = &sender->prev;
    if (life->window.top && counter >= life->base &&
        limevi_replay_check(&life->window, counter)) {
        return life;
    }
    return NULL;
}

LimeviAuthStatus limevi_auth_open(LimeviAuth *auth, const char *name,
                                  gsize name_len, guint8 key_id,
                                  guint64 counter, const void *aad,
                                  gsize aad_len, const void *sealed,
                                  gsize len, void *out, gboolean again)
{
    AuthSender *sender = auth_lookup(auth, name, name_len);
    AuthLife *life = NULL;
    gboolean new_life = FALSE;

    if (!sender) {
        return LIMEVI_AUTH_UNKNOWN_SENDER;
    }
    if (!again && !(life = auth_life_of(sender, counter, &new_life))) {
        return LIMEVI_AUTH_REPLAYED;
    }
    if (!limevi_crypto_open(sender->keys, key_id, counter, aad, aad_len,
                            sealed, len, out)) {
        return LIMEVI_AUTH_FAILED;
    }
    if (new_life) {
        sender->prev = sender->life;
        limevi_replay_init(&sender->life.window);
        /* Its first packets may arrive out of order too. */
        sender->life.base = counter > LIMEVI_REPLAY_WINDOW ?
                            counter - LIMEVI_REPLAY_WINDOW : 0;
    }
    if (life) {
        limevi_replay_accept(&life->window, counter);
    }
    return LIMEVI_AUTH_OK;
}

static void auth_save_life(const AuthLife *life, GByteArray *out)
{
    guint8 bytes[AUTH_LIFE_LEN];

    limevi_put_be64(bytes, life->base);
    limevi_replay_save(&life->window, bytes + 8);
    g_byte_array_append(out, bytes, sizeof(bytes));
}

void limevi_auth_save(const LimeviAuth *auth, GByteArray *out)
{
    guint16 count = GUINT16_TO_BE(g_hash_table_size(auth->senders));
    GHashTableIter iter;
    gpointer name, value;

    g_byte_array_append(out, (const guint8 *)&count, 2);
    g_hash_table_iter_init(&iter, auth->senders);
    while (g_hash_table_iter_next(&iter, &name, &value)) {
        guint8 name_len = strlen(name);
        AuthSender *sender = value;

        g_byte_array_append(out, &name_len, 1);
        g_byte_array_append(out, name, name_len);
        auth_save_life(&sender->life, out);
        auth_save_life(&sender->prev, out);
    }
}

static gboolean auth_load_life(AuthLife *life, const guint8 *data,
                               GError **err)
{
    life->base = limevi_get_be64(data);
    return limevi_replay_load(&life->window, data + 8,
                              LIMEVI_REPLAY_STATE_LEN, err);
}

/* One entry of limevi_auth_save() at @data: its name into @name, its
 * windows into @sender; the bytes it took, 0 with @err set if malformed. */
static gsize auth_load_entry(const guint8 *data, gsize len, char *name,
                             AuthSender *sender, GError **err)
{
    gsize name_len = len ? data[0] : 0;

    if (len < 1 || name_len == 0 || name_len > LIMEVI_WIRE_NAME_MAX ||
        len < 1 + name_len + 2 * AUTH_LIFE_LEN ||
        !limevi_wire_name_chars_valid((const char *)data + 1, name_len)) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "replay windows: a sender's entry is malformed");
        return 0;
    }
    memcpy(name, data + 1, name_len);
    name[name_len] = '\0';
    if (!auth_load_life(&sender->life, data + 1 + name_len, err) ||
        !auth_load_life(&sender->prev, data + 1 + name_len + AUTH_LIFE_LEN,
                        err)) {
        return 0;
    }
    return 1 + name_len + 2 * AUTH_LIFE_LEN;
}

/* How many senders @auth would hold with @staged's merged in: senders
 * only @auth knows keep their windows. */
static guint auth_merged_size(LimeviAuth *auth, LimeviAuth *staged)
{
    guint size = g_hash_table_size(staged->senders);
    GHashTableIter iter;
    gpointer name;

    g_hash_table_iter_init(&iter, auth->senders);
    while (g_hash_table_iter_next(&iter, &name, NULL)) {
        size += !g_hash_table_contains(staged->senders, name);
    }
    return size;
}

gboolean limevi_auth_load(LimeviAuth *auth, const guint8 *data, gsize len,
                          GError **err)
{
    g_autoptr(LimeviAuth) staged = NULL;
    GHashTableIter iter;
    gpointer name, value;
    guint16 count;
    gsize pos = 2;

    if (len < 2) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "replay windows: truncated");
        return FALSE;
    }
    count = data[0] << 8 | data[1];
    /* Loaded into a copy first, so a bad entry leaves @auth unchanged. */
    staged = limevi_auth_new(auth->crypto, auth->max_senders);
    for (guint i = 0; i < count; i++) {
        char entry[LIMEVI_WIRE_NAME_MAX + 1];
        AuthSender loaded;
        gsize used = auth_load_entry(data + pos, len - pos, entry, &loaded,
                                     err);
        AuthSender *sender;

        if (!used || !(sender = auth_add(staged, entry, err))) {
            return FALSE;
        }
        sender->life = loaded.life;
        sender->prev = loaded.prev;
        pos += used;
    }
    /* Entries say their own length: a byte left over is a bad state,
     * refused before anything is merged. */
    if (pos != len) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "replay windows: %zu trailing bytes", len - pos);
        return FALSE;
    }
    if (auth_merged_size(auth, staged) > auth->max_senders) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "replay windows: more than %u senders",
                    auth->max_senders);
        return FALSE;
    }
    g_hash_table_iter_init(&iter, staged->senders);
    while (g_hash_table_iter_next(&iter, &name, &value)) {
        g_hash_table_iter_steal(&iter);
        g_hash_table_replace(auth->senders, name, value);
    }
    return TRUE;
}
