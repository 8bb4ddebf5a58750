/*
 * limevi-wan between three emulated sites (network namespaces made by
 * wan-sites.sh): A-B has 20 ms of delay, A-C loses 5%, B-C is shaped to
 * 10 Mbit/s.  Ping and probe streams show each property, and the WAN's
 * own statistics agree.  Needs root.
 *
 * Each test brings up its own sites and WAN and tears them down; a
 * failed assertion (abort) or meson's timeout (SIGTERM) still kills our
 * children by PID and deletes the namespaces, from a signal handler.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#define MAX_CHILDREN 8
#define READY_TIMEOUT_MS 5000

static const char *const sites[] = { "A", "B", "C", NULL };

typedef struct {
    char *tag;
    char *dir;
    GPid wan;
    JsonParser *stats;
} Fixture;

/* What the signal handler needs, prepared beforehand. */
static volatile GPid children[MAX_CHILDREN];
static char *down_argv[8];
static char *tmp_dir;
static char *tmp_files[4];

static void children_add(GPid pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (!children[i]) {
            children[i] = pid;
            return;
        }
    }
    g_error("more than %d children", MAX_CHILDREN);
}

static void children_remove(GPid pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] == pid) {
            children[i] = 0;
        }
    }
}

/* Async-signal-safe: kill, fork, execv, waitpid only. */
static void on_fatal_signal(int sig)
{
    pid_t pid = -1;

    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
        }
    }
    if (down_argv[0] && (pid = fork()) == 0) {
        execv(down_argv[0], down_argv);
        _exit(127);
    }
    if (pid > 0) {
        waitpid(pid, NULL, 0);
    }
    for (int i = 0; tmp_files[i]; i++) {
        unlink(tmp_files[i]);
    }
    if (tmp_dir) {
        rmdir(tmp_dir);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- Processes ---- */

/* "ip netns exec TAG-NS argv..."; @out_fd gets its stdout when asked,
 * else it goes nowhere: our stdout is TAP. */
static GPid spawn_in(Fixture *fx, const char *ns, const char *const *argv,
                     int *out_fd)
{
    g_autoptr(GPtrArray) full = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    GPid pid;

    g_ptr_array_add(full, g_strdup("ip"));
    g_ptr_array_add(full, g_strdup("netns"));
    g_ptr_array_add(full, g_strdup("exec"));
    g_ptr_array_add(full, g_strdup_printf("%s-%s", fx->tag, ns));
    for (; *argv; argv++) {
        g_ptr_array_add(full, g_strdup(*argv));
    }
    g_ptr_array_add(full, NULL);
    g_assert_true(g_spawn_async_with_pipes(NULL, (char **)full->pdata, NULL,
        G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH |
        (out_fd ? 0 : G_SPAWN_STDOUT_TO_DEV_NULL), NULL, NULL, &pid,
        NULL, out_fd, NULL, &err));
    g_assert_no_error(err);
    children_add(pid);
    return pid;
}

/* Waits up to @timeout_ms for @pid; FALSE if it still runs. */
static gboolean reap(GPid pid, guint timeout_ms, int *status)
{
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;

    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);

        if (r == pid || (r < 0 && errno == ECHILD)) {
            children_remove(pid);
            return TRUE;
        }
        if (g_get_monotonic_time() > end) {
            return FALSE;
        }
        g_usleep(5000);
    }
}

/* Stops @pid for good: SIGTERM, then SIGKILL; returns its wait status. */
static int stop(GPid pid)
{
    int status = 0;

    kill(pid, SIGTERM);
    if (!reap(pid, 5000, &status)) {
        kill(pid, SIGKILL);
        reap(pid, 5000, &status);
    }
    return status;
}

/* Runs @argv in site @ns to the end; returns its exit code. */
static int run_in(Fixture *fx, const char *ns, const char *const *argv,
                  char **out)
{
    int fd = -1, status = 0;
    GPid pid = spawn_in(fx, ns, argv, out ? &fd : NULL);
    g_autoptr(GString) text = g_string_new(NULL);
    char buf[4096];
    ssize_t n;

    /* Read to the end first: a full pipe would block the child. */
    while (fd >= 0 && ((n = read(fd, buf, sizeof(buf))) > 0 ||
                       (n < 0 && errno == EINTR))) {
        g_string_append_len(text, buf, MAX(n, 0));
    }
    if (fd >= 0) {
        close(fd);
    }
    g_assert_true(reap(pid, 60000, &status));
    if (out) {
        *out = g_strdup(text->str);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run_sites(const char *cmd, const char *tag)
{
    const char *argv[] = { g_getenv("LIMEVI_WAN_SITES"), cmd, tag, sites[0],
                           sites[1], sites[2], NULL };
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    int status = 0;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT,
                               NULL, NULL, NULL, &out, &status, &err));
    g_assert_no_error(err);
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_test_message("wan-sites.sh %s: %s", cmd, out);
    }
    return status;
}

