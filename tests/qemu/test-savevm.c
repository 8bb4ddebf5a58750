/*
 * A savevm/loadvm snapshot of a VM on -netdev limevi is not a migration:
 * its peers keep their routes to it, traffic keeps flowing, and its port
 * stays active.  The limevi section is only active while a migration runs.
 *
 *   p  198.18.3.1  a peer streaming to r across the snapshot
 *   q  198.18.3.3  a peer streaming to r once it is loaded again
 *   r  198.18.3.2  the VM snapshotted, on a qcow2 disk made over QMP
 *
 *   t  a route r is given between savevm and loadvm, which must outlive
 *      the load: the snapshot holds no limevi state to go back to
 *
 * Every QEMU runs in one network namespace of the test's own.
 */
#include <string.h>
#include <glib/gstdio.h>

#include "harness.h"

#define BOOT_TIMEOUT_MS 180000
#define CMD_TIMEOUT_MS 120000
#define SNAPSHOT_TIMEOUT_MS 60000

#define EP_P "127.0.0.1:7201"
#define EP_R "127.0.0.1:7202"
#define EP_Q "127.0.0.1:7203"
#define EP_T "127.0.0.1:7204"      /* a VM that never runs */

/* p's stream lasts well past a snapshot and its load under TCG. */
#define SPAN_RATE 500
#define SPAN_COUNT (SPAN_RATE * 30)
#define AFTER_COUNT 2000

static HVm *start_vm(HNetns *ns, const char *name, const char *ip,
                     const char *mac, const char *netdev)
{
    g_autoptr(GError) err = NULL;
    HVmConfig cfg = {
        .name = name, .ip = ip, .mac = mac, .netdev = netdev,
        .netns = hnetns_name(ns),
    };
    HVm *vm = hvm_start(&cfg, &err);

    g_assert_no_error(err);
    return vm;
}

/* Boots p, q and r, each with routes to the other two. */
static void start_vms(HNetns *ns, HVm **p, HVm **q, HVm **r)
{
    g_autoptr(GError) err = NULL;
    HVm *all[3];

    *p = start_vm(ns, "p", "198.18.3.1/24", "52:54:00:18:03:01",
                  "limevi,vm=p,vc=vc1,lan=lan1,listen=" EP_P
                  ",routes.0.vm=r,routes.0.endpoint=" EP_R
                  ",routes.1.vm=q,routes.1.endpoint=" EP_Q);
    *q = start_vm(ns, "q", "198.18.3.3/24", "52:54:00:18:03:03",
                  "limevi,vm=q,vc=vc1,lan=lan1,listen=" EP_Q
                  ",routes.0.vm=r,routes.0.endpoint=" EP_R
                  ",routes.1.vm=p,routes.1.endpoint=" EP_P);
    *r = start_vm(ns, "r", "198.18.3.2/24", "52:54:00:18:03:02",
                  "limevi,vm=r,vc=vc1,lan=lan1,listen=" EP_R
                  ",routes.0.vm=p,routes.0.endpoint=" EP_P
                  ",routes.1.vm=q,routes.1.endpoint=" EP_Q);
    all[0] = *p; all[1] = *q; all[2] = *r;
    for (guint i = 0; i < G_N_ELEMENTS(all); i++) {
        if (!hvm_wait_ready(all[i], BOOT_TIMEOUT_MS, &err)) {
            g_error("%s did not boot: %s\n%s", hvm_name(all[i]),
                    err->message, hvm_console(all[i]));
        }
    }
}

/* Runs QMP @cmd with the arguments @b built; asserts it succeeds and
 * returns its "return" value (json_node_unref() it). */
static JsonNode *qmp_ok(HVm *vm, const char *cmd, JsonBuilder *b)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) args = b ? json_builder_get_root(b) : NULL;
    g_autofree char *json = args ? json_to_string(args, FALSE) : NULL;
    JsonNode *ret = hvm_qmp(vm, cmd, json, &err);

    if (!ret) {
        g_error("%s: %s %s: %s", hvm_name(vm), cmd, json ? json : "",
                err->message);
    }
    return ret;
}

