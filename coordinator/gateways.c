/*
 * The VC's gateways as processes: a detached limevi-gateway per
 * [gateway] group, found again through its pid file and control socket.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>

#include "gateways.h"
#include "launch.h"

#define GATEWAY_START_MS 10000
#define GATEWAY_STOP_MS 5000
#define GATEWAY_POLL_MS 50

char *limevi_gateway_path(const LimeviVc *vc, const LimeviVcGateway *gw,
                          const char *suffix)
{
    const LimeviVcHost *host = limevi_vc_host(vc, gw->host);
    g_autofree char *file = g_strdup_printf("%s.%s", gw->name, suffix);

    return g_build_filename(host->run_dir, file, NULL);
}

GPid limevi_gateway_pid(const LimeviVc *vc, const LimeviVcGateway *gw)
{
    g_autofree char *pidfile = limevi_gateway_path(vc, gw, "pid");
    g_autofree char *text = NULL;
    g_autofree char *proc = NULL;
    g_autofree char *cmdline = NULL;
    gsize len;
    guint64 pid;

    if (!g_file_get_contents(pidfile, &text, NULL, NULL) ||
        !g_ascii_string_to_unsigned(g_strstrip(text), 10, 1, G_MAXINT, &pid,
                                    NULL)) {
        return 0;
    }
    /* A pid file outlives its process; the PID may be another's now. */
    proc = g_strdup_printf("/proc/%" G_GUINT64_FORMAT "/cmdline", pid);
    if (!g_file_get_contents(proc, &cmdline, &len, NULL) || len == 0 ||
        !g_str_has_suffix(cmdline, "limevi-gateway")) {
        return 0;
    }
    return (GPid)pid;
}

/* The gateway's last line of output: its reason for not starting. */
static char *last_line(const char *log)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    guint n;

    if (!g_file_get_contents(log, &text, NULL, NULL)) {
        return g_strdup("no output");
    }
    lines = g_strsplit(g_strstrip(text), "\n", -1);
    n = g_strv_length(lines);
    return g_strdup(n ? lines[n - 1] : "no output");
}

static void child_setup(gpointer data)
{
    (void)data;
    /* Its own session: it outlives `limevi start` and its terminal. */
    setsid();
}

static GSubprocess *spawn(const LimeviVc *vc, const LimeviVcGateway *gw,
                          const char *log, const char *control,
                          GError **error)
{
    const LimeviVcHost *host = limevi_vc_host(vc, gw->host);
    const char *env = g_getenv("LIMEVI_GATEWAY");
    g_autofree char *program = env ? g_strdup(env)
                                   : g_find_program_in_path("limevi-gateway");
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) args = limevi_vc_gateway_args(vc, gw, control);
    g_autoptr(GSubprocessLauncher) launcher = NULL;

    if (!program) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                    "gateway %s: limevi-gateway is not in PATH (or set "
                    "LIMEVI_GATEWAY)", gw->name);
        return NULL;
    }
    limevi_launch_netns_prefix(argv, host);
    g_ptr_array_add(argv, g_steal_pointer(&program));
    for (guint i = 0; i < args->len; i++) {
        g_ptr_array_add(argv, g_strdup(args->pdata[i]));
    }
    g_ptr_array_add(argv, NULL);
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_INHERIT |
                                         G_SUBPROCESS_FLAGS_STDERR_MERGE);
    g_subprocess_launcher_set_stdout_file_path(launcher, log);
    g_subprocess_launcher_set_child_setup(launcher, child_setup, NULL, NULL);
    return g_subprocess_launcher_spawnv(launcher,
                                        (const char *const *)argv->pdata,
                                        error);
}

