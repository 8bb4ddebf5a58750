/*
 * The running gateway: its options, its LimeVI port and its slirp stack,
 * and what it counts of its own.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gateway-slirp.h"
#include <gio/gio.h>

#include "limevi.h"

typedef struct {
    GatewayOptions *opts;
    LimeviPort *port;
    GatewaySlirp *slirp;
    GMainLoop *loop;
    GatewayLeases leases;
    guint64 dns_answered;
    GSocketService *control;
} Gateway;

/* One line of JSON (no newline); free with g_free. */
char *gateway_stats_json(Gateway *gw);
