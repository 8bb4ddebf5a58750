/*
 * The migration state as liblimevi 0.1 wrote it (version 1, a GVariant
 * in GLib's host-endian serialization), so a destination running this
 * library takes a VM from a source running the older one.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "state.h"

LimeviState *limevi_state_decode_v1(const guint8 *data, gsize len,
                                    GError **error)
{
    g_autoptr(GBytes) bytes = g_bytes_new(data, len);
    g_autoptr(GVariant) v = g_variant_ref_sink(g_variant_new_from_bytes(
        G_VARIANT_TYPE(LIMEVI_STATE_V1_TYPE), bytes, FALSE));
    g_autoptr(LimeviState) state = limevi_state_new();
    g_autoptr(GVariant) routes = NULL, rx = NULL, macs = NULL, held = NULL;
    GVariantIter iter;
    guint32 version;
    GVariant *row;
    const char *name;
    guint64 next;
    gsize n;

    if (!g_variant_is_normal_form(v)) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "migration state: malformed");
        return NULL;
    }
    g_variant_get(v, "(uus@a(ssssuutay)@a(st)@a(ays)@ay)", &version,
                  &state->epoch, &state->source, &routes, &rx, &macs, &held);
    if (version != 1) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                    "migration state: version %u is not supported", version);
        return NULL;
    }
    g_variant_iter_init(&iter, routes);
    while ((row = g_variant_iter_next_value(&iter))) {
        LimeviStateRoute r = { 0 };
        g_autoptr(GVariant) rheld = NULL;

        g_variant_get(row, "(ssssuut@ay)", &r.vm, &r.endpoint, &r.vc,
                      &r.lan, &r.status, &r.epoch, &r.tx_seq, &rheld);
        g_variant_unref(row);
        r.held = g_variant_get_data_as_bytes(rheld);
        g_array_append_val(state->routes, r);
    }
    g_variant_iter_init(&iter, rx);
    while (g_variant_iter_next(&iter, "(&st)", &name, &next)) {
        LimeviStateSender s = { g_strdup(name), next };

        g_array_append_val(state->senders, s);
    }
    g_variant_iter_init(&iter, macs);
    while ((row = g_variant_iter_next_value(&iter))) {
        g_autoptr(GVariant) mac = NULL;
        LimeviStateMac m = { { 0 } };
        const guint8 *p;

        g_variant_get(row, "(@ays)", &mac, &m.vm);
        g_variant_unref(row);
        p = g_variant_get_fixed_array(mac, &n, 1);
        if (n == 6) {
            memcpy(m.mac, p, 6);
            g_array_append_val(state->macs, m);
        } else {
            g_free(m.vm);
        }
    }
    state->held = g_variant_get_data_as_bytes(held);
    return g_steal_pointer(&state);
}
