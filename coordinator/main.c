/*
 * limevi: the command-line coordinator that migrates whole virtual
 * clusters.  This file dispatches subcommands; each lives in its own module.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "commands.h"
#include "limevi.h"

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} Command;

static int cmd_version(int argc, char **argv);

static const Command commands[] = {
    { "migrate", "move every VM of a VC to another site, together",
      limevi_cmd_migrate },
    { "status", "where each VM of a VC runs, and its routes",
      limevi_cmd_status },
    { "start", "start the VMs of a VC that run nowhere", limevi_cmd_start },
    { "route-set", "point a VM's route to a peer at an endpoint",
      limevi_cmd_route_set },
    { "stop", "quit every QEMU of a VC's VMs", limevi_cmd_stop },
    { "version", "print the version of limevi and liblimevi", cmd_version },
};

static int cmd_version(int argc, char **argv)
{
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        { "json", 0, 0, G_OPTION_ARG_NONE, &json,
          "print one JSON object", NULL },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- print versions");
    g_autoptr(GError) error = NULL;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        g_printerr("limevi: version: %s\n", error->message);
        return EXIT_USAGE;
    }
    if (argc > 1) {
        g_printerr("limevi: version: unexpected argument '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    if (json) {
        g_print("{\"limevi\":\"%s\",\"liblimevi\":\"%s\"}\n",
                PACKAGE_VERSION, LIMEVI_VERSION_STRING);
    } else {
        g_print("limevi %s (liblimevi %s)\n", PACKAGE_VERSION,
                LIMEVI_VERSION_STRING);
    }
    return EXIT_OK;
}

static void print_usage(FILE *out)
{
    fprintf(out, "Usage: limevi COMMAND [OPTIONS...]\n\n"
                 "Migrates virtual clusters live between sites.\n\n"
                 "Commands:\n");
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\nRun 'limevi COMMAND --help' for a command's options.\n"
                 "Example:\n  limevi migrate vc1.conf --to B\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        print_usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        return cmd_version(1, argv);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (!strcmp(argv[1], commands[i].name)) {
            /* The subcommand sees itself as argv[0], for its --help. */
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    g_printerr("limevi: unknown command '%s'; see 'limevi --help'\n",
               argv[1]);
    return EXIT_USAGE;
}
