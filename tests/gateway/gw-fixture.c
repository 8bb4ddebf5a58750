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
#include <sys/prctl.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gw-fixture.h"

struct GwProcess {
    GSubprocess *proc;
    GDataInputStream *out;
};

/* A test that fails with g_error() never reaches its teardown: the
 * gateway must not outlive it (it would hold the test's output pipe).
 * "ip netns exec" execs the gateway in this same process, which keeps
 * the death signal. */
static void die_with_test(gpointer unused)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
}

GwProcess *gw_start(HNetns *ns, const char *const *args, GError **err)
{
    const char *bin = g_getenv("LIMEVI_GATEWAY");
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *line = NULL;
    g_autoptr(GSubprocessLauncher) launcher = NULL;
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
    launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_subprocess_launcher_set_child_setup(launcher, die_with_test, NULL,
                                          NULL);
    gw->proc = g_subprocess_launcher_spawnv(
        launcher, (const char *const *)argv->pdata, err);
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

/* Sleeps until @bytes read since @start are no more than @rate a second
 * allows. */
static void pace(guint64 bytes, guint64 rate, gint64 start)
{
    gint64 due;

    if (!rate) {
        return;
    }
    due = start + (gint64)(bytes * G_USEC_PER_SEC / rate);
    if (due > g_get_monotonic_time()) {
        g_usleep(due - g_get_monotonic_time());
    }
}

/*
 * A small receive buffer: what the kernel holds for us hides a stall of
 * the network behind it, so keep it to some 100 ms of a paced read.  The
 * sender's buffer hides one too, and Linux sizes it by the MSS: to a
 * client at a local address (loopback's MSS, 64 KiB) some 3-4 MB, 15 s
 * of the pace; an Ethernet MSS announced keeps it to a few seconds'.
 */
static void small_rcvbuf(GSocketClient *client, GSocketClientEvent event,
                         GSocketConnectable *addr, GIOStream *conn,
                         gpointer opaque)
{
    if (event == G_SOCKET_CLIENT_CONNECTING) {
        GSocket *sock =
            g_socket_connection_get_socket(G_SOCKET_CONNECTION(conn));

        g_socket_set_option(sock, SOL_SOCKET, SO_RCVBUF,
                            GPOINTER_TO_INT(opaque), NULL);
        g_socket_set_option(sock, IPPROTO_TCP, TCP_MAXSEG, 1460, NULL);
    }
}

static void download(HNetns *ns, const char *host, guint16 port,
                     const char *path, guint timeout_ms, guint64 rate,
                     gpointer *progress, GwDownload *d)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketConnection) conn = NULL;
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree char *req = g_strdup_printf(
        "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
    GInputStream *in;
    char buf[16384];
    gint64 start, last;

    memset(d, 0, sizeof(*d));
    if (!join_netns(ns, &d->error)) {
        return;
    }
    g_socket_client_set_timeout(client, timeout_ms / 1000);
    if (rate) {
        g_signal_connect(client, "event", G_CALLBACK(small_rcvbuf),
                         GINT_TO_POINTER(MAX(rate / 10, 4096)));
    }
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
    start = g_get_monotonic_time();
    for (;;) {
        gssize n;
        gint64 now;

        /* A stall is the network's wait, not our pacing's. */
        pace(d->bytes, rate, start);
        last = g_get_monotonic_time();
        n = g_input_stream_read(in, buf, sizeof(buf), NULL, &err);
        now = g_get_monotonic_time();
        d->longest_stall_ms = MAX(d->longest_stall_ms, (now - last) / 1000);
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
        g_atomic_pointer_set(progress, GSIZE_TO_POINTER(d->bytes));
    }
    d->sha256 = g_strdup(g_checksum_get_string(sum));
}

struct GwDownloadThread {
    GThread *thread;
    HNetns *ns;
    char *host, *path;
    guint16 port;
    guint timeout_ms;
    guint64 rate;
    gpointer progress;          /* bytes of the body so far */
    GwDownload result;
};

static gpointer download_thread(gpointer opaque)
{
    GwDownloadThread *t = opaque;

    download(t->ns, t->host, t->port, t->path, t->timeout_ms, t->rate,
             &t->progress, &t->result);
    return NULL;
}

GwDownloadThread *gw_download_start(HNetns *ns, const char *host,
                                    guint16 port, const char *path,
                                    guint timeout_ms, guint64 rate)
{
    GwDownloadThread *t = g_new0(GwDownloadThread, 1);

    t->rate = rate;
    t->ns = ns;
    t->host = g_strdup(host);
    t->path = g_strdup(path);
    t->port = port;
    t->timeout_ms = timeout_ms;
    t->thread = g_thread_new("download", download_thread, t);
    return t;
}

guint64 gw_download_progress(GwDownloadThread *t)
{
    return GPOINTER_TO_SIZE(g_atomic_pointer_get(&t->progress));
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
    gw_download_finish(gw_download_start(ns, host, port, path, timeout_ms,
                                         0), result);
}

void gw_download_clear(GwDownload *d)
{
    g_free(d->sha256);
    g_free(d->error);
    memset(d, 0, sizeof(*d));
}
