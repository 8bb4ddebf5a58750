/*
 * What the QMP client's files share: the connection's state and the
 * checked accessors every message is read with.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_QMP_PRIVATE_H
#define LIMEVI_QMP_PRIVATE_H

#include "qmp-client.h"

struct LimeviQmp {
    char *path;
    GSocketConnection *conn;
    GSocket *socket;
    GString *in;                /* bytes read, not yet a whole line */
    GQueue events;              /* JsonObject *, oldest first */
    guint64 events_dropped;
    guint64 next_id;
    guint reply_timeout_ms;
};

/* Sets a G_IO_ERROR @code naming the socket; returns FALSE. */
gboolean qmp_fail(GError **error, LimeviQmp *qmp, GIOErrorEnum code,
                  const char *what);
/* Reads one line within @timeout_ms; NULL on timeout (error unset) or on
 * a broken connection (error set). */
char *qmp_read_line(LimeviQmp *qmp, guint timeout_ms, GError **error);
/* @line as a JSON object, or NULL with G_IO_ERROR_INVALID_DATA. */
JsonObject *qmp_parse(LimeviQmp *qmp, const char *line, GError **error);

/* @o's member @name if it has the JSON type @type, else NULL (also for
 * a NULL @o). */
JsonNode *qmp_member(JsonObject *o, const char *name, JsonNodeType type);
/* @o's string member @name, or NULL. */
const char *qmp_string_member(JsonObject *o, const char *name);
/* @o's integer member @name in *@value; FALSE when there is none. */
gboolean qmp_int_member(JsonObject *o, const char *name, gint64 *value);

/* The event's name, NULL when @msg is not an event. */
const char *qmp_event_name(JsonObject *msg);
/* Queues event @msg, taking it. */
void qmp_queue_event(LimeviQmp *qmp, JsonObject *msg);

#endif /* LIMEVI_QMP_PRIVATE_H */
