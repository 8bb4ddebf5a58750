/*
 * limevi start, stop, status and migrate: option parsing and output; the
 * work is in launch.c, locate.c and vcmigrate.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "commands.h"
#include "disks.h"
#include "gateway-cmds.h"
#include "launch.h"
#include "virt.h"
#include "locate.h"
#include "vcmigrate.h"

/* Parses @entries and the one VC-FILE argument; prints usage errors. */
static LimeviVc *parse_vc_args(int *argc, char ***argv, const char *name,
                               const char *summary, GOptionEntry *entries,
                               int *status)
{
    g_autofree char *param = g_strdup("VC-FILE");
    g_autoptr(GOptionContext) ctx = g_option_context_new(param);
    g_autoptr(GError) error = NULL;
    LimeviVc *vc;

    g_option_context_set_summary(ctx, summary);
    if (entries) {
        g_option_context_add_main_entries(ctx, entries, NULL);
    }
    if (!g_option_context_parse(ctx, argc, argv, &error)) {
        g_printerr("limevi: %s: %s\n", name, error->message);
        *status = EXIT_USAGE;
        return NULL;
    }
    if (*argc != 2) {
        g_printerr("limevi: %s: expects one VC-FILE; see 'limevi %s "
                   "--help'\n", name, name);
        *status = EXIT_USAGE;
        return NULL;
    }
    vc = limevi_vc_load((*argv)[1], &error);
    if (!vc) {
        g_printerr("limevi: %s\n", error->message);
        *status = EXIT_FAILED;
    }
    return vc;
}

int limevi_cmd_start(int argc, char **argv)
{
    int status = EXIT_OK;
    g_autoptr(LimeviVc) vc = parse_vc_args(&argc, &argv, "start",
        "Starts every VM of the VC that runs nowhere, on the host the VC file "
        "names.", NULL, &status);
    g_autoptr(GPtrArray) locs = NULL;

    if (!vc) {
        return status;
    }
    /* Gateways first: a VM that asks for DHCP at boot finds one. */
    start_gateways(vc, &status);
    locs = limevi_locate(vc);
    for (guint i = 0; i < locs->len; i++) {
        LimeviLocation *loc = locs->pdata[i];
        const LimeviVcHost *host = limevi_vc_host(vc, loc->vm->host);
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) qemu = NULL;
        GPid pid;

        if (loc->host) {
            g_print("%s: already runs on %s\n", loc->vm->name,
                    loc->host->name);
            continue;
        }
        if (host->libvirt) {
            if (!limevi_virt_start(vc, loc->vm, host, &error)) {
                g_printerr("limevi: %s\n", error->message);
                status = EXIT_FAILED;
            } else {
                g_print("%s: started on %s (libvirt)\n", loc->vm->name,
                        host->name);
            }
            continue;
        }
        qemu = limevi_launch_argv(vc, loc->vm, host, FALSE, &error);
        if (!qemu || !limevi_disks_prepare(vc, loc->vm, host, &error) ||
            !(pid = limevi_launch(qemu, loc->vm, host, &error))) {
            g_printerr("limevi: %s\n", error->message);
            status = EXIT_FAILED;
            continue;
        }
        g_print("%s: started on %s (pid %d)\n", loc->vm->name, host->name,
                (int)pid);
    }
    return status;
}

int limevi_cmd_stop(int argc, char **argv)
{
    int status = EXIT_OK;
    g_autoptr(LimeviVc) vc = parse_vc_args(&argc, &argv, "stop",
        "Quits every QEMU of the VC's VMs, on every host, and its "
        "gateways.", NULL, &status);

    if (!vc) {
        return status;
    }
    for (guint i = 0; i < vc->vms->len; i++) {
        const LimeviVcVm *vm = vc->vms->pdata[i];

        for (guint h = 0; h < vc->hosts->len; h++) {
            const LimeviVcHost *host = vc->hosts->pdata[h];
            g_autofree char *path = limevi_launch_path(host, vm, "qmp");
            g_autoptr(LimeviQmp) qmp = NULL;

            if (!g_file_test(path, G_FILE_TEST_EXISTS) ||
                !(qmp = limevi_qmp_connect(path, 2000, NULL))) {
                continue;
            }
            if (limevi_qmp_run(qmp, "quit", NULL, NULL)) {
                g_print("%s: stopped on %s\n", vm->name, host->name);
            }
        }
    }
    stop_gateways(vc, &status);
    return status;
}

