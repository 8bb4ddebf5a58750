/*
 * AEAD through GnuTLS.  A key id in the header rather than trial
 * decryption: a receiver spends one open on a packet, not two, and a
 * forged packet costs it no more than a real one.  When the two keys of
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
    gnutls_aead_cipher_hd_t current;
    gnutls_aead_cipher_hd_t previous;   /* NULL outside a rollover */
    guint8 current_id;
    guint8 previous_id;
    guint8 current_key[LIMEVI_KEY_LEN];
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

static gnutls_aead_cipher_hd_t crypto_handle(LimeviCipher cipher,
                                             const LimeviKey *key,
                                             GError **err)
{
    gnutls_cipher_algorithm_t algo = cipher == LIMEVI_CIPHER_AES_256_GCM ?
        GNUTLS_CIPHER_AES_256_GCM : GNUTLS_CIPHER_CHACHA20_POLY1305;
    gnutls_datum_t datum = {
        .data = (unsigned char *)key->bytes,
        .size = LIMEVI_KEY_LEN,
    };
    gnutls_aead_cipher_hd_t handle;
    int rc = gnutls_aead_cipher_init(&handle, algo, &datum);

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
    gnutls_aead_cipher_hd_t handle = crypto_handle(cipher, key, err);
    LimeviCrypto *crypto;

    if (!handle) {
        return NULL;
    }
    crypto = g_new0(LimeviCrypto, 1);
    crypto->cipher = cipher;
    crypto->current = handle;
    crypto->current_id = key->id;
    memcpy(crypto->current_key, key->bytes, LIMEVI_KEY_LEN);
    return crypto;
}

void limevi_crypto_free(LimeviCrypto *crypto)
{
    if (!crypto) {
        return;
    }
    limevi_crypto_end_rollover(crypto);
    gnutls_aead_cipher_deinit(crypto->current);
    gnutls_memset(crypto, 0, sizeof(*crypto));
    g_free(crypto);
}

guint8 limevi_crypto_key_id(const LimeviCrypto *crypto)
{
    return crypto->current_id;
}

gboolean limevi_crypto_rollover(LimeviCrypto *crypto, const LimeviKey *next,
                                GError **err)
{
    gnutls_aead_cipher_hd_t handle;

    if (memcmp(next->bytes, crypto->current_key, LIMEVI_KEY_LEN) == 0) {
        g_set_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "the new key is the key already in use");
        return FALSE;
    }
    handle = crypto_handle(crypto->cipher, next, err);
    if (!handle) {
        return FALSE;
    }
    limevi_crypto_end_rollover(crypto);
    crypto->previous = crypto->current;
    crypto->previous_id = crypto->current_id;
    crypto->current = handle;
    crypto->current_id = next->id;
    memcpy(crypto->current_key, next->bytes, LIMEVI_KEY_LEN);
    return TRUE;
}

void limevi_crypto_end_rollover(LimeviCrypto *crypto)
{
    if (crypto->previous) {
        gnutls_aead_cipher_deinit(crypto->previous);
        crypto->previous = NULL;
    }
}

static void crypto_nonce(guint8 *nonce, guint32 prefix, guint64 counter)
{
    guint32 p = GUINT32_TO_BE(prefix);
    guint64 c = GUINT64_TO_BE(counter);

    memcpy(nonce, &p, 4);
    memcpy(nonce + 4, &c, 8);
}

gboolean limevi_crypto_seal(LimeviCrypto *crypto, guint32 prefix,
                            guint64 counter, const void *aad, gsize aad_len,
                            const void *plain, gsize len, void *out)
{
    guint8 nonce[LIMEVI_CRYPTO_NONCE_LEN];
    size_t out_len = len + LIMEVI_CRYPTO_TAG_LEN;

    crypto_nonce(nonce, prefix, counter);
    return gnutls_aead_cipher_encrypt(crypto->current, nonce, sizeof(nonce),
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

gboolean limevi_crypto_open(LimeviCrypto *crypto, guint8 key_id,
                            guint32 prefix, guint64 counter,
                            const void *aad, gsize aad_len,
                            const void *sealed, gsize len, void *out)
{
    guint8 nonce[LIMEVI_CRYPTO_NONCE_LEN];

    if (len < LIMEVI_CRYPTO_TAG_LEN) {
        return FALSE;
    }
    crypto_nonce(nonce, prefix, counter);
    if (key_id == crypto->current_id &&
        crypto_open_with(crypto->current, nonce, aad, aad_len, sealed, len,
                         out)) {
        return TRUE;
    }
    return crypto->previous && key_id == crypto->previous_id &&
           crypto_open_with(crypto->previous, nonce, aad, aad_len, sealed,
                            len, out);
}
