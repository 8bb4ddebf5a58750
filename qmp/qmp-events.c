/*
 * QMP events: queued in arrival order while commands wait for their
 * answers, at most LIMEVI_QMP_EVENTS_MAX of them, taken by name and time.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "qmp-private.h"

const char *qmp_event_name(JsonObject *msg)
{
    return qmp_string_member(msg, "event");
}

/*
 * The event to drop for @name when the queue is full: the oldest of the
 * same name, so that a flood of one kind (route changes, a hold's
 * readiness flipping) evicts only its own and a STOP or RESUME stays;
 * the oldest of all when there is none.
 */
static GList *event_to_drop(LimeviQmp *qmp, const char *name)
{
    for (GList *l = qmp->events.head; l; l = l->next) {
        if (!g_strcmp0(qmp_event_name(l->data), name)) {
            return l;
        }
    }
    return qmp->events.head;
}

/* Queues event @msg (taking it), within LIMEVI_QMP_EVENTS_MAX.
 * MIGRATION_PASS comes once per pre-copy pass and nobody waits for it. */
void qmp_queue_event(LimeviQmp *qmp, JsonObject *msg)
{
    const char *name = qmp_event_name(msg);

    if (!g_strcmp0(name, "MIGRATION_PASS")) {
        json_object_unref(msg);
        return;
    }
    if (qmp->events.length >= LIMEVI_QMP_EVENTS_MAX) {
        GList *drop = event_to_drop(qmp, name);

        json_object_unref(drop->data);
        g_queue_delete_link(&qmp->events, drop);
        qmp->events_dropped++;
    }
    g_queue_push_tail(&qmp->events, msg);
}

gint64 limevi_qmp_event_time(JsonObject *event)
{
    JsonNode *ts = qmp_member(event, "timestamp", JSON_NODE_OBJECT);
    gint64 s, us = 0;

    if (!ts || !qmp_int_member(json_node_get_object(ts), "seconds", &s)) {
        return -1;
    }
    qmp_int_member(json_node_get_object(ts), "microseconds", &us);
    return s * G_USEC_PER_SEC + us;
}

static JsonObject *take_event(LimeviQmp *qmp, const char *name,
                              gint64 since_us)
{
    for (GList *l = qmp->events.head; l; l = l->next) {
        JsonObject *e = l->data;

        if ((!name || !g_strcmp0(qmp_event_name(e), name)) &&
            (since_us == G_MININT64 ||
             limevi_qmp_event_time(e) >= since_us)) {
            g_queue_delete_link(&qmp->events, l);
            return e;
        }
    }
    return NULL;
}

/* The event, or NULL: on timeout with @error unset. */
static JsonObject *next_event(LimeviQmp *qmp, const char *name,
                              gint64 since_us, guint timeout_ms,
                              GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    JsonObject *e;

    while (!(e = take_event(qmp, name, since_us))) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        g_autofree char *line = qmp_read_line(qmp, MAX(left, 0), error);
        JsonObject *msg;

        if (!line || !(msg = qmp_parse(qmp, line, error))) {
            return NULL;
        }
        if (qmp_event_name(msg)) {
            qmp_queue_event(qmp, msg);
        } else {
            json_object_unref(msg);     /* a late reply */
        }
    }
    return e;
}

JsonObject *limevi_qmp_event(LimeviQmp *qmp, const char *name,
                             guint timeout_ms, GError **error)
{
    return next_event(qmp, name, G_MININT64, timeout_ms, error);
}

JsonObject *limevi_qmp_wait_event(LimeviQmp *qmp, const char *name,
                                  gint64 since_us, guint timeout_ms,
                                  gint64 *time_us, GError **error)
{
    GError *local = NULL;
    JsonObject *e = next_event(qmp, name, since_us, timeout_ms, &local);

    if (!e) {
        if (!local) {
            g_set_error(&local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "QMP %s: no %s event in %u ms", qmp->path,
                        name ? name : "", timeout_ms);
        }
        g_propagate_error(error, local);
        return NULL;
    }
    if (time_us) {
        *time_us = limevi_qmp_event_time(e);
    }
    return e;
}

guint64 limevi_qmp_events_dropped(LimeviQmp *qmp)
{
    return qmp->events_dropped;
}

gboolean limevi_qmp_wait_migration(LimeviQmp *qmp, const char *status,
                                   gint64 since_us, guint timeout_ms,
                                   gint64 *time_us, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    for (;;) {
        gint64 left = MAX(deadline - g_get_monotonic_time(), 0) / 1000;
        g_autoptr(JsonObject) e = NULL;
        JsonNode *data;
        const char *got;

        e = limevi_qmp_wait_event(qmp, "MIGRATION", since_us, left, time_us,
                                  error);
        if (!e) {
            g_prefix_error(error, "waiting for migration status %s: ",
                           status);
            return FALSE;
        }
        data = qmp_member(e, "data", JSON_NODE_OBJECT);
        got = data ? qmp_string_member(json_node_get_object(data), "status")
                   : NULL;
        if (!g_strcmp0(got, status)) {
            return TRUE;
        }
    }
}
