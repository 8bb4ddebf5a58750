/*
 * AEAD through GnuTLS, with a key per sender derived from the VC's.  A
 * key id in the header rather than trial decryption: a receiver spends
 * one open on a packet, not two, and a forged packet costs it no more
 * than a real one.  When the two keys of
 * a rollover share an id (1 in 256) both are tried.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "crypto.h"
#include "limevi.h"

struct LimeviCrypto {
    LimeviCipher cipher;
    LimeviKey current;
    LimeviKey previous;
    gboolean in_rollover;
    gboolean sealing_previous;  /* in a rollover, until every port opens
                                 * the new key */
    /* Bumped by every rollover: a sender's handles derived under an older
     * generation are derived again on their next use. */
    guint generation;
};

struct LimeviCryptoSender {
    LimeviCrypto *crypto;
    char *name;
    guint generation;
    gnutls_aead_cipher_hd_t current;
    gnutls_aead_cipher_hd_t previous;   /* NULL outside a rollover */
    guint8 current_id;
    guint8 previous_id;
};

static int hex_value(guint8 c)
{
    return g_ascii_isxdigit(c) ? g_ascii_xdigit_value(c) : -1;
}

static void key_set_id(LimeviKey *key)
{
    guint8 digest[32];

    gnutls_hash_fast(GNUTLS_DIG_SHA256, key->bytes, LIMEVI_KEY_LEN, digest);
    key->id = digest[0];
}

static gboolean key_parse_hex(const guint8 *data, LimeviKey *key,
                              GError **err)
{
    for (int i = 0; i < 2 * LIMEVI_KEY_LEN; i++) {
        if (hex_value(data[i]) < 0) {
            g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                        "key: character %d is not a hex digit", i + 1);
            return FALSE;
        }
    }
    for (int i = 0; i < LIMEVI_KEY_LEN; i++) {
        key->bytes[i] = hex_value(data[2 * i]) << 4 |
                        hex_value(data[2 * i + 1]);
    }
    return TRUE;
}

gboolean limevi_key_parse(const guint8 *data, gsize len, LimeviKey *key,
                          GError **err)
{
    gsize hex_len = 2 * LIMEVI_KEY_LEN;
    LimeviKey parsed;

    if (len == LIMEVI_KEY_LEN) {
        memcpy(parsed.bytes, data, LIMEVI_KEY_LEN);
    } else if (len >= hex_len && len <= hex_len + 2) {
        const char *tail = (const char *)data + hex_len;
        gsize tail_len = len - hex_len;

        if (!(tail_len == 0 || (tail_len == 1 && tail[0] == '\n') ||
              (tail_len == 2 && tail[0] == '\r' && tail[1] == '\n'))) {
            g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                        "key: %d hex digits must be followed by nothing "
                        "or one newline", (int)hex_len);
            return FALSE;
        }
        if (!key_parse_hex(data, &parsed, err)) {
            return FALSE;
        }
    } else {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "key: %" G_GSIZE_FORMAT " bytes; expected %d raw bytes "
                    "or %d hex digits", len, LIMEVI_KEY_LEN, (int)hex_len);
        return FALSE;
    }
    key_set_id(&parsed);
    *key = parsed;
    gnutls_memset(&parsed, 0, sizeof(parsed));
    return TRUE;
}

gboolean limevi_key_load_file(const char *path, LimeviKey *key,
                              GError **err)
{
    /* Read at most one byte beyond the longest key, so a wrong path (a
     * disk image, /dev/zero) is refused rather than slurped. */
    guint8 buf[2 * LIMEVI_KEY_LEN + 3];
    g_autoptr(GError) local = NULL;
    gsize len = 0;
    gboolean ok;
    FILE *f = fopen(path, "rb");

    if (!f) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "%s: cannot open: %s", path, g_strerror(errno));
        return FALSE;
    }
    len = fread(buf, 1, sizeof(buf), f);
    ok = !ferror(f);
    fclose(f);
    if (!ok) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "%s: cannot read", path);
        return FALSE;
    }
    if (len == sizeof(buf)) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "%s: longer than a key (%d raw bytes or %d hex digits)",
                    path, LIMEVI_KEY_LEN, 2 * LIMEVI_KEY_LEN);
        return FALSE;
    }
    ok = limevi_key_parse(buf, len, key, &local);
    gnutls_memset(buf, 0, sizeof(buf));
    if (!ok) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID, "%s: %s", path,
                    local->message);
    }
    return ok;
}

/* The key of one sender: HKDF-SHA256 of the VC key, "sender NAME" as
 * info, so no two senders of a VC share a (key, nonce). */
