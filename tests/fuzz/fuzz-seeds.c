/*
 * Writes the seed corpus of the libFuzzer targets: fuzz-seeds DIR fills
 * DIR/port, DIR/wire-decode, DIR/state-load and DIR/buffer-load
 * ("make fuzz-seeds" writes tests/fuzz/corpus, which is checked in).
 *
 * Every seed is real: the port scripts are migrations as QEMU drives
 * them; the packets are what those ports sent (every type and op, sealed
 * and not); the states are what they saved; the buffers are the held
 * frames inside those states.  Ports bind ephemeral ports and keyed ones
 * seal with time-based counters, so two runs write different bytes of
 * the same kinds.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz-common.h"
#include "fuzz-port.h"
#include "state.h"

/* Seeds kept per kind: enough variety, a small corpus. */
#define PER_KIND 3

static GHashTable *kinds;      /* kind -> count written */
static GHashTable *seen;       /* sha1 of every seed written */
static const char *out_dir;
static guint written;

static void write_seed(const char *target, const char *kind,
                       const guint8 *data, gsize len)
{
    g_autofree char *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA1,
                                                       data, len);
    g_autofree char *key = g_strdup_printf("%s/%s", target, kind);
    g_autofree char *dir = g_build_filename(out_dir, target, NULL);
    g_autofree char *name = NULL, *path = NULL;
    g_autoptr(GError) error = NULL;
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(kinds, key));

    if (n >= PER_KIND || g_hash_table_contains(seen, sum)) {
        return;
    }
    g_hash_table_insert(kinds, g_strdup(key), GUINT_TO_POINTER(n + 1));
    g_hash_table_add(seen, g_strdup(sum));
    name = g_strdup_printf("%s-%d", kind, n + 1);
    path = g_build_filename(dir, name, NULL);
    if (g_mkdir_with_parents(dir, 0755) < 0 ||
        !g_file_set_contents(path, (const char *)data, len, &error)) {
        g_error("%s: %s", path, error ? error->message : g_strerror(errno));
    }
    written++;
}

static const char *const op_names[] = {
    NULL, "invalidate", "update", "ack", "relay", "stale",
};

static void record_wire(const guint8 *data, gsize len)
{
    LimeviWirePacket pkt;
    g_autofree char *kind = NULL;

    g_assert_cmpint(limevi_wire_decode(data, len, &pkt), ==, LIMEVI_WIRE_OK);
    if (pkt.type == LIMEVI_WIRE_TYPE_DATA) {
        kind = g_strdup_printf("data%s%s", pkt.dst.len ? "" : "-flood",
                               pkt.sealed ? "-sealed" : "");
    } else if (pkt.sealed) {
        kind = g_strdup("control-sealed");
    } else {
        kind = g_strdup_printf("control-%s%s%s", op_names[pkt.op],
                               pkt.acked_op ? "-" : "",
                               pkt.acked_op ? op_names[pkt.acked_op] : "");
    }
    write_seed("wire-decode", kind, data, len);
}

static void record_buffer(GBytes *blob, const char *kind)
{
    gsize len;
    const guint8 *p = g_bytes_get_data(blob, &len);

    if (len) {
        write_seed("buffer-load", kind, p, len);
    }
}

static GVariant *bytes_variant(GBytes *b)
{
    gsize n = b ? g_bytes_get_size(b) : 0;

    return g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE,
                                     n ? g_bytes_get_data(b, NULL) : "", n, 1);
}

