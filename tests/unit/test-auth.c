/*
 * The table of senders a port accepts: unknown names refused and never
 * added, however many; a forged packet changes no window; a replayed one
 * is refused, also after the windows moved through save/load.
 */
#include <string.h>

#include "auth.h"
#include "limevi.h"

#define LEN 100

typedef struct Packet {
    guint8 header[16];
    guint8 body[LEN + LIMEVI_CRYPTO_TAG_LEN];
} Packet;

static LimeviCrypto *crypto_with(guint8 seed)
{
    guint8 raw[LIMEVI_KEY_LEN];
    LimeviKey key;

    memset(raw, seed, sizeof(raw));
    g_assert_true(limevi_key_parse(raw, sizeof(raw), &key, NULL));
    return limevi_crypto_new(LIMEVI_CIPHER_DEFAULT, &key, NULL);
}

/* A packet from @name sealed under @crypto at @counter. */
static void make_packet(LimeviCrypto *crypto, const char *name,
                        guint64 counter, Packet *pkt)
{
    g_autoptr(LimeviCryptoSender) sender =
        limevi_crypto_sender_new(crypto, name, NULL);
    guint8 plain[LEN] = { 1, 2, 3 };

    memset(pkt->header, 0x11, sizeof(pkt->header));
    pkt->header[0] = limevi_crypto_key_id(crypto);
    g_assert_true(limevi_crypto_seal(sender, counter, pkt->header,
                                     sizeof(pkt->header), plain, LEN,
                                     pkt->body));
}

static LimeviAuthStatus receive(LimeviAuth *auth, const char *name,
                                guint64 counter, const Packet *pkt)
{
    guint8 out[LEN];

    return limevi_auth_open(auth, name, strlen(name), pkt->header[0],
                            counter, pkt->header, sizeof(pkt->header),
                            pkt->body, sizeof(pkt->body), out, FALSE);
}

static void test_members_only(void)
{
    g_autoptr(LimeviCrypto) crypto = crypto_with(1);
    g_autoptr(LimeviAuth) auth = limevi_auth_new(crypto, 8);
    Packet pkt;

    g_assert_true(limevi_auth_add(auth, "vm-a", NULL));
    make_packet(crypto, "vm-b", 1, &pkt);
    /* Sealed with the right key, but vm-b is no member this port knows. */
    g_assert_cmpint(receive(auth, "vm-b", 1, &pkt), ==,
                    LIMEVI_AUTH_UNKNOWN_SENDER);
    g_assert_cmpuint(limevi_auth_count(auth), ==, 1);
    make_packet(crypto, "vm-a", 1, &pkt);
    g_assert_cmpint(receive(auth, "vm-a", 1, &pkt), ==, LIMEVI_AUTH_OK);
}

static void test_forged_names_bounded(void)
{
    g_autoptr(LimeviCrypto) crypto = crypto_with(1);
    g_autoptr(LimeviAuth) auth = limevi_auth_new(crypto, 4);
    g_autoptr(GError) err = NULL;
    Packet pkt;

    make_packet(crypto, "x", 1, &pkt);
    g_assert_true(limevi_auth_add(auth, "vm-a", NULL));
    for (guint i = 0; i < 100000; i++) {
        char name[32];

        g_snprintf(name, sizeof(name), "forged-%u", i);
        g_assert_cmpint(receive(auth, name, i, &pkt), ==,
                        LIMEVI_AUTH_UNKNOWN_SENDER);
    }
    g_assert_cmpuint(limevi_auth_count(auth), ==, 1);
    for (guint i = 0; i < 3; i++) {
        g_autofree char *name = g_strdup_printf("vm-%u", i);

        g_assert_true(limevi_auth_add(auth, name, NULL));
    }
    g_assert_false(limevi_auth_add(auth, "vm-9", &err));
    g_assert_cmpstr(err->message, ==, "cannot know more than 4 senders");
    g_assert_cmpuint(limevi_auth_count(auth), ==, 4);
}

static void test_forged_changes_no_window(void)
{
    g_autoptr(LimeviCrypto) crypto = crypto_with(1);
    g_autoptr(LimeviCrypto) wrong = crypto_with(2);
    g_autoptr(LimeviAuth) auth = limevi_auth_new(crypto, 8);
    Packet forged, real;

    g_assert_true(limevi_auth_add(auth, "vm-a", NULL));
    /* A wrong key far ahead: refused, and the window did not jump. */
    make_packet(wrong, "vm-a", 1000000, &forged);
    forged.header[0] = limevi_crypto_key_id(crypto);
    g_assert_cmpint(receive(auth, "vm-a", 1000000, &forged), ==,
                    LIMEVI_AUTH_FAILED);
    make_packet(crypto, "vm-a", 5, &real);
    g_assert_cmpint(receive(auth, "vm-a", 5, &real), ==, LIMEVI_AUTH_OK);
    /* The capture replayed. */
    g_assert_cmpint(receive(auth, "vm-a", 5, &real), ==,
                    LIMEVI_AUTH_REPLAYED);
}

static void test_windows_migrate(void)
{
    g_autoptr(LimeviCrypto) crypto = crypto_with(1);
    g_autoptr(LimeviAuth) source = limevi_auth_new(crypto, 8);
    g_autoptr(LimeviAuth) dest = limevi_auth_new(crypto, 8);
    g_autoptr(LimeviAuth) small = limevi_auth_new(crypto, 1);
    g_autoptr(LimeviAuth) fresh = limevi_auth_new(crypto, 8);
    g_autoptr(GByteArray) state = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    Packet pkt;

    g_assert_true(limevi_auth_add(source, "vm-a", NULL));
    g_assert_true(limevi_auth_add(source, "vm-b", NULL));
    make_packet(crypto, "vm-a", 7, &pkt);
    g_assert_cmpint(receive(source, "vm-a", 7, &pkt), ==, LIMEVI_AUTH_OK);
    limevi_auth_save(source, state);
    g_assert_true(limevi_auth_load(dest, state->data, state->len, NULL));
    g_assert_cmpuint(limevi_auth_count(dest), ==, 2);
    /* What the source accepted, the destination refuses. */
    g_assert_cmpint(receive(dest, "vm-a", 7, &pkt), ==,
                    LIMEVI_AUTH_REPLAYED);

    /* Truncated, or beyond the bound: refused, nothing changed. */
    g_assert_false(limevi_auth_load(small, state->data, state->len - 1,
                                    &err));
    g_assert_cmpstr(err->message, ==,
                    "replay windows: a sender's entry is malformed");
    g_clear_error(&err);
    g_assert_false(limevi_auth_load(small, state->data, state->len, &err));
    g_assert_cmpstr(err->message, ==, "cannot know more than 1 senders");
    g_assert_cmpuint(limevi_auth_count(small), ==, 0);
    g_clear_error(&err);

    /* A byte after the last entry: refused before anything merges. */
    g_byte_array_append(state, (const guint8 *)"", 1);
    g_assert_false(limevi_auth_load(fresh, state->data, state->len, &err));
    g_assert_cmpstr(err->message, ==, "replay windows: 1 trailing bytes");
    g_assert_cmpuint(limevi_auth_count(fresh), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/auth/refuses-senders-it-does-not-know",
                    test_members_only);
    g_test_add_func("/auth/100000-forged-names-add-nothing",
                    test_forged_names_bounded);
    g_test_add_func("/auth/forged-packet-changes-no-window",
                    test_forged_changes_no_window);
    g_test_add_func("/auth/windows-migrate", test_windows_migrate);
    return g_test_run();
}
