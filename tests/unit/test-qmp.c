/*
 * The shared QMP client against a scripted QEMU on the other end of a
 * socketpair: what it sends (escaped by json-glib), how it reports QEMU's
 * refusals (LIMEVI_QMP_ERROR with QEMU's class) and what it makes of
 * replies no QEMU would send.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp-client.h"
#include "qmp-commands.h"

#define GREETING "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n"
#define CAPS_OK "{\"return\": {}, \"id\": 1}\n"
/* An answer of this many bytes without a newline is not QEMU. */
#define TOO_LONG (LIMEVI_QMP_LINE_MAX + 65536)

typedef struct {
    int fd;
    const char *greeting;       /* NULL: GREETING then CAPS_OK */
    const char *const *answers; /* one per request; "" closes, NULL ends */
    gboolean too_long;          /* answer the first request endlessly */
    gboolean linger;            /* after the answers, wait for the end */
    GPtrArray *requests;        /* the lines received after capabilities */
    GThread *thread;
} Peer;

static gboolean write_text(int fd, const char *text, gsize len)
{
    while (len) {
        ssize_t n = write(fd, text, len);

        if (n <= 0) {
            return FALSE;
        }
        text += n;
        len -= n;
    }
    return TRUE;
}

/* One line from @fd, byte by byte (requests are short), or NULL. */
static char *read_request(int fd)
{
    GString *s = g_string_new(NULL);
    char c;

    while (read(fd, &c, 1) == 1) {
        if (c == '\n') {
            return g_string_free(s, FALSE);
        }
        g_string_append_c(s, c);
    }
    g_string_free(s, TRUE);
    return NULL;
}

static gpointer peer_run(gpointer data)
{
    Peer *p = data;
    g_autofree char *caps = NULL;

    if (p->greeting) {
        write_text(p->fd, p->greeting, strlen(p->greeting));
        goto out;
    }
    write_text(p->fd, GREETING, strlen(GREETING));
    caps = read_request(p->fd);
    g_assert_nonnull(strstr(caps, "\"qmp_capabilities\""));
    write_text(p->fd, CAPS_OK, strlen(CAPS_OK));
    if (p->too_long) {
        g_autofree char *junk = g_strnfill(65536, 'x');

        g_ptr_array_add(p->requests, read_request(p->fd));
        for (gsize sent = 0; sent < TOO_LONG; sent += 65536) {
            if (!write_text(p->fd, junk, 65536)) {
                break;
            }
        }
        goto out;
    }
    for (gsize i = 0; p->answers && p->answers[i]; i++) {
        char *req = read_request(p->fd);

        if (!req) {
            break;
        }
        g_ptr_array_add(p->requests, req);
        if (!*p->answers[i]) {
            break;
        }
        write_text(p->fd, p->answers[i], strlen(p->answers[i]));
    }
    while (p->linger) {
        g_autofree char *req = read_request(p->fd);

        if (!req) {
            break;
        }
    }
out:
    close(p->fd);
    return NULL;
}

/* The client's end of a scripted peer, connected and negotiated. */
static LimeviQmp *peer_start(Peer *p, const char *const *answers)
{
    g_autoptr(GError) error = NULL;
    int sv[2];
    LimeviQmp *qmp;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                    ==, 0);
    p->fd = sv[1];
    p->answers = answers;
    p->requests = g_ptr_array_new_with_free_func(g_free);
    p->thread = g_thread_new("qemu", peer_run, p);
    qmp = limevi_qmp_open_fd(sv[0], "scripted", 2000, &error);
    if (!p->greeting) {
        g_assert_no_error(error);
        limevi_qmp_set_reply_timeout(qmp, 2000);
    }
    return qmp;
}

/* Waits for the peer's end; the requests it got stay in @p. */
static void peer_join(Peer *p)
{
    g_thread_join(p->thread);
}

static void peer_free(Peer *p)
{
    g_ptr_array_unref(p->requests);
}

static void test_refusal_carries_qemu_class(void)
{
    static const char *const answers[] = {
        "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"no n9\"},"
        " \"id\": 2}\n", NULL };
    Peer p = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviQmp) qmp = peer_start(&p, answers);

    g_assert_false(limevi_qmp_route_set(qmp, "web", "198.18.0.1:7000", NULL,
                                        &error));
    g_assert_error(error, LIMEVI_QMP_ERROR,
                   LIMEVI_QMP_ERROR_DEVICE_NOT_FOUND);
    g_assert_cmpstr(error->message, ==, "DeviceNotFound: no n9");
    peer_join(&p);
    peer_free(&p);
}

