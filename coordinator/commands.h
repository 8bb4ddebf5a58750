/*
 * The subcommands that act on a VC file.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_COMMANDS_H
#define LIMEVI_COMMANDS_H

#include <json-glib/json-glib.h>

/* Exit codes, documented in docs/cli.md. */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,
    EXIT_USAGE = 2,
};

int limevi_cmd_start(int argc, char **argv);
int limevi_cmd_stop(int argc, char **argv);
int limevi_cmd_status(int argc, char **argv);
int limevi_cmd_migrate(int argc, char **argv);
int limevi_cmd_route_set(int argc, char **argv);

/* One member's routes as "vm=endpoint(invalid) ..." for the tables. */
char *limevi_routes_text(JsonArray *routes);

#endif /* LIMEVI_COMMANDS_H */
