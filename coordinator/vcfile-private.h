/*
 * What the VC file's parsers share: the parser with the line of every
 * group and key, and the helpers that read a value or fail at its line.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_VCFILE_PRIVATE_H
#define LIMEVI_VCFILE_PRIVATE_H

#include "vcfile.h"

typedef struct {
    const char *path;
    GKeyFile *kf;
    /* "GROUP" or "GROUP\nKEY" -> its first line */
    GHashTable *lines;
    /* The first line GKeyFile may refuse, to place its parse errors. */
    guint bad_line;
    /* The first group or key given twice (key NULL for a group). */
    guint dup_line;
    guint dup_first;
    char *dup_group;
    char *dup_key;
} VcParser;

/* Fails at the line of @key in @group, or of @group when @key is NULL:
 * "FILE:LINE: [group] key 'k': message".  Returns FALSE. */
gboolean G_GNUC_PRINTF(6, 7)
vc_fail(VcParser *p, GError **error, gint code, const char *group,
        const char *key, const char *format, ...);

/* The value of @key as written, stripped; an absent optional key gives
 * TRUE and NULL, an empty one is an error. */
gboolean vc_get(VcParser *p, const char *group, const char *key,
                gboolean required, char **value, GError **error);
gboolean vc_check_name(VcParser *p, const char *group, const char *key,
                       const char *name, const char *what, GError **error);
gboolean vc_parse_uint(const char *value, guint64 min, guint64 max,
                       guint64 *out);

/* vcfile-gateway.c: [gateway NAME]. */
extern const char *const vc_gateway_keys[];
gboolean vc_parse_gateway(VcParser *p, LimeviVc *vc, const char *group,
                          GError **error);
void vc_gateway_free(LimeviVcGateway *gw);

#endif /* LIMEVI_VCFILE_PRIVATE_H */
