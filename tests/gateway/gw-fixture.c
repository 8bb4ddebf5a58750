/*
 * The gateway's integration tests' helpers: the gateway process and the
 * download client (see gw-fixture.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "gw-fixture.h"

struct GwProcess {
    GSubprocess *proc;
    GDataInputStream *out;
};

GwProcess *gw_start(HNetns *ns, const char *const *args, GError **err)
{
    const char *bin = g_getenv("LIMEVI_GATEWAY");
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *line = NULL;
    GwProcess *gw;

    g_assert_nonnull(bin);
    g_ptr_array_add(argv, (gpointer)"ip");
    g_ptr_array_add(argv, (gpointer)"netns");
    g_ptr_array_add(argv, (gpointer)"exec");
    g_ptr_array_add(argv, (gpointer)hnetns_name(ns));
    g_ptr_array_add(argv, (gpointer)bin);
    for (guint i = 0; args[i]; i++) {
        g_ptr_array_add(argv, (gpointer)args[i]);
    }
    g_ptr_array_add(argv, NULL);
    gw = g_new0(GwProcess, 1);
    gw->proc = g_subprocess_newv((const char *const *)argv->pdata,
                                 G_SUBPROCESS_FLAGS_STDOUT_PIPE, err);
    if (!gw->proc) {
        g_free(gw);
        return NULL;
    }
    gw->out = g_data_input_stream_new(
        g_subprocess_get_stdout_pipe(gw->proc));
    line = g_data_input_stream_read_line(gw->out, NULL, NULL, err);
    if (g_strcmp0(line, "ready")) {
        if (err && !*err) {
            g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_EXITED,
                        "limevi-gateway did not start");
        }
        gw_stop(gw);
        return NULL;
    }
    return gw;
}

JsonObject *gw_stats(GwProcess *gw, JsonNode **holder)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *line = NULL;

    g_subprocess_send_signal(gw->proc, SIGUSR1);
    line = g_data_input_stream_read_line(gw->out, NULL, NULL, &err);
    g_assert_no_error(err);
    g_assert_nonnull(line);
    json_parser_load_from_data(parser, line, -1, &err);
    g_assert_no_error(err);
    *holder = json_parser_steal_root(parser);
    return json_node_get_object(*holder);
}

void gw_stop(GwProcess *gw)
{
    if (!gw) {
        return;
    }
    g_subprocess_send_signal(gw->proc, SIGTERM);
    /* GLib reaps it in its worker thread; 5 s, then killed by its PID. */
    for (guint i = 0; i < 50 && g_subprocess_get_identifier(gw->proc); i++) {
        g_usleep(100000);
    }
    g_subprocess_force_exit(gw->proc);
    g_subprocess_wait(gw->proc, NULL, NULL);
    g_clear_object(&gw->out);
    g_clear_object(&gw->proc);
    g_free(gw);
}

gboolean gw_has_lease(GwProcess *gw, const char *mac, const char *addr)
{
    JsonNode *holder;
    JsonObject *stats = gw_stats(gw, &holder);
    JsonArray *leases = json_object_get_array_member(stats, "leases");
    gboolean found = FALSE;

    for (guint i = 0; i < json_array_get_length(leases); i++) {
        JsonObject *l = json_array_get_object_element(leases, i);

        found |= !g_strcmp0(json_object_get_string_member(l, "mac"), mac) &&
                 !g_strcmp0(json_object_get_string_member(l, "addr"), addr);
    }
    json_node_unref(holder);
    return found;
}

char *ns_ok(HNetns *ns, const char *const *argv)
{
    g_autoptr(GError) err = NULL;
    char *out = NULL;
    int status = hnetns_run(ns, argv, 60000, &out, &err);

    if (status != 0) {
        g_autofree char *cmd = g_strjoinv(" ", (char **)argv);

        g_error("'%s' in %s: %s%s", cmd, hnetns_name(ns),
                err ? err->message : "failed:\n", out ? out : "");
    }
    return out;
}