char *limevi_routes_text(JsonArray *routes)
{
    g_autoptr(GString) s = g_string_new(NULL);

    for (guint r = 0; routes && r < json_array_get_length(routes); r++) {
        JsonObject *o = json_array_get_object_element(routes, r);

        g_string_append_printf(s, "%s%s=%s%s", s->len ? " " : "",
                               json_object_get_string_member(o, "vm"),
                               json_object_get_string_member(o, "endpoint"),
                               g_str_equal(json_object_get_string_member(
                                   o, "status"), "valid") ? "" : "(invalid)");
    }
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* Every QEMU of a VM, running or left over, as [{host, run_state}]. */
static void add_qemus(JsonBuilder *b, GPtrArray *qemus)
{
    json_builder_begin_array(b);
    for (guint q = 0; q < qemus->len; q++) {
        const LimeviQemu *qemu = qemus->pdata[q];

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "host");
        json_builder_add_string_value(b, qemu->host->name);
        json_builder_set_member_name(b, "run_state");
        json_builder_add_string_value(b, qemu->status);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

/* Every member's route to a VM must point where it runs: the routes of
 * @loc's port that do not, each said on stderr. */
static guint wrong_routes(GPtrArray *locs, LimeviLocation *loc,
                          JsonArray *routes)
{
    guint wrong = 0;

    for (guint r = 0; routes && r < json_array_get_length(routes); r++) {
        JsonObject *o = json_array_get_object_element(routes, r);
        const char *peer = json_object_get_string_member(o, "vm");
        const char *endpoint = json_object_get_string_member(o, "endpoint");

        for (guint k = 0; k < locs->len; k++) {
            LimeviLocation *other = locs->pdata[k];
            g_autofree char *want = NULL;

            if (strcmp(other->vm->name, peer) || !other->host) {
                continue;
            }
            want = g_strdup_printf("%s:%u", other->host->address,
                                   other->vm->port);
            if (strcmp(want, endpoint)) {
                wrong++;
                g_printerr("limevi: %s sends %s's frames to %s, but %s "
                           "runs at %s\n", loc->vm->name, peer, endpoint,
                           peer, want);
            }
        }
    }
    return wrong;
}

/* One VM of `status --json`. */
static void add_location(JsonBuilder *b, LimeviLocation *loc,
                         const char *state, JsonArray *routes)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vm");
    json_builder_add_string_value(b, loc->vm->name);
    json_builder_set_member_name(b, "host");
    json_builder_add_string_value(b, loc->host ? loc->host->name : NULL);
    json_builder_set_member_name(b, "site");
    json_builder_add_string_value(b, loc->host ? loc->host->site : NULL);
    json_builder_set_member_name(b, "running");
    json_builder_add_int_value(b, loc->running);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, state);
    json_builder_set_member_name(b, "qemus");
    add_qemus(b, loc->qemus);
    json_builder_set_member_name(b, "routes");
    if (routes) {
        JsonNode *node = json_node_new(JSON_NODE_ARRAY);

        json_node_set_array(node, routes);
        json_builder_add_value(b, node);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_end_object(b);
}

int limevi_cmd_status(int argc, char **argv)
{
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "one JSON object", NULL },
        { NULL }
    };
    int status = EXIT_OK;
    g_autoptr(LimeviVc) vc = parse_vc_args(&argc, &argv, "status",
        "Shows where each VM of the VC runs, its state, its routes as every "
        "member sees them, and any disagreement.", entries, &status);
    g_autoptr(GPtrArray) locs = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    guint disagreements = 0;

    if (!vc) {
        return status;
    }
    locs = limevi_locate(vc);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "vc");
    json_builder_add_string_value(b, vc->name);
    json_builder_set_member_name(b, "vms");
    json_builder_begin_array(b);
    if (!json) {
        g_print("%-10s %-8s %-6s %-8s %-11s %s\n", "VM", "host", "site",
                "lan", "state", "routes");
    }
    for (guint i = 0; i < locs->len; i++) {
        LimeviLocation *loc = locs->pdata[i];
        JsonNode *ret = loc->qmp ? limevi_qmp_call(loc->qmp, "query-limevi",
                                                   NULL, NULL) : NULL;
        JsonObject *port = ret && json_array_get_length(
            json_node_get_array(ret)) ? json_array_get_object_element(
                json_node_get_array(ret), 0) : NULL;
        JsonArray *routes = port ? json_object_get_array_member(port, "routes")
                                 : NULL;
        g_autofree char *text = limevi_routes_text(routes);
        const char *state = port ? json_object_get_string_member(port, "state")
                                 : loc->running > 1 ? "running-twice"
                                                    : "not-running";

        if (loc->running != 1) {
            disagreements++;
        }
        disagreements += wrong_routes(locs, loc, routes);
        add_location(b, loc, state, routes);
        if (!json) {
            g_print("%-10s %-8s %-6s %-8s %-11s %s\n", loc->vm->name,
                    loc->host ? loc->host->name : "-",
                    loc->host ? loc->host->site : "-", loc->vm->lan, state,
                    text);
        }
        if (ret) {
            json_node_unref(ret);
        }
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "gateways");
    disagreements += status_gateways(vc, locs, b, json);
    json_builder_set_member_name(b, "disagreements");
    json_builder_add_int_value(b, disagreements);
    json_builder_end_object(b);
    if (json) {
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        g_autofree char *out = json_to_string(root, FALSE);

        g_print("%s\n", out);
    } else if (disagreements) {
        g_print("%u disagreement%s\n", disagreements,
                disagreements > 1 ? "s" : "");
    }
    return disagreements ? EXIT_FAILED : EXIT_OK;
}

