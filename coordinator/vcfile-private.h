/*
 * What the VC file's parser shares between its files: the parser, its
 * one-line errors at file and line, and the checks of single values.
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

/* Loads the file into p->kf and scans its text for lines (vcfile-scan.c);
 * FALSE for what GKeyFile refuses and a group or key given twice. */
gboolean vc_read(VcParser *p, GError **error);

/* The line of @key in @group (of @group when @key is NULL or absent). */
guint vc_line(VcParser *p, const char *group, const char *key);

/* Fail at @line (0: the file), naming @group and @key unless NULL. */
gboolean G_GNUC_PRINTF(7, 8)
vc_fail_at(VcParser *p, GError **error, gint code, guint line,
           const char *group, const char *key, const char *format, ...);

/* Fails at the line of @key in @group, or of @group when @key is NULL. */
gboolean G_GNUC_PRINTF(6, 7)
vc_fail(VcParser *p, GError **error, gint code, const char *group,
        const char *key, const char *format, ...);

/* Checks the groups and their values into @vc (vcfile-check.c). */
gboolean vc_parse(VcParser *p, LimeviVc *vc, GError **error);

/* @vm's qemu line as argv, variables expanded with @host's values (NULL:
 * placeholders, only checking); errors without file or line. */
char **vc_qemu_argv(const LimeviVcVm *vm, const LimeviVcHost *host,
                    GError **error);

/* @text with @vm's and @host's variables (NULL: placeholders); errors
 * without file or line. */
char *vc_expand(const LimeviVcVm *vm, const LimeviVcHost *host,
                const char *text, GError **error);

/* Values (vcfile-check.c): the value of @key as written, stripped (an
 * absent optional key gives TRUE and NULL, an empty one is an error); a
 * name; a number in [min, max]. */
gboolean vc_get(VcParser *p, const char *group, const char *key,
                gboolean required, char **value, GError **error);
gboolean vc_check_name(VcParser *p, const char *group, const char *key,
                       const char *name, const char *what, GError **error);
gboolean vc_parse_uint(const char *value, guint64 min, guint64 max,
                       guint64 *out);

/* *@path, when relative, made relative to the VC file's directory. */
void vc_make_absolute(VcParser *p, char **path);

/* [vc] name, lans, key and insecure (vcfile-vc.c); and, last of all,
 * that a VC without a key says it runs insecure. */
extern const char *const vc_keys[];
gboolean vc_parse_vc(VcParser *p, LimeviVc *vc, GError **error);
gboolean vc_check_secured(VcParser *p, LimeviVc *vc, GError **error);

/* A [vm NAME]'s disks (vcfile-disk.c). */
gboolean vc_parse_vm_disks(VcParser *p, LimeviVc *vc, LimeviVcVm *vm,
                           const char *group, GError **error);

/* [vc] tls, its certificates checked (vcfile-tls.c); after the hosts. */
gboolean vc_parse_tls(VcParser *p, LimeviVc *vc, GError **error);

/* [gateway NAME] (vcfile-gateway.c). */
extern const char *const vc_gateway_keys[];
gboolean vc_parse_gateway(VcParser *p, LimeviVc *vc, const char *group,
                          GError **error);
void vc_gateway_free(LimeviVcGateway *gw);

#endif /* LIMEVI_VCFILE_PRIVATE_H */
