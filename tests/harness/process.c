/*
 * Processes: bounded waits, killing by PID, one-shot commands and
 * programs expected to fail, and the check of what the tests need.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "harness-private.h"

#define POLL_US (10 * 1000)

static void die_with_parent(gpointer data)
{
    /* Survives exec, also that of "ip netns exec" into QEMU. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

GSubprocessLauncher *harness_launcher_new(GSubprocessFlags flags)
{
    GSubprocessLauncher *launcher = g_subprocess_launcher_new(flags);

    g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL,
                                          NULL);
    return launcher;
}

gboolean harness_wait_process(GSubprocess *proc, guint timeout_ms)
{
    gint64 deadline = harness_deadline(timeout_ms);

    /* GLib's worker thread reaps the child; the identifier goes NULL then. */
    while (g_subprocess_get_identifier(proc)) {
        if (g_get_monotonic_time() >= deadline) {
            return FALSE;
        }
        g_usleep(POLL_US);
    }
    /* Completes at once, and makes the exit status readable. */
    g_subprocess_wait(proc, NULL, NULL);
    return TRUE;
}

void harness_kill_process(GSubprocess *proc)
{
    if (g_subprocess_get_identifier(proc)) {
        g_subprocess_force_exit(proc);
    }
    /* SIGKILL cannot be ignored: this ends promptly. */
    if (!harness_wait_process(proc, 10000)) {
        g_warning("harness: pid %s survived SIGKILL",
                  g_subprocess_get_identifier(proc));
    }
}

int harness_process_status(GSubprocess *proc)
{
    if (g_subprocess_get_if_exited(proc)) {
        return g_subprocess_get_exit_status(proc);
    }
    return 128 + g_subprocess_get_term_sig(proc);
}

/* Runs @argv with its stdout and stderr in files, ended by @timeout_ms. */
static int run_to_file(const char *const *argv, guint timeout_ms,
                       gboolean merge, char **captured, GError **err)
{
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GSubprocess) proc = NULL;
    g_autofree char *path = NULL;
    int status, fd;

    /* A file, not a pipe: a chatty process cannot block on it. */
    fd = g_file_open_tmp("limevi-run-XXXXXX", &path, err);
    if (fd < 0) {
        return -1;
    }
    close(fd);
    launcher = harness_launcher_new(
        merge ? G_SUBPROCESS_FLAGS_STDERR_MERGE
              : G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_subprocess_launcher_set_stdin_file_path(launcher, "/dev/null");
    if (merge) {
        g_subprocess_launcher_set_stdout_file_path(launcher, path);
    } else {
        g_subprocess_launcher_set_stderr_file_path(launcher, path);
    }
    proc = g_subprocess_launcher_spawnv(launcher, argv, err);
    if (!proc) {
        g_unlink(path);
        return -1;
    }
    if (!harness_wait_process(proc, timeout_ms)) {
        harness_kill_process(proc);
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_TIMEOUT,
                    "%s still running after %u ms: killed", argv[0],
                    timeout_ms);
        g_unlink(path);
        return -1;
    }
    status = harness_process_status(proc);
    if (captured && !g_file_get_contents(path, captured, NULL, err)) {
        status = -1;
    }
    g_unlink(path);
    return status;
}

int harness_run(const char *const *argv, guint timeout_ms, char **output,
                GError **err)
{
    return run_to_file(argv, timeout_ms, TRUE, output, err);
}

int harness_run_expect_fail(const char *const *argv, guint timeout_ms,
                            char **stderr_out, GError **err)
{
    return run_to_file(argv, timeout_ms, FALSE, stderr_out, err);
}

static void bail_out(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void bail_out(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* A failure, not a skip: "make check" builds what is missing first. */
    g_print("Bail out! %s\n", msg);
    g_printerr("%s\n", msg);
    exit(1);
}

void harness_require(gboolean need_root)
{
    const char *qemu = g_getenv("LIMEVI_QEMU");
    const char *dir = g_getenv("LIMEVI_GUEST_DIR");
    const char *files[] = { "vmlinux", "initrd.img" };

    if (!qemu || !*qemu) {
        bail_out("LIMEVI_QEMU is not set: run these tests with "
                 "'make check', which builds QEMU");
    }
    if (!g_file_test(qemu, G_FILE_TEST_IS_EXECUTABLE)) {
        bail_out("LIMEVI_QEMU=%s is not an executable: run 'make qemu'",
                 qemu);
    }
    if (!dir || !*dir) {
        bail_out("LIMEVI_GUEST_DIR is not set: run these tests with "
                 "'make check', which builds the guest");
    }
    for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *path = g_build_filename(dir, files[i], NULL);

        if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
            bail_out("%s is missing: run 'make guest'", path);
        }
    }
    if (need_root && geteuid() != 0) {
        bail_out("these tests create network namespaces: run them as root");
    }
}
