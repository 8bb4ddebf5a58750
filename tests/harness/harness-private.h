/*
 * What the harness's files share: deadlines, a line reader over a file
 * descriptor, bounded process waits, and the guest's innards.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "harness.h"

/* A deadline @timeout_ms from now, in g_get_monotonic_time() units. */
gint64 harness_deadline(guint timeout_ms);
/* Milliseconds left until @deadline, rounded up, 0 once it passed. */
int harness_remaining_ms(gint64 deadline);

/* Lines from a pipe or socket, read no later than a deadline. */
typedef struct {
    int fd;
    GString *buf;               /* read, not yet returned */
    GString *log;               /* everything read, when non-NULL */
    gboolean eof;
} HLines;

void hlines_init(HLines *lines, int fd, GString *log);
void hlines_clear(HLines *lines);
/* The next line without its "\r\n", or NULL with @err set (timeout,
 * HARNESS_ERROR_EXITED at end of file). */
char *hlines_read(HLines *lines, gint64 deadline, GError **err);

/* A launcher whose children die with the test program: an aborted
 * test leaves no QEMU behind. */
GSubprocessLauncher *harness_launcher_new(GSubprocessFlags flags);
/* Waits at most @timeout_ms for @proc to end; TRUE when it has. */
gboolean harness_wait_process(GSubprocess *proc, guint timeout_ms);
/* Kills @proc by its PID unless it has ended, and reaps it. */
void harness_kill_process(GSubprocess *proc);
/* The exit status, or 128 + signal; @proc must have ended. */
int harness_process_status(GSubprocess *proc);

struct HVm {
    char *name;
    char *dir;                  /* per-VM temporary directory, until
                                   QEMU has what it holds open */
    int stderr_fd;              /* QEMU's stderr, an unlinked file */
    GSubprocess *proc;
    GPid pid;
    GOutputStream *console_in;  /* QEMU's stdin: the serial port */
    HLines console;             /* QEMU's stdout */
    GString *console_log;
    gboolean ready;
    guint seq;                  /* of the last command sent */
    gboolean incoming;          /* started with -incoming */
    gboolean resync;            /* console fresh after a migration */
    gint64 migrate_since;       /* real time "migrate" was sent, µs */
    guint16 migrate_port;

    GSocketConnection *qmp;
    HLines qmp_lines;
    GQueue events;              /* JsonNode *, oldest first */
    guint qmp_id;
};

/* The first queued or coming event @name stamped no earlier than @since
 * (real time, µs), or NULL with @err set on timeout. */
JsonNode *hvm_qmp_take_event(HVm *vm, const char *name, gint64 since,
                             gint64 deadline, GError **err);
/* An event's QMP timestamp in real-time µs; -1 when it has none. */
gint64 hvm_qmp_event_time(JsonNode *event);

gboolean hvm_qmp_connect(HVm *vm, const char *path, gint64 deadline,
                         GError **err);
void hvm_qmp_close(HVm *vm);
