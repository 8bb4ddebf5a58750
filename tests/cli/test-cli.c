/*
 * The limevi CLI as a user meets it: exit codes, --help, version output.
 * Runs the installed-layout binary given by LIMEVI_CLI.
 */
#include <glib.h>

#include "limevi.h"

typedef struct {
    int status;
    char *out;
    char *err;
} Run;

static void run_free(Run *r)
{
    g_free(r->out);
    g_free(r->err);
}

/* Runs limevi with @args (NULL-terminated); never fails the test itself. */
static void run_cli(Run *r, const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    const char *cli = g_getenv("LIMEVI_CLI");

    g_assert_nonnull(cli);
    g_ptr_array_add(argv, (gpointer)cli);
    for (; *args; args++) {
        g_ptr_array_add(argv, (gpointer)*args);
    }
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL,
                               G_SPAWN_DEFAULT, NULL, NULL, &r->out, &r->err,
                               &r->status, &error));
    g_assert_no_error(error);
}

static int exit_code(const Run *r)
{
    g_assert_true(WIFEXITED(r->status));
    return WEXITSTATUS(r->status);
}

static void test_version_prints_both_versions(void)
{
    Run r = { 0 };

    run_cli(&r, (const char *[]){ "version", NULL });
    g_assert_cmpint(exit_code(&r), ==, 0);
    g_assert_true(g_str_has_prefix(r.out, "limevi "));
    g_assert_nonnull(strstr(r.out, "liblimevi " LIMEVI_VERSION_STRING));
    run_free(&r);
}

static void test_version_json_is_one_object(void)
{
    Run r = { 0 };

    run_cli(&r, (const char *[]){ "version", "--json", NULL });
    g_assert_cmpint(exit_code(&r), ==, 0);
    g_assert_true(g_str_has_prefix(r.out, "{\"limevi\":\""));
    g_assert_true(g_str_has_suffix(r.out, "}\n"));
    run_free(&r);
}

static void test_help_lists_commands_with_example(void)
{
    Run r = { 0 };

    run_cli(&r, (const char *[]){ "--help", NULL });
    g_assert_cmpint(exit_code(&r), ==, 0);
    g_assert_nonnull(strstr(r.out, "version"));
    g_assert_nonnull(strstr(r.out, "Example:"));
    run_free(&r);
}

static void test_unknown_command_exits_2_naming_it(void)
{
    Run r = { 0 };

    run_cli(&r, (const char *[]){ "frobnicate", NULL });
    g_assert_cmpint(exit_code(&r), ==, 2);
    g_assert_nonnull(strstr(r.err, "unknown command 'frobnicate'"));
    g_assert_cmpstr(r.out, ==, "");
    run_free(&r);
}

static void test_no_command_exits_2_with_usage(void)
{
    Run r = { 0 };

    run_cli(&r, (const char *[]){ NULL });
    g_assert_cmpint(exit_code(&r), ==, 2);
    g_assert_nonnull(strstr(r.err, "Usage: limevi"));
    run_free(&r);
}

static void test_bad_option_exits_2(void)
{
    Run r = { 0 };

    run_cli(&r, (const char *[]){ "version", "--bogus", NULL });
    g_assert_cmpint(exit_code(&r), ==, 2);
    g_assert_nonnull(strstr(r.err, "--bogus"));
    run_free(&r);
}

/* A usage error: exit status 2, a message on stderr naming @needle,
 * nothing on stdout. */
typedef struct {
    const char *path;
    const char *args[8];
    const char *needle;
} UsageCase;

static const UsageCase usage_cases[] = {
    { "/cli/route-set/one-argument-is-not-help",
      { "route-set", "/nonexistent.conf" }, "expects VC-FILE VM PEER" },
    { "/cli/route-set/no-arguments", { "route-set" },
      "expects VC-FILE VM PEER" },
    { "/cli/route-set/too-many-arguments",
      { "route-set", "a.conf", "vm", "peer", "h:1", "extra" },
      "expects VC-FILE VM PEER" },
    { "/cli/route-set/unknown-option",
      { "route-set", "--bogus", "a.conf", "vm", "peer", "h:1" }, "--bogus" },
    { "/cli/migrate/no-vc-file", { "migrate", "--to", "B" },
      "expects one VC-FILE" },
    { "/cli/migrate/two-vc-files", { "migrate", "a.conf", "b.conf" },
      "expects one VC-FILE" },
    { "/cli/migrate/unknown-option", { "migrate", "--bogus", "a.conf" },
      "--bogus" },
    { "/cli/migrate/timeout-not-a-number",
      { "migrate", "a.conf", "--timeout", "soon" }, "--timeout" },
    { "/cli/migrate/to-without-value", { "migrate", "a.conf", "--to" },
      "--to" },
    { "/cli/status/no-vc-file", { "status" }, "expects one VC-FILE" },
    { "/cli/status/unknown-option", { "status", "--bogus", "a.conf" },
      "--bogus" },
    { "/cli/start/no-vc-file", { "start" }, "expects one VC-FILE" },
    { "/cli/start/two-vc-files", { "start", "a.conf", "b.conf" },
      "expects one VC-FILE" },
    { "/cli/stop/no-vc-file", { "stop" }, "expects one VC-FILE" },
    { "/cli/stop/unknown-option", { "stop", "--json", "a.conf" }, "--json" },
    { "/cli/version/extra-argument", { "version", "now" },
      "unexpected argument 'now'" },
};