/* The same state as an older source wrote it: version 1, a GVariant. */
static void record_v1(const LimeviState *state, const char *kind)
{
    GVariantBuilder routes, rx, macs;
    g_autoptr(GVariant) v = NULL;
    g_autoptr(LimeviState) decoded = NULL;

    g_variant_builder_init(&routes, G_VARIANT_TYPE("a(ssssuutay)"));
    for (guint i = 0; i < state->routes->len; i++) {
        LimeviStateRoute *r = &g_array_index(state->routes,
                                             LimeviStateRoute, i);

        g_variant_builder_add(&routes, "(ssssuut@ay)", r->vm, r->endpoint,
                              r->vc, r->lan, r->status, r->epoch, r->tx_seq,
                              bytes_variant(r->held));
    }
    g_variant_builder_init(&rx, G_VARIANT_TYPE("a(st)"));
    for (guint i = 0; i < state->senders->len; i++) {
        LimeviStateSender *sd = &g_array_index(state->senders,
                                               LimeviStateSender, i);

        g_variant_builder_add(&rx, "(st)", sd->vm, sd->next);
    }
    g_variant_builder_init(&macs, G_VARIANT_TYPE("a(ays)"));
    for (guint i = 0; i < state->macs->len; i++) {
        LimeviStateMac *m = &g_array_index(state->macs, LimeviStateMac, i);

        g_variant_builder_add(&macs, "(@ays)",
                              g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE,
                                                        m->mac, 6, 1),
                              m->vm);
    }
    v = g_variant_ref_sink(g_variant_new(
        "(uus@a(ssssuutay)@a(st)@a(ays)@ay)", 1, state->epoch,
        state->source, g_variant_builder_end(&routes),
        g_variant_builder_end(&rx), g_variant_builder_end(&macs),
        bytes_variant(state->held)));
    g_assert_true(g_variant_type_equal(g_variant_get_type(v),
                                       G_VARIANT_TYPE(LIMEVI_STATE_V1_TYPE)));
    decoded = limevi_state_decode_v1(g_variant_get_data(v),
                                     g_variant_get_size(v), NULL);
    g_assert_nonnull(decoded);
    write_seed("state-load", kind, g_variant_get_data(v),
               g_variant_get_size(v));
}

static gsize str_size(const char *s)
{
    return 2 + strlen(s);
}

/*
 * ... and versions 3 and 2, cut from the bytes of version 4: 3 has no
 * frames held per sender (each sender's blob goes), 2 neither the nonce
 * counter nor the windows (the tail goes).
 */
static void record_v3_v2(const guint8 *data, gsize len,
                         const LimeviState *state)
{
    g_autoptr(GByteArray) v3 = g_byte_array_new();
    g_autoptr(LimeviState) decoded = NULL;
    gsize at = 4 + 4 + 4 + str_size(state->source) + 4, tail;

    for (guint i = 0; i < state->routes->len; i++) {
        LimeviStateRoute *r = &g_array_index(state->routes,
                                             LimeviStateRoute, i);

        at += str_size(r->vm) + str_size(r->endpoint) + str_size(r->vc) +
              str_size(r->lan) + 1 + 4 + 8 + 4 + g_bytes_get_size(r->held);
    }
    at += 4;
    g_byte_array_append(v3, data, at);
    for (guint i = 0; i < state->senders->len; i++) {
        LimeviStateSender *sd = &g_array_index(state->senders,
                                               LimeviStateSender, i);
        gsize row = str_size(sd->vm) + 8;

        g_byte_array_append(v3, data + at, row);
        at += row + 4 + (sd->held ? g_bytes_get_size(sd->held) : 0);
    }
    g_assert_cmpuint(at, <=, len);
    g_byte_array_append(v3, data + at, len - at);
    v3->data[7] = 3;            /* u32 version, big-endian, at 4 */
    decoded = limevi_state_decode(v3->data, v3->len, NULL);
    g_assert_nonnull(decoded);
    write_seed("state-load", "v3", v3->data, v3->len);

    tail = 8 + 4 + (state->replay ? g_bytes_get_size(state->replay) : 0);
    v3->data[7] = 2;
    g_clear_pointer(&decoded, limevi_state_free);
    decoded = limevi_state_decode(v3->data, v3->len - tail, NULL);
    g_assert_nonnull(decoded);
    write_seed("state-load", "v2", v3->data, v3->len - tail);
}

/*
 * ... and a keyed state refused late: a byte after the replay windows.
 * The windows load before that is seen, so this is where a loader that
 * merges them early changes the port on error (a crash of 2026-12-03).
 */
static void record_replay_trailing(LimeviState *state)
{
    g_autoptr(GBytes) grown = NULL, bytes = NULL;
    GByteArray *replay = g_byte_array_new();
    gsize n;
    const guint8 *p = g_bytes_get_data(state->replay, &n);

    g_byte_array_append(replay, p, n);
    g_byte_array_append(replay, (const guint8 *)"", 1);
    grown = g_byte_array_free_to_bytes(replay);
    g_bytes_unref(state->replay);
    state->replay = g_bytes_ref(grown);
    bytes = limevi_state_encode(state);
    p = g_bytes_get_data(bytes, &n);
    write_seed("state-load", "replay-trailing", p, n);
}