static gboolean crypto_sender_key(const LimeviKey *key, const char *name,
                                  guint8 *out, GError **err)
{
    static const char salt[] = "limevi-v1";
    g_autofree char *info = g_strconcat("sender ", name, NULL);
    gnutls_datum_t ikm = { (unsigned char *)key->bytes, LIMEVI_KEY_LEN };
    gnutls_datum_t salt_d = { (unsigned char *)salt, sizeof(salt) - 1 };
    gnutls_datum_t info_d = { (unsigned char *)info, strlen(info) };
    guint8 prk[32];
    gnutls_datum_t prk_d = { prk, sizeof(prk) };
    int rc = gnutls_hkdf_extract(GNUTLS_MAC_SHA256, &ikm, &salt_d, prk);

    if (rc >= 0) {
        rc = gnutls_hkdf_expand(GNUTLS_MAC_SHA256, &prk_d, &info_d, out,
                                LIMEVI_KEY_LEN);
    }
    gnutls_memset(prk, 0, sizeof(prk));
    if (rc < 0) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "cannot derive the key of %s: %s", name,
                    gnutls_strerror(rc));
        return FALSE;
    }
    return TRUE;
}

static gnutls_aead_cipher_hd_t crypto_handle(LimeviCipher cipher,
                                             const LimeviKey *key,
                                             const char *name, GError **err)
{
    gnutls_cipher_algorithm_t algo = cipher == LIMEVI_CIPHER_AES_256_GCM ?
        GNUTLS_CIPHER_AES_256_GCM : GNUTLS_CIPHER_CHACHA20_POLY1305;
    guint8 sender_key[LIMEVI_KEY_LEN];
    gnutls_datum_t datum = { sender_key, LIMEVI_KEY_LEN };
    gnutls_aead_cipher_hd_t handle;
    int rc;

    if (!crypto_sender_key(key, name, sender_key, err)) {
        return NULL;
    }
    rc = gnutls_aead_cipher_init(&handle, algo, &datum);
    gnutls_memset(sender_key, 0, sizeof(sender_key));
    if (rc < 0) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "cannot set up %s: %s", gnutls_cipher_get_name(algo),
                    gnutls_strerror(rc));
        return NULL;
    }
    return handle;
}

LimeviCrypto *limevi_crypto_new(LimeviCipher cipher, const LimeviKey *key,
                                GError **err)
{
    /* Fails now rather than at the first packet if GnuTLS lacks the
     * cipher (a FIPS build without ChaCha20, say). */
    gnutls_aead_cipher_hd_t probe = crypto_handle(cipher, key, "", err);
    LimeviCrypto *crypto;

    if (!probe) {
        return NULL;
    }
    gnutls_aead_cipher_deinit(probe);
    crypto = g_new0(LimeviCrypto, 1);
    crypto->cipher = cipher;
    crypto->current = *key;
    return crypto;
}

void limevi_crypto_free(LimeviCrypto *crypto)
{
    if (crypto) {
        gnutls_memset(crypto, 0, sizeof(*crypto));
        g_free(crypto);
    }
}

guint8 limevi_crypto_key_id(const LimeviCrypto *crypto)
{
    return crypto->sealing_previous ? crypto->previous.id
                                    : crypto->current.id;
}

void limevi_crypto_seal_previous(LimeviCrypto *crypto, gboolean previous)
{
    crypto->sealing_previous = previous && crypto->in_rollover;
}

gboolean limevi_crypto_rollover(LimeviCrypto *crypto, const LimeviKey *next,
                                GError **err)
{
    if (memcmp(next->bytes, crypto->current.bytes, LIMEVI_KEY_LEN) == 0) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "the new key is the key already in use");
        return FALSE;
    }
    crypto->previous = crypto->current;
    crypto->current = *next;
    crypto->in_rollover = TRUE;
    crypto->sealing_previous = FALSE;
    crypto->generation++;
    return TRUE;
}

void limevi_crypto_end_rollover(LimeviCrypto *crypto)
{
    if (crypto->in_rollover) {
        gnutls_memset(&crypto->previous, 0, sizeof(crypto->previous));
        crypto->in_rollover = FALSE;
        crypto->sealing_previous = FALSE;
        crypto->generation++;
    }
}

static void sender_clear(LimeviCryptoSender *sender)
{
    g_clear_pointer(&sender->current, gnutls_aead_cipher_deinit);
    g_clear_pointer(&sender->previous, gnutls_aead_cipher_deinit);
}