/* Joins @ns for this thread only (setns on a thread of our own). */
static gboolean join_netns(HNetns *ns, char **error)
{
    g_autofree char *path = g_strdup_printf("/var/run/netns/%s",
                                            hnetns_name(ns));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc;

    if (fd < 0) {
        *error = g_strdup_printf("%s: %s", path, g_strerror(errno));
        return FALSE;
    }
    rc = setns(fd, CLONE_NEWNET);
    close(fd);
    if (rc < 0) {
        *error = g_strdup_printf("setns: %s", g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/* Reads to the end of the headers; what of the body came with them is
 * counted.  FALSE unless the status is 200. */
static gboolean read_headers(GInputStream *in, GChecksum *sum,
                             GwDownload *d, GError **err)
{
    GString *head = g_string_new(NULL);
    char buf[4096];
    char *end;

    while (!(end = strstr(head->str, "\r\n\r\n"))) {
        gssize n = g_input_stream_read(in, buf, sizeof(buf) - 1, NULL, err);

        if (n <= 0 || head->len > 65536) {
            g_string_free(head, TRUE);
            return FALSE;
        }
        g_string_append_len(head, buf, n);
    }
    if (!g_str_has_prefix(head->str, "HTTP/1.0 200") &&
        !g_str_has_prefix(head->str, "HTTP/1.1 200")) {
        d->error = g_strndup(head->str, strcspn(head->str, "\r\n"));
        g_string_free(head, TRUE);
        return FALSE;
    }
    end += 4;
    d->bytes = head->len - (end - head->str);
    g_checksum_update(sum, (const guchar *)end, d->bytes);
    g_string_free(head, TRUE);
    return TRUE;
}

static void download(HNetns *ns, const char *host, guint16 port,
                     const char *path, guint timeout_ms, GwDownload *d)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree char *req = g_strdup_printf(
        "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
    GInputStream *in;
    char buf[65536];
    gint64 last;

    memset(d, 0, sizeof(*d));
    if (!join_netns(ns, &d->error)) {
        return;
    }
    g_socket_client_set_timeout(client, timeout_ms / 1000);
    conn = g_socket_client_connect_to_host(client, host, port, NULL, &err);
    if (!conn || !g_output_stream_write_all(
            g_io_stream_get_output_stream(G_IO_STREAM(conn)), req,
            strlen(req), NULL, NULL, &err)) {
        d->reset = TRUE;
        d->error = g_strdup(err->message);
        return;
    }
    in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
    if (!read_headers(in, sum, d, &err)) {
        d->reset = TRUE;
        if (!d->error) {
            d->error = g_strdup(err ? err->message : "no HTTP headers");
        }
        return;
    }
    last = g_get_monotonic_time();
    for (;;) {
        gssize n = g_input_stream_read(in, buf, sizeof(buf), NULL, &err);
        gint64 now = g_get_monotonic_time();

        d->longest_stall_ms = MAX(d->longest_stall_ms, (now - last) / 1000);
        last = now;
        if (n < 0) {
            d->reset = TRUE;
            d->error = g_strdup(err->message);
            break;
        }
        if (n == 0) {
            break;
        }
        g_checksum_update(sum, (const guchar *)buf, n);
        d->bytes += n;
    }
    d->sha256 = g_strdup(g_checksum_get_string(sum));
}

struct GwDownloadThread {
    GThread *thread;
    HNetns *ns;
    char *host, *path;
    guint16 port;
    guint timeout_ms;
    GwDownload result;
};

static gpointer download_thread(gpointer opaque)
{
    GwDownloadThread *t = opaque;

    download(t->ns, t->host, t->port, t->path, t->timeout_ms, &t->result);
    return NULL;
}

GwDownloadThread *gw_download_start(HNetns *ns, const char *host,
                                    guint16 port, const char *path,
                                    guint timeout_ms)
{
    GwDownloadThread *t = g_new0(GwDownloadThread, 1);

    t->ns = ns;
    t->host = g_strdup(host);
    t->path = g_strdup(path);
    t->port = port;
    t->timeout_ms = timeout_ms;
    t->thread = g_thread_new("download", download_thread, t);
    return t;
}

void gw_download_finish(GwDownloadThread *t, GwDownload *result)
{
    g_thread_join(t->thread);
    *result = t->result;
    g_free(t->host);
    g_free(t->path);
    g_free(t);
}

/* In a thread of its own, so the caller's namespace stays ours. */
void gw_download(HNetns *ns, const char *host, guint16 port,
                 const char *path, guint timeout_ms, GwDownload *result)
{
    gw_download_finish(gw_download_start(ns, host, port, path, timeout_ms),
                       result);
}

void gw_download_clear(GwDownload *d)
{
    g_free(d->sha256);
    g_free(d->error);
    memset(d, 0, sizeof(*d));
}
