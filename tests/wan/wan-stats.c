/*
 * limevi-wan's counters as JSON, printed on SIGUSR1 and at exit.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <json-glib/json-glib.h>

#include "wan.h"

static void add_stats(JsonBuilder *b, const WanStats *s, guint64 queued)
{
    json_builder_set_member_name(b, "frames");
    json_builder_add_int_value(b, s->frames);
    json_builder_set_member_name(b, "bytes");
    json_builder_add_int_value(b, s->bytes);
    json_builder_set_member_name(b, "dropped_loss");
    json_builder_add_int_value(b, s->dropped_loss);
    json_builder_set_member_name(b, "dropped_queue");
    json_builder_add_int_value(b, s->dropped_queue);
    json_builder_set_member_name(b, "send_errors");
    json_builder_add_int_value(b, s->send_errors);
    json_builder_set_member_name(b, "in_flight");
    json_builder_add_int_value(b, queued);
}

static void add_link(JsonBuilder *b, Wan *wan, WanLink *link)
{
    const WanParams *p = &link->path[0].params;
    g_autofree char *name = g_strdup_printf("%s-%s",
                                            wan->sites[link->a].name,
                                            wan->sites[link->b].name);
    WanStats sum = { 0 };
    guint64 queued = 0;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "link");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "delay_ms");
    json_builder_add_double_value(b, p->delay_ns / 1e6);
    json_builder_set_member_name(b, "jitter_ms");
    json_builder_add_double_value(b, p->jitter_ns / 1e6);
    json_builder_set_member_name(b, "loss_percent");
    json_builder_add_double_value(b, p->loss * 100);
    json_builder_set_member_name(b, "rate_bps");
    json_builder_add_int_value(b, p->rate_bps);
    json_builder_set_member_name(b, "queue_bytes");
    json_builder_add_int_value(b, p->queue_bytes);
    json_builder_set_member_name(b, "directions");
    json_builder_begin_array(b);
    for (int d = 0; d < 2; d++) {
        const WanPath *path = &link->path[d];
        guint from = d ? link->b : link->a, to = d ? link->a : link->b;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "from");
        json_builder_add_string_value(b, wan->sites[from].name);
        json_builder_set_member_name(b, "to");
        json_builder_add_string_value(b, wan->sites[to].name);
        add_stats(b, &path->stats, path->frames.length);
        json_builder_end_object(b);
        sum.frames += path->stats.frames;
        sum.bytes += path->stats.bytes;
        sum.dropped_loss += path->stats.dropped_loss;
        sum.dropped_queue += path->stats.dropped_queue;
        sum.send_errors += path->stats.send_errors;
        queued += path->frames.length;
    }
    json_builder_end_array(b);
    add_stats(b, &sum, queued);
    json_builder_end_object(b);
}

char *wan_stats_json(Wan *wan)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "seed");
    json_builder_add_int_value(b, wan->seed);
    json_builder_set_member_name(b, "links");
    json_builder_begin_array(b);
    for (guint i = 0; i < wan->n_links; i++) {
        add_link(b, wan, &wan->links[i]);
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "sites");
    json_builder_begin_array(b);
    for (guint i = 0; i < wan->n_sites; i++) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "site");
        json_builder_add_string_value(b, wan->sites[i].name);
        json_builder_set_member_name(b, "interface");
        json_builder_add_string_value(b, wan->sites[i].ifname);
        json_builder_set_member_name(b, "rx_frames");
        json_builder_add_int_value(b, wan->sites[i].rx_frames);
        json_builder_set_member_name(b, "rx_bytes");
        json_builder_add_int_value(b, wan->sites[i].rx_bytes);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);

    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    return json_generator_to_data(gen, NULL);
}