/* Derives @sender's handles again if a rollover began or ended since. */
static gboolean sender_refresh(LimeviCryptoSender *sender, GError **err)
{
    LimeviCrypto *crypto = sender->crypto;
    gnutls_aead_cipher_hd_t current, previous = NULL;

    if (sender->current && sender->generation == crypto->generation) {
        return TRUE;
    }
    current = crypto_handle(crypto->cipher, &crypto->current, sender->name,
                            err);
    if (!current) {
        return FALSE;
    }
    if (crypto->in_rollover) {
        previous = crypto_handle(crypto->cipher, &crypto->previous,
                                 sender->name, err);
        if (!previous) {
            gnutls_aead_cipher_deinit(current);
            return FALSE;
        }
    }
    sender_clear(sender);
    sender->current = current;
    sender->current_id = crypto->current.id;
    sender->previous = previous;
    sender->previous_id = crypto->previous.id;
    sender->generation = crypto->generation;
    return TRUE;
}

LimeviCryptoSender *limevi_crypto_sender_new(LimeviCrypto *crypto,
                                             const char *name, GError **err)
{
    g_autoptr(LimeviCryptoSender) sender = g_new0(LimeviCryptoSender, 1);

    sender->crypto = crypto;
    sender->name = g_strdup(name);
    if (!sender_refresh(sender, err)) {
        return NULL;
    }
    return g_steal_pointer(&sender);
}

void limevi_crypto_sender_free(LimeviCryptoSender *sender)
{
    if (sender) {
        sender_clear(sender);
        g_free(sender->name);
        g_free(sender);
    }
}

static void crypto_nonce(guint8 *nonce, guint64 counter)
{
    guint64 c = GUINT64_TO_BE(counter);

    memset(nonce, 0, 4);
    memcpy(nonce + 4, &c, 8);
}

gboolean limevi_crypto_seal(LimeviCryptoSender *sender, guint64 counter,
                            const void *aad, gsize aad_len,
                            const void *plain, gsize len, void *out)
{
    guint8 nonce[LIMEVI_CRYPTO_NONCE_LEN];
    size_t out_len = len + LIMEVI_CRYPTO_TAG_LEN;

    if (!sender_refresh(sender, NULL)) {
        return FALSE;
    }
    crypto_nonce(nonce, counter);
    return gnutls_aead_cipher_encrypt(sender->crypto->sealing_previous ?
                                      sender->previous : sender->current,
                                      nonce, sizeof(nonce),
                                      aad, aad_len, LIMEVI_CRYPTO_TAG_LEN,
                                      plain, len, out, &out_len) == 0;
}

static gboolean crypto_open_with(gnutls_aead_cipher_hd_t handle,
                                 const guint8 *nonce, const void *aad,
                                 gsize aad_len, const void *sealed,
                                 gsize len, void *out)
{
    size_t out_len = len - LIMEVI_CRYPTO_TAG_LEN;

    return gnutls_aead_cipher_decrypt(handle, nonce, LIMEVI_CRYPTO_NONCE_LEN,
                                      aad, aad_len, LIMEVI_CRYPTO_TAG_LEN,
                                      sealed, len, out, &out_len) == 0;
}

gboolean limevi_crypto_open(LimeviCryptoSender *sender, guint8 key_id,
                            guint64 counter, const void *aad, gsize aad_len,
                            const void *sealed, gsize len, void *out)
{
    guint8 nonce[LIMEVI_CRYPTO_NONCE_LEN];

    if (len < LIMEVI_CRYPTO_TAG_LEN || !sender_refresh(sender, NULL)) {
        return FALSE;
    }
    crypto_nonce(nonce, counter);
    if (key_id == sender->current_id &&
        crypto_open_with(sender->current, nonce, aad, aad_len, sealed, len,
                         out)) {
        return TRUE;
    }
    return sender->previous && key_id == sender->previous_id &&
           crypto_open_with(sender->previous, nonce, aad, aad_len, sealed,
                            len, out);
}

gboolean limevi_crypto_check_listen(GSocketAddress *listen, const char *spec,
                                    gboolean have_key, gboolean insecure,
                                    const char *key_option,
                                    const char *insecure_option,
                                    GError **err)
{
    GInetAddress *addr = NULL;

    if (have_key || insecure) {
        return TRUE;
    }
    if (G_IS_INET_SOCKET_ADDRESS(listen)) {
        addr = g_inet_socket_address_get_address(
            G_INET_SOCKET_ADDRESS(listen));
    }
    /* A wildcard is not loopback: it listens on every interface. */
    if (addr && g_inet_address_get_is_loopback(addr)) {
        return TRUE;
    }
    g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                "listening on %s, which is not loopback, needs a key: "
                "give %s, or %s to run unauthenticated",
                spec, key_option, insecure_option);
    return FALSE;
}

guint64 limevi_crypto_first_counter(guint64 carried)
{
    guint64 now = (guint64)g_get_real_time() * 1000;

    return carried ? MAX(now, carried + LIMEVI_CRYPTO_MIGRATION_GAP) : now;
}
