/*
 * The journal in SQLite.  Every change is one transaction; every SQLite
 * failure is an error naming the file and SQLite's message.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <sqlite3.h>

#include "journal.h"

struct LimeviJournal {
    sqlite3 *db;
    char *crash_at;             /* test seam: die after this step */
    char *path;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS run ("
    "  id INTEGER PRIMARY KEY, vc TEXT NOT NULL, site TEXT NOT NULL,"
    "  step TEXT NOT NULL, started INTEGER NOT NULL, updated INTEGER);"
    "CREATE TABLE IF NOT EXISTS vm ("
    "  run INTEGER NOT NULL REFERENCES run(id), name TEXT NOT NULL,"
    "  src TEXT NOT NULL, dst TEXT NOT NULL, PRIMARY KEY (run, name));"
    "CREATE TABLE IF NOT EXISTS lock ("
    "  vc TEXT PRIMARY KEY, run INTEGER NOT NULL, pid INTEGER NOT NULL,"
    "  host TEXT NOT NULL, since INTEGER NOT NULL);";

/* Journals written before VMs had phases get the column. */
static const char add_phase[] =
    "ALTER TABLE vm ADD COLUMN phase TEXT NOT NULL DEFAULT 'planned'";

static gboolean db_fail(LimeviJournal *j, GError **error, const char *what)
{
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "journal %s: %s: %s",
                j->path, what, sqlite3_errmsg(j->db));
    return FALSE;
}

static gboolean db_exec(LimeviJournal *j, const char *sql, const char *what,
                        GError **error)
{
    char *msg = NULL;

    if (sqlite3_exec(j->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "journal %s: %s: %s", j->path, what,
                    msg ? msg : sqlite3_errmsg(j->db));
        sqlite3_free(msg);
        return FALSE;
    }
    return TRUE;
}

static sqlite3_stmt *db_prepare(LimeviJournal *j, const char *sql,
                                const char *what, GError **error)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(j, error, what);
        return NULL;
    }
    return st;
}

/* Steps @st to its end; FALSE (and @error) unless it ran to SQLITE_DONE. */
static gboolean db_done(LimeviJournal *j, sqlite3_stmt *st, const char *what,
                        GError **error)
{
    int rc = sqlite3_step(st);

    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? TRUE : db_fail(j, error, what);
}

/* Prepares @sql, binds @vc to ?1 and steps once into *@st (finalize
 * it): SQLITE_ROW or SQLITE_DONE, or -1 with @error set. */
static int db_query_vc(LimeviJournal *j, const char *sql, const char *vc,
                       const char *what, sqlite3_stmt **st, GError **error)
{
    int rc;

    *st = db_prepare(j, sql, what, error);
    if (!*st) {
        return -1;
    }
    sqlite3_bind_text(*st, 1, vc, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(*st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_fail(j, error, what);
        return -1;
    }
    return rc;
}

/* IMMEDIATE: the write lock from the start, so that two coordinators'
 * checks and writes cannot interleave. */
static gboolean tx_begin(LimeviJournal *j, GError **error)
{
    return db_exec(j, "BEGIN IMMEDIATE", "cannot start a transaction",
                   error);
}

static gboolean tx_end(LimeviJournal *j, gboolean ok, GError **error)
{
    if (!ok) {
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        return FALSE;
    }
    return db_exec(j, "COMMIT", "cannot commit", error);
}

LimeviJournal *limevi_journal_open(const char *path, GError **error)
{
    g_autoptr(LimeviJournal) j = g_new0(LimeviJournal, 1);
    g_autofree char *dir = g_path_get_dirname(path);
    sqlite3_stmt *st = NULL;

    j->path = g_strdup(path);
    if (g_mkdir_with_parents(dir, 0700) < 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "journal %s: cannot create %s: %s", path, dir,
                    g_strerror(errno));
        return NULL;
    }
    if (sqlite3_open(path, &j->db) != SQLITE_OK) {
        db_fail(j, error, "cannot open");
        return NULL;
    }
    sqlite3_busy_timeout(j->db, 5000);
    if (!db_exec(j, schema, "cannot read or set up its tables", error)) {
        return NULL;
    }
    if (sqlite3_prepare_v2(j->db, "SELECT phase FROM vm", -1, &st,
                           NULL) != SQLITE_OK &&
        !db_exec(j, add_phase, "cannot add VM phases", error)) {
        return NULL;
    }
    sqlite3_finalize(st);
    return g_steal_pointer(&j);
}

