/*
 * libFuzzer target: ports driven through every state by a script the
 * fuzzer writes.  Three ports share a loopback "network" that never
 * leaves the process (fuzz-common.c records every datagram sent):
 *   A  vm1 on its first host, B  vm1's migration destination,
 *   P  vm2, a peer of vm1;
 * all in VC vc1, LAN lan1, with or without one VC key.  The script's ops
 * report migration events, send guest frames, deliver what was sent (as
 * it was, or changed, from its real source address), inject datagrams
 * of its own or built from its fields, migrate A's state into B (or B's
 * into A), step the clock and fire timers, block and unblock guests,
 * change routes, fill or break the link, and roll keys over.  So a port
 * is reached in MIGRATING, FROZEN, SAVED, FORWARDING and INCOMING, with
 * limevi_port_save(), limevi_port_load() and limevi_buffer_load() on
 * the way; the sanitizers and the library's own assertions judge.
 *
 * Input: one config byte, then ops (op byte, then its arguments).
 * Seeds: tests/fuzz/corpus/port (fuzz-seeds.c): a whole migration, a
 * failed one, a migration back, each with and without a key.
 */
#include <string.h>
#include <netinet/in.h>

#include "fuzz-common.h"
#include "fuzz-port.h"

#define N_PORTS 3

typedef struct {
    GMainContext *context;
    FuzzGuest guests[N_PORTS];
    struct sockaddr_in addrs[N_PORTS];  /* where each port is bound */
    guint64 returned[N_PORTS];          /* guest_returned() calls */
    gboolean keyed;
} Net;

static const guint8 key1[32] = { 1, 2, 3, 4, 5, 6, 7, 8, [31] = 0x11 };
static const guint8 key2[32] = { 8, 7, 6, 5, 4, 3, 2, 1, [31] = 0x22 };
static const guint8 key3[32] = { 0xaa, [31] = 0x33 };

static const char name_63[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
static const char *const vms[] = { "vm1", "vm2", "vm3", "vm4", name_63 };
static const char *const vcs[] = { "vc1", "vc2" };
static const char *const lans[] = { "lan1", "lan2" };
/* The guests' MACs: vm1's, vm2's, broadcast, a multicast, another. */
static const guint8 macs[][6] = {
    { 0x52, 0x54, 0x00, 0x00, 0x00, 0x01 },
    { 0x52, 0x54, 0x00, 0x00, 0x00, 0x02 },
    { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
    { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 },
    { 0x52, 0x54, 0x00, 0x00, 0x00, 0x03 },
};

static LimeviPort *net_port(Net *net, guint i)
{
    return net->guests[i % N_PORTS].port;
}

static char *port_endpoint(Net *net, guint i)
{
    return g_strdup_printf("127.0.0.1:%u", ntohs(net->addrs[i].sin_port));
}

static LimeviPort *start_port(Net *net, guint i, const char *vm,
                              const LimeviRouteConfig *routes,
                              guint n_routes, guint64 limit)
{
    LimeviPortConfig config = {
        .vm = vm,
        .vc = "vc1",
        .lan = "lan1",
        .listen = "127.0.0.1:0",
        .routes = routes,
        .n_routes = n_routes,
        .buffer_limit = limit,
        .context = net->context,
        .mac_ageing = 30,
        .key = net->keyed ? key1 : NULL,
        .key_len = net->keyed ? sizeof(key1) : 0,
    };
    LimeviPortOps ops = fuzz_guest_ops();
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviPortInfo) info = NULL;
    g_autoptr(GSocketAddress) addr = NULL;
    FuzzGuest *guest = &net->guests[i];

    guest->can_receive = TRUE;
    guest->now = 1000 * G_USEC_PER_SEC;
    guest->port = limevi_port_new(&config, &ops, guest, &error);
    g_assert_no_error(error);
    info = limevi_port_get_info(guest->port);
    addr = limevi_udp_parse_endpoint(info->listen, "listen", TRUE, NULL);
    g_assert_true(g_socket_address_to_native(addr, &net->addrs[i],
                                             sizeof(net->addrs[i]), NULL));
    return guest->port;
}

/* The port a datagram was sent to, or -1: nobody listens there. */
static int port_at(Net *net, const struct sockaddr_storage *to)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *)to;

    if (to->ss_family != AF_INET) {
        return -1;
    }
    for (int i = 0; i < N_PORTS; i++) {
        if (in->sin_port == net->addrs[i].sin_port &&
            in->sin_addr.s_addr == net->addrs[i].sin_addr.s_addr) {
            return i;
        }
    }
    return -1;
}

