/*
 * Authenticated encryption of tunnel packets through GnuTLS: the key a
 * VC shares, loaded from a file; a key per sender derived from it;
 * sealing and opening with the wire header as associated data and the
 * sender's 64-bit counter as nonce; two keys at once during a rollover,
 * told apart by a key id in the header.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_CRYPTO_H
#define LIMEVI_CRYPTO_H

#include <gio/gio.h>
#include <glib.h>

#define LIMEVI_KEY_LEN 32
#define LIMEVI_CRYPTO_TAG_LEN 16
#define LIMEVI_CRYPTO_NONCE_LEN 12

typedef enum {
    LIMEVI_CIPHER_CHACHA20_POLY1305,
    LIMEVI_CIPHER_AES_256_GCM,
} LimeviCipher;

/* The default, chosen by bench/aead (docs/bench-aead.md). */
#define LIMEVI_CIPHER_DEFAULT LIMEVI_CIPHER_AES_256_GCM

typedef struct LimeviKey {
    guint8 bytes[LIMEVI_KEY_LEN];
    /* The first byte of SHA-256 over the key: what the header carries so
     * a receiver picks the key without trying both. */
    guint8 id;
} LimeviKey;

/*
 * @data is exactly 32 raw bytes, or 64 hex digits optionally followed by
 * one newline ("\n" or "\r\n").  Anything else is refused with @err
 * saying what is wrong and where.
 */
gboolean limevi_key_parse(const guint8 *data, gsize len, LimeviKey *key,
                          GError **err);
/* limevi_key_parse() on the contents of @path; errors name the file. */
gboolean limevi_key_load_file(const char *path, LimeviKey *key,
                              GError **err);

typedef struct LimeviCrypto LimeviCrypto;

/* Freed with limevi_crypto_free(). */
LimeviCrypto *limevi_crypto_new(LimeviCipher cipher, const LimeviKey *key,
                                GError **err);
void limevi_crypto_free(LimeviCrypto *crypto);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviCrypto, limevi_crypto_free)

/* The id of the key limevi_crypto_seal() uses now. */
guint8 limevi_crypto_key_id(const LimeviCrypto *crypto);

/*
 * Starts a rollover: @next becomes the key packets are sealed with; the
 * key it replaces still opens packets until limevi_crypto_end_rollover().
 * Refused (nothing changed) if @next is the current key.
 */
gboolean limevi_crypto_rollover(LimeviCrypto *crypto, const LimeviKey *next,
                                GError **err);
/*
 * During a rollover, whether packets are still sealed with the previous
 * key: a VC's ports each accept the new key first, then seal with it, so
 * that no port receives a key it cannot open yet.  Ignored outside one.
 */
void limevi_crypto_seal_previous(LimeviCrypto *crypto, gboolean previous);
/* Forgets the previous key: from now on only the current one opens. */
void limevi_crypto_end_rollover(LimeviCrypto *crypto);

/*
 * What one sender (a VM name of the VC) seals with, and what its packets
 * are opened with: keys derived from the VC's (HKDF-SHA256, info "sender
 * NAME"), so two senders of one VC never share a (key, nonce) however
 * their counters run.  Derived again, on first use, after a rollover
 * begins or ends.  @crypto must outlive it; freed with
 * limevi_crypto_sender_free().
 */
typedef struct LimeviCryptoSender LimeviCryptoSender;
LimeviCryptoSender *limevi_crypto_sender_new(LimeviCrypto *crypto,
                                             const char *name, GError **err);
void limevi_crypto_sender_free(LimeviCryptoSender *sender);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviCryptoSender, limevi_crypto_sender_free)

/*
 * Seals @len bytes of @plain into @out (@len + LIMEVI_CRYPTO_TAG_LEN
 * bytes: ciphertext then tag) with @sender's current key.  The nonce is
 * @counter (big-endian, after four zero bytes): the sender must never
 * seal twice with one counter under one key.  @aad is authenticated, not
 * encrypted, and must include the key id limevi_crypto_key_id() gives.
 * FALSE only if GnuTLS fails.
 */
gboolean limevi_crypto_seal(LimeviCryptoSender *sender, guint64 counter,
                            const void *aad, gsize aad_len,
                            const void *plain, gsize len, void *out);

/*
 * Opens @len bytes at @sealed (ciphertext then tag) from @sender into
 * @out (@len - LIMEVI_CRYPTO_TAG_LEN bytes) with the key whose id is
 * @key_id.  FALSE when no key has that id, @len is shorter than a tag, or
 * the packet does not authenticate: the caller drops it, and @out holds
 * nothing it may use.
 */
gboolean limevi_crypto_open(LimeviCryptoSender *sender, guint8 key_id,
                            guint64 counter, const void *aad, gsize aad_len,
                            const void *sealed, gsize len, void *out);

/* Counters a migration's destination skips past the source's last, so
 * packets the source still seals while it forwards (fewer than this)
 * never share a nonce with the destination's. */
#define LIMEVI_CRYPTO_MIGRATION_GAP (G_GUINT64_CONSTANT(1) << 32)

/*
 * The first counter a port seals with: the time in nanoseconds since the
 * epoch, so a restarted port starts above every counter its previous
 * life used (it sent fewer than one packet a nanosecond); on a
 * migration's destination at least @carried (the source's next counter,
 * 0: none) plus LIMEVI_CRYPTO_MIGRATION_GAP.
 */
guint64 limevi_crypto_first_counter(guint64 carried);

/*
 * Secure by default: a port bound to @listen (@spec as the user typed
 * it) that is not a loopback address needs a key unless the user said
 * insecure.  FALSE with @err set to one line naming @key_option and
 * @insecure_option as the user would type them ("key-secret",
 * "insecure=on"; "--key-file", "--insecure").
 */
gboolean limevi_crypto_check_listen(GSocketAddress *listen, const char *spec,
                                    gboolean have_key, gboolean insecure,
                                    const char *key_option,
                                    const char *insecure_option,
                                    GError **err);

#endif
