/*
 * Typed QMP helpers for what the coordinator, the test harness and the
 * benches ask of QEMU: migration capabilities and parameters, an incoming
 * migration on a free port, query-migrate as a struct, and the limevi
 * commands.  Callers never write JSON.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_QMP_COMMANDS_H
#define LIMEVI_QMP_COMMANDS_H

#include "qmp-client.h"

G_BEGIN_DECLS

/* A migration capability and the state to give it. */
typedef struct {
    const char *name;           /* "return-path", "events", ... */
    gboolean state;
} LimeviQmpCapability;

/* migrate-set-capabilities with the @n capabilities @caps. */
gboolean limevi_qmp_migrate_set_capabilities(LimeviQmp *qmp,
                                             const LimeviQmpCapability *caps,
                                             gsize n, GError **error);

/* migrate-set-parameters with one integer parameter ("downtime-limit",
 * "max-bandwidth", ...). */
gboolean limevi_qmp_migrate_set_parameter(LimeviQmp *qmp, const char *name,
                                          gint64 value, GError **error);

/*
 * migrate-incoming on "tcp:@address:0": QEMU binds a free port, with no
 * window for another process to take it as a probed port would leave.
 * Returns that port, as query-migrate reports it, or 0 with @error set.
 */
guint16 limevi_qmp_migrate_incoming(LimeviQmp *qmp, const char *address,
                                    GError **error);

/* migrate to "tcp:@address:@port". */
gboolean limevi_qmp_migrate(LimeviQmp *qmp, const char *address,
                            guint16 port, GError **error);

/* What query-migrate says; a number QEMU left out is -1. */
typedef struct {
    char *status;               /* "none", "active", "completed", ... */
    char *error_desc;           /* why it failed, or NULL */
    gint64 total_time_ms;
    gint64 downtime_ms;
    gint64 expected_downtime_ms;
    gint64 setup_time_ms;
    gint64 ram_transferred;     /* bytes */
    gint64 ram_remaining;
    gint64 ram_total;
    gint64 dirty_pages_rate;    /* pages/s */
    double mbps;                /* -1 when unknown */
    gboolean hold_ready;        /* switchover-hold: converged, held */
    guint16 incoming_port;      /* a destination's listening port, or 0 */
} LimeviQmpMigration;

gboolean limevi_qmp_query_migrate(LimeviQmp *qmp, LimeviQmpMigration *info,
                                  GError **error);
/* query-migrate's answer @ret as a struct (for limevi_qmp_send() users). */
void limevi_qmp_migration_parse(JsonNode *ret, LimeviQmpMigration *info);
void limevi_qmp_migration_clear(LimeviQmpMigration *info);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(LimeviQmpMigration,
                                 limevi_qmp_migration_clear)
/* Completed, failed or cancelled: nothing more will happen. */
gboolean limevi_qmp_migration_ended(const LimeviQmpMigration *info);

/* query-limevi: every limevi netdev (json_array_unref() it). */
JsonArray *limevi_qmp_query_limevi(LimeviQmp *qmp, GError **error);

/* limevi-route-set on LIMEVI_NETDEV_ID: @vm's route at @endpoint
 * ("HOST:PORT"), with @status ("valid", "invalid") unless NULL. */
gboolean limevi_qmp_route_set(LimeviQmp *qmp, const char *vm,
                              const char *endpoint, const char *status,
                              GError **error);

G_END_DECLS

#endif /* LIMEVI_QMP_COMMANDS_H */