void limevi_journal_crash_at(LimeviJournal *j, const char *step)
{
    g_free(j->crash_at);
    j->crash_at = g_strdup(step);
}

void limevi_journal_close(LimeviJournal *j)
{
    if (!j) {
        return;
    }
    sqlite3_close(j->db);
    g_free(j->crash_at);
    g_free(j->path);
    g_free(j);
}

static void maybe_crash(LimeviJournal *j, const char *step)
{
    if (j->crash_at && !strcmp(j->crash_at, step)) {
        raise(SIGKILL);
    }
}

/* ---- The lock: one coordinator per VC ---- */

/* Whether the coordinator @pid on @host may still run: on another host
 * it cannot be told, so it may. */
static gboolean holder_alive(gint64 pid, const char *host)
{
    if (g_strcmp0(host, g_get_host_name()) != 0) {
        return TRUE;
    }
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* Fails (G_IO_ERROR_BUSY) when a live coordinator holds @vc. */
static gboolean lock_free(LimeviJournal *j, const char *vc, GError **error)
{
    sqlite3_stmt *st;
    int rc = db_query_vc(j, "SELECT pid, host, since FROM lock WHERE "
                         "vc = ?1", vc, "cannot read the lock", &st, error);
    gboolean ok = rc >= 0;

    if (rc == SQLITE_ROW) {
        gint64 pid = sqlite3_column_int64(st, 0);
        const char *host = (const char *)sqlite3_column_text(st, 1);
        g_autoptr(GDateTime) since = g_date_time_new_from_unix_local(
            sqlite3_column_int64(st, 2));
        g_autofree char *when = since ? g_date_time_format(since, "%F %T")
                                      : g_strdup("?");

        if (holder_alive(pid, host)) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY,
                        "%s is being migrated by another limevi, PID %"
                        G_GINT64_FORMAT " on host %s, since %s (journal %s)",
                        vc, pid, host, when, j->path);
            ok = FALSE;
        }
    }
    sqlite3_finalize(st);
    return ok;
}

/* Inside a transaction: @vc's lock for this process. */
static gboolean lock_take(LimeviJournal *j, const char *vc, gint64 run,
                          GError **error)
{
    sqlite3_stmt *st;

    if (!lock_free(j, vc, error) ||
        !(st = db_prepare(j, "INSERT OR REPLACE INTO lock VALUES (?1, ?2, "
                          "?3, ?4, ?5)", "cannot take the lock", error))) {
        return FALSE;
    }
    sqlite3_bind_text(st, 1, vc, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, run);
    sqlite3_bind_int64(st, 3, getpid());
    sqlite3_bind_text(st, 4, g_get_host_name(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, g_get_real_time() / G_USEC_PER_SEC);
    return db_done(j, st, "cannot take the lock", error);
}

gboolean limevi_journal_check_free(LimeviJournal *j, const char *vc,
                                   GError **error)
{
    return lock_free(j, vc, error);
}

gboolean limevi_journal_take_over(LimeviJournal *j, const char *vc,
                                  gint64 run, GError **error)
{
    return tx_begin(j, error) &&
           tx_end(j, lock_take(j, vc, run, error), error);
}

/* ---- Runs and their VMs ---- */

gboolean limevi_journal_unfinished(LimeviJournal *j, const char *vc,
                                   gint64 *run, char **site, char **step,
                                   GError **error)
{
    sqlite3_stmt *st;
    int rc = db_query_vc(j,
        "SELECT id, site, step FROM run WHERE vc = ?1 AND step NOT IN "
        "('" LIMEVI_STEP_DONE "', '" LIMEVI_STEP_ROLLED_BACK "') "
        "ORDER BY id DESC LIMIT 1", vc, "cannot read the last run", &st,
        error);

    *run = 0;
    if (rc == SQLITE_ROW) {
        *run = sqlite3_column_int64(st, 0);
        *site = g_strdup((const char *)sqlite3_column_text(st, 1));
        *step = g_strdup((const char *)sqlite3_column_text(st, 2));
    }
    sqlite3_finalize(st);
    return rc >= 0;
}

static gboolean add_vm(LimeviJournal *j, gint64 run,
                       const LimeviJournalVm *vm, GError **error)
{
    sqlite3_stmt *st = db_prepare(j, "INSERT INTO vm (run, name, src, dst, "
                                  "phase) VALUES (?1, ?2, ?3, ?4, '"
                                  LIMEVI_PHASE_PLANNED "')",
                                  "cannot record a VM", error);

    if (!st) {
        return FALSE;
    }
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, vm->vm, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, vm->src, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, vm->dst, -1, SQLITE_TRANSIENT);
    return db_done(j, st, "cannot record a VM", error);
}

