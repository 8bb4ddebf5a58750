/*
 * A small synchronous QMP client over a unix socket (GIO + json-glib): the
 * coordinator's only way to talk to QEMU.  Every wait is bounded; events
 * that arrive while waiting for a reply are queued, not lost.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_QMP_H
#define LIMEVI_QMP_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>

typedef struct LimeviQmp LimeviQmp;

/* Connects to QMP at @path and negotiates capabilities; retries for up to
 * @timeout_ms while the socket does not exist yet (a QEMU starting). */
LimeviQmp *limevi_qmp_connect(const char *path, guint timeout_ms,
                              GError **error);
void limevi_qmp_free(LimeviQmp *qmp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviQmp, limevi_qmp_free)

const char *limevi_qmp_path(LimeviQmp *qmp);

/*
 * Runs @command with @args_json (a JSON object, or NULL) and returns its
 * "return" value; QEMU's error as "Class: description" in @error.
 */
JsonNode *limevi_qmp_call(LimeviQmp *qmp, const char *command,
                          const char *args_json, GError **error);

/* Like limevi_qmp_call() for commands whose return value is not needed. */
gboolean limevi_qmp_run(LimeviQmp *qmp, const char *command,
                        const char *args_json, GError **error);

/*
 * The next event named @name (any event if NULL), queued or arriving
 * within @timeout_ms (0: only what is queued or already readable);
 * NULL when none came (@error set only on a broken connection).
 */
JsonObject *limevi_qmp_event(LimeviQmp *qmp, const char *name,
                             guint timeout_ms, GError **error);

/* The event's time in microseconds since the epoch (QMP "timestamp"). */
gint64 limevi_qmp_event_time(JsonObject *event);

#endif /* LIMEVI_QMP_H */
