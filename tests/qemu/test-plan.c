/*
 * `limevi migrate`'s plan (docs/cli.md, step 1) against real, guestless
 * QEMUs ("-machine none"): a VM that runs on two hosts, or on none (no
 * QEMU, or only a paused one), and a move between a libvirt host and a
 * plain one are refused before anything changes.  The plan reads where
 * each VM runs from QEMU itself (query-status over RUN-DIR/VM.qmp), as
 * here.  Each case takes well under a second; no root, no namespace.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "qmp-client.h"

#define START_TIMEOUT_MS 10000
#define RUN_TIMEOUT_S 20

typedef struct {
    char *dir;
    char *vc_file;
    char *journal;
    GPtrArray *qemus;           /* GSubprocess *, killed at the end */
} Plan;

/* The PIDs of the QEMUs started, for a signal handler. */
static pid_t pids[8];
static guint n_pids;

static const char *env_path(const char *name)
{
    const char *v = g_getenv(name);

    if (!v || !g_file_test(v, G_FILE_TEST_IS_EXECUTABLE)) {
        g_error("%s (%s) is not an executable: run this with 'make check'",
                name, v ? v : "unset");
    }
    return v;
}

static char *run_dir(Plan *p, const char *host)
{
    return g_build_filename(p->dir, host, NULL);
}

static char *qmp_path(Plan *p, const char *host, const char *vm)
{
    g_autofree char *file = g_strdup_printf("%s.qmp", vm);

    return g_build_filename(p->dir, host, file, NULL);
}

/*
 * The VC: hosts a1 (site A) and b1 (site B), plain or libvirt hosts as
 * @a_libvirt and @b_libvirt say, and VMs v1 and v2 started at a1.  No
 * libvirtd is needed: the plan refuses before it would ask one.
 */
static void plan_setup(Plan *p, gboolean a_libvirt, gboolean b_libvirt)
{
    static const char *const vms[] = { "v1", "v2" };
    g_autoptr(GString) s = g_string_new("[vc]\nname = vc1\nlans = lan1\ninsecure = yes\n\n");
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;

    p->dir = g_dir_make_tmp("limevi-plan-XXXXXX", &error);
    g_assert_no_error(error);
    p->vc_file = g_build_filename(p->dir, "vc1.conf", NULL);
    p->journal = g_build_filename(p->dir, "journal.db", NULL);
    p->qemus = g_ptr_array_new_with_free_func(g_object_unref);
    xml = g_build_filename(p->dir, "domain.xml", NULL);
    g_assert_true(g_file_set_contents(xml, "<domain/>\n", -1, NULL));
    for (guint h = 0; h < 2; h++) {
        const char *name = h ? "b1" : "a1";
        g_autofree char *dir = run_dir(p, name);

        g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
        g_string_append_printf(s, "[host %s]\nsite = %s\naddress = "
                               "127.0.0.1\nrun-dir = %s\n", name,
                               h ? "B" : "A", dir);
        if (h ? b_libvirt : a_libvirt) {
            g_string_append(s, "libvirt = qemu+unix:///system?socket="
                               "/nonexistent/libvirt-sock\n");
        }
        g_string_append_c(s, '\n');
    }
    for (guint i = 0; i < G_N_ELEMENTS(vms); i++) {
        g_string_append_printf(s, "[vm %s]\nhost = a1\nlan = lan1\n"
                               "mac = 52:54:00:18:00:0%u\nmemory = 64\n"
                               "port = 700%u\n", vms[i], i + 1, i + 1);
        if (a_libvirt) {
            g_string_append_printf(s, "domain = %s\n\n", xml);
        } else {
            g_string_append_printf(s, "qemu = %s -machine none\n\n",
                                   env_path("LIMEVI_QEMU"));
        }
    }
    g_assert_true(g_file_set_contents(p->vc_file, s->str, -1, &error));
    g_assert_no_error(error);
}

/* A guestless QEMU of @vm on @host, its QMP where limevi looks for it;
 * with @paused, stopped before it ran (-S: "prelaunch"). */
