/*
 * The VC file's [vc] group: the VC's name, its LANs, and how its tunnels
 * are secured (a key, or unauthenticated on purpose).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <gio/gio.h>

#include "crypto.h"
#include "vcfile-private.h"

const char *const vc_keys[] = {
    "name", "lans", "key", "insecure", "tls", NULL
};

/* The VC key's file, relative to the VC file's directory: read now, so a
 * missing or bad key is the VC file's error and not a QEMU's at start. */
static gboolean vc_parse_key(VcParser *p, LimeviVc *vc, GError **error)
{
    g_autoptr(GError) local = NULL;
    LimeviKey key;

    if (!vc_get(p, "vc", "key", FALSE, &vc->key, error)) {
        return FALSE;
    }
    if (!vc->key) {
        return TRUE;
    }
    vc_make_absolute(p, &vc->key);
    if (!limevi_key_load_file(vc->key, &key, &local)) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, "vc", "key", "%s",
                       local->message);
    }
    memset(&key, 0, sizeof(key));
    return TRUE;
}

/* "insecure = yes": no key, on purpose (docs/security.md). */
static gboolean vc_parse_insecure(VcParser *p, LimeviVc *vc, GError **error)
{
    g_autofree char *value = NULL;

    if (!vc_get(p, "vc", "insecure", FALSE, &value, error)) {
        return FALSE;
    }
    if (!value || g_str_equal(value, "no")) {
        return TRUE;
    }
    if (!g_str_equal(value, "yes")) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, "vc", "insecure",
                       "expects yes or no, got '%s'", value);
    }
    if (vc->key) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, "vc", "insecure",
                       "a VC with a key is not insecure; leave out one of "
                       "'key' and 'insecure'");
    }
    vc->insecure = TRUE;
    return TRUE;
}

gboolean vc_parse_vc(VcParser *p, LimeviVc *vc, GError **error)
{
    g_autofree char *lans = NULL;
    g_auto(GStrv) split = NULL;
    guint n;

    if (!vc_get(p, "vc", "name", TRUE, &vc->name, error) ||
        !vc_check_name(p, "vc", "name", vc->name, "name", error) ||
        !vc_get(p, "vc", "lans", TRUE, &lans, error)) {
        return FALSE;
    }
    /* Like g_key_file_get_string_list(): a last ';' ends the list. */
    split = g_strsplit(lans, ";", -1);
    n = g_strv_length(split);
    if (n > 1 && !*split[n - 1]) {
        g_clear_pointer(&split[n - 1], g_free);
    }
    for (guint i = 0; split[i]; i++) {
        g_strstrip(split[i]);
        if (!vc_check_name(p, "vc", "lans", split[i], "lans", error)) {
            return FALSE;
        }
        for (guint j = 0; j < i; j++) {
            if (g_str_equal(split[i], split[j])) {
                return vc_fail(p, error, LIMEVI_ERROR_INVALID, "vc", "lans",
                               "LAN '%s' is listed twice", split[i]);
            }
        }
    }
    vc->lans = g_steal_pointer(&split);
    return vc_parse_key(p, vc, error) && vc_parse_insecure(p, vc, error);
}

/*
 * Secure by default, as a netdev is: a VC file that names no key must
 * say that its tunnels run unauthenticated.  Checked last, so that the
 * file's other errors come first.
 */
gboolean vc_check_secured(VcParser *p, LimeviVc *vc, GError **error)
{
    if (vc->key || vc->insecure) {
        return TRUE;
    }
    return vc_fail(p, error, LIMEVI_ERROR_INVALID, "vc", NULL,
                   "the VC has no key: give 'key = FILE' (32 random bytes, "
                   "e.g. head -c 32 /dev/urandom > vc.key), or "
                   "'insecure = yes' to run its tunnels unauthenticated");
}
