/*
 * bench/aead: what sealing and opening a tunnel packet costs with each
 * cipher liblimevi offers, to pick the default (docs/bench-aead.md).
 * No root, no QEMU: it only calls crypto.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "crypto.h"

#define HEADER_LEN 24
/* Each case runs this many bytes of frames (at least 1000 frames), so
 * every size runs about as long. */
#define BYTES_PER_CASE (256 * 1024 * 1024)

static const gsize sizes[] = { 64, 1400, 9000 };
static const struct {
    LimeviCipher cipher;
    const char *name;
} ciphers[] = {
    { LIMEVI_CIPHER_CHACHA20_POLY1305, "chacha20-poly1305" },
    { LIMEVI_CIPHER_AES_256_GCM, "aes-256-gcm" },
};

static void print_load(const char *when)
{
    g_autofree char *load = NULL;

    if (g_file_get_contents("/proc/loadavg", &load, NULL, NULL)) {
        printf("# load average %s: %s", when, load);
    }
}

/* Seals and opens @count frames of @len bytes; nanoseconds per frame. */
static double bench_case(LimeviCrypto *crypto, gsize len, guint64 count)
{
    g_autoptr(LimeviCryptoSender) sender =
        limevi_crypto_sender_new(crypto, "vm-a", NULL);
    guint8 header[HEADER_LEN] = { limevi_crypto_key_id(crypto) };
    g_autofree guint8 *plain = g_malloc0(len);
    g_autofree guint8 *sealed = g_malloc(len + LIMEVI_CRYPTO_TAG_LEN);
    g_autofree guint8 *opened = g_malloc(len);
    gint64 start = g_get_monotonic_time();

    for (guint64 i = 0; i < count; i++) {
        if (!limevi_crypto_seal(sender, i, header, sizeof(header), plain,
                                len, sealed) ||
            !limevi_crypto_open(sender, header[0], i, header,
                                sizeof(header), sealed,
                                len + LIMEVI_CRYPTO_TAG_LEN, opened)) {
            fprintf(stderr, "aead: frame %" G_GUINT64_FORMAT
                    " did not round-trip\n", i);
            exit(1);
        }
    }
    return (g_get_monotonic_time() - start) * 1000.0 / count;
}

int main(void)
{
    guint8 raw[LIMEVI_KEY_LEN];
    LimeviKey key;

    for (int i = 0; i < LIMEVI_KEY_LEN; i++) {
        raw[i] = g_random_int();
    }
    g_assert_true(limevi_key_parse(raw, sizeof(raw), &key, NULL));
    print_load("before");
    printf("%-18s %6s %12s %10s\n", "cipher", "bytes", "ns/frame", "GB/s");
    for (gsize c = 0; c < G_N_ELEMENTS(ciphers); c++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(LimeviCrypto) crypto =
            limevi_crypto_new(ciphers[c].cipher, &key, &err);

        if (!crypto) {
            fprintf(stderr, "aead: %s\n", err->message);
            return 1;
        }
        for (gsize s = 0; s < G_N_ELEMENTS(sizes); s++) {
            guint64 count = MAX(BYTES_PER_CASE / sizes[s], 1000);
            double ns = bench_case(crypto, sizes[s], count);

            /* GB/s of frames sealed and opened (one frame: both). */
            printf("%-18s %6" G_GSIZE_FORMAT " %12.0f %10.3f\n",
                   ciphers[c].name, sizes[s], ns, sizes[s] / ns);
        }
    }
    print_load("after");
    return 0;
}
