/*
 * The shared QMP client against the patched QEMU with no guest
 * ("-machine none"): the typed helpers as QEMU itself answers them, and
 * its refusals with QEMU's class.  Starts in well under a second.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "qmp-client.h"
#include "qmp-commands.h"

#define START_TIMEOUT_MS 10000

typedef struct {
    GSubprocess *proc;
    char *dir;
    char *path;
    LimeviQmp *qmp;
    gboolean running;           /* a running VM, not -incoming defer */
} Qemu;

/* A guestless QEMU with one limevi netdev, waiting for an incoming
 * migration unless @q->running. */
static void qemu_start(Qemu *q)
{
    const char *bin = g_getenv("LIMEVI_QEMU");
    g_autoptr(GError) error = NULL;
    g_autofree char *qmp_arg = NULL;
    g_autoptr(GStrvBuilder) argv = NULL;
    g_auto(GStrv) args = NULL;

    if (!bin || !g_file_test(bin, G_FILE_TEST_IS_EXECUTABLE)) {
        g_error("LIMEVI_QEMU (%s) is not an executable QEMU",
                bin ? bin : "unset");
    }
    q->dir = g_dir_make_tmp("test-qmp-qemu-XXXXXX", &error);
    g_assert_no_error(error);
    q->path = g_build_filename(q->dir, "qmp.sock", NULL);
    qmp_arg = g_strdup_printf("unix:%s,server=on,wait=off", q->path);
    argv = g_strv_builder_new();
    g_strv_builder_add_many(argv, bin, "-machine", "none", "-nodefaults",
                            "-display", "none", "-qmp", qmp_arg, "-netdev",
                            "limevi,id=" LIMEVI_NETDEV_ID ",vm=a,vc=vc1,"
                            "lan=lan1,listen=127.0.0.1:0", NULL);
    if (!q->running) {
        g_strv_builder_add_many(argv, "-incoming", "defer", NULL);
    }
    args = g_strv_builder_end(argv);
    q->proc = g_subprocess_newv((const char *const *)args,
                                G_SUBPROCESS_FLAGS_NONE, &error);
    g_assert_no_error(error);
    q->qmp = limevi_qmp_connect(q->path, START_TIMEOUT_MS, &error);
    g_assert_no_error(error);
}

static void qemu_stop(Qemu *q)
{
    limevi_qmp_run(q->qmp, "quit", NULL, NULL);
    limevi_qmp_free(q->qmp);
    if (!g_subprocess_wait_check(q->proc, NULL, NULL)) {
        g_subprocess_send_signal(q->proc, SIGKILL);
    }
    g_object_unref(q->proc);
    g_unlink(q->path);
    g_rmdir(q->dir);
    g_free(q->path);
    g_free(q->dir);
}

static void test_refusal_is_qemu_class(void)
{
    Qemu q = { 0 };
    g_autoptr(GError) error = NULL;

    qemu_start(&q);
    g_assert_false(limevi_qmp_run(q.qmp, "no-such-command", NULL, &error));
    g_assert_error(error, LIMEVI_QMP_ERROR,
                   LIMEVI_QMP_ERROR_COMMAND_NOT_FOUND);
    g_assert_true(g_str_has_prefix(error->message, "CommandNotFound: "));
    g_clear_error(&error);
    g_assert_false(limevi_qmp_migrate_set_parameter(q.qmp, "downtime-limit",
                                                    -5, &error));
    g_assert_error(error, LIMEVI_QMP_ERROR, LIMEVI_QMP_ERROR_GENERIC);
    qemu_stop(&q);
}

