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

int hvm_exec(HVm *vm, const char *cmd, guint timeout_ms, char **output,
             GError **err)
{
    gint64 deadline = harness_deadline(timeout_ms);
    g_autofree char *line = NULL;
    GString *out;
    guint seq;

    if (!vm->ready) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s: not ready: call hvm_wait_ready() first", vm->name);
        return -1;
    }
    if (strchr(cmd, '\n')) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "%s: a command is one line", vm->name);
        return -1;
    }
    seq = ++vm->seq;
    line = g_strdup_printf("%u %s\n", seq, cmd);
    /* The pipe holds 64 KiB: a one-line command never blocks here. */
    if (!g_output_stream_write_all(vm->console_in, line, strlen(line), NULL,
                                   NULL, err) ||
        !g_output_stream_flush(vm->console_in, NULL, err)) {
        g_prefix_error(err, "%s: console: ", vm->name);
        return -1;
    }

    out = g_string_new(NULL);
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
