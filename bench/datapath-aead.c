/*
 * bench/datapath-aead: frames per second from one liblimevi port to
 * another over a real UDP socket on 127.0.0.1, with a key (every packet
 * sealed and opened, replay window judged) next to without.  The path is the
 * one limevi-tap and the QEMU netdev use, minus the TAP device and the
 * guest: what AEAD costs the data path (docs/bench-datapath-aead.md).  No
 * root, no QEMU.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limevi.h"

#define KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
/* Frames in flight at once: well inside a socket buffer, so none drop. */
#define BURST 32
#define ROUNDS 3

static const gsize sizes[] = { 64, 1400, 9000 };

typedef struct {
    guint64 frames;
} Sink;

static gboolean sink_deliver(gpointer opaque, const guint8 *frame, gsize len)
{
    ((Sink *)opaque)->frames++;
    return TRUE;
}

static LimeviPort *start(GMainContext *ctx, const char *vm, gboolean keyed,
                         Sink *sink)
{
    LimeviPortConfig config = {
        .vm = vm, .vc = "vc1", .lan = "lan1", .listen = "127.0.0.1:0",
        .context = ctx,
        .key = keyed ? (const guint8 *)KEY : NULL,
        .key_len = keyed ? strlen(KEY) : 0,
    };
    LimeviPortOps ops = { .deliver = sink_deliver };
    g_autoptr(GError) err = NULL;
    LimeviPort *port = limevi_port_new(&config, &ops, sink, &err);

    if (!port) {
        fprintf(stderr, "datapath-aead: %s\n", err->message);
        exit(1);
    }
    return port;
}

/* Sends @count frames of @len bytes from a to b; frames per second. */
static double bench_case(gboolean keyed, gsize len, guint64 count)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    Sink a_sink = { 0 }, b_sink = { 0 };
    g_autoptr(LimeviPort) a = start(ctx, "a", keyed, &a_sink);
    g_autoptr(LimeviPort) b = start(ctx, "b", keyed, &b_sink);
    g_autoptr(LimeviPortInfo) b_info = limevi_port_get_info(b);
    g_autofree guint8 *frame = g_malloc0(len);
    g_autoptr(GError) err = NULL;
    guint64 sent = 0;
    gint64 start_us, deadline;

    if (!limevi_port_route_set(a, "b", b_info->listen, NULL,
                               LIMEVI_ROUTE_VALID, &err)) {
        fprintf(stderr, "datapath-aead: %s\n", err->message);
        exit(1);
    }
    /* Unicast to b's MAC is flooded to b, the only peer: one copy. */
    memset(frame, 0xff, 6);
    frame[6] = 0x52;
    start_us = g_get_monotonic_time();
    deadline = start_us + 60 * G_USEC_PER_SEC;
    while (b_sink.frames < count) {
        for (; sent < count && sent < b_sink.frames + BURST; sent++) {
            limevi_port_send(a, frame, len);
        }
        g_main_context_iteration(ctx, FALSE);
        if (g_get_monotonic_time() > deadline) {
            fprintf(stderr, "datapath-aead: only %" G_GUINT64_FORMAT " of %"
                    G_GUINT64_FORMAT " frames arrived\n", b_sink.frames,
                    count);
            exit(1);
        }
    }
    return count / ((g_get_monotonic_time() - start_us) / 1e6);
}

int main(int argc, char **argv)
{
    guint64 count = argc > 1 ? g_ascii_strtoull(argv[1], NULL, 10) : 200000;
    g_autofree char *load = NULL;

    if (g_file_get_contents("/proc/loadavg", &load, NULL, NULL)) {
        printf("# load average before: %s", load);
    }
    printf("| bytes | without key, frames/s | with key, frames/s | "
           "ratio |\n|---:|---:|---:|---:|\n");
    for (gsize s = 0; s < G_N_ELEMENTS(sizes); s++) {
        double plain = 0, sealed = 0;

        /* Best of a few rounds, alternating, so a burst of load on a
         * shared machine hurts both sides alike. */
        for (int r = 0; r < ROUNDS; r++) {
            plain = MAX(plain, bench_case(FALSE, sizes[s], count));
            sealed = MAX(sealed, bench_case(TRUE, sizes[s], count));
        }
        printf("| %zu | %.0f | %.0f | %.2f |\n", sizes[s], plain, sealed,
               sealed / plain);
    }
    g_clear_pointer(&load, g_free);
    if (g_file_get_contents("/proc/loadavg", &load, NULL, NULL)) {
        printf("# load average after: %s", load);
    }
    return 0;
}