/* Inside a transaction: the run row; its id, or 0. */
static gint64 add_run(LimeviJournal *j, const char *vc, const char *site,
                      GError **error)
{
    sqlite3_stmt *st = db_prepare(j, "INSERT INTO run (vc, site, step, "
                                  "started) VALUES (?1, ?2, '"
                                  LIMEVI_STEP_PLANNED "', ?3)",
                                  "cannot record the run", error);

    if (!st) {
        return 0;
    }
    sqlite3_bind_text(st, 1, vc, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, site, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, g_get_real_time() / G_USEC_PER_SEC);
    return db_done(j, st, "cannot record the run", error) ?
           sqlite3_last_insert_rowid(j->db) : 0;
}

gint64 limevi_journal_begin(LimeviJournal *j, const char *vc,
                            const char *site, const LimeviJournalVm *vms,
                            guint n_vms, GError **error)
{
    gint64 run;
    gboolean ok;

    if (!tx_begin(j, error)) {
        return 0;
    }
    run = add_run(j, vc, site, error);
    ok = run && lock_take(j, vc, run, error);
    for (guint i = 0; ok && i < n_vms; i++) {
        ok = add_vm(j, run, &vms[i], error);
    }
    if (!tx_end(j, ok, error)) {
        return 0;
    }
    maybe_crash(j, LIMEVI_STEP_PLANNED);
    return run;
}

char **limevi_journal_vms(LimeviJournal *j, gint64 run, GError **error)
{
    static const char what[] = "cannot read the run's VMs";
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
    sqlite3_stmt *st = db_prepare(j, "SELECT name, src, dst, phase FROM vm "
                                  "WHERE run = ?1 ORDER BY rowid", what,
                                  error);
    int rc;

    if (!st) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, run);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int c = 0; c < 4; c++) {
            g_ptr_array_add(out, g_strdup(
                (const char *)sqlite3_column_text(st, c)));
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        db_fail(j, error, what);
        return NULL;
    }
    g_ptr_array_set_free_func(out, NULL);
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_steal(out, NULL);
}

/* Inside a transaction: @run's lock goes with its end. */
static gboolean lock_drop(LimeviJournal *j, gint64 run, GError **error)
{
    sqlite3_stmt *st = db_prepare(j, "DELETE FROM lock WHERE run = ?1",
                                  "cannot drop the lock", error);

    if (!st) {
        return FALSE;
    }
    sqlite3_bind_int64(st, 1, run);
    return db_done(j, st, "cannot drop the lock", error);
}

gboolean limevi_journal_step(LimeviJournal *j, gint64 run, const char *step,
                             GError **error)
{
    static const char what[] = "cannot record a step";
    gboolean end = !strcmp(step, LIMEVI_STEP_DONE) ||
                   !strcmp(step, LIMEVI_STEP_ROLLED_BACK);
    sqlite3_stmt *st;
    gboolean ok;

    if (!tx_begin(j, error)) {
        return FALSE;
    }
    st = db_prepare(j, "UPDATE run SET step = ?1, updated = ?2 WHERE id = ?3",
                    what, error);
    if (st) {
        sqlite3_bind_text(st, 1, step, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, g_get_real_time() / G_USEC_PER_SEC);
        sqlite3_bind_int64(st, 3, run);
    }
    ok = st && db_done(j, st, what, error) &&
         (!end || lock_drop(j, run, error));
    if (!tx_end(j, ok, error)) {
        return FALSE;
    }
    maybe_crash(j, step);
    return TRUE;
}

gboolean limevi_journal_vm_phase(LimeviJournal *j, gint64 run,
                                 const char *vm, const char *phase,
                                 GError **error)
{
    static const char what[] = "cannot record a VM's phase";
    sqlite3_stmt *st;
    gboolean ok;

    if (!tx_begin(j, error)) {
        return FALSE;
    }
    st = db_prepare(j, "UPDATE vm SET phase = ?1 WHERE run = ?2 AND "
                    "name = ?3", what, error);
    if (st) {
        sqlite3_bind_text(st, 1, phase, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, run);
        sqlite3_bind_text(st, 3, vm, -1, SQLITE_TRANSIENT);
    }
    ok = st && db_done(j, st, what, error);
    if (ok && sqlite3_changes(j->db) != 1) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "journal %s: run %" G_GINT64_FORMAT " has no VM %s",
                    j->path, run, vm);
        ok = FALSE;
    }
    return tx_end(j, ok, error);
}
