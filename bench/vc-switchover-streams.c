/*
 * The probe streams between the VMs of bench/vc-switchover (every VM
 * streams to the next), what the netdevs and guests dropped, and one run:
 * a VC moved while it streams.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vc-switchover.h"

/* ---- The streams ---- */

/* Every VM receives stream @k from the previous one (on port 7000 + k),
 * then sends its own: long enough for any run, stopped by
 * streams_stop(). */
static gboolean streams_start(Cluster *c, guint k, GError **err)
{
    g_autofree char *tag = g_strdup_printf("rx%u", k);

    for (guint i = 0; i < c->size; i++) {
        g_autofree char *recv = bench_probe_recv_command(tag, 7000 + k,
                                                         RECV_SILENCE_MS);
        g_autofree char *cmd = g_strdup_printf("%s && echo $! > /tmp/%s.pid",
                                               recv, tag);

        if (!console_run(&c->con[i], cmd, CMD_TIMEOUT_MS, NULL, err)) {
            return FALSE;
        }
    }
    for (guint i = 0; i < c->size; i++) {
        g_autofree char *to = vm_ip((i + 1) % c->size);
        g_autofree char *send = g_strdup_printf(
            "probe send --to %s:%u --rate %u --count %u --id v%u.%u "
            "> /tmp/tx%u.json 2>&1 & echo $! > /tmp/tx%u.pid", to, 7000 + k,
            opt.rate, opt.rate * 3600, i, k, k, k);

        if (!console_run(&c->con[i], send, CMD_TIMEOUT_MS, NULL, err)) {
            return FALSE;
        }
    }
    return TRUE;
}

/* What VM @i received of stream @k, once its receiver reported (by
 * @deadline). */
static gboolean stream_result(Cluster *c, guint i, guint k, gint64 deadline,
                              VmSample *v, GError **err)
{
    g_autofree char *cat = g_strdup_printf("cat /tmp/rx%u.json", k);
    g_autofree char *sender = g_strdup_printf("v%u.%u",
                                              (i + c->size - 1) % c->size, k);
    g_autoptr(JsonParser) parser = json_parser_new();

    for (;;) {
        g_autofree char *out = NULL;
        JsonObject *o;

        if (!console_run(&c->con[i], cat, CMD_TIMEOUT_MS, &out, err)) {
            return FALSE;
        }
        if ((o = harness_probe_result(out, sender, parser))) {
            v->received = json_object_get_int_member(o, "received");
            v->duplicated = json_object_get_int_member(o, "duplicated");
            v->reordered = json_object_get_int_member(o, "reordered");
            v->max_gap_ms = json_object_get_double_member(o, "max_gap_ms");
            /* The sender was stopped, not finished: "lost" would count
             * what it never sent.  Lost is what is missing up to the
             * last datagram that arrived. */
            v->lost = v->received ?
                      json_object_get_int_member(o, "last_seq") + 1 -
                      v->received : -1;
            return TRUE;
        }
        if (g_get_monotonic_time() > deadline) {
            g_set_error(err, BENCH_ERROR, 0, "no report from v%u's "
                        "receiver", i);
            return FALSE;
        }
        g_usleep(G_USEC_PER_SEC);
    }
}

/*
 * Stops every sender of @s's streams.  Each receiver reports
 * RECV_SILENCE_MS later: streams_collect() reads them all, so that the
 * next runs need not wait.
 */
static gboolean streams_stop(Cluster *c, Sample *s, GError **err)
{
    guint k = s->stream;
    g_autofree char *stop = g_strdup_printf(
        "kill $(cat /tmp/tx%u.pid) && if [ -s /tmp/rx%u.json ]; then "
        "echo cut; elif ! kill -0 $(cat /tmp/rx%u.pid); then echo gone; fi",
        k, k, k);

    for (guint i = 0; i < c->size; i++) {
        g_autofree char *out = NULL;

        if (!console_run(&c->con[i], stop, CMD_TIMEOUT_MS, &out, err)) {
            return FALSE;
        }
        /* Its receiver already reported: it heard nothing for
         * RECV_SILENCE_MS, and counted only what came before. */
        if (strstr(out, "cut")) {
            s->cut++;
            sample_note(s, "the stream into v%u was cut (silent for %d s)",
                        i, RECV_SILENCE_MS / 1000);
        } else if (strstr(out, "gone")) {
            sample_note(s, "v%u's receiver died", i);
        }
    }
    g_ptr_array_add(c->pending, s);
    c->last_stop = g_get_monotonic_time();
    return TRUE;
}