/* What limevi migrate's options set, before they are checked. */
typedef struct {
    char *site, *report, *svg, *journal, *crash_at;
    gboolean json, keep, resume, split;
    gint downtime, timeout, mbit;
} MigrateArgs;

static void migrate_args_clear(MigrateArgs *a)
{
    g_free(a->crash_at);
    g_free(a->journal);
    g_free(a->site);
    g_free(a->report);
    g_free(a->svg);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(MigrateArgs, migrate_args_clear)

/* Option values missing, that do not go together or out of range: said
 * on stderr. */
static gboolean migrate_args_ok(const MigrateArgs *a)
{
    if (!a->site && !a->resume) {
        g_printerr("limevi: migrate: --to SITE is required\n");
        return FALSE;
    }
    if (a->split && !a->resume) {
        g_printerr("limevi: migrate: --force-split goes with --resume\n");
        return FALSE;
    }
    if (a->downtime < 1 || a->timeout < 1 || a->mbit < 0) {
        g_printerr("limevi: migrate: --downtime-limit and --timeout must be "
                   "positive, --bandwidth not negative\n");
        return FALSE;
    }
    return TRUE;
}

/* @opts from @a, which it points into; the journal defaults to
 * ~/.local/state/limevi/VC.db. */
static void migrate_options_from_args(const LimeviVc *vc, MigrateArgs *a,
                                      LimeviMigrateOptions *opts)
{
    opts->site = a->site;
    opts->json = a->json;
    opts->report = a->report;
    opts->svg = a->svg;
    opts->downtime_limit_ms = a->downtime;
    opts->timeout_s = a->timeout;
    opts->bandwidth = (guint64)a->mbit * 1000 * 1000 / 8;
    opts->keep_sources = a->keep;
    if (!a->journal) {
        g_autofree char *file = g_strdup_printf("%s.db", vc->name);

        a->journal = g_build_filename(g_get_user_state_dir(), "limevi", file,
                                      NULL);
    }
    opts->journal = a->journal;
    opts->resume = a->resume;
    opts->force_split = a->split;
    opts->crash_at = a->crash_at;
}

int limevi_cmd_migrate(int argc, char **argv)
{
    g_auto(MigrateArgs) a = { .downtime = 300, .timeout = 600 };
    GOptionEntry entries[] = {
        { "to", 0, 0, G_OPTION_ARG_STRING, &a.site,
          "the site to move the VC to (required)", "SITE" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &a.json,
          "progress as JSON lines", NULL },
        { "report", 0, 0, G_OPTION_ARG_FILENAME, &a.report,
          "write the report as JSON to FILE", "FILE" },
        { "svg", 0, 0, G_OPTION_ARG_FILENAME, &a.svg,
          "draw the timeline of every VM to FILE", "FILE" },
        { "downtime-limit", 0, 0, G_OPTION_ARG_INT, &a.downtime,
          "QEMU's downtime limit per VM (default 300)", "MS" },
        { "bandwidth", 0, 0, G_OPTION_ARG_INT, &a.mbit,
          "WAN bandwidth shared by the VC's migrations", "MBIT" },
        { "timeout", 0, 0, G_OPTION_ARG_INT, &a.timeout,
          "give up (and roll back) after this long (default 600)", "S" },
        { "journal", 0, 0, G_OPTION_ARG_FILENAME, &a.journal,
          "the SQLite journal (default ~/.local/state/limevi/VC.db)",
          "FILE" },
        { "resume", 0, 0, G_OPTION_ARG_NONE, &a.resume,
          "finish or roll back a migration whose coordinator died", NULL },
        { "force-split", 0, 0, G_OPTION_ARG_NONE, &a.split,
          "with --resume: finish the VMs that can move even if others "
          "cannot", NULL },
        { "keep-sources", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE,
          &a.keep, NULL, NULL },
        /* Test seam for --resume: SIGKILL itself once STEP is journaled. */
        { "x-crash-at", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING,
          &a.crash_at, NULL, NULL },
        { NULL }
    };
    int status = EXIT_OK;
    g_autoptr(LimeviVc) vc = parse_vc_args(&argc, &argv, "migrate",
        "Moves every VM of the VC to SITE together: one switchover for all, "
        "and every VM back at its source if anything fails before it.\n\n"
        "Example:\n  limevi migrate vc1.conf --to B --report report.json",
        entries, &status);
    LimeviMigrateOptions opts = { 0 };

    if (!vc) {
        return status;
    }
    if (!migrate_args_ok(&a)) {
        return EXIT_USAGE;
    }
    migrate_options_from_args(vc, &a, &opts);
    return a.resume ? limevi_vc_migrate_resume(vc, &opts)
                    : limevi_vc_migrate(vc, &opts);
}

int limevi_cmd_route_set(int argc, char **argv)
{
    int status = EXIT_OK;
    g_autoptr(LimeviVc) vc = NULL;
    g_autoptr(GPtrArray) locs = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("VC-FILE VM PEER HOST:PORT");
    const char *vm_name, *peer, *endpoint;

    g_option_context_set_summary(ctx,
        "Points VM's route to PEER (a VM or an endpoint outside the VC "
        "file, such as limevi-tap) at HOST:PORT.\n\n"
        "Example:\n  limevi route-set vc1.conf web tap0 198.18.0.9:7000");
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        g_printerr("limevi: route-set: %s\n", error->message);
        return EXIT_USAGE;
    }
    if (argc != 5) {
        g_printerr("limevi: route-set: expects VC-FILE VM PEER HOST:PORT; "
                   "see 'limevi route-set --help'\n");
        return EXIT_USAGE;
    }
    vm_name = argv[2];
    peer = argv[3];
    endpoint = argv[4];
    vc = limevi_vc_load(argv[1], &error);
    if (!vc) {
        g_printerr("limevi: %s\n", error->message);
        return EXIT_FAILED;
    }
    if (!limevi_vc_vm(vc, vm_name)) {
        g_printerr("limevi: route-set: %s has no VM '%s'\n", argv[1],
                   vm_name);
        return EXIT_USAGE;
    }
    locs = limevi_locate(vc);
    for (guint i = 0; i < locs->len; i++) {
        LimeviLocation *loc = locs->pdata[i];

        if (strcmp(loc->vm->name, vm_name)) {
            continue;
        }
        if (!loc->qmp) {
            g_printerr("limevi: route-set: VM %s does not run\n", vm_name);
            return EXIT_FAILED;
        }
        if (!limevi_qmp_route_set(loc->qmp, peer, endpoint, NULL,
                                  &error)) {
            g_printerr("limevi: route-set: %s\n", error->message);
            status = EXIT_FAILED;
        }
    }
    return status;
}