static void test_unknown_class_is_generic(void)
{
    static const char *const answers[] = {
        "{\"error\": {\"class\": \"NewClass\", \"desc\": \"x\"}, \"id\": 2}\n",
        "{\"error\": {\"class\": 7}, \"id\": 3}\n", NULL };
    Peer p = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviQmp) qmp = peer_start(&p, answers);

    g_assert_false(limevi_qmp_run(qmp, "stop", NULL, &error));
    g_assert_error(error, LIMEVI_QMP_ERROR, LIMEVI_QMP_ERROR_GENERIC);
    g_assert_cmpstr(error->message, ==, "NewClass: x");
    g_clear_error(&error);
    /* A class that is not a string, no desc: still an error, named. */
    g_assert_false(limevi_qmp_run(qmp, "stop", NULL, &error));
    g_assert_error(error, LIMEVI_QMP_ERROR, LIMEVI_QMP_ERROR_GENERIC);
    g_assert_cmpstr(error->message, ==, "GenericError: (no description)");
    peer_join(&p);
    peer_free(&p);
}

/* A peer name with a quote cannot break the request: json-glib escapes. */
static void test_route_set_escapes_strings(void)
{
    static const char *const answers[] = { "{\"return\": {}, \"id\": 2}\n",
                                           NULL };
    Peer p = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) sent = NULL;
    g_autoptr(LimeviQmp) qmp = peer_start(&p, answers);
    JsonObject *args;

    g_assert_true(limevi_qmp_route_set(qmp, "we\"b", "198.18.0.1:7000",
                                       "valid", &error));
    g_assert_no_error(error);
    peer_join(&p);
    sent = json_from_string(g_ptr_array_index(p.requests, 0), &error);
    g_assert_no_error(error);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(sent),
                                                  "execute"), ==,
                    "limevi-route-set");
    args = json_object_get_object_member(json_node_get_object(sent),
                                         "arguments");
    g_assert_cmpstr(json_object_get_string_member(args, "netdev"), ==,
                    LIMEVI_NETDEV_ID);
    g_assert_cmpstr(json_object_get_string_member(args, "vm"), ==, "we\"b");
    g_assert_cmpstr(json_object_get_string_member(args, "status"), ==,
                    "valid");
    peer_free(&p);
}

/* Replies no QEMU sends, each refused with the error a caller can tell. */
static const struct {
    const char *path;
    const char *answer;
    int code;                   /* G_IO_ERROR_* */
} malformed[] = {
    { "/qmp/malformed/not-json", "{\"return\": \n", G_IO_ERROR_INVALID_DATA },
    { "/qmp/malformed/not-an-object", "[1, 2]\n", G_IO_ERROR_INVALID_DATA },
    { "/qmp/malformed/neither-return-nor-error", "{\"id\": 2}\n",
      G_IO_ERROR_INVALID_DATA },
    { "/qmp/malformed/error-not-an-object",
      "{\"error\": \"no\", \"id\": 2}\n", G_IO_ERROR_INVALID_DATA },
    /* An id that is not ours, a string id: not our answer, so none. */
    { "/qmp/malformed/wrong-id-times-out",
      "{\"return\": {}, \"id\": \"2\"}\n{\"return\": {}, \"id\": 9}\n",
      G_IO_ERROR_TIMED_OUT },
    { "/qmp/malformed/closed-mid-reply", "", G_IO_ERROR_CONNECTION_CLOSED },
};

static void test_malformed(gconstpointer data)
{
    guint i = GPOINTER_TO_UINT(data);
    const char *const answers[] = { malformed[i].answer, NULL };
    Peer p = { .linger = malformed[i].code == G_IO_ERROR_TIMED_OUT };
    g_autoptr(GError) error = NULL;
    LimeviQmp *qmp = peer_start(&p, answers);
    JsonNode *ret;

    limevi_qmp_set_reply_timeout(qmp, 300);
    ret = limevi_qmp_call(qmp, "query-status", NULL, &error);
    g_assert_null(ret);
    g_assert_error(error, G_IO_ERROR, malformed[i].code);
    limevi_qmp_free(qmp);
    peer_join(&p);
    peer_free(&p);
}

