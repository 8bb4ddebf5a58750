/*
 * The VC's gateways (limevi-gateway, docs/gateway.md) as processes on
 * their hosts: started by `limevi start`, stopped by `limevi stop`, their
 * statistics read through their control socket for `limevi status`.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_GATEWAYS_H
#define LIMEVI_GATEWAYS_H

#include <json-glib/json-glib.h>

#include "vcfile.h"

/* RUN-DIR/NAME.SUFFIX of @gw on its host; g_free() it. */
char *limevi_gateway_path(const LimeviVc *vc, const LimeviVcGateway *gw,
                          const char *suffix);

/* The PID of @gw's running limevi-gateway, or 0. */
GPid limevi_gateway_pid(const LimeviVc *vc, const LimeviVcGateway *gw);

/*
 * Starts @gw on its host (in its namespace), detached, its output in
 * RUN-DIR/NAME.log, and waits until its control socket answers.  The
 * program is $LIMEVI_GATEWAY, or limevi-gateway from PATH.  A gateway
 * that cannot start is reported with its own error line.  Returns the
 * PID, or 0 with @error set.
 */
GPid limevi_gateway_start(const LimeviVc *vc, const LimeviVcGateway *gw,
                          GError **error);

/* SIGTERM to @gw's process, waited out (5 s).  FALSE when none ran. */
gboolean limevi_gateway_stop(const LimeviVc *vc, const LimeviVcGateway *gw,
                             GError **error);

/* The gateway's statistics line (docs/gateway.md), or NULL with @error. */
JsonNode *limevi_gateway_stats(const LimeviVc *vc, const LimeviVcGateway *gw,
                               GError **error);

#endif /* LIMEVI_GATEWAYS_H */
