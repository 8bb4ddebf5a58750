/*
 * Sealing and opening tunnel packets: what authenticates, what is
 * refused (tampering, a wrong key, a key gone after a rollover), and the
 * key file's strict format.
 */
#include <string.h>

#include <glib/gstdio.h>

#include "crypto.h"
#include "limevi.h"

#define FRAME_LEN 1400

typedef struct Sealed {
    guint8 header[24];
    guint8 body[FRAME_LEN + LIMEVI_CRYPTO_TAG_LEN];
} Sealed;

static void test_key(LimeviKey *key, guint8 seed)
{
    guint8 raw[LIMEVI_KEY_LEN];

    for (int i = 0; i < LIMEVI_KEY_LEN; i++) {
        raw[i] = seed + i;
    }
    g_assert_true(limevi_key_parse(raw, sizeof(raw), key, NULL));
}

static LimeviCrypto *test_crypto(guint8 seed)
{
    LimeviKey key;

    test_key(&key, seed);
    return limevi_crypto_new(LIMEVI_CIPHER_DEFAULT, &key, NULL);
}

static LimeviCryptoSender *test_sender(LimeviCrypto *crypto,
                                       const char *name)
{
    return limevi_crypto_sender_new(crypto, name, NULL);
}

static void seal(LimeviCrypto *crypto, LimeviCryptoSender *sender,
                 guint64 counter, const guint8 *plain, Sealed *out)
{
    memset(out->header, 0x5a, sizeof(out->header));
    out->header[0] = limevi_crypto_key_id(crypto);
    g_assert_true(limevi_crypto_seal(sender, counter, out->header,
                                     sizeof(out->header), plain, FRAME_LEN,
                                     out->body));
}

static gboolean open_sealed(LimeviCryptoSender *sender, guint64 counter,
                            const Sealed *in, guint8 *plain)
{
    return limevi_crypto_open(sender, in->header[0], counter, in->header,
                              sizeof(in->header), in->body,
                              sizeof(in->body), plain);
}

static void test_round_trip(void)
{
    g_autoptr(LimeviCrypto) crypto = test_crypto(1);
    g_autoptr(LimeviCryptoSender) tx = test_sender(crypto, "vm-a");
    g_autoptr(LimeviCryptoSender) rx = test_sender(crypto, "vm-a");
    guint8 plain[FRAME_LEN], opened[FRAME_LEN];
    Sealed sealed;

    for (int i = 0; i < FRAME_LEN; i++) {
        plain[i] = i * 31;
    }
    seal(crypto, tx, 42, plain, &sealed);
    g_assert_true(memcmp(sealed.body, plain, FRAME_LEN) != 0);
    g_assert_true(open_sealed(rx, 42, &sealed, opened));
    g_assert_true(memcmp(opened, plain, FRAME_LEN) == 0);
}

static void test_tamper_refused(void)
{
    g_autoptr(LimeviCrypto) crypto = test_crypto(1);
    g_autoptr(LimeviCryptoSender) a = test_sender(crypto, "vm-a");
    g_autoptr(LimeviCryptoSender) b = test_sender(crypto, "vm-b");
    guint8 plain[FRAME_LEN] = { 0 }, opened[FRAME_LEN];
    gsize where[] = { 3, FRAME_LEN / 2, FRAME_LEN + 5 };
    Sealed sealed, bad;

    seal(crypto, a, 1, plain, &sealed);
    /* A header byte, a payload byte, a tag byte. */
    bad = sealed;
    bad.header[where[0]] ^= 1;
    g_assert_false(open_sealed(a, 1, &bad, opened));
    for (int i = 1; i < 3; i++) {
        bad = sealed;
        bad.body[where[i]] ^= 0x80;
        g_assert_false(open_sealed(a, 1, &bad, opened));
    }
    /* Another counter is another nonce; another sender another key. */
    g_assert_false(open_sealed(a, 2, &sealed, opened));
    g_assert_false(open_sealed(b, 1, &sealed, opened));
    g_assert_true(open_sealed(a, 1, &sealed, opened));
}