static void deliver(Net *net, FuzzDatagram *d)
{
    int to = port_at(net, &d->to);

    if (to >= 0) {
        limevi_port_receive_from(net_port(net, to), d->data, d->len,
                                 d->from_len ? &d->from : NULL, d->from_len);
    }
}

/* Where an injected datagram comes from: a port, a stranger on loopback
 * (IPv4 or IPv6), or nowhere known. */
static void from_address(Net *net, guint8 which,
                         struct sockaddr_storage *ss, gsize *len)
{
    memset(ss, 0, sizeof(*ss));
    switch (which % 6) {
    case 0: case 1: case 2:
        memcpy(ss, &net->addrs[which % 6], sizeof(net->addrs[0]));
        *len = sizeof(struct sockaddr_in);
        return;
    case 3: {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;

        in->sin_family = AF_INET;
        in->sin_port = htons(7);
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *len = sizeof(*in);
        return;
    }
    case 4: {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(7);
        in6->sin6_addr = in6addr_loopback;
        *len = sizeof(*in6);
        return;
    }
    default:
        *len = 0;
        return;
    }
}

static void inject(Net *net, guint8 target, guint8 from, const guint8 *data,
                   gsize len)
{
    struct sockaddr_storage ss;
    gsize ss_len;

    from_address(net, from, &ss, &ss_len);
    limevi_port_receive_from(net_port(net, target), data, len,
                             ss_len ? &ss : NULL, ss_len);
}

static void frame_from(FuzzInput *in, guint8 *frame, gsize len)
{
    guint8 sel = fuzz_u8(in);
    gsize n = fuzz_u8(in);

    memcpy(frame, macs[sel % G_N_ELEMENTS(macs)], 6);
    memcpy(frame + 6, macs[(sel >> 4) % G_N_ELEMENTS(macs)], 6);
    fuzz_bytes(in, frame + 12, MIN(len - 12, n));
}

/* An epoch near one that matters: 0, the target's own, the top. */
static guint32 epoch_from(FuzzInput *in, LimeviPort *port)
{
    static const guint32 bases[] = { 0, 0, 0x80000000u, 0xffffffffu };
    guint8 sel = fuzz_u8(in);
    guint32 base = sel & 1 ? port->epoch : bases[sel % 4];

    return base + (gint8)fuzz_u8(in);
}