/* An HMP command that must print nothing, as savevm and loadvm do when
 * they succeed. */
static void hmp_quiet(HVm *vm, const char *line)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) ret = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "command-line");
    json_builder_add_string_value(b, line);
    json_builder_end_object(b);
    ret = qmp_ok(vm, "human-monitor-command", b);
    g_assert_cmpstr(json_node_get_string(ret), ==, "");
}

/* Waits for job @id to conclude without an error, then dismisses it. */
static void job_finish(HVm *vm, const char *id)
{
    gint64 deadline = harness_deadline(SNAPSHOT_TIMEOUT_MS);
    g_autoptr(JsonBuilder) b = json_builder_new();

    for (;;) {
        g_autoptr(JsonNode) jobs = qmp_ok(vm, "query-jobs", NULL);
        JsonArray *list = json_node_get_array(jobs);
        JsonObject *job = NULL;

        for (guint i = 0; i < json_array_get_length(list); i++) {
            JsonObject *o = json_array_get_object_element(list, i);

            if (!strcmp(json_object_get_string_member(o, "id"), id)) {
                job = o;
            }
        }
        g_assert_nonnull(job);
        if (!strcmp(json_object_get_string_member(job, "status"),
                    "concluded")) {
            g_assert_cmpstr(json_object_get_string_member_with_default(
                                job, "error", NULL), ==, NULL);
            break;
        }
        g_assert_cmpint(harness_remaining_ms(deadline), >, 0);
        g_usleep(100000);
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_string_value(b, id);
    json_builder_end_object(b);
    json_node_unref(qmp_ok(vm, "job-dismiss", b));
}

/* Gives @vm a 16 MiB qcow2 node at @path, where savevm keeps its
 * snapshots: made with blockdev-create, as the build has no qemu-img. */
static void snapshot_disk_add(HVm *vm, const char *path)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonBuilder) file = json_builder_new();
    g_autoptr(JsonBuilder) create = json_builder_new();
    g_autoptr(JsonBuilder) disk = json_builder_new();

    g_assert_true(g_file_set_contents(path, "", 0, &err));
    json_builder_begin_object(file);
    json_builder_set_member_name(file, "driver");
    json_builder_add_string_value(file, "file");
    json_builder_set_member_name(file, "node-name");
    json_builder_add_string_value(file, "snap-file");
    json_builder_set_member_name(file, "filename");
    json_builder_add_string_value(file, path);
    json_builder_end_object(file);
    json_node_unref(qmp_ok(vm, "blockdev-add", file));

    json_builder_begin_object(create);
    json_builder_set_member_name(create, "job-id");
    json_builder_add_string_value(create, "snap-create");
    json_builder_set_member_name(create, "options");
    json_builder_begin_object(create);
    json_builder_set_member_name(create, "driver");
    json_builder_add_string_value(create, "qcow2");
    json_builder_set_member_name(create, "file");
    json_builder_add_string_value(create, "snap-file");
    json_builder_set_member_name(create, "size");
    json_builder_add_int_value(create, 16 * 1024 * 1024);
    json_builder_end_object(create);
    json_builder_end_object(create);
    json_node_unref(qmp_ok(vm, "blockdev-create", create));
    job_finish(vm, "snap-create");

    json_builder_begin_object(disk);
    json_builder_set_member_name(disk, "driver");
    json_builder_add_string_value(disk, "qcow2");
    json_builder_set_member_name(disk, "node-name");
    json_builder_add_string_value(disk, "snap-disk");
    json_builder_set_member_name(disk, "file");
    json_builder_add_string_value(disk, "snap-file");
    json_builder_end_object(disk);
    json_node_unref(qmp_ok(vm, "blockdev-add", disk));
}

/* Adds @vm's route to @peer at @endpoint with limevi-route-set. */
static void route_add(HVm *vm, const char *peer, const char *endpoint)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "netdev");
    json_builder_add_string_value(b, "n0");
    json_builder_set_member_name(b, "vm");
    json_builder_add_string_value(b, peer);
    json_builder_set_member_name(b, "endpoint");
    json_builder_add_string_value(b, endpoint);
    json_builder_end_object(b);
    json_node_unref(qmp_ok(vm, "limevi-route-set", b));
}