static void test_line_too_long(void)
{
    Peer p = { .too_long = TRUE };
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviQmp) qmp = peer_start(&p, NULL);

    g_assert_null(limevi_qmp_call(qmp, "query-status", NULL, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
    g_clear_pointer(&qmp, limevi_qmp_free);    /* the peer's write fails */
    peer_join(&p);
    peer_free(&p);
}

static void test_no_greeting(void)
{
    Peer p = { .greeting = "{\"hello\": 1}\n" };
    g_autoptr(GError) error = NULL;
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                    ==, 0);
    p.fd = sv[1];
    p.requests = g_ptr_array_new_with_free_func(g_free);
    p.thread = g_thread_new("qemu", peer_run, &p);
    g_assert_null(limevi_qmp_open_fd(sv[0], "scripted", 2000, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    peer_join(&p);
    peer_free(&p);
}

#define EVENT(name, s) "{\"event\": \"" name "\", \"timestamp\": " \
    "{\"seconds\": " #s ", \"microseconds\": 250}}\n"

/* Events that come with a reply wait in order, filtered by time. */
static void test_events_queue_with_times(void)
{
    static const char *const answers[] = {
        EVENT("STOP", 100) EVENT("MIGRATION_PASS", 101) EVENT("RESUME", 102)
        EVENT("STOP", 103) "{\"return\": {}, \"id\": 2}\n", NULL };
    Peer p = { .linger = TRUE };
    g_autoptr(GError) error = NULL;
    LimeviQmp *qmp = peer_start(&p, answers);
    g_autoptr(JsonObject) stop = NULL;
    g_autoptr(JsonObject) resume = NULL;
    JsonObject *none;
    gint64 t = 0;

    g_assert_true(limevi_qmp_run(qmp, "cont", NULL, &error));
    stop = limevi_qmp_wait_event(qmp, "STOP", 101 * G_USEC_PER_SEC, 0, &t,
                                 &error);
    g_assert_no_error(error);
    g_assert_cmpint(t, ==, 103 * G_USEC_PER_SEC + 250);
    resume = limevi_qmp_event(qmp, "RESUME", 0, &error);
    g_assert_cmpint(limevi_qmp_event_time(resume), ==,
                    102 * G_USEC_PER_SEC + 250);
    g_assert_null(limevi_qmp_event(qmp, "MIGRATION_PASS", 0, &error));
    g_assert_no_error(error);
    /* The older STOP is left; nothing else comes. */
    none = limevi_qmp_wait_event(qmp, "RESUME", G_MININT64, 50, NULL,
                                 &error);
    g_assert_null(none);
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
    g_assert_nonnull((none = limevi_qmp_event(qmp, "STOP", 0, NULL)));
    json_object_unref(none);
    limevi_qmp_free(qmp);
    peer_join(&p);
    peer_free(&p);
}

/* Waiting for a migration status skips the statuses before it. */
static void test_wait_migration_status(void)
{
    static const char *const answers[] = {
        "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"setup\"}, "
        "\"timestamp\": {\"seconds\": 5, \"microseconds\": 0}}\n"
        "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"active\"}, "
        "\"timestamp\": {\"seconds\": 6, \"microseconds\": 0}}\n"
        "{\"event\": \"MIGRATION\", \"data\": 3, "
        "\"timestamp\": {\"seconds\": 7, \"microseconds\": 0}}\n"
        "{\"return\": {}, \"id\": 2}\n", NULL };
    Peer p = { .linger = TRUE };
    g_autoptr(GError) error = NULL;
    LimeviQmp *qmp = peer_start(&p, answers);
    gint64 t = 0;

    g_assert_true(limevi_qmp_run(qmp, "migrate-incoming", NULL, &error));
    g_assert_true(limevi_qmp_wait_migration(qmp, "active", G_MININT64, 0, &t,
                                            &error));
    g_assert_cmpint(t, ==, 6 * G_USEC_PER_SEC);
    /* The one with no data is no status: no "completed" comes. */
    g_assert_false(limevi_qmp_wait_migration(qmp, "completed", G_MININT64,
                                             50, NULL, &error));
    g_assert_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
    limevi_qmp_free(qmp);
    peer_join(&p);
    peer_free(&p);
}

/* A QEMU that floods events cannot grow the queue past its bound, and
 * the flood evicts its own kind: the STOP before it stays. */
static void test_event_flood_is_bounded(void)
{
    GString *flood = g_string_new(NULL);
    const char *answers[] = { NULL, NULL };
    Peer p = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviQmp) qmp = NULL;
    g_autoptr(JsonObject) first = NULL;
    g_autoptr(JsonObject) stop = NULL;
    guint n = LIMEVI_QMP_EVENTS_MAX + 44;

    g_string_append(flood, EVENT("STOP", 0));
    for (guint i = 1; i <= n; i++) {
        g_string_append_printf(flood, "{\"event\": \"LIMEVI_ROUTE_CHANGED\", "
                               "\"timestamp\": {\"seconds\": %u, "
                               "\"microseconds\": 0}}\n", i);
    }
    g_string_append(flood, "{\"return\": {}, \"id\": 2}\n");
    answers[0] = flood->str;
    qmp = peer_start(&p, answers);
    g_assert_true(limevi_qmp_run(qmp, "cont", NULL, &error));
    g_assert_cmpuint(limevi_qmp_events_dropped(qmp), ==, 45);
    stop = limevi_qmp_event(qmp, "STOP", 0, NULL);
    g_assert_nonnull(stop);
    first = limevi_qmp_event(qmp, NULL, 0, NULL);
    g_assert_cmpint(limevi_qmp_event_time(first), ==, 46 * G_USEC_PER_SEC);
    peer_join(&p);
    peer_free(&p);
    g_string_free(flood, TRUE);
}

/* query-migrate read into the struct; members of the wrong type are
 * unknown (-1), not misread. */
static void test_query_migrate_struct(void)
{
    static const char *const answers[] = {
        "{\"return\": {\"status\": \"active\", \"total-time\": 1200, "
        "\"setup-time\": \"5\", \"ram\": {\"transferred\": 4096, "
        "\"remaining\": 8192, \"total\": 1048576, \"mbps\": 12.5, "
        "\"dirty-pages-rate\": 33}, \"switchover-hold\": {\"ready\": true}},"
        " \"id\": 2}\n",
        "{\"return\": {}, \"id\": 3}\n",
        /* One answer a request: a peer that closes with a request unread
         * resets the connection before the client reads its answer. */
        "{\"return\": {\"status\": \"setup\", \"socket-address\": "
        "[{\"type\": \"inet\", \"host\": \"198.18.0.2\", \"port\": "
        "\"41234\"}]}, \"id\": 4}\n", NULL };
    Peer p = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviQmp) qmp = peer_start(&p, answers);
    g_auto(LimeviQmpMigration) info = { 0 };

    g_assert_true(limevi_qmp_query_migrate(qmp, &info, &error));
    g_assert_cmpstr(info.status, ==, "active");
    g_assert_false(limevi_qmp_migration_ended(&info));
    g_assert_cmpint(info.total_time_ms, ==, 1200);
    g_assert_cmpint(info.setup_time_ms, ==, -1);
    g_assert_cmpint(info.downtime_ms, ==, -1);
    g_assert_cmpint(info.ram_remaining, ==, 8192);
    g_assert_cmpint(info.dirty_pages_rate, ==, 33);
    g_assert_cmpfloat(info.mbps, ==, 12.5);
    g_assert_true(info.hold_ready);
    g_assert_cmpuint(limevi_qmp_migrate_incoming(qmp, "198.18.0.2", &error),
                     ==, 41234);
    g_assert_no_error(error);
    peer_join(&p);
    g_assert_cmpstr(g_ptr_array_index(p.requests, 1), ==,
                    "{\"execute\":\"migrate-incoming\",\"arguments\":"
                    "{\"uri\":\"tcp:198.18.0.2:0\"},\"id\":3}");
    peer_free(&p);
}

