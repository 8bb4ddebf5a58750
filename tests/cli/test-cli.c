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
    return g_test_run();
}
