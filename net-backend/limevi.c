/*
 * What every part of liblimevi shares: the error domain, the rule for
 * vm/vc/lan names, and the names of the public enums.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "limevi.h"
#include "wire.h"

G_DEFINE_QUARK(limevi-error-quark, limevi_error)

gboolean limevi_name_valid(const char *name, const char *what,
                           GError **error)
{
    gsize len;

    if (!name) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'%s' is required", what);
        return FALSE;
    }
    len = strlen(name);
    if (len == 0) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'%s' must not be empty", what);
        return FALSE;
    }
    if (len > LIMEVI_NAME_MAX) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'%s' must be at most %d characters, got %zu",
                    what, LIMEVI_NAME_MAX, len);
        return FALSE;
    }
    /* The same rule as the wire decoder's, so any valid name travels. */
    if (!limevi_wire_name_chars_valid(name, len)) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "'%s' may contain only letters, digits, '_', '.' "
                    "and '-', got '%s'", what, name);
        return FALSE;
    }
    return TRUE;
}

const char *limevi_port_state_name(LimeviPortState state)
{
    switch (state) {
    case LIMEVI_PORT_ACTIVE:
        return "active";
    case LIMEVI_PORT_MIGRATING:
        return "migrating";
    case LIMEVI_PORT_FROZEN:
        return "frozen";
    case LIMEVI_PORT_FORWARDING:
        return "forwarding";
    case LIMEVI_PORT_INCOMING:
        return "incoming";
    }
    return "unknown";
}

const char *limevi_route_status_name(LimeviRouteStatus status)
{
    switch (status) {
    case LIMEVI_ROUTE_VALID:
        return "valid";
    case LIMEVI_ROUTE_INVALID:
        return "invalid";
    }
    return "unknown";
}