static void qemu_on(Plan *p, const char *host, const char *vm,
                    gboolean paused)
{
    g_autofree char *path = qmp_path(p, host, vm);
    g_autofree char *qmp_arg = g_strdup_printf("unix:%s,server=on,wait=off",
                                               path);
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviQmp) qmp = NULL;
    GSubprocess *proc = g_subprocess_new(G_SUBPROCESS_FLAGS_NONE, &error,
        env_path("LIMEVI_QEMU"), "-machine", "none", "-nodefaults",
        "-display", "none", "-qmp", qmp_arg, paused ? "-S" : NULL, NULL);

    g_assert_no_error(error);
    g_ptr_array_add(p->qemus, proc);
    g_assert_cmpuint(n_pids, <, G_N_ELEMENTS(pids));
    pids[n_pids++] = atoi(g_subprocess_get_identifier(proc));
    /* Up: it answers (and lets go of the socket for limevi). */
    qmp = limevi_qmp_connect(path, START_TIMEOUT_MS, &error);
    g_assert_no_error(error);
}

/* QEMU's run state of @vm on @host, asked as limevi asks it. */
static char *run_state(Plan *p, const char *host, const char *vm)
{
    g_autofree char *path = qmp_path(p, host, vm);
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviQmp) qmp = limevi_qmp_connect(path, START_TIMEOUT_MS,
                                                  &error);
    JsonNode *ret;
    char *status;

    g_assert_no_error(error);
    ret = limevi_qmp_call(qmp, "query-status", NULL, &error);
    g_assert_no_error(error);
    status = g_strdup(json_object_get_string_member(json_node_get_object(ret),
                                                    "status"));
    json_node_unref(ret);
    return status;
}

static void kill_qemus(Plan *p)
{
    for (guint i = 0; p && i < p->qemus->len; i++) {
        g_subprocess_send_signal(p->qemus->pdata[i], SIGKILL);
    }
    n_pids = 0;
}

static void on_abort(int sig)
{
    signal(SIGABRT, SIG_DFL);
    for (guint i = 0; i < n_pids; i++) {
        kill(pids[i], SIGKILL);
    }
    raise(SIGABRT);
}

/* Kills @data (a GSubprocess) unless it ended within RUN_TIMEOUT_S. */
static gpointer watchdog(gpointer data)
{
    GSubprocess *proc = data;
    gint64 deadline = g_get_monotonic_time() + RUN_TIMEOUT_S * G_USEC_PER_SEC;

    while (g_subprocess_get_identifier(proc) &&
           g_get_monotonic_time() < deadline) {
        g_usleep(50 * 1000);
    }
    if (g_subprocess_get_identifier(proc)) {
        g_subprocess_force_exit(proc);
        return GINT_TO_POINTER(TRUE);
    }
    return GINT_TO_POINTER(FALSE);
}

static int limevi(Plan *p, const char *const *args, char **out, char **err)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GError) error = NULL;
    GThread *dog;

    g_ptr_array_add(argv, (gpointer)env_path("LIMEVI_CLI"));
    for (guint i = 0; args[i]; i++) {
        g_ptr_array_add(argv, (gpointer)args[i]);
    }
    g_ptr_array_add(argv, NULL);
    proc = g_subprocess_newv((const char *const *)argv->pdata,
                             G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                             G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
    g_assert_no_error(error);
    dog = g_thread_new("watchdog", watchdog, proc);
    g_assert_true(g_subprocess_communicate_utf8(proc, NULL, NULL, out, err,
                                                &error));
    g_assert_no_error(error);
    if (g_thread_join(dog)) {
        g_error("limevi %s: still running after %u s, killed: %s", args[0],
                RUN_TIMEOUT_S, *err);
    }
    g_assert_true(g_subprocess_get_if_exited(proc));
    return g_subprocess_get_exit_status(proc);
}

/*
 * `limevi migrate --to B` exits 1 with @expect as its one line on
 * stderr, and nothing changed: every QEMU started still runs in the
 * state it had, none was added at B (its run-dir holds only what the
 * test put there), and the journal has no run to resume.
 */
static void assert_refused(Plan *p, const char *expect)
{
    const char *move[] = { "migrate", p->vc_file, "--to", "B",
                           "--journal", p->journal, NULL };
    const char *resume[] = { "migrate", p->vc_file, "--resume",
                             "--journal", p->journal, NULL };
    g_autofree char *out = NULL, *err = NULL;
    g_autofree char *out2 = NULL, *err2 = NULL;
    g_autofree char *b1 = run_dir(p, "b1");
    g_autoptr(GDir) dir = NULL;
    guint b1_files = 0, b1_before = 0;
    const char *name;

    dir = g_dir_open(b1, 0, NULL);
    while ((name = g_dir_read_name(dir))) {
        b1_before++;
    }
    g_clear_pointer(&dir, g_dir_close);

    g_assert_cmpint(limevi(p, move, &out, &err), ==, 1);
    g_test_message("limevi migrate: %s%s", out, err);
    g_assert_cmpstr(g_strchomp(err), ==, expect);
    g_assert_cmpstr(out, ==, "");

    for (guint i = 0; i < p->qemus->len; i++) {
        /* GLib reaps its children at once: no PID, no process. */
        g_assert_nonnull(g_subprocess_get_identifier(p->qemus->pdata[i]));
    }
    dir = g_dir_open(b1, 0, NULL);
    while ((name = g_dir_read_name(dir))) {
        b1_files++;
    }
    g_assert_cmpuint(b1_files, ==, b1_before);
    g_assert_cmpint(limevi(p, resume, &out2, &err2), ==, 0);
    g_assert_nonnull(strstr(out2, "no interrupted migration of vc1"));
}

