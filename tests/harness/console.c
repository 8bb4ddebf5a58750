/*
 * Commands over a guest's serial console: the test guest's init reads
 * "SEQ COMMAND" lines and ends each command's output with
 * "@@LIMEVI-END SEQ STATUS".  The console is QEMU's stdio (the harness's
 * guests) or a unix socket chardev (VMs the coordinator starts).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <gio/gunixsocketaddress.h>

#include "harness-private.h"

#define END_MARK "@@LIMEVI-END "
#define CONSOLE_TAIL 600
#define CONNECT_RETRY_US (100 * 1000)

void hconsole_init(HConsole *c, const char *name, GOutputStream *in,
                   int out_fd, GString *log)
{
    *c = (HConsole){ .name = g_strdup(name), .in = in };
    hlines_init(&c->out, out_fd, log);
}

void hconsole_clear(HConsole *c)
{
    hlines_clear(&c->out);
    g_clear_object(&c->conn);
    g_clear_pointer(&c->name, g_free);
    c->in = NULL;
}

gboolean hconsole_connect(HConsole *c, const char *name, const char *path,
                          gint64 deadline, GError **err)
{
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    GSocketConnection *conn = NULL;

    while (!conn) {
        g_autoptr(GError) local = NULL;

        conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr),
                                       NULL, &local);
        if (!conn && g_get_monotonic_time() > deadline) {
            g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_TIMEOUT,
                        "%s: console %s: %s", name, path, local->message);
            return FALSE;
        }
        if (!conn) {
            g_usleep(CONNECT_RETRY_US);
        }
    }
    hconsole_init(c, name, g_io_stream_get_output_stream(G_IO_STREAM(conn)),
                  g_socket_get_fd(g_socket_connection_get_socket(conn)),
                  NULL);
    c->conn = conn;
    return TRUE;
}

const char *hconsole_tail(HConsole *c)
{
    GString *log = c->out.log;

    if (!log) {
        return "";
    }
    return log->len > CONSOLE_TAIL ? log->str + log->len - CONSOLE_TAIL
                                   : log->str;
}

/* Parses "SEQ STATUS" after the end mark; FALSE if it is not that. */
static gboolean parse_end(const char *s, guint *seq, int *status)
{
    char *end;
    guint64 n = g_ascii_strtoull(s, &end, 10);

    if (end == s || *end != ' ' || n > G_MAXUINT) {
        return FALSE;
    }
    *seq = (guint)n;
    s = end + 1;
    *status = (int)g_ascii_strtoll(s, &end, 10);
    return end != s && *end == '\0';
}

/* Sends "SEQ CMD" (after @prefix) and returns SEQ, or 0 with @err set. */
static guint send_command(HConsole *c, const char *prefix, const char *cmd,
                          GError **err)
{
    guint seq = ++c->seq;
    g_autofree char *line = g_strdup_printf("%s%u %s\n", prefix, seq, cmd);

    /* A pipe or socket buffer holds a one-line command: no blocking. */
    if (!g_output_stream_write_all(c->in, line, strlen(line), NULL, NULL,
                                   err) ||
        !g_output_stream_flush(c->in, NULL, err)) {
        g_prefix_error(err, "%s: console: ", c->name);
        return 0;
    }
    return seq;
}

/* Reads up to the end mark of a command numbered @first or later
 * (earlier ones timed out); its status, or -1 with @err set. */
static int read_result(HConsole *c, guint first, gint64 deadline,
                       char **output, GError **err)
{
    g_autoptr(GString) out = g_string_new(NULL);

    for (;;) {
        GError *local = NULL;
        g_autofree char *got = hlines_read(&c->out, deadline, &local);
        char *mark;
        guint seq;
        int status;

        if (!got) {
            g_propagate_prefixed_error(err, local, "%s: console: ",
                                       c->name);
            return -1;
        }
        /* Output without a final newline runs into the mark. */
        mark = strstr(got, END_MARK);
        if (mark && parse_end(mark + strlen(END_MARK), &seq, &status)) {
            g_string_append_len(out, got, mark - got);
            if (seq >= first) {
                if (output) {
                    *output = g_string_free(g_steal_pointer(&out), FALSE);
                }
                return status;
            }
            g_string_truncate(out, 0);
            continue;
        }
        g_string_append(out, got);
        g_string_append_c(out, '\n');
    }
}

gboolean hconsole_sync(HConsole *c, gint64 deadline, GError **err)
{
    guint seq = send_command(c, "\n", "true", err);

    if (!seq) {
        return FALSE;
    }
    c->sync_first = c->sync_first ? c->sync_first : seq;
    if (read_result(c, c->sync_first, deadline, NULL, err) < 0) {
        return FALSE;
    }
    c->sync_first = 0;
    return TRUE;
}

int hconsole_exec(HConsole *c, const char *cmd, gint64 deadline,
                  char **output, GError **err)
{
    guint seq;

    if (strchr(cmd, '\n')) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s: a command is one line", c->name);
        return -1;
    }
    seq = send_command(c, "", cmd, err);
    return seq ? read_result(c, seq, deadline, output, err) : -1;
}

/* @local as @err, with what a reader of a failed test needs. */
static void exec_error(HVm *vm, const char *cmd, GError *local, GError **err)
{
    g_autofree char *qemu_err = hvm_stderr(vm);

    g_set_error(err, HARNESS_ERROR,
                local->domain == HARNESS_ERROR ? local->code
                                               : HARNESS_ERROR_FAILED,
                "'%s': %s; console ends with:\n%s\nQEMU stderr: %s", cmd,
                local->message, hconsole_tail(&vm->console), qemu_err);
    g_error_free(local);
}

int hvm_exec(HVm *vm, const char *cmd, guint timeout_ms, char **output,
             GError **err)
{
    gint64 deadline = harness_deadline(timeout_ms);
    GError *local = NULL;
    int status;

    if (!vm->ready) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s: not ready: call hvm_wait_ready() first%s", vm->name,
                    vm->incoming ? " (or migrate a guest into it)" : "");
        return -1;
    }
    /* After a migration the console may start mid-line (what the guest
     * printed as it was stopped): a no-op after a newline resyncs. */
    if (vm->resync) {
        if (!hconsole_sync(&vm->console, deadline, &local)) {
            g_prefix_error(&local, "resynchronizing after migration: ");
            exec_error(vm, cmd, local, err);
            return -1;
        }
        vm->resync = FALSE;
    }
    status = hconsole_exec(&vm->console, cmd, deadline, output, &local);
    if (status < 0) {
        exec_error(vm, cmd, local, err);
    }
    return status;
}

char *hvm_exec_ok(HVm *vm, const char *cmd, guint timeout_ms)
{
    g_autoptr(GError) err = NULL;
    char *out = NULL;
    int status = hvm_exec(vm, cmd, timeout_ms, &out, &err);

    if (err) {
        g_error("%s: '%s': %s\nconsole:\n%s", hvm_name(vm), cmd,
                err->message, hvm_console(vm));
    }
    if (status != 0) {
        g_error("%s: '%s' exited %d:\n%s", hvm_name(vm), cmd, status, out);
    }
    return out;
}