static void wait_for_file(const char *path, GPid pid)
{
    gint64 end = g_get_monotonic_time() + READY_TIMEOUT_MS * 1000LL;

    while (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_assert_cmpint(waitpid(pid, NULL, WNOHANG), ==, 0);
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_usleep(10000);
    }
}

/* Pings until one reply, so ARP is done before anything is measured. */
static void warm(Fixture *fx, const char *from, const char *to_ip)
{
    for (int i = 0; i < 20; i++) {
        if (run_in(fx, from, (const char *[]){ "ping", "-c", "1", "-W", "1",
                                               to_ip, NULL }, NULL) == 0) {
            return;
        }
    }
    g_error("no ping reply from %s to %s", from, to_ip);
}

/* ---- Fixture ---- */

static void setup(Fixture *fx, gconstpointer data)
{
    g_autofree char *stats = NULL, *ready = NULL;
    g_autoptr(GError) err = NULL;
    const char *argv[] = {
        g_getenv("LIMEVI_WAN"), "--site", "A=A", "--site", "B=B",
        "--site", "C=C",
        "--link", "A-B:delay=20ms",
        "--link", "A-C:loss=5%",
        "--link", "B-C:rate=10mbit",
        "--seed", "7", "--stats-json", NULL, "--ready-file", NULL, NULL
    };

    fx->tag = g_strdup_printf("lvwan%d", (int)getpid());
    fx->dir = g_dir_make_tmp("limevi-wan-XXXXXX", &err);
    g_assert_no_error(err);
    stats = g_build_filename(fx->dir, "stats.json", NULL);
    ready = g_build_filename(fx->dir, "ready", NULL);
    argv[16] = stats;
    argv[18] = ready;

    g_free(down_argv[2]);
    g_free(tmp_dir);
    for (int i = 0; tmp_files[i]; i++) {
        g_free(tmp_files[i]);
    }
    tmp_dir = g_strdup(fx->dir);
    tmp_files[0] = g_strdup(stats);
    tmp_files[1] = g_strdup(ready);
    tmp_files[2] = g_build_filename(fx->dir, "recv-ready", NULL);
    tmp_files[3] = NULL;
    down_argv[0] = (char *)g_getenv("LIMEVI_WAN_SITES");
    down_argv[1] = (char *)"down";
    down_argv[2] = g_strdup(fx->tag);
    for (int i = 0; sites[i]; i++) {
        down_argv[3 + i] = (char *)sites[i];
    }

    g_assert_cmpint(run_sites("up", fx->tag), ==, 0);
    fx->wan = spawn_in(fx, "wan", argv, NULL);
    wait_for_file(ready, fx->wan);
    warm(fx, "A", "198.18.0.2");
    warm(fx, "A", "198.18.0.3");
    warm(fx, "B", "198.18.0.3");
}

static void teardown(Fixture *fx, gconstpointer data)
{
    g_autoptr(GDir) dir = NULL;
    const char *name;

    if (fx->wan) {
        stop(fx->wan);
    }
    g_assert_cmpint(run_sites("down", fx->tag), ==, 0);
    if ((dir = g_dir_open(fx->dir, 0, NULL))) {
        while ((name = g_dir_read_name(dir))) {
            g_autofree char *path = g_build_filename(fx->dir, name, NULL);

            g_unlink(path);
        }
    }
    g_rmdir(fx->dir);
    g_clear_object(&fx->stats);
    g_free(fx->dir);
    g_free(fx->tag);
}