static void record_state(const guint8 *data, gsize len)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviState) state = limevi_state_decode(data, len, &error);
    gboolean keyed, held = FALSE;

    g_assert_no_error(error);
    keyed = state->replay && g_bytes_get_size(state->replay);
    for (guint i = 0; i < state->routes->len; i++) {
        LimeviStateRoute *r = &g_array_index(state->routes,
                                             LimeviStateRoute, i);

        if (g_bytes_get_size(r->held)) {
            record_buffer(r->held, r->status ? "peer-held" : "backlog");
            held = TRUE;
        }
    }
    if (g_bytes_get_size(state->held)) {
        record_buffer(state->held, "guest-held");
        held = TRUE;
    }
    write_seed("state-load", keyed ? (held ? "keyed-held" : "keyed")
                                   : (held ? "held" : "plain"), data, len);
    record_v3_v2(data, len, state);
    record_v1(state, "v1");
    if (keyed) {
        record_replay_trailing(state);
    }
}

static void record(const char *kind, const guint8 *data, gsize len)
{
    if (!strcmp(kind, "wire")) {
        record_wire(data, len);
    } else {
        record_state(data, len);
    }
}

/* ---- The port scripts ---- */

typedef GByteArray Script;

static void put(Script *s, int n, ...)
{
    va_list ap;

    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        guint8 b = va_arg(ap, int);

        g_byte_array_append(s, &b, 1);
    }
    va_end(ap);
}

static void ev(Script *s, int port, LimeviPortEvent event)
{
    put(s, 3, FUZZ_OP_EVENT, port, event);
}

/* A 60-byte frame; @macs: dst index | src index << 4 (fuzz-port.c). */
static void send_frame(Script *s, int port, int macs, guint8 id)
{
    put(s, 8, FUZZ_OP_SEND, port, 0, 46, macs, 2, 0x88, 0xb5);
    /* The id rides in the EtherType's second byte's place: distinct. */
    s->data[s->len - 1] = id;
}

static void pump(Script *s)
{
    put(s, 2, FUZZ_OP_PUMP, 7);
}

static void time_ms(Script *s, guint16 ms)
{
    put(s, 3, FUZZ_OP_TIME, ms >> 8, ms & 0xff);
}

static void info(Script *s)
{
    for (int i = 0; i < 3; i++) {
        put(s, 2, FUZZ_OP_INFO, i);
    }
}

/* Frames both ways between vm1 on A and vm2 on P. */
static void traffic(Script *s, int vm1_port, guint8 id)
{
    send_frame(s, FUZZ_PORT_P, 0x10, id);
    send_frame(s, vm1_port, 0x01, id + 1);
    pump(s);
}

/* A whole live migration of vm1 from A to B, as QEMU drives it. */
static void migration(Script *s, gboolean busy)
{
    traffic(s, FUZZ_PORT_A, 1);
    ev(s, FUZZ_PORT_A, LIMEVI_EVENT_MIGRATION_SETUP);
    traffic(s, FUZZ_PORT_A, 3);
    if (busy) {
        /* The link fills and the guest stops taking frames. */
        put(s, 2, FUZZ_OP_LINK, FUZZ_LINK_FULL | 3 << 2);
        send_frame(s, FUZZ_PORT_A, 0x01, 5);
        put(s, 3, FUZZ_OP_GUEST, FUZZ_PORT_A, 1);
        send_frame(s, FUZZ_PORT_P, 0x10, 6);
        pump(s);
    }
    ev(s, FUZZ_PORT_A, LIMEVI_EVENT_SWITCHOVER);
    ev(s, FUZZ_PORT_A, LIMEVI_EVENT_GUEST_STOPPED);
    /* The INVALIDATE reaches P, and P holds vm1's frames. */
    put(s, 2, FUZZ_OP_DELIVER, 2);
    send_frame(s, FUZZ_PORT_P, 0x10, 7);
    put(s, 2, FUZZ_OP_MIGRATE, 0);
    /* vm3's host is down: without it every peer acknowledges. */
    put(s, 3, FUZZ_OP_ROUTE, FUZZ_PORT_B, 0x0a);
    ev(s, FUZZ_PORT_B, LIMEVI_EVENT_GUEST_RUNNING);
    pump(s);
    ev(s, FUZZ_PORT_A, LIMEVI_EVENT_MIGRATION_DONE);
    traffic(s, FUZZ_PORT_B, 8);
    time_ms(s, 600);
    pump(s);
    time_ms(s, 2500);
    info(s);
}

