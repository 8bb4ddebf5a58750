/*
 * The limevi-gateway binary as a user runs it: exit status 2 and one
 * line naming the option on a bad option, 1 when it cannot start, 0 with
 * its statistics after SIGTERM.  Loopback only; no root.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#define IDENTITY "--vm", "gw", "--vc", "vc1", "--lan", "lan1", \
    "--listen", "127.0.0.1:0", "--net", "198.19.0.0/24"

/* Runs the gateway with @args; returns its exit status, stderr in @err. */
static int run(const char *const *args, char **err_out)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    int status;

    g_ptr_array_add(argv, (gpointer)g_getenv("LIMEVI_GATEWAY"));
    for (guint i = 0; args[i]; i++) {
        g_ptr_array_add(argv, (gpointer)args[i]);
    }
    g_ptr_array_add(argv, NULL);
    g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                 NULL, NULL, NULL, err_out, &status, &error);
    g_assert_no_error(error);
    g_assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Exit @code and exactly one line on stderr, containing @expect. */
static void assert_fails(const char *const *args, int code,
                         const char *expect)
{
    g_autofree char *err = NULL;
    int status = run(args, &err);

    g_assert_cmpint(status, ==, code);
    g_assert_true(g_str_has_prefix(err, "limevi-gateway: "));
    g_assert_nonnull(strstr(err, expect));
    g_assert_cmpuint(strlen(err), ==, strcspn(err, "\n") + 1);
}

static void test_bad_options_exit_2(void)
{
    assert_fails((const char *[]){ IDENTITY, "--bogus", NULL }, 2,
                 "--bogus");
    assert_fails((const char *[]){ "--vm", "gw", NULL }, 2,
                 "'--vc' is required");
    assert_fails((const char *[]){ IDENTITY, "--forward",
                 "tcp:127.0.0.1:8080-198.18.0.15:80", NULL }, 2,
                 "'--forward' tcp:127.0.0.1:8080-198.18.0.15:80: guest "
                 "address 198.18.0.15 is not a guest's address in --net");
    assert_fails((const char *[]){ IDENTITY, "--forward", "tcp:8080:80",
                 NULL }, 2, "'--forward' tcp:8080:80: expects");
    assert_fails((const char *[]){ IDENTITY, "--dns-name", "x", NULL }, 2,
                 "'--dns-name' expects NAME=ADDR");
    /* Checked by liblimevi as it binds, still a bad option. */
    assert_fails((const char *[]){ "--vm", "gw", "--vc", "vc1", "--lan",
                 "lan1", "--listen", "127.0.0.1:abc", "--net",
                 "198.19.0.0/24", NULL }, 2, "'listen' expects HOST:PORT");
    assert_fails((const char *[]){ IDENTITY, "--route", "vm1", NULL }, 2,
                 "'--route' expects VM=HOST:PORT[@LAN]");
}

/* Secure by default: beyond loopback only with a key or --insecure. */
static void test_key_or_insecure(void)
{
    g_autofree char *dir = g_dir_make_tmp("limevi-gwkey-XXXXXX", NULL);
    g_autofree char *bad = g_build_filename(dir, "short.key", NULL);
    g_autofree char *missing = g_build_filename(dir, "none.key", NULL);

    g_assert_true(g_file_set_contents(bad, "00112233\n", -1, NULL));
    assert_fails((const char *[]){ IDENTITY, "--listen", "198.18.254.1:7050",
                 NULL }, 2, "listening on 198.18.254.1:7050, which is not "
                 "loopback, needs a key: give '--key-file', or '--insecure' "
                 "to run unauthenticated");
    /* Told insecure, it gets as far as binding (no such local address). */
    assert_fails((const char *[]){ IDENTITY, "--listen", "198.18.254.1:7050",
                 "--insecure", NULL }, 1, "198.18.254.1:7050");
    assert_fails((const char *[]){ IDENTITY, "--key-file", missing, NULL },
                 2, "'--key-file'");
    assert_fails((const char *[]){ IDENTITY, "--key-file", bad, NULL }, 2,
                 "'--key-file'");
    g_unlink(bad);
    g_rmdir(dir);
}