/* Stops the WAN (it must exit 0) and returns its statistics of @link. */
static JsonObject *wan_stats(Fixture *fx, const char *link)
{
    g_autofree char *path = g_build_filename(fx->dir, "stats.json", NULL);
    g_autoptr(GError) err = NULL;
    int status = stop(fx->wan);
    JsonArray *links;

    fx->wan = 0;
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    fx->stats = json_parser_new();
    g_assert_true(json_parser_load_from_file(fx->stats, path, &err));
    g_assert_no_error(err);
    links = json_object_get_array_member(
        json_node_get_object(json_parser_get_root(fx->stats)), "links");
    for (guint i = 0; i < json_array_get_length(links); i++) {
        JsonObject *o = json_array_get_object_element(links, i);

        if (!strcmp(json_object_get_string_member(o, "link"), link)) {
            g_test_message("%s: %" G_GINT64_FORMAT " frames, %"
                           G_GINT64_FORMAT " lost, %" G_GINT64_FORMAT
                           " queue drops", link,
                           json_object_get_int_member(o, "frames"),
                           json_object_get_int_member(o, "dropped_loss"),
                           json_object_get_int_member(o, "dropped_queue"));
            return o;
        }
    }
    g_error("no link %s in the statistics", link);
}

/* ---- Probe streams ---- */

typedef struct {
    gint64 received, lost, duplicated, reordered;
    double max_gap_ms;
    double elapsed_s;           /* from the sender's start to the report */
} Stream;

/* A probe stream from @from to @to (port @port), measured by the
 * receiver's one JSON line. */
static void stream(Fixture *fx, const char *from, const char *to,
                   const char *to_ip, guint port, guint rate, guint count,
                   guint size, Stream *s)
{
    const char *probe = g_getenv("LIMEVI_PROBE");
    g_autofree char *ready = g_build_filename(fx->dir, "recv-ready", NULL);
    g_autofree char *port_s = g_strdup_printf("%u", port);
    g_autofree char *to_s = g_strdup_printf("%s:%u", to_ip, port);
    g_autofree char *rate_s = g_strdup_printf("%u", rate);
    g_autofree char *count_s = g_strdup_printf("%u", count);
    g_autofree char *size_s = g_strdup_printf("%u", size);
    g_autofree char *sent = NULL;
    g_autoptr(GString) report = g_string_new(NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;
    JsonObject *o;
    int fd = -1, status = 0;
    char buf[4096];
    ssize_t n;
    gint64 start;
    GPid recv;

    g_unlink(ready);
    recv = spawn_in(fx, to, (const char *[]){ probe, "recv", "--port",
                                              port_s, "--senders", "1",
                                              "--timeout-ms", "3000",
                                              "--ready-file", ready, NULL },
                    &fd);
    wait_for_file(ready, recv);
    start = g_get_monotonic_time();
    g_assert_cmpint(run_in(fx, from, (const char *[]){
        probe, "send", "--to", to_s, "--rate", rate_s, "--count", count_s,
        "--size", size_s, NULL }, &sent), ==, 0);
    while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
        g_string_append_len(report, buf, MAX(n, 0));
    }
    close(fd);
    g_assert_true(reap(recv, 30000, &status));
    s->elapsed_s = (g_get_monotonic_time() - start) / 1e6;
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    g_test_message("%s -> %s: %s  (%.3f s)", from, to,
                   g_strchomp(report->str), s->elapsed_s);
    g_assert_true(json_parser_load_from_data(parser, report->str, -1, &err));
    g_assert_no_error(err);
    o = json_node_get_object(json_parser_get_root(parser));
    s->received = json_object_get_int_member(o, "received");
    s->lost = json_object_get_int_member(o, "lost");
    s->duplicated = json_object_get_int_member(o, "duplicated");
    s->reordered = json_object_get_int_member(o, "reordered");
    s->max_gap_ms = json_object_get_double_member(o, "max_gap_ms");
}

/* ---- Tests ---- */

/* 20 ms each way: the round trip takes at least 40 ms (the WAN holds each
 * frame that long; no upper bound, which would only measure the host's
 * load), nothing is lost and every packet crossed the link. */