static void test_usage_error_exits_2(gconstpointer data)
{
    const UsageCase *c = data;
    Run r = { 0 };

    run_cli(&r, c->args);
    g_assert_cmpint(exit_code(&r), ==, 2);
    g_assert_nonnull(strstr(r.err, c->needle));
    g_assert_cmpstr(r.out, ==, "");
    run_free(&r);
}

/* A VC file that cannot be read is the work failing, not usage: 1. */
typedef struct {
    const char *path;
    const char *args[8];
} MissingFileCase;

static const MissingFileCase missing_file_cases[] = {
    { "/cli/route-set/missing-vc-file-exits-1",
      { "route-set", "/nonexistent.conf", "vm", "peer", "198.18.0.1:1" } },
    { "/cli/migrate/missing-vc-file-exits-1",
      { "migrate", "/nonexistent.conf", "--to", "B" } },
    { "/cli/status/missing-vc-file-exits-1",
      { "status", "/nonexistent.conf" } },
    { "/cli/start/missing-vc-file-exits-1",
      { "start", "/nonexistent.conf" } },
    { "/cli/stop/missing-vc-file-exits-1",
      { "stop", "/nonexistent.conf" } },
};

static void test_missing_vc_file_exits_1(gconstpointer data)
{
    const MissingFileCase *c = data;
    Run r = { 0 };

    run_cli(&r, c->args);
    g_assert_cmpint(exit_code(&r), ==, 1);
    g_assert_nonnull(strstr(r.err, "/nonexistent.conf"));
    run_free(&r);
}

/* Each subcommand's --help succeeds and shows its arguments. */
static const char *const help_commands[][2] = {
    { "migrate", "VC-FILE" }, { "status", "VC-FILE" },
    { "start", "VC-FILE" }, { "stop", "VC-FILE" },
    { "route-set", "VC-FILE VM PEER HOST:PORT" }, { "version", "versions" },
};

static void test_subcommand_help_exits_0(gconstpointer data)
{
    const char *const *c = data;
    Run r = { 0 };

    run_cli(&r, (const char *[]){ c[0], "--help", NULL });
    g_assert_cmpint(exit_code(&r), ==, 0);
    g_assert_nonnull(strstr(r.out, c[1]));
    run_free(&r);
}

/* The crash seam is hidden from users. */
static void test_migrate_help_hides_test_seams(void)
{
    Run r = { 0 };

    run_cli(&r, (const char *[]){ "migrate", "--help", NULL });
    g_assert_cmpint(exit_code(&r), ==, 0);
    g_assert_null(strstr(r.out, "x-crash-at"));
    g_assert_null(strstr(r.out, "keep-sources"));
    run_free(&r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/version/prints-both-versions",
                    test_version_prints_both_versions);
    g_test_add_func("/cli/version/json-is-one-object",
                    test_version_json_is_one_object);
    g_test_add_func("/cli/help/lists-commands-with-example",
                    test_help_lists_commands_with_example);
    g_test_add_func("/cli/unknown-command/exits-2-naming-it",
                    test_unknown_command_exits_2_naming_it);
    g_test_add_func("/cli/no-command/exits-2-with-usage",
                    test_no_command_exits_2_with_usage);
    g_test_add_func("/cli/bad-option/exits-2", test_bad_option_exits_2);
    for (gsize i = 0; i < G_N_ELEMENTS(usage_cases); i++) {
        g_autofree char *path = g_strconcat(usage_cases[i].path,
                                            "/exits-2", NULL);

        g_test_add_data_func(path, &usage_cases[i],
                             test_usage_error_exits_2);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(missing_file_cases); i++) {
        g_test_add_data_func(missing_file_cases[i].path,
                             &missing_file_cases[i],
                             test_missing_vc_file_exits_1);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(help_commands); i++) {
        g_autofree char *path = g_strdup_printf("/cli/%s/help-exits-0",
                                                help_commands[i][0]);

        g_test_add_data_func(path, help_commands[i],
                             test_subcommand_help_exits_0);
    }
    g_test_add_func("/cli/migrate/help-hides-test-seams",
                    test_migrate_help_hides_test_seams);
    return g_test_run();
}