static void test_incoming_on_a_free_port(void)
{
    static const LimeviQmpCapability caps[] = { { "events", TRUE },
                                                { "return-path", TRUE } };
    Qemu q = { 0 };
    g_autoptr(GError) error = NULL;
    g_auto(LimeviQmpMigration) info = { 0 };
    g_autoptr(JsonNode) params = NULL;
    gint64 since = g_get_real_time(), t = 0;
    guint16 port;

    qemu_start(&q);
    g_assert_true(limevi_qmp_migrate_set_capabilities(q.qmp, caps, 2,
                                                      &error));
    g_assert_true(limevi_qmp_migrate_set_parameter(q.qmp, "downtime-limit",
                                                   123, &error));
    g_assert_no_error(error);
    params = limevi_qmp_call(q.qmp, "query-migrate-parameters", NULL,
                             &error);
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(params),
                                               "downtime-limit"), ==, 123);
    port = limevi_qmp_migrate_incoming(q.qmp, "127.0.0.1", &error);
    g_assert_no_error(error);
    g_assert_cmpuint(port, >, 0);
    /* With "events" on, QEMU says so, stamped after we asked. */
    g_assert_true(limevi_qmp_wait_migration(q.qmp, "setup", since, 5000, &t,
                                            &error));
    g_assert_no_error(error);
    g_assert_cmpint(t, >=, since);
    g_assert_true(limevi_qmp_query_migrate(q.qmp, &info, &error));
    g_assert_cmpstr(info.status, ==, "setup");
    g_assert_cmpuint(info.incoming_port, ==, port);
    g_assert_false(limevi_qmp_migration_ended(&info));
    qemu_stop(&q);
}

static void test_limevi_commands(void)
{
    Qemu q = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonArray) ports = NULL;
    JsonArray *routes;
    JsonObject *port, *route;

    qemu_start(&q);
    g_assert_true(limevi_qmp_route_set(q.qmp, "b", "127.0.0.1:7002", NULL,
                                       &error));
    g_assert_no_error(error);
    ports = limevi_qmp_query_limevi(q.qmp, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(json_array_get_length(ports), ==, 1);
    port = json_array_get_object_element(ports, 0);
    routes = json_object_get_array_member(port, "routes");
    g_assert_cmpuint(json_array_get_length(routes), ==, 1);
    route = json_array_get_object_element(routes, 0);
    g_assert_cmpstr(json_object_get_string_member(route, "vm"), ==, "b");
    g_assert_cmpstr(json_object_get_string_member(route, "endpoint"), ==,
                    "127.0.0.1:7002");
    /* An endpoint that is not HOST:PORT: QEMU refuses, in its words. */
    g_assert_false(limevi_qmp_route_set(q.qmp, "b", "not-an-endpoint", NULL,
                                        &error));
    g_assert_error(error, LIMEVI_QMP_ERROR, LIMEVI_QMP_ERROR_GENERIC);
    g_assert_nonnull(strstr(error->message, "not-an-endpoint"));
    qemu_stop(&q);
}

/* STOP and RESUME come as events with QEMU's timestamps, in order. */
static void test_stop_and_resume_events(void)
{
    Qemu q = { .running = TRUE };
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonObject) stop = NULL;
    g_autoptr(JsonObject) resume = NULL;
    gint64 since = g_get_real_time();
    gint64 t_stop = 0, t_resume = 0;

    qemu_start(&q);
    g_assert_true(limevi_qmp_run(q.qmp, "stop", NULL, &error));
    g_assert_true(limevi_qmp_run(q.qmp, "cont", NULL, &error));
    g_assert_no_error(error);
    resume = limevi_qmp_wait_event(q.qmp, "RESUME", since, 5000, &t_resume,
                                   &error);
    g_assert_no_error(error);
    stop = limevi_qmp_wait_event(q.qmp, "STOP", since, 0, &t_stop, &error);
    g_assert_no_error(error);
    g_assert_cmpint(t_stop, >=, since);
    g_assert_cmpint(t_resume, >=, t_stop);
    qemu_stop(&q);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp-qemu/refusal/carries-qemu-class",
                    test_refusal_is_qemu_class);
    g_test_add_func("/qmp-qemu/migrate/incoming-on-a-free-port",
                    test_incoming_on_a_free_port);
    g_test_add_func("/qmp-qemu/limevi/route-set-and-query",
                    test_limevi_commands);
    g_test_add_func("/qmp-qemu/events/stop-then-resume-with-times",
                    test_stop_and_resume_events);
    return g_test_run();
}
