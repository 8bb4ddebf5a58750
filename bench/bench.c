/*
 * What the benchmarks share (bench.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <unistd.h>

#include "bench.h"

volatile sig_atomic_t bench_interrupted;
gboolean bench_verbose;

static void on_signal(int sig)
{
    bench_interrupted = 1;
}

void bench_catch_signals(void)
{
    struct sigaction sa = { .sa_handler = on_signal };

    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

gboolean bench_check_interrupted(GError **err)
{
    if (bench_interrupted) {
        g_set_error(err, BENCH_ERROR, 0, "interrupted");
        return FALSE;
    }
    return TRUE;
}

void bench_log(const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    if (!bench_verbose) {
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "# %s\n", msg);
}

gboolean bench_environment_ok(GError **err)
{
    const char *qemu = g_getenv("LIMEVI_QEMU");
    const char *dir = g_getenv("LIMEVI_GUEST_DIR");
    g_autofree char *kernel = dir ? g_build_filename(dir, "vmlinux", NULL)
                                  : NULL;
    g_autofree char *initrd = dir ? g_build_filename(dir, "initrd.img", NULL)
                                  : NULL;

    if (geteuid() != 0) {
        g_set_error(err, BENCH_ERROR, 0, "needs root (network namespaces)");
        return FALSE;
    }
    if (!qemu || !g_file_test(qemu, G_FILE_TEST_IS_EXECUTABLE)) {
        g_set_error(err, BENCH_ERROR, 0, "LIMEVI_QEMU ('%s') is not an "
                    "executable: make qemu", qemu ? qemu : "");
        return FALSE;
    }
    if (!dir || !g_file_test(kernel, G_FILE_TEST_EXISTS) ||
        !g_file_test(initrd, G_FILE_TEST_EXISTS)) {
        g_set_error(err, BENCH_ERROR, 0, "LIMEVI_GUEST_DIR ('%s') holds no "
                    "vmlinux and initrd.img: make guest", dir ? dir : "");
        return FALSE;
    }
    return TRUE;
}

gboolean bench_parse_options(int *argc, char ***argv,
                             const GOptionEntry *entries,
                             const char *summary, const char *description,
                             GError **err)
{
    const GOptionEntry common[] = {
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &bench_verbose,
          "Log every step on stderr", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(summary);

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_add_main_entries(ctx, common, NULL);
    g_option_context_set_description(ctx, description);
    return g_option_context_parse(ctx, argc, argv, err);
}

gboolean bench_command_ok(int status, const char *const *argv,
                          const char *where, char *output, GError **err)
{
    g_autofree char *cmd = NULL;

    if (status == 0) {
        return TRUE;
    }
    if (status > 0) {
        cmd = g_strjoinv(" ", (char **)argv);
        g_set_error(err, BENCH_ERROR, 0, "'%s'%s%s failed (%d): %s", cmd,
                    where ? " in " : "", where ? where : "", status,
                    output ? g_strchomp(output) : "");
    }
    return FALSE;
}

char *bench_probe_recv_command(const char *tag, guint port,
                               guint silence_ms)
{
    return g_strdup_printf(
        "probe recv --port %u --senders 1 --timeout-ms %u "
        "--ready-file /tmp/%s.ready > /tmp/%s.json 2>&1 & "
        "i=0; while [ ! -e /tmp/%s.ready ] && [ $i -lt 200 ]; do "
        "sleep 0.05; i=$((i+1)); done; [ -e /tmp/%s.ready ]",
        port, silence_ms, tag, tag, tag, tag);
}

void bench_json_int(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

void bench_json_double(JsonBuilder *b, const char *name, double value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_double_value(b, value);
}

void bench_json_string(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, value);
}

gboolean bench_json_write(JsonBuilder *b, const char *path, GError **err)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);

    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    return json_generator_to_file(gen, path, err);
}

char *bench_ratio_text(double a, double b, const char *unit)
{
    if (b == 0) {
        return g_strdup_printf("%.1f%s vs %.1f%s (%s)", a, unit, b, unit,
                               a == 0 ? "both zero" : "no ratio");
    }
    return g_strdup_printf("%.1f%s vs %.1f%s, ratio %.3f", a, unit, b, unit,
                           a / b);
}
