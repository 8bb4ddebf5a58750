/*
 * The coordinator's journal: a journal that cannot be read is an error
 * naming the file and SQLite's message, a run and its VMs are recorded
 * together or not at all, each VM's phase is kept, and one coordinator
 * at a time holds a VC.
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "journal.h"

static char *tmp_dir;

static const LimeviJournalVm two_vms[] = {
    { "w1", "a1", "b1" },
    { "w2", "a1", "b1" },
};

/* A fresh journal file's path, unique per test. */
static char *journal_path(void)
{
    static guint n;

    return g_strdup_printf("%s/journal-%u.db", tmp_dir, n++);
}

static void run_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
    g_assert_cmpint(sqlite3_exec(db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
    sqlite3_close(db);
}

static void test_corrupt_file(void)
{
    g_autofree char *path = journal_path();
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviJournal) j = NULL;

    g_assert_true(g_file_set_contents(path, "this is no SQLite database, "
                                      "only text where one should be\n",
                                      -1, NULL));
    j = limevi_journal_open(path, &error);
    g_assert_null(j);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, path));
    g_assert_nonnull(strstr(error->message, "file is not a database"));
}

/* A journal SQLite opens but whose run table is not ours: the question
 * "is a run unfinished?" fails, it does not answer "no". */
static void test_unfinished_error_is_an_error(void)
{
    g_autofree char *path = journal_path();
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviJournal) j = NULL;
    g_autofree char *site = NULL, *step = NULL;
    gint64 run = -1;

    run_sql(path, "CREATE TABLE run (id INTEGER PRIMARY KEY, vc TEXT);");
    j = limevi_journal_open(path, &error);
    g_assert_no_error(error);
    g_assert_false(limevi_journal_unfinished(j, "vc1", &run, &site, &step,
                                             &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
    g_test_message("%s", error->message);
    g_assert_nonnull(strstr(error->message, path));
    g_assert_nonnull(strstr(error->message, "no such column"));
    g_assert_cmpint(run, ==, 0);
}

static void test_begin_records_run_and_vms(void)
{
    g_autofree char *path = journal_path();
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviJournal) j = limevi_journal_open(path, &error);
    g_autofree char *site = NULL, *step = NULL;
    g_auto(GStrv) vms = NULL;
    gint64 run, found;

    g_assert_no_error(error);
    run = limevi_journal_begin(j, "vc1", "B", two_vms, 2, &error);
    g_assert_no_error(error);
    g_assert_cmpint(run, >, 0);
    g_assert_true(limevi_journal_unfinished(j, "vc1", &found, &site, &step,
                                            &error));
    g_assert_cmpint(found, ==, run);
    g_assert_cmpstr(site, ==, "B");
    g_assert_cmpstr(step, ==, LIMEVI_STEP_PLANNED);
    vms = limevi_journal_vms(j, run, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(g_strv_length(vms), ==, 8);
    g_assert_cmpstr(vms[0], ==, "w1");
    g_assert_cmpstr(vms[2], ==, "b1");
    g_assert_cmpstr(vms[3], ==, LIMEVI_PHASE_PLANNED);
    g_assert_cmpstr(vms[4], ==, "w2");
    g_assert_cmpstr(vms[7], ==, LIMEVI_PHASE_PLANNED);
}

/* A VM row that cannot be written (the same VM twice) takes the run row
 * and the lock with it: nothing is left to resume or to block. */
static void test_begin_all_or_nothing(void)
{
    static const LimeviJournalVm twice[] = {
        { "w1", "a1", "b1" },
        { "w1", "a1", "b1" },
    };
    g_autofree char *path = journal_path();
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviJournal) j = limevi_journal_open(path, &error);
    g_autofree char *site = NULL, *step = NULL;
    gint64 found = -1;

    g_assert_no_error(error);
    g_assert_cmpint(limevi_journal_begin(j, "vc1", "B", twice, 2, &error),
                    ==, 0);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, "UNIQUE"));
    g_clear_error(&error);
    g_assert_true(limevi_journal_unfinished(j, "vc1", &found, &site, &step,
                                            &error));
    g_assert_cmpint(found, ==, 0);
    g_assert_true(limevi_journal_check_free(j, "vc1", &error));
    g_assert_no_error(error);
}