static void test_wrong_key_refused(void)
{
    g_autoptr(LimeviCrypto) ours = test_crypto(1);
    g_autoptr(LimeviCrypto) theirs = test_crypto(2);
    g_autoptr(LimeviCryptoSender) rx = test_sender(ours, "vm-a");
    g_autoptr(LimeviCryptoSender) tx = test_sender(theirs, "vm-a");
    guint8 plain[FRAME_LEN] = { 0 }, opened[FRAME_LEN];
    Sealed sealed;

    seal(theirs, tx, 1, plain, &sealed);
    g_assert_false(open_sealed(rx, 1, &sealed, opened));
    /* Even under our key id: the tag, not the id, decides. */
    g_assert_false(limevi_crypto_open(rx, limevi_crypto_key_id(ours), 1,
                                      sealed.header, sizeof(sealed.header),
                                      sealed.body, sizeof(sealed.body),
                                      opened));
}

static void test_rollover(void)
{
    g_autoptr(LimeviCrypto) tx_crypto = test_crypto(1);
    g_autoptr(LimeviCrypto) rx_crypto = test_crypto(1);
    g_autoptr(LimeviCryptoSender) tx = test_sender(tx_crypto, "vm-a");
    g_autoptr(LimeviCryptoSender) rx = test_sender(rx_crypto, "vm-a");
    guint8 plain[FRAME_LEN] = { 0 }, opened[FRAME_LEN];
    Sealed old_sealed, new_sealed;
    g_autoptr(GError) err = NULL;
    LimeviKey next, same;

    test_key(&next, 9);
    test_key(&same, 9);
    seal(tx_crypto, tx, 1, plain, &old_sealed);
    g_assert_true(limevi_crypto_rollover(rx_crypto, &next, NULL));
    g_assert_true(limevi_crypto_rollover(tx_crypto, &next, NULL));
    seal(tx_crypto, tx, 2, plain, &new_sealed);
    g_assert_cmpuint(new_sealed.header[0], ==, next.id);
    /* During the rollover both keys open. */
    g_assert_true(open_sealed(rx, 1, &old_sealed, opened));
    g_assert_true(open_sealed(rx, 2, &new_sealed, opened));
    limevi_crypto_end_rollover(rx_crypto);
    g_assert_false(open_sealed(rx, 1, &old_sealed, opened));
    g_assert_true(open_sealed(rx, 2, &new_sealed, opened));
    /* Rolling over to the key in use is a mistake, refused. */
    g_assert_false(limevi_crypto_rollover(rx_crypto, &same, &err));
    g_assert_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    g_assert_true(open_sealed(rx, 2, &new_sealed, opened));
}

static void expect_key_error(const char *data, gsize len, const char *msg)
{
    g_autoptr(GError) err = NULL;
    LimeviKey key = { .id = 0xee };

    g_assert_false(limevi_key_parse((const guint8 *)data, len, &key, &err));
    g_assert_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    g_assert_cmpstr(err->message, ==, msg);
    g_assert_cmpuint(key.id, ==, 0xee);
}

static void test_key_format(void)
{
    const char *hex =
        "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
    g_autofree char *hex_nl = g_strconcat(hex, "\n", NULL);
    g_autofree char *hex_crlf = g_strconcat(hex, "\r\n", NULL);
    g_autofree char *hex_bad = g_strdup(hex);
    g_autofree char *hex_space = g_strconcat(hex, " ", NULL);
    LimeviKey raw, key;

    test_key(&raw, 0);
    g_assert_true(limevi_key_parse((const guint8 *)hex, 64, &key, NULL));
    g_assert_true(memcmp(key.bytes, raw.bytes, LIMEVI_KEY_LEN) == 0);
    g_assert_cmpuint(key.id, ==, raw.id);
    g_assert_true(limevi_key_parse((const guint8 *)hex_nl, 65, &key, NULL));
    g_assert_true(limevi_key_parse((const guint8 *)hex_crlf, 66, &key,
                                   NULL));
    hex_bad[10] = 'g';
    expect_key_error(hex_bad, 64, "key: character 11 is not a hex digit");
    expect_key_error(hex_space, 65,
                     "key: 64 hex digits must be followed by nothing or "
                     "one newline");
    expect_key_error(hex, 31,
                     "key: 31 bytes; expected 32 raw bytes or 64 hex digits");
    expect_key_error(hex, 63,
                     "key: 63 bytes; expected 32 raw bytes or 64 hex digits");
    expect_key_error("", 0,
                     "key: 0 bytes; expected 32 raw bytes or 64 hex digits");
}

