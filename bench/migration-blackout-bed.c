/*
 * The bed of bench/migration-blackout: the emulated hosts (namespaces,
 * veth, bridges and VXLAN, or one namespace for LimeVI), their shaping,
 * where frames were dropped, and the guests p and r.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "migration-blackout.h"

/* ---- A test bed: namespaces, devices, the two guests ---- */

/* The secret object every limevi netdev of the bench takes its key from. */
#define BENCH_KEY_SECRET "vckey"

/* A fresh random VC key in a file of its own; NULL with @err set. */
static char *bench_key_file(GError **err)
{
    guint8 key[32];
    g_autofree char *hex = NULL;
    g_autofree char *path = NULL;
    FILE *f = fopen("/dev/urandom", "rb");
    int fd;

    if (!f || fread(key, 1, sizeof(key), f) != sizeof(key)) {
        if (f) {
            fclose(f);
        }
        g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "cannot read a key from /dev/urandom");
        return NULL;
    }
    fclose(f);
    hex = g_malloc(2 * sizeof(key) + 1);
    for (gsize i = 0; i < sizeof(key); i++) {
        g_snprintf(hex + 2 * i, 3, "%02x", key[i]);
    }
    fd = g_file_open_tmp("limevi-bench-key-XXXXXX", &path, err);
    if (fd < 0) {
        return NULL;
    }
    close(fd);
    if (!g_file_set_contents(path, hex, -1, err)) {
        unlink(path);
        return NULL;
    }
    return g_steal_pointer(&path);
}


gboolean two_hosts(Bed *b)
{
    return b->host[1] != b->host[0];
}

/* Runs @argv in @ns (NULL: here), failing on a non-zero status. */
static gboolean run_in(HNetns *ns, const char *const *argv, GError **err)
{
    g_autofree char *output = NULL;
    int status = ns ? hnetns_run(ns, argv, IP_TIMEOUT_MS, &output, err)
                    : harness_run(argv, IP_TIMEOUT_MS, &output, err);

    return bench_command_ok(status, argv, ns ? hnetns_name(ns) : NULL,
                            output, err);
}