/* An UPDATE of vm2 from P's address at epoch 5, then at epoch 3: the
 * second is answered STALE. */
static void update_vm2(Script *s, guint8 epoch)
{
    put(s, 11, FUZZ_OP_BUILT, FUZZ_PORT_A, FUZZ_PORT_P, 0x01, 0x01,
        0, epoch, 0, 1, LIMEVI_CONTROL_UPDATE - 1, 0);
}

static void failed_migration(Script *s)
{
    update_vm2(s, 5);
    update_vm2(s, 3);
    traffic(s, FUZZ_PORT_A, 1);
    ev(s, FUZZ_PORT_A, LIMEVI_EVENT_MIGRATION_SETUP);
    ev(s, FUZZ_PORT_A, LIMEVI_EVENT_SWITCHOVER);
    pump(s);
    put(s, 2, FUZZ_OP_MIGRATE, 0);
    send_frame(s, FUZZ_PORT_P, 0x10, 3);
    ev(s, FUZZ_PORT_A, LIMEVI_EVENT_MIGRATION_FAILED);
    pump(s);
    traffic(s, FUZZ_PORT_A, 4);
    time_ms(s, 100);
    info(s);
}

/* Keys rolled over under traffic, every port in step. */
static void rotation(Script *s)
{
    traffic(s, FUZZ_PORT_A, 1);
    for (int step = 0; step < 3; step++) {
        for (int p = 0; p < 3; p++) {
            put(s, 3, FUZZ_OP_KEY, p, step);
        }
        traffic(s, FUZZ_PORT_A, 10 + 2 * step);
    }
    info(s);
}

/* RELAYs no script's ports send (a VM's old host relays an announcement
 * from a third VM), encoded as a port would. */
static void relay_seeds(void)
{
    static const guint8 v4[16] = { 127, 0, 0, 1 };
    static const guint8 v6[16] = { [15] = 1 };
    guint8 buf[LIMEVI_WIRE_HEADER_MAX + LIMEVI_WIRE_RELAY_LEN];

    for (int family = 4; family <= 6; family += 2) {
        for (guint8 op = LIMEVI_CONTROL_INVALIDATE;
             op <= LIMEVI_CONTROL_UPDATE; op++) {
            LimeviWireHeader hdr = {
                .type = LIMEVI_WIRE_TYPE_CONTROL,
                .epoch = 7,
                .vc = "vc1", .lan = "lan1", .src = "vm2", .dst = "vm1",
            };
            gsize hlen = limevi_wire_encode(&hdr, buf, sizeof(buf));

            limevi_wire_encode_relay(op, family, family == 4 ? v4 : v6,
                                     4242, buf + hlen);
            record_wire(buf, hlen + LIMEVI_WIRE_RELAY_LEN);
        }
    }
}

static void run_script(const char *name, guint8 config,
                       void (*body)(Script *s))
{
    g_autoptr(GByteArray) s = g_byte_array_new();

    put(s, 1, config);
    body(s);
    write_seed("port", name, s->data, s->len);
    LLVMFuzzerTestOneInput(s->data, s->len);
}

static void migration_quiet(Script *s)
{
    migration(s, FALSE);
}

static void migration_busy(Script *s)
{
    migration(s, TRUE);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    kinds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    fuzz_record = record;

    /* Buffer limit 65536 (bits 2-3 = 2): room for what is held. */
    run_script("migration", 2 << 2, migration_quiet);
    run_script("migration-keyed", FUZZ_PORT_KEYED | 2 << 2, migration_quiet);
    run_script("migration-busy", 1 << 2, migration_busy);
    run_script("migration-busy-keyed", FUZZ_PORT_KEYED | 1 << 2,
               migration_busy);
    run_script("failed-migration", 2 << 2, failed_migration);
    run_script("failed-migration-keyed", FUZZ_PORT_KEYED | 2 << 2,
               failed_migration);
    run_script("rotation-keyed", FUZZ_PORT_KEYED | 2 << 2, rotation);

    relay_seeds();

    printf("%u seeds in %s\n", written, out_dir);
    return 0;
}
