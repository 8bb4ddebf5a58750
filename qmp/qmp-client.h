/*
 * The one QMP client of LimeVI: the coordinator, the test harness and the
 * benches all talk to QEMU through it.  Synchronous, over a unix socket
 * (GIO), every message built and parsed by json-glib, every wait bounded;
 * events that arrive while waiting for a reply are queued, up to a bound.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_QMP_CLIENT_H
#define LIMEVI_QMP_CLIENT_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct LimeviQmp LimeviQmp;

/* The id of the one limevi netdev of every QEMU LimeVI starts
 * ("-netdev limevi,id=n0,..."), which every limevi QMP command names. */
#define LIMEVI_NETDEV_ID "n0"

/* The longest message accepted from QEMU, in bytes. */
#define LIMEVI_QMP_LINE_MAX (16 * 1024 * 1024)
/* Events kept unread; beyond that the oldest of the same name as the
 * newcomer (or of all) is dropped. */
#define LIMEVI_QMP_EVENTS_MAX 256

/*
 * QEMU answered a command with an error: the code is QEMU's error class,
 * the message "Class: description" as QEMU sent them.  A connection that
 * fails, closes or carries what is not QMP is G_IO_ERROR instead
 * (G_IO_ERROR_TIMED_OUT when no answer came in time,
 * G_IO_ERROR_INVALID_DATA for a malformed message).
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
/* The same over a connected stream socket @fd, which it takes over (and
 * closes on failure); @name names it in messages. */
LimeviQmp *limevi_qmp_open_fd(int fd, const char *name, guint timeout_ms,
                              GError **error);
void limevi_qmp_free(LimeviQmp *qmp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviQmp, limevi_qmp_free)

const char *limevi_qmp_path(LimeviQmp *qmp);
/* How long a command waits for its answer (default 30 s). */
void limevi_qmp_set_reply_timeout(LimeviQmp *qmp, guint timeout_ms);
/* Events dropped because LIMEVI_QMP_EVENTS_MAX were unread. */
guint64 limevi_qmp_events_dropped(LimeviQmp *qmp);

/*
 * Runs @command with @args_json (a JSON object, or NULL) and returns its
 * "return" value (json_node_unref() it); QEMU's error in @error.
 */
JsonNode *limevi_qmp_call(LimeviQmp *qmp, const char *command,
                          const char *args_json, GError **error);
/* Like limevi_qmp_call() with the arguments as an object (or NULL). */
JsonNode *limevi_qmp_call_object(LimeviQmp *qmp, const char *command,
                                 JsonObject *args, GError **error);

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

/*
 * The next event named @name (any event if NULL), queued or arriving
 * within @timeout_ms (0: only what is queued or already readable);
 * NULL when none came (@error set only on a broken connection).
 * json_object_unref() it.
 */
JsonObject *limevi_qmp_event(LimeviQmp *qmp, const char *name,
                             guint timeout_ms, GError **error);

/*
 * The first event @name stamped no earlier than @since_us (real time,
 * G_MININT64: any), queued or arriving within @timeout_ms; its QMP time
 * in *@time_us if non-NULL.  NULL with @error set when none came
 * (G_IO_ERROR_TIMED_OUT) or the connection broke.
 */
JsonObject *limevi_qmp_wait_event(LimeviQmp *qmp, const char *name,
                                  gint64 since_us, guint timeout_ms,
                                  gint64 *time_us, GError **error);

/*
 * Waits like limevi_qmp_wait_event() for a MIGRATION event (capability
 * "events") whose status is @status ("setup", "active", "completed",
 * ...); the MIGRATION events before it are consumed.
 */
gboolean limevi_qmp_wait_migration(LimeviQmp *qmp, const char *status,
                                   gint64 since_us, guint timeout_ms,
                                   gint64 *time_us, GError **error);

/* The event's time in microseconds since the epoch (QMP "timestamp"),
 * -1 when it has none. */
gint64 limevi_qmp_event_time(JsonObject *event);

G_END_DECLS

#endif /* LIMEVI_QMP_CLIENT_H */