static void op_built(Net *net, FuzzInput *in)
{
    guint8 target = fuzz_u8(in), from = fuzz_u8(in), sel = fuzz_u8(in);
    guint8 names = fuzz_u8(in);
    LimeviPort *port = net_port(net, target);
    LimeviWireHeader hdr = {
        .type = sel & 1 ? LIMEVI_WIRE_TYPE_CONTROL : LIMEVI_WIRE_TYPE_DATA,
        .flags = sel & 2 ? LIMEVI_WIRE_FLAG_BY_DST : 0,
        .vc = vcs[(sel >> 2) & 1],
        .lan = lans[(sel >> 3) & 1],
        .src = vms[(names & 0xf) % G_N_ELEMENTS(vms)],
        .dst = (names >> 4) % (G_N_ELEMENTS(vms) + 1) ?
               vms[(names >> 4) % (G_N_ELEMENTS(vms) + 1) - 1] : NULL,
    };
    g_autofree guint8 *buf = g_malloc(LIMEVI_WIRE_HEADER_MAX + 2048);
    gsize hlen, len;

    hdr.epoch = epoch_from(in, port);
    hdr.seq = fuzz_u16(in);
    hlen = limevi_wire_encode(&hdr, buf, LIMEVI_WIRE_HEADER_MAX);
    g_assert_cmpuint(hlen, >, 0);
    if (hdr.type == LIMEVI_WIRE_TYPE_CONTROL) {
        guint8 op = fuzz_u8(in) % LIMEVI_CONTROL_STALE + 1;
        guint8 acked = fuzz_u8(in) % (LIMEVI_CONTROL_RELAY + 1);

        if (op == LIMEVI_CONTROL_RELAY) {
            guint8 a = fuzz_u8(in);
            guint8 addr[16] = { 127, 0, 0, 1 };
            guint16 udp_port = ntohs(net->addrs[a % N_PORTS].sin_port);

            if (a & 0x10) {
                /* Anything the fuzzer says, port included. */
                fuzz_bytes(in, addr, sizeof(addr));
                udp_port = fuzz_u16(in);
            }
            limevi_wire_encode_relay(acked, a & 0x20 ? 6 : 4, addr,
                                     udp_port, buf + hlen);
            len = hlen + LIMEVI_WIRE_RELAY_LEN;
        } else {
            limevi_wire_encode_control(op, acked, buf + hlen);
            len = hlen + LIMEVI_WIRE_CONTROL_LEN;
        }
    } else {
        gsize frame_len = 14 + fuzz_u16(in) % 1501;

        frame_from(in, buf + hlen, frame_len);
        len = hlen + frame_len;
    }
    inject(net, target, from, buf, len);
}

static void op_send(Net *net, FuzzInput *in)
{
    guint8 target = fuzz_u8(in);
    gsize len = 14 + fuzz_u16(in) % 1501;
    g_autofree guint8 *frame = g_malloc0(len);

    frame_from(in, frame, len);
    limevi_port_send(net_port(net, target), frame, len);
}

/* What was sent arrives, up to @rounds times over: answers too. */
static void op_pump(Net *net, FuzzInput *in)
{
    guint rounds = fuzz_u8(in) % 8 + 1;

    for (guint r = 0; r < rounds && fuzz_sent_count(); r++) {
        for (guint n = fuzz_sent_count(); n > 0; n--) {
            FuzzDatagram *d = fuzz_sent_take(0);

            deliver(net, d);
            fuzz_datagram_free(d);
        }
    }
}

/* One datagram sent, delivered (again, or changed) or lost. */
static void op_deliver(Net *net, FuzzInput *in)
{
    guint8 sel = fuzz_u8(in);
    FuzzDatagram *d;

    if (!fuzz_sent_count()) {
        return;
    }
    sel %= 4 * fuzz_sent_count();
    if (sel % 4 == 0) {         /* lost */
        fuzz_datagram_free(fuzz_sent_take(sel / 4));
        return;
    }
    d = fuzz_sent_get(sel / 4);
    if (sel % 4 == 1) {         /* delivered, kept to be delivered again */
        deliver(net, d);
        return;
    }
    d = fuzz_sent_take(sel / 4);
    if (sel % 4 == 3) {         /* changed on the way */
        for (guint n = fuzz_u8(in) % 4 + 1; n > 0 && d->len; n--) {
            guint16 off = fuzz_u16(in);

            d->data[off % d->len] ^= fuzz_u8(in);
        }
        if (fuzz_u8(in) & 1) {
            d->len -= fuzz_u16(in) % (d->len + 1);
        }
    }
    deliver(net, d);
    fuzz_datagram_free(d);
}