static void test_key_file(void)
{
    g_autofree char *dir = g_dir_make_tmp("limevi-key-XXXXXX", NULL);
    g_autofree char *good = g_build_filename(dir, "good", NULL);
    g_autofree char *long_file = g_build_filename(dir, "long", NULL);
    g_autofree char *missing = g_build_filename(dir, "missing", NULL);
    g_autofree char *msg = NULL;
    g_autoptr(GError) err = NULL;
    char big[200];
    LimeviKey key;

    memset(big, 'a', sizeof(big));
    g_assert_true(g_file_set_contents(good, big, LIMEVI_KEY_LEN, NULL));
    g_assert_true(g_file_set_contents(long_file, big, sizeof(big), NULL));
    g_assert_true(limevi_key_load_file(good, &key, NULL));
    g_assert_cmpuint(key.bytes[0], ==, 'a');
    g_assert_false(limevi_key_load_file(long_file, &key, &err));
    msg = g_strdup_printf("%s: longer than a key (32 raw bytes or 64 hex "
                          "digits)", long_file);
    g_assert_cmpstr(err->message, ==, msg);
    g_clear_error(&err);
    g_assert_false(limevi_key_load_file(missing, &key, &err));
    g_assert_true(g_str_has_prefix(err->message, missing));
    g_assert_nonnull(strstr(err->message, "cannot open"));
    g_unlink(good);
    g_unlink(long_file);
    g_rmdir(dir);
}

static void test_first_counter(void)
{
    guint64 before = (guint64)g_get_real_time() * 1000;
    guint64 fresh = limevi_crypto_first_counter(0);
    guint64 far = before + (G_GUINT64_CONSTANT(1) << 40);

    /* A restart starts above what it sent before; a destination beyond
     * what the source may still send. */
    g_assert_cmpuint(fresh, >=, before);
    g_assert_cmpuint(limevi_crypto_first_counter(far), ==,
                     far + LIMEVI_CRYPTO_MIGRATION_GAP);
    g_assert_cmpuint(limevi_crypto_first_counter(1), >=, before);
}

static gboolean listen_allowed(const char *host, gboolean have_key,
                               gboolean insecure, GError **err)
{
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(host);
    g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(inet, 7000);

    return limevi_crypto_check_listen(addr, host, have_key, insecure,
                                      "--key-file", "--insecure", err);
}

static void test_listen_needs_key(void)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(listen_allowed("127.0.0.1", FALSE, FALSE, NULL));
    g_assert_true(listen_allowed("::1", FALSE, FALSE, NULL));
    g_assert_true(listen_allowed("198.18.0.1", TRUE, FALSE, NULL));
    g_assert_true(listen_allowed("198.18.0.1", FALSE, TRUE, NULL));
    g_assert_false(listen_allowed("0.0.0.0", FALSE, FALSE, &err));
    g_assert_cmpstr(err->message, ==,
                    "listening on 0.0.0.0, which is not loopback, needs a "
                    "key: give --key-file, or --insecure to run "
                    "unauthenticated");
    g_clear_error(&err);
    g_assert_false(listen_allowed("198.18.0.1", FALSE, FALSE, &err));
    g_assert_error(err, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/crypto/seal-open/round-trip", test_round_trip);
    g_test_add_func("/crypto/open/refuses-tampered-header-payload-tag",
                    test_tamper_refused);
    g_test_add_func("/crypto/open/refuses-wrong-key", test_wrong_key_refused);
    g_test_add_func("/crypto/rollover/both-keys-then-only-the-new",
                    test_rollover);
    g_test_add_func("/crypto/key/hex-or-raw-strictly", test_key_format);
    g_test_add_func("/crypto/key/file-errors-name-the-file", test_key_file);
    g_test_add_func("/crypto/counter/starts-above-a-previous-life",
                    test_first_counter);
    g_test_add_func("/crypto/listen/beyond-loopback-needs-a-key",
                    test_listen_needs_key);
    return g_test_run();
}
