/*
 * One run of bench/migration-blackout: p streams to r while r migrates
 * to the other host; probe's counts and QEMU's times.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>

#include "migration-blackout.h"

/* Runs @cmd in @vm's guest, failing unless it exits 0. */
static char *guest_ok(HVm *vm, const char *cmd, GError **err)
{
    char *out = NULL;
    int status = hvm_exec(vm, cmd, CMD_TIMEOUT_MS, &out, err);

    if (status < 0) {
        g_prefix_error(err, "%s: '%s': ", hvm_name(vm), cmd);
        g_free(out);
        return NULL;
    }
    if (status != 0) {
        g_set_error(err, BENCH_ERROR, 0, "%s: '%s' exited %d: %s",
                    hvm_name(vm), cmd, status, out ? g_strchomp(out) : "");
        g_free(out);
        return NULL;
    }
    return out ? out : g_strdup("");
}

static gboolean guest_do(HVm *vm, const char *cmd, GError **err)
{
    g_autofree char *out = guest_ok(vm, cmd, err);

    return out != NULL;
}

/* Moves r into a new QEMU on @to; fills @res. */
static gboolean migrate_r(Bed *b, guint to, HMigrateResult *res,
                          GError **err)
{
    /* The same capabilities for both setups: only the network differs. */
    HMigrateOptions mopts = {
        .return_path = TRUE, .switchover_ack = TRUE,
        .timeout_ms = MIGRATE_TIMEOUT_MS, .address = b->addr[to],
    };
    HVm *dst = start_r(b, to, "defer", err);

    if (!dst) {
        return FALSE;
    }
    bench_log("migrate r: host %u -> host %u", b->r_host + 1, to + 1);
    if (!hvm_migrate(b->r, dst, &mopts, res, err)) {
        g_autofree char *text = hvm_stderr(b->r);

        /* A failed send is only explained on the source's stderr. */
        if (err && *err && *g_strstrip(text)) {
            g_autofree char *old = (*err)->message;

            (*err)->message = g_strdup_printf("%s; source stderr: %s", old,
                                              text);
        }
        hvm_free(dst);
        return FALSE;
    }
    if (b->setup == SETUP_LIMEVI) {
        /* Done for LimeVI once every peer sends to the new place. */
        JsonNode *ev = hvm_qmp_wait_event(dst, "LIMEVI_PEERS_SYNCED",
                                          SYNC_TIMEOUT_MS, err);

        if (!ev) {
            hvm_free(dst);
            return FALSE;
        }
        json_node_unref(ev);
    }
    /* The source's tap (standard) is free again once its QEMU is gone:
     * a later migration back can take it. */
    hvm_free(b->r);
    b->r = dst;
    b->r_host = to;
    return TRUE;
}

/* Starts "probe recv" on @vm in the background into /tmp/@tag.json and
 * waits until it is bound, or the first datagrams would be refused. */
static gboolean recv_start(HVm *vm, const char *tag, guint port,
                           GError **err)
{
    g_autofree char *cmd = bench_probe_recv_command(tag, port, 10000);

    return guest_do(vm, cmd, err);
}

/* The JSON line about @sender in @vm's /tmp/@tag.json (both "probe
 * send" and "probe recv" print one), once every background job of the
 * guest has ended.  Valid until @parser parses again. */
static JsonObject *recv_result(HVm *vm, const char *tag, const char *sender,
                               JsonParser *parser, GError **err)
{
    g_autofree char *cmd = g_strdup_printf("wait; cat /tmp/%s.json", tag);
    g_autofree char *out = guest_ok(vm, cmd, err);
    JsonObject *o;

    if (!out) {
        return NULL;
    }
    if ((o = harness_probe_result(out, sender, parser))) {
        return o;
    }
    g_set_error(err, BENCH_ERROR, 0, "%s: no probe result from %s in: %s",
                hvm_name(vm), sender, out);
    return NULL;
}

/* One measured migration of r from host 1 to host 2 while p streams. */
gboolean run_once(Bed *b, Sample *s, GError **err)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *tag = g_strdup_printf("rx%u", s->run);
    g_autofree char *id = g_strdup_printf("p%u", s->run);
    g_autofree char *send = NULL;
    g_autofree char *send_tag = g_strdup_printf("send-p%u", s->run);
    guint port = 7000 + s->run;
    guint count = opt.rate * opt.seconds;
    HMigrateResult res;
    gint64 t0, tap0, qdisc0;
    JsonObject *o;

    /* Every measured run starts with r on host 1, beside p. */
    if (b->r_host != 0 && two_hosts(b)) {
        if (!migrate_r(b, 0, &res, err)) {
            g_prefix_error(err, "moving r back to host 1: ");
            return FALSE;
        }
        /* Let the announcements of the move back settle. */
        g_usleep(G_USEC_PER_SEC);
    }
    if (!bench_check_interrupted(err) || !recv_start(b->r, tag, port, err)) {
        return FALSE;
    }
    tap0 = tap_dropped(b);
    qdisc0 = qdisc_dropped(b);
    send = g_strdup_printf("probe send --to " IP_R ":%u --rate %u "
                           "--count %u --size %u --id %s "
                           "> /tmp/%s.json 2>&1 &", port, opt.rate,
                           count, opt.size, id, send_tag);
    t0 = g_get_monotonic_time();
    if (!guest_do(b->p, send, err)) {
        return FALSE;
    }
    g_usleep(opt.lead_ms * 1000);
    if (!bench_check_interrupted(err) || !migrate_r(b, 1, &res, err)) {
        return FALSE;
    }
    s->completed_at_ms = (g_get_monotonic_time() - t0) / 1000;
    s->downtime_ms = res.downtime_ms;
    s->pause_ms = res.pause_ms;
    s->total_ms = res.total_time_ms;

    /* The sender's own report: how many it sent and for how long (a
     * starved TCG guest falls behind its schedule, then catches up). */
    o = recv_result(b->p, send_tag, id, parser, err);
    if (!o) {
        return FALSE;
    }
    s->sent = json_object_get_int_member_with_default(o, "sent", -1);
    s->stream_ms = json_object_get_double_member_with_default(
        o, "duration_ms", -1);
    /* t0 is before the sender started: the check errs towards "late". */
    s->in_stream = s->completed_at_ms < s->stream_ms;

    o = recv_result(b->r, tag, id, parser, err);
    if (!o) {
        return FALSE;
    }
    s->received = json_object_get_int_member_with_default(o, "received", -1);
    s->lost = json_object_get_int_member_with_default(o, "lost", -1);
    s->duplicated = json_object_get_int_member_with_default(o, "duplicated",
                                                            -1);
    s->reordered = json_object_get_int_member_with_default(o, "reordered",
                                                           -1);
    s->max_gap_ms = json_object_get_double_member_with_default(
        o, "max_gap_ms", -1);
    s->tap_dropped = tap0 < 0 ? -1 : tap_dropped(b) - tap0;
    s->qdisc_dropped = qdisc0 < 0 ? -1 : qdisc_dropped(b) - qdisc0;
    return TRUE;
}