static void op_raw(Net *net, FuzzInput *in)
{
    guint8 target = fuzz_u8(in), from = fuzz_u8(in);
    gsize len = fuzz_u16(in) % 2048;
    g_autofree guint8 *data = NULL;

    len = MIN(len, in->left);
    data = g_malloc(MAX(len, 1));

    fuzz_bytes(in, data, len);
    inject(net, target, from, data, len);
}

/* One port's state into another port waiting for it, as QEMU's stream
 * carries it: whole, or changed on the way. */
static void op_migrate(Net *net, FuzzInput *in)
{
    guint8 sel = fuzz_u8(in);
    guint from = sel & 1, to = !from;
    g_autoptr(GBytes) state = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree guint8 *copy = NULL;
    gsize len;

    if (limevi_port_get_state(net_port(net, to)) != LIMEVI_PORT_INCOMING) {
        return;
    }
    state = limevi_port_save(net_port(net, from));
    copy = g_bytes_unref_to_data(g_steal_pointer(&state), &len);
    if (fuzz_record) {
        fuzz_record("state", copy, len);
    }
    if (sel & 2) {
        for (guint n = fuzz_u8(in) % 8 + 1; n > 0 && len; n--) {
            guint16 off = fuzz_u16(in);

            copy[off % len] ^= fuzz_u8(in);
        }
    }
    if (sel & 4) {
        len -= fuzz_u16(in) % (len + 1);
    }
    limevi_port_load(net_port(net, to), copy, len, &error);
}

static void op_guest(Net *net, FuzzInput *in)
{
    guint8 target = fuzz_u8(in) % N_PORTS, sel = fuzz_u8(in);
    FuzzGuest *guest = &net->guests[target];

    guest->can_receive = !(sel & 1);
    guest->refuse = (sel >> 1) & 3;
    if (sel & 8) {
        limevi_port_guest_ready(guest->port);
    }
    /* As QEMU after purging a stopped guest's queue: what it had taken. */
    if (sel & 16 && guest->last_len &&
        net->returned[target] < guest->delivered) {
        net->returned[target]++;
        limevi_port_guest_returned(guest->port, guest->last,
                                   guest->last_len);
    }
}

static void op_route(Net *net, FuzzInput *in)
{
    guint8 target = fuzz_u8(in), sel = fuzz_u8(in);
    const char *vm = vms[(sel & 7) % G_N_ELEMENTS(vms)];
    g_autofree char *endpoint = NULL;
    g_autoptr(GError) error = NULL;

    if (sel & 8) {
        limevi_port_route_del(net_port(net, target), vm, &error);
        return;
    }
    endpoint = sel & 0x40 ? g_strdup("127.0.0.1:9")
                          : port_endpoint(net, fuzz_u8(in) % N_PORTS);
    limevi_port_route_set(net_port(net, target), vm, endpoint,
                          sel & 0x10 ? lans[(sel >> 5) & 1] : NULL,
                          sel & 0x80 ? LIMEVI_ROUTE_INVALID
                                     : LIMEVI_ROUTE_VALID, &error);
}

static void op_time(Net *net, FuzzInput *in)
{
    gint64 step = (gint64)fuzz_u16(in) * 1000;

    for (guint i = 0; i < N_PORTS; i++) {
        net->guests[i].now += step;
    }
    for (guint i = 0; i < N_PORTS; i++) {
        fuzz_fire_timers(net_port(net, i), net->context);
    }
}

static void op_info(Net *net, FuzzInput *in)
{
    g_autoptr(LimeviPortInfo) info =
        limevi_port_get_info(net_port(net, fuzz_u8(in)));

    g_assert_cmpint(info->state, <=, LIMEVI_PORT_INCOMING);
    g_assert_cmpuint(info->routes->len, <=, LIMEVI_PEERS_MAX);
    g_assert_true(!info->buffer.frames == !info->buffer.bytes);
}

