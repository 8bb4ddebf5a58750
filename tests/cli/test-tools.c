/*
 * limevi-tap and limevi-wan as a user meets them on a bad command line:
 * one line on stderr naming the option, exit 2 (1 for a setup failure,
 * docs/tap.md and docs/wan.md), and nothing started: no "ready", no
 * ready-file, no statistics.  The binaries come from LIMEVI_TAP and
 * LIMEVI_WAN.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct {
    const char *path;
    const char *args[20];
    int status;
    const char *needle;         /* the option as the user typed it */
} ToolCase;

/* The options of a limevi-tap that would start, the bad one last. */
#define TAP_OK "--tap", "lvt16bad0", "--vm", "tap0", "--vc", "vc1", \
               "--lan", "lan1", "--listen", "127.0.0.1:0"

static const ToolCase tap_cases[] = {
    { "unknown-option", { TAP_OK, "--bogus" }, 2, "--bogus" },
    { "missing-value", { TAP_OK, "--route" }, 2, "--route" },
    { "extra-argument", { TAP_OK, "extra" }, 2, "'extra'" },
    { "tap-missing", { "--vm", "tap0", "--vc", "vc1", "--lan", "lan1",
                       "--listen", "127.0.0.1:0" }, 2, "'--tap'" },
    { "listen-missing", { "--tap", "lvt16bad0", "--vm", "tap0", "--vc", "vc1",
                          "--lan", "lan1" }, 2, "'--listen'" },
    { "tap-name-too-long", { TAP_OK, "--tap", "lvt16-sixteen-ch" }, 2,
      "'--tap'" },
    { "vm-bad-name", { TAP_OK, "--vm", "tap/0" }, 2, "'--vm'" },
    { "vc-bad-name", { TAP_OK, "--vc", "vc 1" }, 2, "'--vc'" },
    { "lan-too-long", { TAP_OK, "--lan",
      "lan0123456789012345678901234567890123456789012345678901234567890" },
      2, "'--lan'" },
    { "listen-no-port", { TAP_OK, "--listen", "127.0.0.1" }, 2,
      "'--listen'" },
    { "listen-ipv6-unbracketed", { TAP_OK, "--listen", "::1:7000" }, 2,
      "'--listen'" },
    { "route-no-equals", { TAP_OK, "--route", "vm1" }, 2, "'--route'" },
    { "route-no-vm", { TAP_OK, "--route", "=127.0.0.1:7001" }, 2,
      "'--route'" },
    { "route-port-zero", { TAP_OK, "--route", "vm1=127.0.0.1:0" }, 2,
      "'--route vm1=127.0.0.1:0'" },
    { "route-bad-lan", { TAP_OK, "--route", "vm1=127.0.0.1:7001@lan/2" }, 2,
      "'--route vm1=127.0.0.1:7001@lan/2'" },
    { "route-to-itself", { TAP_OK, "--route", "tap0=127.0.0.1:7001" }, 2,
      "'--route tap0=127.0.0.1:7001'" },
    { "route-twice", { TAP_OK, "--route", "vm1=127.0.0.1:7001",
                       "--route", "vm1=127.0.0.1:7002" }, 2, "'--route'" },
    { "buffer-limit-not-a-number", { TAP_OK, "--buffer-limit", "lots" }, 2,
      "--buffer-limit" },
    { "buffer-limit-negative", { TAP_OK, "--buffer-limit", "-1" }, 2,
      "'--buffer-limit'" },
    { "buffer-limit-too-small", { TAP_OK, "--buffer-limit", "10" }, 2,
      "'--buffer-limit'" },
    /* Secure by default: beyond loopback only with a key or --insecure. */
    { "listen-beyond-loopback-needs-key", { TAP_OK, "--listen",
      "198.18.254.1:7000" }, 2, "needs a key: give '--key-file', or "
      "'--insecure' to run unauthenticated" },
    { "key-file-missing", { TAP_OK, "--key-file", "/nonexistent/vc1.key" },
      2, "'--key-file'" },
    /* Setup, not usage: no local address in 198.18.0.0/15 to bind. */
    { "listen-not-local-exits-1", { TAP_OK, "--listen", "198.18.254.1:7000",
      "--insecure" }, 1, "'--listen'" },
};

#define WAN_OK "--site", "A=lvt16a", "--site", "B=lvt16b"

