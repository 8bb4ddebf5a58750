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

/* The id of the one limevi netdev of every QEMU the coordinator starts
 * ("-netdev limevi,id=n0,..."), which every limevi QMP command names. */
#define LIMEVI_NETDEV_ID "n0"

/*
 * QEMU answered a command with an error: the code is QEMU's error class,
 * the message "Class: description" as QEMU sent them.  Transport
 * failures (no socket, a closed connection, no reply in time) are
 * G_IO_ERROR instead.
 */
#define LIMEVI_QMP_ERROR (limevi_qmp_error_quark())
GQuark limevi_qmp_error_quark(void);

typedef enum {
    LIMEVI_QMP_ERROR_GENERIC,           /* GenericError, or unknown class */
    LIMEVI_QMP_ERROR_COMMAND_NOT_FOUND, /* CommandNotFound */
    LIMEVI_QMP_ERROR_DEVICE_NOT_FOUND,  /* DeviceNotFound */
    LIMEVI_QMP_ERROR_DEVICE_NOT_ACTIVE, /* DeviceNotActive */
    LIMEVI_QMP_ERROR_KVM_MISSING_CAP,   /* KVMMissingCap */
} LimeviQmpError;

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

/*
 * limevi_qmp_call() in two halves, so that one command can be written to
 * many QEMUs before any of them is waited for: send returns the request's
 * id (0 on a write error), reply waits (bounded) for that id's answer.
 */
guint64 limevi_qmp_send(LimeviQmp *qmp, const char *command,
                        const char *args_json, GError **error);
JsonNode *limevi_qmp_reply(LimeviQmp *qmp, guint64 id, const char *command,
                           GError **error);

/* Like limevi_qmp_call() for commands whose return value is not needed. */
gboolean limevi_qmp_run(LimeviQmp *qmp, const char *command,
                        const char *args_json, GError **error);

/* Like limevi_qmp_run() with the arguments as a JSON object. */
gboolean limevi_qmp_run_object(LimeviQmp *qmp, const char *command,
                               JsonObject *args, GError **error);

/* limevi-route-set on LIMEVI_NETDEV_ID: @vm's route at @endpoint
 * ("HOST:PORT"), with @status ("valid", "invalid") unless NULL. */
gboolean limevi_qmp_route_set(LimeviQmp *qmp, const char *vm,
                              const char *endpoint, const char *status,
                              GError **error);

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
