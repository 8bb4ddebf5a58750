/*
 * What the harness's files share beyond harness.h: the guest's innards.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "harness.h"

struct HVm {
    char *name;
    char *dir;                  /* per-VM temporary directory, until
                                   QEMU has what it holds open */
    int stderr_fd;              /* QEMU's stderr, an unlinked file */
    GSubprocess *proc;
    GPid pid;
    HConsole console;           /* QEMU's stdin and stdout */
    GString *console_log;
    gboolean ready;
    gboolean incoming;          /* started with -incoming */
    gboolean resync;            /* console fresh after a migration */
    gint64 migrate_since;       /* real time "migrate" was sent, µs */
    guint16 migrate_port;
    LimeviQmp *qmp;
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