/* "ENDPOINT STATUS epoch N" of @peer's route at @vm: one string, so a
 * route that changed in any of the three shows in one comparison. */
static char *route_at(HVm *vm, const char *peer)
{
    JsonNode *holder;
    JsonObject *r = hvm_limevi_route(vm, peer, &holder);
    char *s = g_strdup_printf("%s %s epoch %" G_GINT64_FORMAT,
                              json_object_get_string_member(r, "endpoint"),
                              json_object_get_string_member(r, "status"),
                              json_object_get_int_member(r, "epoch"));

    json_node_unref(holder);
    return s;
}

/* @vm's port state and its "rx-frames" counter. */
static char *port_of(HVm *vm, gint64 *rx_frames)
{
    JsonNode *holder;
    JsonObject *o = hvm_limevi_port(vm, &holder);
    char *state = g_strdup(json_object_get_string_member(o, "state"));

    *rx_frames = json_object_get_int_member(
        json_object_get_object_member(o, "stats"), "rx-frames");
    json_node_unref(holder);
    return state;
}

/* How many LIMEVI_ROUTE_CHANGED events @vm sent, waiting @timeout_ms
 * for each; 0 drains those of the boot. */
static guint route_events(HVm *vm, guint timeout_ms)
{
    guint n = 0;

    for (;;) {
        g_autoptr(GError) err = NULL;
        JsonNode *ev = hvm_qmp_wait_event(vm, "LIMEVI_ROUTE_CHANGED",
                                          timeout_ms, &err);

        if (!ev) {
            return n;
        }
        g_autofree char *json = json_to_string(ev, FALSE);

        g_test_message("%s: %s", hvm_name(vm), json);
        json_node_unref(ev);
        n++;
    }
}

/* The peers' routes to r as they were, no route event, r's port active
 * and its counters not rewound (a snapshot does not hold them). */
static void assert_untouched(HVm *p, HVm *q, HVm *r, const char *route_p,
                             const char *route_q, gint64 *rx_frames,
                             const char *after)
{
    g_autofree char *now_p = route_at(p, "r");
    g_autofree char *now_q = route_at(q, "r");
    g_autofree char *state = NULL;
    gint64 rx;

    g_test_message("after %s: p has r at %s, q at %s", after, now_p, now_q);
    g_assert_cmpstr(now_p, ==, route_p);
    g_assert_cmpstr(now_q, ==, route_q);
    g_assert_cmpuint(route_events(p, 1000), ==, 0);
    g_assert_cmpuint(route_events(q, 0), ==, 0);
    state = port_of(r, &rx);
    g_assert_cmpstr(state, ==, "active");
    g_assert_cmpint(rx, >=, *rx_frames);
    *rx_frames = rx;
}

/* @sender's line in r's probe output @out, parsed by @parser. */
static JsonObject *result_of(const char *out, const char *sender,
                             JsonParser *parser)
{
    JsonObject *o = harness_probe_result(out, sender, parser);

    if (!o) {
        g_error("no probe result from %s in:\n%s", sender, out);
    }
    return o;
}

