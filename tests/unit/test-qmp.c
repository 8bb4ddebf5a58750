/*
 * The coordinator's QMP client against a scripted QMP server on a unix
 * socket: what it sends (escaped by json-glib) and how it reports
 * QEMU's refusals (LIMEVI_QMP_ERROR with QEMU's class).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "qmp.h"

typedef struct {
    GSocketListener *listener;
    const char *reply;          /* sent after the capabilities' answer */
    char *request;              /* the line received after them */
} FakeQemu;

static char *read_line(GDataInputStream *in)
{
    return g_data_input_stream_read_line_utf8(in, NULL, NULL, NULL);
}

static gpointer fake_qemu(gpointer data)
{
    FakeQemu *f = data;
    g_autoptr(GSocketConnection) c =
        g_socket_listener_accept(f->listener, NULL, NULL, NULL);
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c));
    g_autoptr(GDataInputStream) in = g_data_input_stream_new(
        g_io_stream_get_input_stream(G_IO_STREAM(c)));
    static const char greeting[] = "{\"QMP\": {\"version\": {}}}\n";
    g_autofree char *caps = NULL;
    g_autofree char *reply = NULL;

    g_assert_nonnull(c);
    g_output_stream_write_all(out, greeting, strlen(greeting), NULL, NULL,
                              NULL);
    caps = read_line(in);
    g_assert_nonnull(strstr(caps, "\"qmp_capabilities\""));
    g_output_stream_write_all(out, "{\"return\": {}, \"id\": 1}\n", 24,
                              NULL, NULL, NULL);
    f->request = read_line(in);
    reply = g_strdup_printf("%s\n", f->reply);
    g_output_stream_write_all(out, reply, strlen(reply), NULL, NULL, NULL);
    return NULL;
}

/* Connects to a fake QEMU that answers the first command with @reply. */
static LimeviQmp *connect_fake(FakeQemu *f, const char *reply, char **dir,
                               GThread **thread)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = NULL;
    g_autoptr(GSocketAddress) addr = NULL;
    LimeviQmp *qmp;

    *dir = g_dir_make_tmp("test-qmp-XXXXXX", &error);
    g_assert_no_error(error);
    path = g_build_filename(*dir, "vm.qmp", NULL);
    addr = g_unix_socket_address_new(path);
    f->listener = g_socket_listener_new();
    f->reply = reply;
    g_assert_true(g_socket_listener_add_address(f->listener, addr,
        G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL,
        &error));
    g_assert_no_error(error);
    *thread = g_thread_new("fake-qemu", fake_qemu, f);
    qmp = limevi_qmp_connect(path, 5000, &error);
    g_assert_no_error(error);
    return qmp;
}

static void finish_fake(FakeQemu *f, char *dir, GThread *thread)
{
    g_autofree char *path = g_build_filename(dir, "vm.qmp", NULL);

    if (thread) {
        g_thread_join(thread);
    }
    g_socket_listener_close(f->listener);
    g_object_unref(f->listener);
    unlink(path);
    g_rmdir(dir);
    g_free(dir);
    g_free(f->request);
}

static void test_refusal_carries_qemu_class(void)
{
    FakeQemu f = { 0 };
    g_autoptr(GError) error = NULL;
    GThread *thread;
    char *dir;
    g_autoptr(LimeviQmp) qmp = connect_fake(&f,
        "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"no n9\"},"
        " \"id\": 2}", &dir, &thread);

    g_assert_false(limevi_qmp_route_set(qmp, "web", "198.18.0.1:7000", NULL,
                                        &error));
    g_assert_error(error, LIMEVI_QMP_ERROR,
                   LIMEVI_QMP_ERROR_DEVICE_NOT_FOUND);
    g_assert_cmpstr(error->message, ==, "DeviceNotFound: no n9");
    finish_fake(&f, dir, thread);
}

static void test_unknown_class_is_generic(void)
{
    FakeQemu f = { 0 };
    g_autoptr(GError) error = NULL;
    GThread *thread;
    char *dir;
    g_autoptr(LimeviQmp) qmp = connect_fake(&f,
        "{\"error\": {\"class\": \"NewClass\", \"desc\": \"x\"}, \"id\": 2}",
        &dir, &thread);

    g_assert_false(limevi_qmp_run(qmp, "stop", NULL, &error));
    g_assert_error(error, LIMEVI_QMP_ERROR, LIMEVI_QMP_ERROR_GENERIC);
    g_assert_cmpstr(error->message, ==, "NewClass: x");
    finish_fake(&f, dir, thread);
}

/* A peer name with a quote cannot break the request: json-glib escapes. */
static void test_route_set_escapes_strings(void)
{
    FakeQemu f = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) sent = NULL;
    JsonObject *args;
    GThread *thread;
    char *dir;
    g_autoptr(LimeviQmp) qmp = connect_fake(&f,
        "{\"return\": {}, \"id\": 2}", &dir, &thread);

    g_assert_true(limevi_qmp_route_set(qmp, "we\"b", "198.18.0.1:7000",
                                       "valid", &error));
    g_assert_no_error(error);
    /* The server has read the request once it ends. */
    g_thread_join(g_steal_pointer(&thread));
    sent = json_from_string(f.request, &error);
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
    finish_fake(&f, dir, thread);
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
    return g_test_run();
}
