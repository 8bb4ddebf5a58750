/*
 * What the benchmarks share: stopping at the next step on a signal,
 * verbose logging, the check of what they need to run, and ratios for
 * their reports.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <signal.h>

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define BENCH_ERROR (g_quark_from_static_string("bench-error"))

/* Set by SIGINT, SIGTERM or SIGHUP once bench_catch_signals() ran: a
 * benchmark stops at its next step and cleans up rather than dying with
 * namespaces and QEMUs left behind. */
extern volatile sig_atomic_t bench_interrupted;
/* bench_log() prints only when this is set (option -v). */
extern gboolean bench_verbose;

void bench_catch_signals(void);
/* FALSE with @err set ("interrupted") once a signal came. */
gboolean bench_check_interrupted(GError **err);

/* "# MESSAGE" on stderr when bench_verbose. */
void bench_log(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* Root (namespaces), LIMEVI_QEMU an executable and LIMEVI_GUEST_DIR the
 * test guest's vmlinux and initrd.img; otherwise FALSE and what to do. */
gboolean bench_environment_ok(GError **err);

/*
 * Parses the command line: @entries and the common -v, @summary after
 * the program's name in --help and @description (an example, what it
 * needs) below the options.
 */
gboolean bench_parse_options(int *argc, char ***argv,
                             const GOptionEntry *entries,
                             const char *summary, const char *description,
                             GError **err);

/*
 * FALSE with @err set to "'CMD'[ in WHERE] failed (STATUS): OUTPUT"
 * unless @status, what harness_run() or hnetns_run() returned for @argv,
 * is 0; a negative @status comes with @err set already.
 */
gboolean bench_command_ok(int status, const char *const *argv,
                          const char *where, char *output, GError **err);

/*
 * The guest command (busybox sh) that starts "probe recv" on @port in the
 * background, its report going to /tmp/@tag.json, and returns once it is
 * bound, so that no datagram is refused.  It ends after @silence_ms
 * without a datagram or once one sender sent its last.  g_free() it.
 */
char *bench_probe_recv_command(const char *tag, guint port,
                               guint silence_ms);

/* Members of the object @b is building. */
void bench_json_int(JsonBuilder *b, const char *name, gint64 value);
void bench_json_double(JsonBuilder *b, const char *name, double value);
void bench_json_string(JsonBuilder *b, const char *name, const char *value);
/* Writes what @b built to @path, indented. */
gboolean bench_json_write(JsonBuilder *b, const char *path, GError **err);

/* "a vs b, ratio a/b" with @unit after each number, or "a vs b (both
 * zero)" / "(no ratio)" when b is 0; g_free() it. */
char *bench_ratio_text(double a, double b, const char *unit);

G_END_DECLS