static const ToolCase wan_cases[] = {
    { "unknown-option", { WAN_OK, "--bogus" }, 2, "--bogus" },
    { "missing-value", { WAN_OK, "--link" }, 2, "--link" },
    { "extra-argument", { WAN_OK, "extra" }, 2, "'extra'" },
    { "one-site", { "--site", "A=lvt16a" }, 2, "'--site" },
    { "site-no-interface", { WAN_OK, "--site", "C" }, 2, "'--site C'" },
    { "site-name-with-dash", { WAN_OK, "--site", "C-1=lvt16c" }, 2,
      "'--site C-1=lvt16c'" },
    { "interface-too-long", { WAN_OK, "--site", "C=lvt16-sixteen-ch" }, 2,
      "'--site C=lvt16-sixteen-ch'" },
    { "site-twice", { WAN_OK, "--site", "A=lvt16c" }, 2, "'--site A=lvt16c'" },
    { "link-no-dash", { WAN_OK, "--link", "AB" }, 2, "'--link AB'" },
    { "link-unknown-site", { WAN_OK, "--link", "A-C" }, 2, "'--link A-C'" },
    { "link-to-itself", { WAN_OK, "--link", "A-A" }, 2, "'--link A-A'" },
    { "link-twice", { WAN_OK, "--link", "A-B:delay=1ms",
                      "--link", "B-A:delay=2ms" }, 2, "'--link B-A" },
    { "delay-bad-unit", { WAN_OK, "--link", "A-B:delay=5parsecs" }, 2,
      "'delay=5parsecs'" },
    { "delay-too-long", { WAN_OK, "--link", "A-B:delay=61s" }, 2,
      "'delay=61s'" },
    { "loss-over-100", { WAN_OK, "--link", "A-B:loss=101%" }, 2,
      "'loss=101%'" },
    { "rate-too-low", { WAN_OK, "--link", "A-B:rate=1bit" }, 2,
      "'rate=1bit'" },
    { "queue-too-small", { WAN_OK, "--link", "A-B:queue=1kb" }, 2,
      "'queue=1kb'" },
    { "unknown-key", { WAN_OK, "--link", "A-B:color=red" }, 2, "'color'" },
    { "default-negative-jitter", { WAN_OK, "--default", "jitter=-1ms" }, 2,
      "'--default'" },
    { "seed-negative", { WAN_OK, "--seed", "-1" }, 2, "'--seed'" },
    { "seed-too-big", { WAN_OK, "--seed", "4294967296" }, 2, "'--seed'" },
    /* Setup, not usage: the interfaces do not exist here. */
    { "no-such-interface-exits-1", { WAN_OK }, 1, "'lvt16a'" },
};

/* Runs the tool named by @env with @extra (NULL-terminated), then the
 * case's arguments, the bad one last, and checks what every case shares. */
static void run_bad(const char *env, const ToolCase *c, const char *extra[])
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *out = NULL, *err = NULL;
    const char *tool = g_getenv(env);
    g_autofree char *name = NULL, *prefix = NULL;
    guint lines = 0;
    int status;

    g_assert_nonnull(tool);
    name = g_path_get_basename(tool);
    prefix = g_strconcat(name, ": ", NULL);
    /* Bounded: a tool that took a bad line for a good one would run on. */
    g_ptr_array_add(argv, (gpointer)"timeout");
    g_ptr_array_add(argv, (gpointer)"-s");
    g_ptr_array_add(argv, (gpointer)"KILL");
    g_ptr_array_add(argv, (gpointer)"10");
    g_ptr_array_add(argv, (gpointer)tool);
    for (; extra && *extra; extra++) {
        g_ptr_array_add(argv, (gpointer)*extra);
    }
    for (const char *const *a = c->args; *a; a++) {
        g_ptr_array_add(argv, (gpointer)*a);
    }
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL,
                               G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                               &status, &error));
    g_assert_no_error(error);

    g_test_message("stderr: %s", err);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, c->status);
    /* One line, the tool's name first, the option in it. */
    g_assert_true(g_str_has_prefix(err, prefix));
    g_assert_true(g_str_has_suffix(err, "\n"));
    for (const char *p = err; *p; p++) {
        lines += *p == '\n';
    }
    g_assert_cmpuint(lines, ==, 1);
    g_assert_nonnull(strstr(err, c->needle));
    /* Nothing started: no "ready", no statistics. */
    g_assert_cmpstr(out, ==, "");
}

static void test_tap_bad_option(gconstpointer data)
{
    run_bad("LIMEVI_TAP", data, NULL);
}

static void test_wan_bad_option(gconstpointer data)
{
    g_autofree char *dir = g_dir_make_tmp("limevi-wan-XXXXXX", NULL);
    g_autofree char *ready = g_build_filename(dir, "ready", NULL);
    const char *extra[] = { "--ready-file", ready, NULL };

    g_assert_nonnull(dir);
    run_bad("LIMEVI_WAN", data, extra);
    g_assert_false(g_file_test(ready, G_FILE_TEST_EXISTS));
    g_assert_cmpint(g_rmdir(dir), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (gsize i = 0; i < G_N_ELEMENTS(tap_cases); i++) {
        g_autofree char *path = g_strdup_printf("/tools/limevi-tap/bad/%s",
                                                tap_cases[i].path);

        g_test_add_data_func(path, &tap_cases[i], test_tap_bad_option);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(wan_cases); i++) {
        g_autofree char *path = g_strdup_printf("/tools/limevi-wan/bad/%s",
                                                wan_cases[i].path);

        g_test_add_data_func(path, &wan_cases[i], test_wan_bad_option);
    }
    return g_test_run();
}
