/*
 * What the gateway's integration tests share: a limevi-gateway started
 * in a namespace with its statistics read back, and an HTTP client that
 * downloads through a forward from inside a namespace, timing every
 * stall.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "harness.h"

typedef struct GwProcess GwProcess;

/* Starts $LIMEVI_GATEWAY @args in @ns and waits for its "ready" line. */
GwProcess *gw_start(HNetns *ns, const char *const *args, GError **err);
/* Its statistics (SIGUSR1's JSON line); json_node_unref() the holder. */
JsonObject *gw_stats(GwProcess *gw, JsonNode **holder);
/* Ends it with SIGTERM, kills it by PID if it lingers. */
void gw_stop(GwProcess *gw);

/* Whether the gateway's stats list a lease of @addr for @mac. */
gboolean gw_has_lease(GwProcess *gw, const char *mac, const char *addr);

/* Runs @argv in @ns and asserts it exits 0; returns what it printed. */
char *ns_ok(HNetns *ns, const char *const *argv);

typedef struct {
    guint64 bytes;
    char *sha256;               /* of the body */
    gint64 longest_stall_ms;    /* longest time between two reads */
    gboolean reset;             /* the connection was reset or failed */
    char *error;                /* what went wrong, if anything */
} GwDownload;

/*
 * GETs http://@host:@port@path from inside @ns (a thread of our own
 * joins it) and reads the body to its end.  Never fails the test itself;
 * the caller asserts on @result.
 */
void gw_download(HNetns *ns, const char *host, guint16 port,
                 const char *path, guint timeout_ms, GwDownload *result);
void gw_download_clear(GwDownload *d);

/* A thread doing gw_download() while the test does something else,
 * reading at most @rate bytes a second (0: as fast as it comes), so a
 * download can outlast a migration.  Time spent pacing is no stall. */
typedef struct GwDownloadThread GwDownloadThread;
GwDownloadThread *gw_download_start(HNetns *ns, const char *host,
                                    guint16 port, const char *path,
                                    guint timeout_ms, guint64 rate);
/* Bytes of the body read so far. */
guint64 gw_download_progress(GwDownloadThread *t);
/* Waits for it; fills @result. */
void gw_download_finish(GwDownloadThread *t, GwDownload *result);