static void plan_teardown(Plan *p)
{
    kill_qemus(p);
    for (guint i = 0; i < p->qemus->len; i++) {
        g_subprocess_wait(p->qemus->pdata[i], NULL, NULL);
    }
    g_ptr_array_unref(p->qemus);
    {
        const char *argv[] = { "rm", "-rf", p->dir, NULL };

        g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
                     NULL, NULL, NULL, NULL, NULL);
    }
    g_free(p->dir);
    g_free(p->vc_file);
    g_free(p->journal);
}

/* v1 runs at a1 and at b1 both: which is the VM? */
static void test_runs_twice(void)
{
    Plan p = { 0 };
    g_autofree char *s1 = NULL, *s2 = NULL;

    plan_setup(&p, FALSE, FALSE);
    qemu_on(&p, "a1", "v1", FALSE);
    qemu_on(&p, "b1", "v1", FALSE);
    qemu_on(&p, "a1", "v2", FALSE);
    assert_refused(&p, "limevi: VM v1 runs on 2 hosts (a1 running, "
                       "b1 running); nothing was changed");
    s1 = run_state(&p, "a1", "v1");
    s2 = run_state(&p, "b1", "v1");
    g_assert_cmpstr(s1, ==, "running");
    g_assert_cmpstr(s2, ==, "running");
    plan_teardown(&p);
}

/* v1 has no QEMU anywhere. */
static void test_runs_nowhere(void)
{
    Plan p = { 0 };

    plan_setup(&p, FALSE, FALSE);
    qemu_on(&p, "a1", "v2", FALSE);
    assert_refused(&p, "limevi: VM v1 runs nowhere: no host has a QEMU of "
                       "it; nothing was changed");
    plan_teardown(&p);
}

/* v1's only QEMU is paused: a leftover, not a VM to move. */
static void test_paused_is_not_running(void)
{
    Plan p = { 0 };
    g_autofree char *state = NULL;

    plan_setup(&p, FALSE, FALSE);
    qemu_on(&p, "a1", "v1", TRUE);
    qemu_on(&p, "a1", "v2", FALSE);
    assert_refused(&p, "limevi: VM v1 runs nowhere (a1 prelaunch); nothing "
                       "was changed");
    state = run_state(&p, "a1", "v1");
    g_assert_cmpstr(state, ==, "prelaunch");
    plan_teardown(&p);
}

/* A plain host's VM cannot go to a libvirt host, nor the other way
 * (@data: whether a1, where the VMs run, is the libvirt host). */
static void test_libvirt_and_plain(gconstpointer data)
{
    gboolean a_libvirt = GPOINTER_TO_INT(data);
    Plan p = { 0 };

    plan_setup(&p, a_libvirt, !a_libvirt);
    qemu_on(&p, "a1", "v1", FALSE);
    qemu_on(&p, "a1", "v2", FALSE);
    assert_refused(&p, "limevi: VM v1 cannot move from a1 to b1: one is a "
                       "libvirt host and the other is not; nothing was "
                       "changed");
    plan_teardown(&p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGABRT, on_abort);
    /* g_error() traps rather than aborts. */
    signal(SIGTRAP, on_abort);
    g_test_add_func("/plan/refuses/vm-runs-on-two-hosts", test_runs_twice);
    g_test_add_func("/plan/refuses/vm-runs-nowhere", test_runs_nowhere);
    g_test_add_func("/plan/refuses/vm-only-paused",
                    test_paused_is_not_running);
    g_test_add_data_func("/plan/refuses/plain-host-to-libvirt-host",
                         GINT_TO_POINTER(FALSE), test_libvirt_and_plain);
    g_test_add_data_func("/plan/refuses/libvirt-host-to-plain-host",
                         GINT_TO_POINTER(TRUE), test_libvirt_and_plain);
    return g_test_run();
}