static void test_vm_phases(void)
{
    g_autofree char *path = journal_path();
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviJournal) j = limevi_journal_open(path, &error);
    g_auto(GStrv) vms = NULL;
    gint64 run = limevi_journal_begin(j, "vc1", "B", two_vms, 2, &error);

    g_assert_no_error(error);
    g_assert_true(limevi_journal_vm_phase(j, run, "w2",
                                          LIMEVI_PHASE_SWITCHED, &error));
    g_assert_no_error(error);
    g_assert_false(limevi_journal_vm_phase(j, run, "w9",
                                           LIMEVI_PHASE_SWITCHED, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_FAILED);
    g_assert_nonnull(strstr(error->message, "no VM w9"));
    g_clear_error(&error);
    /* Reopened: what it read is on disk, not in this connection. */
    g_clear_pointer(&j, limevi_journal_close);
    j = limevi_journal_open(path, &error);
    vms = limevi_journal_vms(j, run, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(vms[3], ==, LIMEVI_PHASE_PLANNED);
    g_assert_cmpstr(vms[7], ==, LIMEVI_PHASE_SWITCHED);
}

/* A child process that began a run of vc1 in @path and waits to be
 * killed: another coordinator, alive. */
static pid_t other_coordinator(const char *path)
{
    int ready[2];
    pid_t pid;
    char c;

    g_assert_cmpint(pipe(ready), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        LimeviJournal *j = limevi_journal_open(path, NULL);

        c = j && limevi_journal_begin(j, "vc1", "B", two_vms, 2, NULL) ?
            'y' : 'n';
        if (write(ready[1], &c, 1) != 1) {
            _exit(1);
        }
        pause();
        _exit(0);
    }
    close(ready[1]);
    g_assert_cmpint(read(ready[0], &c, 1), ==, 1);
    close(ready[0]);
    g_assert_cmpint(c, ==, 'y');
    return pid;
}

static void test_second_coordinator_refused(void)
{
    g_autofree char *path = journal_path();
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviJournal) j = NULL;
    g_autofree char *pid_text = NULL, *host_text = NULL;
    g_autofree char *site = NULL, *step = NULL;
    pid_t other = other_coordinator(path);
    gint64 run;

    j = limevi_journal_open(path, &error);
    g_assert_no_error(error);
    g_assert_false(limevi_journal_check_free(j, "vc1", &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_BUSY);
    g_test_message("%s", error->message);
    pid_text = g_strdup_printf("PID %d ", (int)other);
    host_text = g_strdup_printf("on host %s,", g_get_host_name());
    g_assert_nonnull(strstr(error->message, pid_text));
    g_assert_nonnull(strstr(error->message, host_text));
    g_clear_error(&error);
    /* The lock is checked again where the run is created. */
    g_assert_cmpint(limevi_journal_begin(j, "vc1", "B", two_vms, 2, &error),
                    ==, 0);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_BUSY);
    g_clear_error(&error);
    /* Another VC is free. */
    g_assert_cmpint(limevi_journal_begin(j, "vc2", "B", two_vms, 2, &error),
                    >, 0);
    g_assert_no_error(error);

    /* Killed, it leaves an unfinished run that --resume takes over. */
    kill(other, SIGKILL);
    g_assert_cmpint(waitpid(other, NULL, 0), ==, other);
    g_assert_true(limevi_journal_check_free(j, "vc1", &error));
    g_assert_true(limevi_journal_unfinished(j, "vc1", &run, &site, &step,
                                            &error));
    g_assert_cmpint(run, >, 0);
    g_assert_true(limevi_journal_take_over(j, "vc1", run, &error));
    g_assert_no_error(error);
}

/* A run's end frees its VC: a live process that finished is no holder. */
static void test_end_frees_the_lock(void)
{
    g_autofree char *path = journal_path();
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviJournal) j = limevi_journal_open(path, &error);
    gint64 run = limevi_journal_begin(j, "vc1", "B", two_vms, 2, &error);
    pid_t child;
    int status;

    g_assert_no_error(error);
    g_assert_true(limevi_journal_step(j, run, LIMEVI_STEP_MIGRATING,
                                      &error));
    g_assert_true(limevi_journal_step(j, run, LIMEVI_STEP_DONE, &error));
    g_assert_no_error(error);
    /* Seen from another process, for which this one would be alive. */
    child = fork();
    if (child == 0) {
        LimeviJournal *other = limevi_journal_open(path, NULL);

        _exit(other && limevi_journal_begin(other, "vc1", "A", two_vms, 2,
                                            NULL) ? 0 : 1);
    }
    g_assert_cmpint(waitpid(child, &status, 0), ==, child);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

int main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmp_dir = g_dir_make_tmp("test-journal-XXXXXX", &error);
    g_assert_no_error(error);
    g_test_add_func("/journal/open/corrupt-file-names-file-and-sqlite",
                    test_corrupt_file);
    g_test_add_func("/journal/unfinished/read-error-is-an-error",
                    test_unfinished_error_is_an_error);
    g_test_add_func("/journal/begin/records-run-and-vms-at-planned",
                    test_begin_records_run_and_vms);
    g_test_add_func("/journal/begin/all-or-nothing",
                    test_begin_all_or_nothing);
    g_test_add_func("/journal/vm-phase/kept-per-vm", test_vm_phases);
    g_test_add_func("/journal/lock/second-coordinator-refused-by-pid-host",
                    test_second_coordinator_refused);
    g_test_add_func("/journal/lock/freed-when-the-run-ends",
                    test_end_frees_the_lock);
    ret = g_test_run();
    {
        g_autoptr(GDir) d = g_dir_open(tmp_dir, 0, NULL);
        const char *name;

        while (d && (name = g_dir_read_name(d))) {
            g_autofree char *p = g_build_filename(tmp_dir, name, NULL);

            g_unlink(p);
        }
        g_rmdir(tmp_dir);
    }
    g_free(tmp_dir);
    return ret;
}