static void op_key(Net *net, FuzzInput *in)
{
    guint8 target = fuzz_u8(in), sel = fuzz_u8(in);
    LimeviPort *port = net_port(net, target);
    g_autoptr(GError) error = NULL;

    switch (sel % 3) {
    case 0:
        limevi_port_key_rollover(port, sel & 4 ? key3 : key2, 32, &error);
        break;
    case 1:
        limevi_port_key_rollover_seal(port);
        break;
    default:
        limevi_port_key_rollover_end(port);
        break;
    }
}

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    static const guint64 limits[] = { 2048, 8192, 65536, 1024 * 1024 };
    FuzzInput in = { data, size };
    Net net = { 0 };
    guint8 config;
    guint64 limit;
    guint ops = 0;

    fuzz_init();
    config = fuzz_u8(&in);
    net.keyed = config & 1;
    limit = limits[(config >> 2) & 3];
    net.context = g_main_context_new();
    {
        g_autofree char *p_at = NULL, *a_at = NULL;
        LimeviRouteConfig to_p[] = {
            { .vm = "vm2", .endpoint = NULL },
            { .vm = "vm3", .endpoint = "127.0.0.1:9" },
        };

        /* P first: A and B route to it. */
        start_port(&net, FUZZ_PORT_P, "vm2", NULL, 0, limit);
        to_p[0].endpoint = p_at = port_endpoint(&net, FUZZ_PORT_P);
        start_port(&net, FUZZ_PORT_A, "vm1", to_p, 2, limit);
        start_port(&net, FUZZ_PORT_B, "vm1", to_p, 2, limit);
        a_at = port_endpoint(&net, FUZZ_PORT_A);
        g_assert_true(limevi_port_route_set(net_port(&net, FUZZ_PORT_P),
                                            "vm1", a_at, NULL,
                                            LIMEVI_ROUTE_VALID, NULL));
    }
    if (!(config & 2)) {
        limevi_port_event(net_port(&net, FUZZ_PORT_B), LIMEVI_EVENT_INCOMING);
    }

    while (in.left && ops++ < FUZZ_PORT_OPS_MAX) {
        guint8 op = fuzz_u8(&in) % FUZZ_OP_N;

        switch (op) {
        case FUZZ_OP_EVENT: {
            guint8 target = fuzz_u8(&in);

            limevi_port_event(net_port(&net, target),
                              fuzz_u8(&in) % (LIMEVI_EVENT_GUEST_RUNNING + 1));
            break;
        }
        case FUZZ_OP_SEND:
            op_send(&net, &in);
            break;
        case FUZZ_OP_PUMP:
            op_pump(&net, &in);
            break;
        case FUZZ_OP_DELIVER:
            op_deliver(&net, &in);
            break;
        case FUZZ_OP_RAW:
            op_raw(&net, &in);
            break;
        case FUZZ_OP_BUILT:
            op_built(&net, &in);
            break;
        case FUZZ_OP_MIGRATE:
            op_migrate(&net, &in);
            break;
        case FUZZ_OP_TIME:
            op_time(&net, &in);
            break;
        case FUZZ_OP_GUEST:
            op_guest(&net, &in);
            break;
        case FUZZ_OP_ROUTE:
            op_route(&net, &in);
            break;
        case FUZZ_OP_LINK: {
            guint8 sel = fuzz_u8(&in);

            fuzz_link_set(sel % 4, sel >> 2);
            break;
        }
        case FUZZ_OP_INFO:
            op_info(&net, &in);
            break;
        case FUZZ_OP_KEY:
            op_key(&net, &in);
            break;
        }
    }

    for (guint i = 0; i < N_PORTS; i++) {
        limevi_port_free(net.guests[i].port);
    }
    fuzz_sent_clear();
    fuzz_link_set(FUZZ_LINK_OK, 0);
    /* What the ports left on the context (destroyed sources) goes. */
    while (g_main_context_iteration(net.context, FALSE)) {
    }
    g_main_context_unref(net.context);
    return 0;
}