/* What every VM received in every stream stopped so far. */
void streams_collect(Cluster *c)
{
    gint64 deadline = c->last_stop + (RECV_SILENCE_MS + RESULT_MARGIN_MS) *
                                     G_GINT64_CONSTANT(1000);

    if (c->pending->len) {
        progress("%u VMs: reading what the streams of %u run(s) received",
                 c->size, c->pending->len);
    }
    for (guint p = 0; p < c->pending->len; p++) {
        Sample *s = c->pending->pdata[p];

        s->lost = s->duplicated = 0;
        for (guint i = 0; i < c->size; i++) {
            g_autoptr(GError) err = NULL;
            VmSample *v = &s->vm[i];

            if (!stream_result(c, i, s->stream, deadline, v, &err)) {
                sample_note(s, "%s", err->message);
            }
            if (v->lost < 0) {
                s->lost = -1;
            } else if (s->lost >= 0) {
                s->lost += v->lost;
            }
            s->duplicated += MAX(v->duplicated, 0);
        }
    }
    g_ptr_array_set_size(c->pending, 0);
}

/* ---- Netdev counters ---- */

static gint64 stat_of(JsonObject *o, const char *name)
{
    return o ? json_object_get_int_member_with_default(o, name, 0) : 0;
}

/* Reads each VM's netdev counters where it runs now; a note names what
 * is not zero. */
static void netdev_counters(Cluster *c, Sample *s)
{
    for (guint i = 0; i < c->size; i++) {
        g_autofree char *path = run_path(c, c->site, i, "qmp");
        g_autoptr(LimeviQmp) qmp = limevi_qmp_connect(path,
                                                      CONNECT_TIMEOUT_MS,
                                                      NULL);
        g_autoptr(JsonArray) ports = qmp ? limevi_qmp_query_limevi(qmp, NULL)
                                         : NULL;
        JsonObject *port, *stats, *buffer;
        VmSample *v = &s->vm[i];

        if (!ports || !json_array_get_length(ports)) {
            continue;
        }
        port = json_array_get_object_element(ports, 0);
        stats = json_object_get_object_member(port, "stats");
        buffer = json_object_get_object_member(port, "buffer");
        v->rx_gaps = stat_of(stats, "rx-gaps");
        v->tx_no_route = stat_of(stats, "tx-no-route");
        v->dropped = stat_of(buffer, "dropped") +
                     stat_of(stats, "tx-held-dropped");
        if (v->rx_gaps || v->tx_no_route || v->dropped) {
            sample_note(s, "v%u's netdev: rx-gaps %" G_GINT64_FORMAT
                        ", tx-no-route %" G_GINT64_FORMAT ", dropped %"
                        G_GINT64_FORMAT, i, v->rx_gaps, v->tx_no_route,
                        v->dropped);
        }
    }
}

/* ---- One run ---- */

/* What the guests' own stacks dropped so far (see Sample), summed. */
static gboolean guest_drops(Cluster *c, gint64 *sum, GError **err)
{
    *sum = 0;
    for (guint i = 0; i < c->size; i++) {
        g_autofree char *out = NULL;
        g_auto(GStrv) words = NULL;

        if (!console_run(&c->con[i], "grep Udp: /proc/net/snmp | tail -1 | "
                         "cut -d' ' -f4,6,7; "
                         "cat /sys/class/net/eth0/statistics/tx_dropped",
                         CMD_TIMEOUT_MS, &out, err)) {
            return FALSE;
        }
        words = g_strsplit_set(out, " \r\n", -1);
        for (guint w = 0; words[w]; w++) {
            *sum += g_ascii_strtoll(words[w], NULL, 10);
        }
    }
    return TRUE;
}

/* Moves the VC to the other site by @s->mode while every VM streams. */
static gboolean move_streaming(Cluster *c, guint k, Sample *s, GError **err)
{
    gint64 drops0, drops;
    gboolean moved;

    if (!guest_drops(c, &drops0, err) || !streams_start(c, k, err)) {
        return FALSE;
    }
    g_usleep(STREAM_LEAD_MS * 1000);
    /* limevi and the QEMUs need QMP, which serves one client. */
    if (!bench_check_interrupted(err)) {
        return FALSE;
    }
    bench_log("%u VMs, %s: site %s -> %s", c->size, mode_name[s->mode],
              s->from, s->to);
    moved = s->mode == MODE_LIMEVI ? move_limevi(c, k, s, err)
                                   : move_independent(c, k, s, err);
    if (!moved) {
        return FALSE;
    }
    c->site = !c->site;
    g_usleep(STREAM_TAIL_MS * 1000);
    if (!cluster_consoles(c, CONNECT_TIMEOUT_MS, err) ||
        !streams_stop(c, s, err) || !guest_drops(c, &drops, err)) {
        return FALSE;
    }
    s->guest_dropped = drops - drops0;
    netdev_counters(c, s);
    return TRUE;
}

/* One run: the WAN is started for it alone. */
gboolean run_once(Cluster *c, Sample *s, GError **err)
{
    guint k = ++c->migrations;
    g_autofree char *stats = g_strdup_printf("%s/wan-%u.json", c->dir, k);
    gboolean ok;

    s->stream = k;
    s->from = site_name[c->site];
    s->to = site_name[!c->site];
    if (!wan_start(stats, err)) {
        return FALSE;
    }
    ok = move_streaming(c, k, s, err);
    s->wan_dropped = wan_stop(stats);
    return ok;
}