/* Splits @cmd on spaces and runs it in @ns: for fixed commands only. */
static gboolean sh_in(HNetns *ns, GError **err, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static gboolean sh_in(HNetns *ns, GError **err, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *cmd = NULL;
    g_auto(GStrv) argv = NULL;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    bench_log("%s: %s", ns ? hnetns_name(ns) : "host", cmd);
    argv = g_strsplit(cmd, " ", -1);
    return run_in(ns, (const char *const *)argv, err);
}

/* The two hosts: namespaces joined by a veth pair, "veth0" on each. */
static gboolean hosts_new(Bed *b, GError **err)
{
    b->host[0] = hnetns_new("bench-h1", err);
    if (!b->host[0]) {
        return FALSE;
    }
    b->host[1] = hnetns_new("bench-h2", err);
    if (!b->host[1]) {
        return FALSE;
    }
    if (!sh_in(b->host[0], err, "ip link add veth0 type veth peer name "
               "veth0 netns %s", hnetns_name(b->host[1]))) {
        return FALSE;
    }
    for (guint h = 0; h < 2; h++) {
        b->addr[h] = host_addr[h];
        if (!sh_in(b->host[h], err, "ip addr add %s/24 dev veth0",
                   host_addr[h]) ||
            !sh_in(b->host[h], err, "ip link set veth0 up")) {
            return FALSE;
        }
        if (b->link == LINK_SHAPED &&
            !sh_in(b->host[h], err, "tc qdisc add dev veth0 root tbf rate "
                   SHAPE_RATE " burst 32kbit latency 50ms")) {
            return FALSE;
        }
    }
    return TRUE;
}

/* Each host's bridge with a VXLAN device to the other host and taps
 * for the guests (tap-p on host 1 only; tap-r on both, one per QEMU of
 * r that may run there). */
static gboolean bridges_new(Bed *b, GError **err)
{
    for (guint h = 0; h < 2; h++) {
        HNetns *ns = b->host[h];

        if (!sh_in(ns, err, "ip link add br0 type bridge") ||
            !sh_in(ns, err, "ip link set br0 up") ||
            !sh_in(ns, err, "ip link add vx42 type vxlan id 42 dstport 4789 "
                   "local %s learning", host_addr[h]) ||
            !sh_in(ns, err, "ip link set vx42 master br0") ||
            !sh_in(ns, err, "ip link set vx42 up") ||
            /* Broadcast, unknown unicast and multicast go to the other
             * host: head-end replication to a list of one. */
            !sh_in(ns, err, "bridge fdb append 00:00:00:00:00:00 dev vx42 "
                   "dst %s", host_addr[1 - h])) {
            return FALSE;
        }
        for (guint t = 0; t < (h == 0 ? 2 : 1); t++) {
            const char *tap = t == 0 ? "tap-r" : "tap-p";

            if (!sh_in(ns, err, "ip tuntap add dev %s mode tap", tap) ||
                !sh_in(ns, err, "ip link set %s master br0", tap) ||
                !sh_in(ns, err, "ip link set %s up", tap)) {
                return FALSE;
            }
        }
    }
    return TRUE;
}

/* What @argv printed in @ns, or NULL. */
static char *output_in(HNetns *ns, const char *const *argv)
{
    g_autoptr(GError) err = NULL;
    char *output = NULL;

    if (hnetns_run(ns, argv, IP_TIMEOUT_MS, &output, &err) != 0) {
        g_free(output);
        return NULL;
    }
    return output;
}

/* Frames r's taps dropped so far (their "TX" is towards QEMU). */
gint64 tap_dropped(Bed *b)
{
    gint64 sum = 0;

    if (b->setup != SETUP_STANDARD) {
        return -1;
    }
    for (guint h = 0; h < 2; h++) {
        g_autofree char *out = output_in(b->host[h], (const char *[]){
            "cat", "/sys/class/net/tap-r/statistics/tx_dropped", NULL });

        sum += out ? g_ascii_strtoll(out, NULL, 10) : 0;
    }
    return sum;
}

/* Packets the tbf qdiscs of a shaped link dropped so far. */
gint64 qdisc_dropped(Bed *b)
{
    g_autoptr(GRegex) re = g_regex_new("dropped (\\d+)", 0, 0, NULL);
    const char *dev = two_hosts(b) ? "veth0" : "lo";
    gint64 sum = 0;

    if (b->link != LINK_SHAPED) {
        return -1;
    }
    for (guint h = 0; h < (two_hosts(b) ? 2 : 1); h++) {
        g_autofree char *out = output_in(b->host[h], (const char *[]){
            "tc", "-s", "qdisc", "show", "dev", dev, NULL });
        g_autoptr(GMatchInfo) m = NULL;

        if (out && g_regex_match(re, out, 0, &m)) {
            g_autofree char *n = g_match_info_fetch(m, 1);

            sum += g_ascii_strtoll(n, NULL, 10);
        }
    }
    return sum;
}

static HVm *start_vm(Bed *b, guint host, const char *name, const char *ip,
                     const char *mac, const char *netdev,
                     const char *incoming, GError **err)
{
    g_autofree char *secret = b->key_file ?
        g_strdup_printf("secret,id=" BENCH_KEY_SECRET ",file=%s",
                        b->key_file) : NULL;
    const char *const key_args[] = { "-object", secret, NULL };
    HVmConfig cfg = {
        .name = name, .ip = ip, .mac = mac, .netdev = netdev,
        .netns = hnetns_name(b->host[host]), .incoming = incoming,
        .extra_args = secret ? key_args : NULL,
    };

    bench_log("start %s on host %u: %s%s", name, host + 1, netdev,
              incoming ? " (incoming)" : "");
    return hvm_start(&cfg, err);
}

/* A QEMU for r on @host: the first boots r, later ones wait for it. */
HVm *start_r(Bed *b, guint host, const char *incoming, GError **err)
{
    g_autofree char *netdev = NULL;

    if (b->setup == SETUP_LIMEVI) {
        /* A new port each time, as a VM moved to another site would get;
         * the peers learn it from the migration protocol. */
        netdev = g_strdup_printf(
            "limevi,vm=r,vc=vc1,lan=lan1,listen=%s:%u,"
            "routes.0.vm=p,routes.0.endpoint=%s:7101,"
            "key-secret=" BENCH_KEY_SECRET,
            b->addr[host], b->next_port++, b->addr[0]);
    } else {
        netdev = g_strdup("tap,ifname=tap-r,script=no,downscript=no");
    }
    return start_vm(b, host, "r", IP_R "/24", MAC_R, netdev, incoming,
                    err);
}

void bed_free(Bed *b)
{
    if (!b) {
        return;
    }
    /* QEMUs first: a namespace is deleted only once nothing holds it. */
    g_clear_pointer(&b->p, hvm_free);
    g_clear_pointer(&b->r, hvm_free);
    if (two_hosts(b)) {
        g_clear_pointer(&b->host[1], hnetns_free);
    }
    b->host[1] = NULL;
    g_clear_pointer(&b->host[0], hnetns_free);
    if (b->key_file) {
        unlink(b->key_file);
        g_free(b->key_file);
    }
    g_free(b);
}

Bed *bed_new(Setup setup, Link link, GError **err)
{
    Bed *b = g_new0(Bed, 1);
    g_autofree char *netdev_p = NULL;

    b->setup = setup;
    b->link = link;
    if (setup == SETUP_STANDARD || opt.limevi_veth) {
        if (!hosts_new(b, err) ||
            (setup == SETUP_STANDARD && !bridges_new(b, err))) {
            goto fail;
        }
    } else {
        b->host[0] = hnetns_new("bench-lv", err);
        if (!b->host[0]) {
            goto fail;
        }
        b->host[1] = b->host[0];
        b->addr[0] = b->addr[1] = "127.0.0.1";
        /* lo is the only link here: shape it like the veth.  tbf drops
         * what exceeds its burst, so lo's 64 KiB MTU must go. */
        if (link == LINK_SHAPED &&
            (!sh_in(b->host[0], err, "ip link set lo mtu 1500") ||
             !sh_in(b->host[0], err, "tc qdisc add dev lo root tbf rate "
                    SHAPE_RATE " burst 32kbit latency 50ms"))) {
            goto fail;
        }
    }

    if (setup == SETUP_LIMEVI) {
        b->key_file = bench_key_file(err);
        if (!b->key_file) {
            goto fail;
        }
        b->next_port = 7102;
        netdev_p = g_strdup_printf(
            "limevi,vm=p,vc=vc1,lan=lan1,listen=%s:7101,"
            "routes.0.vm=r,routes.0.endpoint=%s:7102,"
            "key-secret=" BENCH_KEY_SECRET, b->addr[0], b->addr[0]);
    } else {
        netdev_p = g_strdup("tap,ifname=tap-p,script=no,downscript=no");
    }
    b->p = start_vm(b, 0, "p", IP_P "/24", MAC_P, netdev_p, NULL, err);
    if (!b->p) {
        goto fail;
    }
    b->r = start_r(b, 0, NULL, err);
    if (!b->r) {
        goto fail;
    }
    b->r_host = 0;
    if (setup == SETUP_LIMEVI) {
        b->next_port = 7110;
    }
    if (!hvm_wait_ready(b->p, BOOT_TIMEOUT_MS, err) ||
        !hvm_wait_ready(b->r, BOOT_TIMEOUT_MS, err)) {
        goto fail;
    }
    return b;

fail:
    bed_free(b);
    return NULL;
}