static void test_delay_ping(Fixture *fx, gconstpointer data)
{
    g_autofree char *out = NULL;
    const char *rtt;
    double min, avg, max;
    JsonObject *link;

    g_assert_cmpint(run_in(fx, "A", (const char *[]){
        "ping", "-c", "10", "-i", "0.2", "-q", "198.18.0.2", NULL }, &out),
        ==, 0);
    g_test_message("%s", out);
    g_assert_nonnull(strstr(out, " 0% packet loss"));
    rtt = strstr(out, "min/avg/max");
    g_assert_nonnull(rtt);
    rtt = strchr(rtt, '=');
    g_assert_nonnull(rtt);
    g_assert_cmpint(sscanf(rtt + 1, "%lf/%lf/%lf", &min, &avg, &max), ==, 3);
    g_assert_cmpfloat(min, >=, 40.0);
    g_assert_cmpfloat(max, >=, min);

    link = wan_stats(fx, "A-B");
    g_assert_cmpint(json_object_get_int_member(link, "frames"), >=, 20);
    g_assert_cmpint(json_object_get_int_member(link, "dropped_loss"), ==, 0);
}

/* 5% loss: 2000 datagrams lose between 2% and 9%, the same the WAN
 * counts (the seed is fixed, so the run is too). */
static void test_loss_stream(Fixture *fx, gconstpointer data)
{
    Stream s;
    JsonObject *link;

    stream(fx, "A", "C", "198.18.0.3", 9101, 2000, 2000, 64, &s);
    g_assert_cmpint(s.lost, >=, 40);
    g_assert_cmpint(s.lost, <=, 180);
    g_assert_cmpint(s.received + s.lost, ==, 2000);
    g_assert_cmpint(s.duplicated, ==, 0);

    link = wan_stats(fx, "A-C");
    g_assert_cmpint(json_object_get_int_member(link, "dropped_loss"), >=,
                    s.lost);
    g_assert_cmpint(json_object_get_int_member(link, "dropped_queue"), ==, 0);
}

/* 10 Mbit/s: a 2 MB burst (1400 frames of 1442 bytes, sent in ~70 ms)
 * queues at the link, and the 2 MiB queue holds all of it: every frame
 * crosses, in order.  How long the link takes is the unit test's
 * (test-wan-path.c, on an injected clock), not a wall-clock bound here. */
static void test_rate_burst(Fixture *fx, gconstpointer data)
{
    Stream s;
    JsonObject *link;

    stream(fx, "B", "C", "198.18.0.3", 9102, 20000, 1400, 1400, &s);
    g_assert_cmpint(s.received, ==, 1400);
    g_assert_cmpint(s.lost, ==, 0);
    g_assert_cmpint(s.duplicated, ==, 0);
    g_assert_cmpint(s.reordered, ==, 0);

    link = wan_stats(fx, "B-C");
    g_assert_cmpint(json_object_get_int_member(link, "bytes"), >=,
                    1400 * 1442);
    g_assert_cmpint(json_object_get_int_member(link, "dropped_queue"), ==, 0);
}

/* Delay alone loses and reorders nothing. */
static void test_delay_stream_lossless(Fixture *fx, gconstpointer data)
{
    Stream s;
    JsonObject *link;

    stream(fx, "A", "B", "198.18.0.2", 9103, 1000, 2000, 64, &s);
    g_assert_cmpint(s.received, ==, 2000);
    g_assert_cmpint(s.lost, ==, 0);
    g_assert_cmpint(s.duplicated, ==, 0);
    g_assert_cmpint(s.reordered, ==, 0);

    link = wan_stats(fx, "A-B");
    g_assert_cmpint(json_object_get_int_member(link, "dropped_loss"), ==, 0);
    g_assert_cmpint(json_object_get_int_member(link, "dropped_queue"), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!g_getenv("LIMEVI_WAN") || !g_getenv("LIMEVI_WAN_SITES") ||
        !g_getenv("LIMEVI_PROBE")) {
        g_printerr("LIMEVI_WAN, LIMEVI_WAN_SITES and LIMEVI_PROBE must be "
                   "set\n");
        return 1;
    }
    signal(SIGABRT, on_fatal_signal);
    signal(SIGTRAP, on_fatal_signal);   /* g_error() */
    signal(SIGSEGV, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGINT, on_fatal_signal);

    g_test_add("/wan/delay/ping-rtt", Fixture, NULL, setup, test_delay_ping,
               teardown);
    g_test_add("/wan/loss/stream-loses-5-percent", Fixture, NULL, setup,
               test_loss_stream, teardown);
    g_test_add("/wan/rate/burst-paced", Fixture, NULL, setup,
               test_rate_burst, teardown);
    g_test_add("/wan/delay/stream-lossless-in-order", Fixture, NULL, setup,
               test_delay_stream_lossless, teardown);
    return g_test_run();
}
