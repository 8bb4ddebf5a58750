/*
 * The journal in SQLite.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <signal.h>
#include <string.h>

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
    "  src TEXT NOT NULL, dst TEXT NOT NULL, PRIMARY KEY (run, name));";

static gboolean db_fail(LimeviJournal *j, GError **error, const char *what)
{
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "journal %s: %s: %s",
                j->path, what, sqlite3_errmsg(j->db));
    return FALSE;
}

LimeviJournal *limevi_journal_open(const char *path, GError **error)
{
    g_autoptr(LimeviJournal) j = g_new0(LimeviJournal, 1);
    g_autofree char *dir = g_path_get_dirname(path);
    char *msg = NULL;

    j->path = g_strdup(path);
    if (g_mkdir_with_parents(dir, 0700) < 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "journal %s: cannot create %s", path, dir);
        return NULL;
    }
    if (sqlite3_open(path, &j->db) != SQLITE_OK) {
        db_fail(j, error, "cannot open");
        return NULL;
    }
    sqlite3_busy_timeout(j->db, 5000);
    if (sqlite3_exec(j->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "journal %s: %s",
                    path, msg);
        sqlite3_free(msg);
        return NULL;
    }
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

gint64 limevi_journal_unfinished(LimeviJournal *j, const char *vc,
                                 char **site, char **step)
{
    sqlite3_stmt *st = NULL;
    gint64 id = 0;

    if (sqlite3_prepare_v2(j->db,
            "SELECT id, site, step FROM run WHERE vc = ?1 AND step NOT IN "
            "('done', 'rolled-back') ORDER BY id DESC LIMIT 1", -1, &st,
            NULL) != SQLITE_OK) {
        return 0;
    }
    sqlite3_bind_text(st, 1, vc, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        *site = g_strdup((const char *)sqlite3_column_text(st, 1));
        *step = g_strdup((const char *)sqlite3_column_text(st, 2));
    }
    sqlite3_finalize(st);
    return id;
}

gint64 limevi_journal_begin(LimeviJournal *j, const char *vc,
                            const char *site, GError **error)
{
    sqlite3_stmt *st = NULL;
    gint64 id;

    if (sqlite3_prepare_v2(j->db,
            "INSERT INTO run (vc, site, step, started) VALUES (?1, ?2, "
            "'planning', ?3)", -1, &st, NULL) != SQLITE_OK) {
        db_fail(j, error, "cannot record the run");
        return 0;
    }
    sqlite3_bind_text(st, 1, vc, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, site, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, g_get_real_time() / G_USEC_PER_SEC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        sqlite3_finalize(st);
        db_fail(j, error, "cannot record the run");
        return 0;
    }
    sqlite3_finalize(st);
    id = sqlite3_last_insert_rowid(j->db);
    return id;
}

gboolean limevi_journal_add_vm(LimeviJournal *j, gint64 run, const char *vm,
                               const char *src, const char *dst,
                               GError **error)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(j->db, "INSERT INTO vm VALUES (?1, ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK) {
        return db_fail(j, error, "cannot record a VM");
    }
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, vm, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, src, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, dst, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? TRUE : db_fail(j, error, "cannot record a VM");
}

char **limevi_journal_vms(LimeviJournal *j, gint64 run)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new();
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(j->db, "SELECT name, src, dst FROM vm WHERE "
                           "run = ?1 ORDER BY rowid", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < 3; c++) {
                g_ptr_array_add(out, g_strdup(
                    (const char *)sqlite3_column_text(st, c)));
            }
        }
        sqlite3_finalize(st);
    }
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_steal(out, NULL);
}

gboolean limevi_journal_step(LimeviJournal *j, gint64 run, const char *step,
                             GError **error)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(j->db, "UPDATE run SET step = ?1, updated = ?2 "
                           "WHERE id = ?3", -1, &st, NULL) != SQLITE_OK) {
        return db_fail(j, error, "cannot record a step");
    }
    sqlite3_bind_text(st, 1, step, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, g_get_real_time() / G_USEC_PER_SEC);
    sqlite3_bind_int64(st, 3, run);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return db_fail(j, error, "cannot record a step");
    }
    if (j->crash_at && !strcmp(j->crash_at, step)) {
        raise(SIGKILL);
    }
    return TRUE;
}