/* A TCP socket listening on 127.0.0.1; returns its port. */
static guint16 hold_port(int *fd, int type)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);

    *fd = socket(AF_INET, type, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(bind(*fd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
    if (type == SOCK_STREAM) {
        g_assert_cmpint(listen(*fd, 1), ==, 0);
    }
    g_assert_cmpint(getsockname(*fd, (struct sockaddr *)&sin, &len), ==, 0);
    return ntohs(sin.sin_port);
}

static void test_start_failures_exit_1(void)
{
    int tcp, udp;
    guint16 tcp_port = hold_port(&tcp, SOCK_STREAM);
    guint16 udp_port = hold_port(&udp, SOCK_DGRAM);
    g_autofree char *fwd = g_strdup_printf("tcp:127.0.0.1:%u-198.19.0.15:80",
                                           tcp_port);
    g_autofree char *ufwd = g_strdup_printf(
        "udp:127.0.0.1:%u-198.19.0.15:53", udp_port);
    g_autofree char *listen_busy = g_strdup_printf("127.0.0.1:%u", udp_port);
    g_autofree char *expect = g_strdup_printf(
        "'--forward' %s: cannot listen on the host: the address is in use",
        fwd);

    assert_fails((const char *[]){ IDENTITY, "--forward", fwd, NULL }, 1,
                 expect);
    assert_fails((const char *[]){ IDENTITY, "--forward", ufwd, NULL }, 1,
                 "the address is in use");
    assert_fails((const char *[]){ "--vm", "gw", "--vc", "vc1", "--lan",
                 "lan1", "--listen", listen_busy, "--net", "198.19.0.0/24",
                 NULL }, 1, "listen");
    close(tcp);
    close(udp);
}

static void test_help_has_example(void)
{
    g_autofree char *out = NULL;
    const char *argv[] = { g_getenv("LIMEVI_GATEWAY"), "--help", NULL };
    g_autoptr(GError) error = NULL;
    int status;

    g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, &out, NULL,
                 &status, &error);
    g_assert_no_error(error);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_assert_nonnull(strstr(out, "--forward"));
    g_assert_nonnull(strstr(out, "Example:"));
}

/* ready, then SIGTERM: exit 0 and the statistics as the last line. */
static void test_sigterm_prints_stats(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) proc = g_subprocess_new(
        G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, g_getenv("LIMEVI_GATEWAY"),
        IDENTITY, NULL);
    g_autoptr(GDataInputStream) out = NULL;
    g_autofree char *ready = NULL, *stats = NULL, *eof = NULL;

    g_assert_no_error(error);
    out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(proc));
    ready = g_data_input_stream_read_line(out, NULL, NULL, &error);
    g_assert_cmpstr(ready, ==, "ready");
    g_subprocess_send_signal(proc, SIGTERM);
    stats = g_data_input_stream_read_line(out, NULL, NULL, &error);
    g_assert_nonnull(stats);
    g_assert_true(g_str_has_prefix(stats, "{\"vm\":\"gw\",\"vc\":\"vc1\""));
    eof = g_data_input_stream_read_line(out, NULL, NULL, &error);
    g_assert_null(eof);
    g_assert_true(g_subprocess_wait_check(proc, NULL, &error));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/gateway/cli/bad-options-exit-2-naming-them",
                    test_bad_options_exit_2);
    g_test_add_func("/gateway/cli/beyond-loopback-needs-key-or-insecure",
                    test_key_or_insecure);
    g_test_add_func("/gateway/cli/start-failures-exit-1",
                    test_start_failures_exit_1);
    g_test_add_func("/gateway/cli/help-has-an-example",
                    test_help_has_example);
    g_test_add_func("/gateway/cli/sigterm-prints-stats-exits-0",
                    test_sigterm_prints_stats);
    return g_test_run();
}