/* r's probe output @out: q's stream whole, p's stream up to its end. */
static void assert_streams(const char *out)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *res = result_of(out, "after", parser);

    g_assert_cmpint(json_object_get_int_member(res, "received"), ==,
                    AFTER_COUNT);
    g_assert_cmpint(json_object_get_int_member(res, "lost"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(res, "duplicated"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(res, "reordered"), ==, 0);
    /*
     * What r got of p's stream between savevm and loadvm went with the
     * guest memory loadvm replaced; the rest arrives once and in order,
     * up to its last frame, sent after the load.
     */
    res = result_of(out, "span", parser);
    g_assert_cmpint(json_object_get_int_member(res, "last_seq"), ==,
                    SPAN_COUNT - 1);
    g_assert_cmpint(json_object_get_int_member(res, "duplicated"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(res, "reordered"), ==, 0);
}

static void test_snapshot_leaves_routes_and_traffic(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(HNetns) ns = hnetns_new("savevm", &err);
    g_autofree char *dir = g_dir_make_tmp("limevi-savevm-XXXXXX", &err);
    g_autofree char *disk = g_build_filename(dir, "r.qcow2", NULL);
    g_autoptr(HVm) p = NULL;
    g_autoptr(HVm) q = NULL;
    g_autoptr(HVm) r = NULL;
    g_autofree char *route_p = NULL;
    g_autofree char *route_q = NULL;
    g_autofree char *route_t = NULL;
    g_autofree char *route_t_loaded = NULL;
    g_autofree char *out = NULL;
    g_autofree char *state = NULL;
    gint64 rx_frames;

    g_assert_no_error(err);
    start_vms(ns, &p, &q, &r);
    snapshot_disk_add(r, disk);

    route_p = route_at(p, "r");
    route_q = route_at(q, "r");
    g_assert_true(g_str_has_prefix(route_p, EP_R " valid "));
    g_assert_true(g_str_has_prefix(route_q, EP_R " valid "));
    route_events(p, 0);
    route_events(q, 0);
    state = port_of(r, &rx_frames);
    g_assert_cmpstr(state, ==, "active");

    g_free(hvm_exec_ok(r, "probe recv --port 7000 --senders 2 --rcvbuf 16777216 "
                       "--timeout-ms 60000 --ready-file /tmp/rx.ready "
                       "> /tmp/rx.json 2>&1 & i=0; "
                       "while [ ! -e /tmp/rx.ready ] && [ $i -lt 200 ]; do "
                       "sleep 0.05; i=$((i+1)); done; [ -e /tmp/rx.ready ]",
                       CMD_TIMEOUT_MS));
    out = g_strdup_printf("probe send --to 198.18.3.2:7000 --rate %u "
                          "--count %u --size 100 --id span "
                          "> /tmp/send.json 2>&1 &", SPAN_RATE, SPAN_COUNT);
    g_free(hvm_exec_ok(p, out, CMD_TIMEOUT_MS));
    g_usleep(2 * G_USEC_PER_SEC);

    hmp_quiet(r, "savevm snap0");
    assert_untouched(p, q, r, route_p, route_q, &rx_frames, "savevm");
    /* A route r learns after the snapshot: its load must not undo it. */
    route_add(r, "t", EP_T);
    route_t = route_at(r, "t");
    hmp_quiet(r, "loadvm snap0");
    assert_untouched(p, q, r, route_p, route_q, &rx_frames, "loadvm");
    route_t_loaded = route_at(r, "t");
    g_assert_cmpstr(route_t_loaded, ==, route_t);

    /* p's stream spans the load (it is still sending); q's starts after
     * it, all of it sent to a guest that was loaded from the snapshot. */
    g_free(hvm_exec_ok(p, "[ ! -s /tmp/send.json ]", CMD_TIMEOUT_MS));
    g_clear_pointer(&out, g_free);
    out = g_strdup_printf("probe send --to 198.18.3.2:7000 --rate 500 "
                          "--count %u --size 100 --id after", AFTER_COUNT);
    g_free(hvm_exec_ok(q, out, CMD_TIMEOUT_MS));
    g_free(hvm_exec_ok(p, "wait", CMD_TIMEOUT_MS));
    g_clear_pointer(&out, g_free);
    out = hvm_exec_ok(r, "wait; cat /tmp/rx.json", CMD_TIMEOUT_MS);
    g_test_message("r received:\n%s", out);

    assert_streams(out);
    assert_untouched(p, q, r, route_p, route_q, &rx_frames, "the streams");

    g_clear_pointer(&r, hvm_free);
    g_unlink(disk);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    harness_require(TRUE);

    g_test_add_func("/savevm/snapshot-leaves-peer-routes-and-traffic",
                    test_snapshot_leaves_routes_and_traffic);
    return g_test_run();
}
