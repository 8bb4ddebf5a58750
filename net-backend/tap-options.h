/*
 * limevi-tap's command line: parsed and checked into a LimeviPortConfig
 * before any device or socket exists, and the library's messages said
 * back in the options' own names.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_TAP_OPTIONS_H
#define LIMEVI_TAP_OPTIONS_H

#include <glib.h>

#include "limevi.h"

/* The command line's values, checked before anything is opened. */
typedef struct {
    char *tap_name, *vm, *vc, *lan, *listen, *key_file;
    GStrv route_specs;
    gboolean insecure, no_offload, no_udp_gso;
    gint64 buffer_limit;
    gint path_mtu;              /* 0: not given */
} TapOptions;

void tap_options_clear(TapOptions *o);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(TapOptions, tap_options_clear)

/*
 * Usage errors: one message naming the option, before any device or
 * socket exists.  The values the library checks itself (names,
 * endpoints, the buffer's range) are checked by limevi_port_new().
 */
gboolean tap_options_parse(TapOptions *o, int *argc, char ***argv,
                           GError **error);

/*
 * The port's configuration from @o, which it points into, as into
 * @routes and *@key (the key file's contents, the caller frees): they
 * must outlive it.  *@tap_mtu: the TAP MTU --path-mtu asks for, 0 if
 * none.  Usage errors only, named as typed.
 */
gboolean tap_config_from_options(TapOptions *o, GArray *routes, char **key,
                                 LimeviPortConfig *config, gint *tap_mtu,
                                 GError **error);

/*
 * The library names the -netdev option at fault ("'listen' ...",
 * "'routes' entry 1: ..."); says it as typed here ("'--listen' ...",
 * "'--route vm2=...': ...").  Returns a new string.
 */
char *tap_option_message(const char *msg, char **route_specs);

#endif /* LIMEVI_TAP_OPTIONS_H */
