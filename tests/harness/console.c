/*
 * Commands over the serial console: the guest's init reads "SEQ COMMAND"
 * lines and ends each command's output with "@@LIMEVI-END SEQ STATUS".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdlib.h>
#include <string.h>

#include "harness-private.h"

#define END_MARK "@@LIMEVI-END "
#define CONSOLE_TAIL 600

/* The console's last lines, for a failure message. */
static const char *console_tail(HVm *vm)
{
    GString *log = vm->console_log;

    return log->len > CONSOLE_TAIL ? log->str + log->len - CONSOLE_TAIL
                                   : log->str;
}

/* Parses "SEQ STATUS" after the end mark; FALSE if it is not that. */
static gboolean parse_end(const char *s, guint *seq, int *status)
{
    char *end;
    guint64 n = g_ascii_strtoull(s, &end, 10);

    if (end == s || *end != ' ') {
        return FALSE;
    }
    *seq = (guint)n;
    s = end + 1;
    *status = (int)g_ascii_strtoll(s, &end, 10);
    return end != s && *end == '\0';
}

/* Sends "SEQ CMD" (after @prefix) and returns @seq, or 0 with @err set. */
static guint send_command(HVm *vm, const char *prefix, const char *cmd,
                          GError **err)
{
    guint seq = ++vm->seq;
    g_autofree char *line = g_strdup_printf("%s%u %s\n", prefix, seq, cmd);

    /* The pipe holds 64 KiB: a one-line command never blocks here. */
    if (!g_output_stream_write_all(vm->console_in, line, strlen(line), NULL,
                                   NULL, err) ||
        !g_output_stream_flush(vm->console_in, NULL, err)) {
        g_prefix_error(err, "%s: console: ", vm->name);
        return 0;
    }
    return seq;
}

/* Reads the output of command @seq up to its end mark; its status, or -1
 * with @err set. */
static int read_result(HVm *vm, const char *cmd, guint seq, gint64 deadline,
                       char **output, GError **err)
{
    GString *out = g_string_new(NULL);

    for (;;) {
        GError *local = NULL;
        g_autofree char *got = hlines_read(&vm->console, deadline, &local);
        char *mark;
        guint got_seq;
        int status;

        if (!got) {
            g_autofree char *qemu_err = hvm_stderr(vm);

            g_set_error(err, HARNESS_ERROR, local->code,
                        "%s: '%s': %s; console ends with:\n%s\n"
                        "QEMU stderr: %s", vm->name, cmd, local->message,
                        console_tail(vm), qemu_err);
            g_error_free(local);
            g_string_free(out, TRUE);
            return -1;
        }
        /* Output without a final newline runs into the mark. */
        mark = strstr(got, END_MARK);
        if (mark && parse_end(mark + strlen(END_MARK), &got_seq, &status)) {
            g_string_append_len(out, got, mark - got);
            if (got_seq == seq) {
                if (output) {
                    *output = g_string_free(out, FALSE);
                } else {
                    g_string_free(out, TRUE);
                }
                return status;
            }
            /* The end of a command that timed out: not ours. */
            g_string_truncate(out, 0);
            continue;
        }
        g_string_append(out, got);
        g_string_append_c(out, '\n');
    }
}

/*
 * After a migration the console may start mid-line (what the guest
 * printed as it was stopped, the rest of a background command's output):
 * a no-op command, after a newline that ends any partial input line,
 * and everything up to its end mark is thrown away.
 */
static gboolean resync(HVm *vm, gint64 deadline, GError **err)
{
    guint seq = send_command(vm, "\n", "true", err);

    if (!seq || read_result(vm, "true", seq, deadline, NULL, err) < 0) {
        g_prefix_error(err, "resynchronizing after migration: ");
        return FALSE;
    }
    vm->resync = FALSE;
    return TRUE;
}

int hvm_exec(HVm *vm, const char *cmd, guint timeout_ms, char **output,
             GError **err)
{
    gint64 deadline = harness_deadline(timeout_ms);
    guint seq;

    if (!vm->ready) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s: not ready: call hvm_wait_ready() first%s", vm->name,
                    vm->incoming ? " (or migrate a guest into it)" : "");
        return -1;
    }
    if (strchr(cmd, '\n')) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s: a command is one line", vm->name);
        return -1;
    }
    if (vm->resync && !resync(vm, deadline, err)) {
        return -1;
    }
    seq = send_command(vm, "", cmd, err);
    if (!seq) {
        return -1;
    }
    return read_result(vm, cmd, seq, deadline, output, err);
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