GPid limevi_gateway_start(const LimeviVc *vc, const LimeviVcGateway *gw,
                          GError **error)
{
    const LimeviVcHost *host = limevi_vc_host(vc, gw->host);
    g_autofree char *log = limevi_gateway_path(vc, gw, "log");
    g_autofree char *control = limevi_gateway_path(vc, gw, "ctl");
    g_autofree char *pidfile = limevi_gateway_path(vc, gw, "pid");
    g_autofree char *pid_text = NULL;
    g_autoptr(GSubprocess) proc = NULL;
    const char *id;
    GPid pid;

    if (g_mkdir_with_parents(host->run_dir, 0700) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "gateway %s: cannot create %s: %s", gw->name,
                    host->run_dir, g_strerror(errno));
        return 0;
    }
    unlink(pidfile);
    unlink(control);
    proc = spawn(vc, gw, log, control, error);
    if (!proc) {
        g_prefix_error(error, "gateway %s on %s: ", gw->name, host->name);
        return 0;
    }
    id = g_subprocess_get_identifier(proc);
    pid = id ? atoi(id) : 0;
    for (guint waited = 0; waited < GATEWAY_START_MS;
         waited += GATEWAY_POLL_MS) {
        g_autoptr(JsonNode) stats = NULL;

        if (!g_subprocess_get_identifier(proc)) {
            g_autofree char *why = last_line(log);

            g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                        "gateway %s on %s did not start: %s", gw->name,
                        host->name, why);
            return 0;
        }
        if (g_file_test(control, G_FILE_TEST_EXISTS) &&
            (stats = limevi_gateway_stats(vc, gw, NULL))) {
            pid_text = g_strdup_printf("%d\n", (int)pid);
            if (!g_file_set_contents(pidfile, pid_text, -1, error)) {
                kill(pid, SIGTERM);
                return 0;
            }
            return pid;
        }
        g_usleep(GATEWAY_POLL_MS * 1000);
    }
    kill(pid, SIGTERM);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                "gateway %s on %s: no answer on %s after %d ms", gw->name,
                host->name, control, GATEWAY_START_MS);
    return 0;
}

gboolean limevi_gateway_stop(const LimeviVc *vc, const LimeviVcGateway *gw,
                             GError **error)
{
    GPid pid = limevi_gateway_pid(vc, gw);
    g_autofree char *pidfile = limevi_gateway_path(vc, gw, "pid");

    if (!pid) {
        return FALSE;
    }
    if (kill(pid, SIGTERM) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "gateway %s: kill %d: %s", gw->name, (int)pid,
                    g_strerror(errno));
        return FALSE;
    }
    for (guint waited = 0; waited < GATEWAY_STOP_MS;
         waited += GATEWAY_POLL_MS) {
        if (!limevi_gateway_pid(vc, gw)) {
            unlink(pidfile);
            return TRUE;
        }
        g_usleep(GATEWAY_POLL_MS * 1000);
    }
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                "gateway %s (pid %d) still runs %d ms after SIGTERM",
                gw->name, (int)pid, GATEWAY_STOP_MS);
    return FALSE;
}

JsonNode *limevi_gateway_stats(const LimeviVc *vc, const LimeviVcGateway *gw,
                               GError **error)
{
    g_autofree char *control = limevi_gateway_path(vc, gw, "ctl");
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(control);
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GDataInputStream) in = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *line = NULL;

    g_socket_client_set_timeout(client, 2);
    conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL,
                                   error);
    if (!conn) {
        g_prefix_error(error, "gateway %s: ", gw->name);
        return NULL;
    }
    in = g_data_input_stream_new(
        g_io_stream_get_input_stream(G_IO_STREAM(conn)));
    line = g_data_input_stream_read_line_utf8(in, NULL, NULL, error);
    if (!line) {
        if (error && !*error) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                        "gateway %s: %s closed without a line", gw->name,
                        control);
        }
        return NULL;
    }
    if (!json_parser_load_from_data(parser, line, -1, error)) {
        g_prefix_error(error, "gateway %s: ", gw->name);
        return NULL;
    }
    return json_node_copy(json_parser_get_root(parser));
}
