/*
 * A deterministic mutation fuzzer of the receive path: valid packets are
 * mutated (bytes, bits, lengths, truncation, extension) and fed to
 * limevi_wire_decode() and to limevi_port_receive() of a real port.
 *
 * It asserts that what the decoder accepts is self-consistent, and that
 * the port accounts for every input exactly once: delivered, held,
 * dropped by the full buffer, or counted in one rx_* counter, with the
 * frames reaching the guest intact and in order.
 *
 * A fixed seed makes a failure reproducible; LIMEVI_FUZZ_SEED and
 * LIMEVI_FUZZ_ITERATIONS override it and the iteration count for longer
 * runs by hand.
 */
#include <string.h>

#include <gio/gio.h>

#include "port.h"
#include "wire-check.h"
#include "wire.h"

#define DEFAULT_SEED        0x4c56f022u
/* About a second here; meson's timeout, not the loop, bounds slow
 * (sanitizer) builds, so a run never passes having done less. */
#define DEFAULT_ITERATIONS  200000

#define PORT_VM     "vm1"
#define PORT_VC     "vc1"
#define PORT_LAN    "lan1"

static const char name_63[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";

/* The state of the fake guest behind the fuzzed port. */
typedef struct {
    GQueue expected;            /* GBytes the guest must see, in order */
    gboolean refusing;          /* deliver() says no */
    gboolean unable;            /* can_receive() says no */
    guint64 delivered;
    gint64 now;
} Guest;

static gboolean guest_deliver(gpointer opaque, const guint8 *frame,
                              gsize len)
{
    Guest *guest = opaque;
    g_autoptr(GBytes) want = NULL;
    const guint8 *data;
    gsize want_len;

    if (guest->refusing) {
        return FALSE;
    }
    g_assert_cmpuint(len, >=, LIMEVI_WIRE_FRAME_MIN);
    g_assert_cmpuint(len, <=, LIMEVI_WIRE_FRAME_MAX);
    want = g_queue_pop_head(&guest->expected);
    g_assert_nonnull(want);
    data = g_bytes_get_data(want, &want_len);
    g_assert_cmpmem(frame, len, data, want_len);
    guest->delivered++;
    return TRUE;
}

static gboolean guest_can_receive(gpointer opaque)
{
    Guest *guest = opaque;

    return !guest->unable;
}

/* Advances by more than the ageing time on every call, so the MAC table
 * stays small and get_info() stays cheap. */
static gint64 guest_now(gpointer opaque)
{
    Guest *guest = opaque;

    guest->now += 2 * G_USEC_PER_SEC;
    return guest->now;
}

/* ---- Seeds ---- */

static const char *const seed_vcs[] = { PORT_VC, PORT_VC, PORT_VC, "vc2",
                                        name_63 };
static const char *const seed_lans[] = { PORT_LAN, PORT_LAN, PORT_LAN,
                                         "lan2" };
/* PORT_VM too: its other host is the only member a port without routes
 * takes control messages from. */
static const char *const seed_srcs[] = { "s", "peer-2", name_63, PORT_VM };
static const char *const seed_dsts[] = { NULL, NULL, PORT_VM, "", "vm2",
                                         name_63 };
static const gsize seed_frame_lens[] = { 14, 15, 60, 64, 342, 1514 };

static gsize make_seed(GRand *rand, guint8 *buf, gsize size)
{
    LimeviWireHeader hdr = {
        .type = LIMEVI_WIRE_TYPE_DATA,
        .epoch = g_rand_int(rand),
        .seq = (guint64)g_rand_int(rand) << 32 | g_rand_int(rand),
        .vc = seed_vcs[g_rand_int_range(rand, 0, G_N_ELEMENTS(seed_vcs))],
        .lan = seed_lans[g_rand_int_range(rand, 0,
                                          G_N_ELEMENTS(seed_lans))],
        .src = seed_srcs[g_rand_int_range(rand, 0,
                                          G_N_ELEMENTS(seed_srcs))],
        .dst = seed_dsts[g_rand_int_range(rand, 0,
                                          G_N_ELEMENTS(seed_dsts))],
    };
    gsize frame_len = seed_frame_lens[g_rand_int_range(
        rand, 0, G_N_ELEMENTS(seed_frame_lens))];
    gsize hlen = limevi_wire_encode(&hdr, buf, size);

    g_assert_cmpuint(hlen, >=, LIMEVI_WIRE_HEADER_MIN);
    g_assert_cmpuint(hlen + frame_len, <=, size);
    /* One seed in eight is a control message, of every op. */
    if (g_rand_int_range(rand, 0, 8) == 0) {
        static const guint8 v6[16] = { 0xfd, [15] = 1 };
        static const guint8 answerable[] = {
            LIMEVI_CONTROL_INVALIDATE, LIMEVI_CONTROL_UPDATE,
            LIMEVI_CONTROL_RELAY,
        };
        guint8 op = g_rand_int_range(rand, LIMEVI_CONTROL_INVALIDATE,
                                     LIMEVI_CONTROL_STALE + 1);
        guint8 acked_op = answerable[g_rand_int_range(
            rand, 0, G_N_ELEMENTS(answerable))];

        buf[LIMEVI_WIRE_OFF_TYPE] = LIMEVI_WIRE_TYPE_CONTROL;
        if (op == LIMEVI_CONTROL_RELAY) {
            limevi_wire_encode_relay(g_rand_boolean(rand) ?
                                     LIMEVI_CONTROL_UPDATE :
                                     LIMEVI_CONTROL_INVALIDATE,
                                     g_rand_boolean(rand) ? 4 : 6, v6,
                                     g_rand_int(rand), buf + hlen);
            return hlen + LIMEVI_WIRE_RELAY_LEN;
        }
        limevi_wire_encode_control(op, op == LIMEVI_CONTROL_ACK ||
                                   op == LIMEVI_CONTROL_STALE ? acked_op : 0,
                                   buf + hlen);
        return hlen + LIMEVI_WIRE_CONTROL_LEN;
    }
    /* One frame in sixteen is sealed, as a port with a key sends. */
    if (g_rand_int_range(rand, 0, 16) == 0 &&
        frame_len >= LIMEVI_WIRE_TAG_LEN &&
        hlen + LIMEVI_WIRE_SEAL_LEN + frame_len <= size) {
        buf[LIMEVI_WIRE_OFF_FLAGS + 1] |= LIMEVI_WIRE_FLAG_SEALED;
        for (gsize i = 0; i < LIMEVI_WIRE_SEAL_LEN; i++) {
            buf[hlen + i] = g_rand_int(rand);
        }
        hlen += LIMEVI_WIRE_SEAL_LEN;
        buf[LIMEVI_WIRE_OFF_HEADER_LEN] = hlen >> 8;
        buf[LIMEVI_WIRE_OFF_HEADER_LEN + 1] = hlen & 0xff;
    }
    for (gsize i = 0; i < frame_len; i++) {
        buf[hlen + i] = g_rand_int(rand);
    }
    /* Mostly unicast source MACs, so learning is reached too. */
    buf[hlen + 6] &= 0xfe;
    return hlen + frame_len;
}

/* ---- Mutations ---- */

static const guint8 interesting8[] = {
    0, 1, 2, 3, 14, 20, 26, 27, 62, 63, 64, 0x7f, 0x80, 0xfe, 0xff,
};

static gsize mutate_once(GRand *rand, guint8 *buf, gsize len, gsize size)
{
    guint16 v16;
    gsize off;

    switch (g_rand_int_range(rand, 0, 10)) {
    case 0:                     /* flip a bit */
        if (len) {
            off = g_rand_int_range(rand, 0, len);
            buf[off] ^= 1 << g_rand_int_range(rand, 0, 8);
        }
        return len;
    case 1:                     /* a random byte */
        if (len) {
            buf[g_rand_int_range(rand, 0, len)] = g_rand_int(rand);
        }
        return len;
    case 2:                     /* an interesting byte, mostly in the header */
        if (len) {
            gsize range = MIN(len, g_rand_boolean(rand) ? 64 : len);

            buf[g_rand_int_range(rand, 0, range)] = interesting8[
                g_rand_int_range(rand, 0, G_N_ELEMENTS(interesting8))];
        }
        return len;
    case 3:                     /* truncate */
        return g_rand_int_range(rand, 0, len + 1);
    case 4:                     /* extend with random bytes */
        off = MIN(size - len, (gsize)g_rand_int_range(rand, 1, 65));
        for (gsize i = 0; i < off; i++) {
            buf[len + i] = g_rand_int(rand);
        }
        return len + off;
    case 5:                     /* rewrite header_len */
        if (len >= LIMEVI_WIRE_OFF_FLAGS) {
            static const gint16 deltas[] = { -2, -1, 1, 2 };
            guint16 cur = buf[4] << 8 | buf[5];

            switch (g_rand_int_range(rand, 0, 4)) {
            case 0:
                v16 = cur + deltas[g_rand_int_range(rand, 0, 4)];
                break;
            case 1:
                v16 = g_rand_boolean(rand) ? LIMEVI_WIRE_HEADER_MIN - 1 +
                      g_rand_int_range(rand, 0, 3) :
                      LIMEVI_WIRE_HEADER_MAX - 1 +
                      g_rand_int_range(rand, 0, 3);
                break;
            case 2:
                v16 = len - g_rand_int_range(rand, 0, 2) +
                      g_rand_int_range(rand, 0, 2);
                break;
            default:
                v16 = g_rand_int(rand);
                break;
            }
            buf[4] = v16 >> 8;
            buf[5] = v16;
        }
        return len;
    case 6:                     /* rewrite one name's length byte */
        off = LIMEVI_WIRE_OFF_NAMES;
        for (int skip = g_rand_int_range(rand, 0, 4); skip > 0; skip--) {
            if (off >= len) {
                break;
            }
            off += 1 + buf[off];
        }
        if (off < len) {
            static const gint8 deltas[] = { -1, 1, -64, 64 };
            gint v = buf[off] + deltas[g_rand_int_range(rand, 0, 4)];

            buf[off] = g_rand_boolean(rand) ? CLAMP(v, 0, 255) :
                       interesting8[g_rand_int_range(
                           rand, 0, G_N_ELEMENTS(interesting8))];
        }
        return len;
    case 7:                     /* magic, version or type */
        if (len > LIMEVI_WIRE_OFF_TYPE) {
            off = g_rand_int_range(rand, 0, LIMEVI_WIRE_OFF_TYPE + 1);
            buf[off] = g_rand_boolean(rand) ? g_rand_int(rand)
                                            : buf[off] ^ 1;
        }
        return len;
    case 8:                     /* a name byte outside the allowed set */
        if (len > LIMEVI_WIRE_OFF_NAMES + 1) {
            static const char bad[] = { 0, ' ', '/', ':', 0x7f, (char)0xc3 };

            off = g_rand_int_range(rand, LIMEVI_WIRE_OFF_NAMES + 1,
                                   MIN(len, LIMEVI_WIRE_HEADER_MAX));
            buf[off] = bad[g_rand_int_range(rand, 0, sizeof(bad))];
        }
        return len;
    default:                    /* rarely: a payload at the size limit */
        if (g_rand_int_range(rand, 0, 50) == 0 &&
            len >= LIMEVI_WIRE_OFF_FLAGS) {
            gsize hlen = buf[4] << 8 | buf[5];
            gsize want = hlen + LIMEVI_WIRE_FRAME_MAX - 1 +
                         g_rand_int_range(rand, 0, 3);

            if (want <= size && want > len) {
                memset(buf + len, 0xa5, want - len);
                return want;
            }
        }
        return len;
    }
}

/* ---- Checks ---- */

typedef enum {
    FATE_DELIVERED,             /* delivered, held or dropped when full */
    FATE_MALFORMED,
    FATE_BAD_VERSION,
    FATE_WRONG_VC,
    FATE_WRONG_LAN,
    FATE_NOT_FOR_US,
    FATE_CONTROL,               /* a control message, acted upon */
    FATE_NOT_MEMBER,            /* a control message from a stranger */
    FATE_AUTH_FAILED,           /* sealed, and this port has no key */
    N_FATES,
} Fate;

static const char *const fate_names[] = {
    "delivered", "malformed", "bad-version", "wrong-vc", "wrong-lan",
    "not-for-us", "control", "not-member", "auth-failed",
};

/* What the port must do with a packet, by the decoder's verdict. */
static Fate expected_fate(LimeviWireStatus status,
                          const LimeviWirePacket *pkt)
{
    switch (status) {
    case LIMEVI_WIRE_OK:
        break;
    case LIMEVI_WIRE_BAD_VERSION:
        return FATE_BAD_VERSION;
    default:
        return FATE_MALFORMED;
    }
    if (!limevi_wire_name_equal(&pkt->vc, PORT_VC, strlen(PORT_VC))) {
        return FATE_WRONG_VC;
    }
    if (!limevi_wire_name_equal(&pkt->lan, PORT_LAN, strlen(PORT_LAN))) {
        return FATE_WRONG_LAN;
    }
    if (pkt->dst.len &&
        !limevi_wire_name_equal(&pkt->dst, PORT_VM, strlen(PORT_VM))) {
        return FATE_NOT_FOR_US;
    }
    /* The port has no routes: only its own VM's other host is a member
     * that may send control messages, and it never sends frames. */
    if ((pkt->type == LIMEVI_WIRE_TYPE_CONTROL) !=
        limevi_wire_name_equal(&pkt->src, PORT_VM, strlen(PORT_VM))) {
        return FATE_NOT_MEMBER;
    }
    if (pkt->sealed) {
        return FATE_AUTH_FAILED;
    }
    return pkt->type == LIMEVI_WIRE_TYPE_CONTROL ? FATE_CONTROL
                                                  : FATE_DELIVERED;
}

/* The port's counters, one per fate. */
static void port_fates(LimeviPort *port, guint64 fates[N_FATES],
                       LimeviBufferInfo *buffer)
{
    g_autoptr(LimeviPortInfo) info = limevi_port_get_info(port);

    fates[FATE_DELIVERED] = info->stats.rx_frames + info->buffer.frames +
                            info->buffer.dropped;
    fates[FATE_MALFORMED] = info->stats.rx_malformed;
    fates[FATE_BAD_VERSION] = info->stats.rx_bad_version;
    fates[FATE_WRONG_VC] = info->stats.rx_wrong_vc;
    fates[FATE_WRONG_LAN] = info->stats.rx_wrong_lan;
    fates[FATE_NOT_FOR_US] = info->stats.rx_not_for_us;
    fates[FATE_CONTROL] = info->stats.rx_control;
    fates[FATE_NOT_MEMBER] = info->stats.rx_not_member;
    fates[FATE_AUTH_FAILED] = info->stats.rx_auth_failed;
    *buffer = info->buffer;
}

static guint64 env_number(const char *name, guint64 fallback)
{
    const char *value = g_getenv(name);
    char *end;
    guint64 n;

    if (!value || !value[0]) {
        return fallback;
    }
    /* Base 0, so a seed can be given in hex as printed. */
    n = g_ascii_strtoull(value, &end, 0);
    if (*end) {
        g_error("%s: not a number: '%s'", name, value);
    }
    return n;
}

static void test_seeds_decode(void)
{
    g_autoptr(GRand) rand = g_rand_new_with_seed(DEFAULT_SEED);
    guint8 buf[LIMEVI_WIRE_HEADER_MAX + 2048];

    for (int i = 0; i < 1000; i++) {
        gsize len = make_seed(rand, buf, sizeof(buf));
        g_autofree guint8 *copy = g_memdup2(buf, len);
        LimeviWirePacket pkt;

        g_assert_cmpint(limevi_wire_decode(copy, len, &pkt), ==,
                        LIMEVI_WIRE_OK);
        fuzz_check_decoded(copy, len, &pkt);
    }
}

static void test_mutations(void)
{
    guint32 seed = env_number("LIMEVI_FUZZ_SEED", DEFAULT_SEED);
    guint64 iterations = env_number("LIMEVI_FUZZ_ITERATIONS",
                                    DEFAULT_ITERATIONS);
    g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
    g_autoptr(GMainContext) context = g_main_context_new();
    g_autoptr(GError) error = NULL;
    g_autofree guint8 *work = g_malloc(LIMEVI_WIRE_PACKET_MAX + 256);
    gsize size = LIMEVI_WIRE_PACKET_MAX + 256;
    LimeviPortConfig config = {
        .vm = PORT_VM,
        .vc = PORT_VC,
        .lan = PORT_LAN,
        .listen = "127.0.0.1:0",
        .context = context,     /* iterated only for the paced drain */
        .buffer_limit = 8192,   /* small, so the fuzzer fills it */
        .mac_ageing = 1,
    };
    LimeviPortOps ops = {
        .deliver = guest_deliver,
        .can_receive = guest_can_receive,
        .now = guest_now,
    };
    Guest guest = { .now = G_USEC_PER_SEC };
    g_autoptr(LimeviPort) port = NULL;
    guint64 seen[N_FATES] = { 0 }, before[N_FATES], after[N_FATES];
    guint64 statuses[LIMEVI_WIRE_BAD_SEAL + 1] = { 0 };
    LimeviBufferInfo held_before, held_after;
    guint64 i, total = 0;

    g_queue_init(&guest.expected);
    port = limevi_port_new(&config, &ops, &guest, &error);
    g_assert_no_error(error);
    port_fates(port, before, &held_before);

    for (i = 0; i < iterations; i++) {
        g_autofree guint8 *input = NULL;
        gsize len;
        LimeviWirePacket pkt;
        LimeviWireStatus status;
        Fate fate;

        /* The guest now and then stops and resumes taking frames. */
        if (g_rand_int_range(rand, 0, 200) == 0) {
            gboolean was_blocked = guest.refusing || guest.unable;

            guest.refusing = g_rand_int_range(rand, 0, 3) == 0;
            guest.unable = g_rand_int_range(rand, 0, 3) == 0;
            if (was_blocked || g_rand_boolean(rand)) {
                limevi_port_guest_ready(port);
            }
            port_fates(port, after, &held_after);
            g_assert_cmpmem(before, sizeof(before), after, sizeof(after));
        }

        len = make_seed(rand, work, size);
        if (g_rand_int_range(rand, 0, 8)) {
            for (int n = g_rand_int_range(rand, 1, 5); n > 0; n--) {
                len = mutate_once(rand, work, len, size);
            }
        }
        /* An exact-size copy, so a read past the end is caught by ASan. */
        input = g_malloc(MAX(len, 1));
        memcpy(input, work, len);

        status = limevi_wire_decode(input, len, &pkt);
        if ((gsize)status >= G_N_ELEMENTS(statuses)) {
            g_error("decode returned an unknown status %d", status);
        }
        statuses[status]++;
        if (status == LIMEVI_WIRE_OK) {
            fuzz_check_decoded(input, len, &pkt);
        }
        fate = expected_fate(status, &pkt);
        if (fate == FATE_DELIVERED) {
            g_queue_push_tail(&guest.expected,
                              g_bytes_new(pkt.payload, pkt.payload_len));
        }

        limevi_port_receive(port, input, len);

        port_fates(port, after, &held_after);
        for (int f = 0; f < N_FATES; f++) {
            if (after[f] != before[f] + (f == (int)fate)) {
                g_error("iteration %" G_GUINT64_FORMAT ": a %s packet (%s) "
                        "moved the %s count from %" G_GUINT64_FORMAT
                        " to %" G_GUINT64_FORMAT, i, fate_names[fate],
                        limevi_wire_status_name(status), fate_names[f],
                        before[f], after[f]);
            }
        }
        /* The buffer drops the newest frame: this one. */
        if (held_after.dropped != held_before.dropped) {
            g_assert_cmpint(fate, ==, FATE_DELIVERED);
            g_assert_cmpuint(held_after.dropped, ==, held_before.dropped + 1);
            g_bytes_unref(g_queue_pop_tail(&guest.expected));
        }
        g_assert_cmpuint(held_after.bytes, <=, held_after.limit);
        g_assert_cmpuint(g_queue_get_length(&guest.expected), ==,
                         held_after.frames);
        seen[fate]++;
        total++;
        memcpy(before, after, sizeof(before));
        held_before = held_after;
    }

    /* A guest that takes everything again gets all that was held. */
    guest.refusing = FALSE;
    guest.unable = FALSE;
    limevi_port_guest_ready(port);
    /* Held frames reach the guest paced (docs/migration.md): let the
     * pace's ticks run, for at most 10 s. */
    {
        gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        port_fates(port, after, &held_after);
        while (held_after.frames && g_get_monotonic_time() < end) {
            g_main_context_iteration(context, TRUE);
            port_fates(port, after, &held_after);
        }
    }
    g_assert_cmpuint(held_after.frames, ==, 0);
    g_assert_true(g_queue_is_empty(&guest.expected));
    g_assert_cmpuint(guest.delivered, ==,
                     after[FATE_DELIVERED] - held_after.dropped);
    for (int f = 0; f < N_FATES; f++) {
        g_assert_cmpuint(after[f], ==, seen[f]);
    }

    g_test_message("seed %#x, %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                   " inputs", seed, total, iterations);
    for (int f = 0; f < N_FATES; f++) {
        g_test_message("  %-12s %" G_GUINT64_FORMAT, fate_names[f], seen[f]);
    }
    for (int s = 0; s <= LIMEVI_WIRE_BAD_SEAL; s++) {
        g_test_message("  decode %-15s %" G_GUINT64_FORMAT,
                       limevi_wire_status_name(s), statuses[s]);
    }
    g_test_message("  held frames dropped %" G_GUINT64_FORMAT,
                   held_after.dropped);
    /* Every input ran: a loop cut short would pass having tested less. */
    g_assert_cmpuint(total, ==, iterations);
    /* A fuzzer that never reaches a path tests nothing there. */
    for (int f = 0; f < N_FATES; f++) {
        g_assert_cmpuint(seen[f], >, 0);
    }
    g_assert_cmpuint(held_after.dropped, >, 0);
    g_queue_clear(&guest.expected);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/fuzz/wire/seeds-decode", test_seeds_decode);
    g_test_add_func("/fuzz/wire/mutations", test_mutations);
    return g_test_run();
}