static void test_capabilities_request(void)
{
    static const char *const answers[] = { "{\"return\": {}, \"id\": 2}\n",
                                           NULL };
    static const LimeviQmpCapability caps[] = {
        { "return-path", TRUE }, { "switchover-ack", FALSE } };
    Peer p = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviQmp) qmp = peer_start(&p, answers);

    g_assert_true(limevi_qmp_migrate_set_capabilities(qmp, caps, 2, &error));
    peer_join(&p);
    g_assert_cmpstr(g_ptr_array_index(p.requests, 0), ==,
                    "{\"execute\":\"migrate-set-capabilities\",\"arguments\":"
                    "{\"capabilities\":[{\"capability\":\"return-path\","
                    "\"state\":true},{\"capability\":\"switchover-ack\","
                    "\"state\":false}]},\"id\":2}");
    peer_free(&p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp/refusal/carries-qemu-class",
                    test_refusal_carries_qemu_class);
    g_test_add_func("/qmp/refusal/unknown-class-is-generic",
                    test_unknown_class_is_generic);
    g_test_add_func("/qmp/route-set/escapes-strings",
                    test_route_set_escapes_strings);
    for (guint i = 0; i < G_N_ELEMENTS(malformed); i++) {
        g_test_add_data_func(malformed[i].path, GUINT_TO_POINTER(i),
                             test_malformed);
    }
    g_test_add_func("/qmp/malformed/line-too-long", test_line_too_long);
    g_test_add_func("/qmp/malformed/no-greeting", test_no_greeting);
    g_test_add_func("/qmp/events/queued-in-order-with-times",
                    test_events_queue_with_times);
    g_test_add_func("/qmp/events/wait-migration-status",
                    test_wait_migration_status);
    g_test_add_func("/qmp/events/flood-is-bounded",
                    test_event_flood_is_bounded);
    g_test_add_func("/qmp/migrate/query-into-struct",
                    test_query_migrate_struct);
    g_test_add_func("/qmp/migrate/capabilities-request",
                    test_capabilities_request);
    return g_test_run();
}
