/*
 * The VC file's text: GKeyFile knows no line numbers, so the text is
 * scanned once more for the line of each group and key, and every error
 * names file and line.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdarg.h>
#include <string.h>

#include "vcfile-private.h"

/* ---- Where things are in the text ---- */

guint vc_line(VcParser *p, const char *group, const char *key)
{
    g_autofree char *id = key ? g_strconcat(group, "\n", key, NULL)
                              : g_strdup(group);
    guint line = GPOINTER_TO_UINT(g_hash_table_lookup(p->lines, id));

    /* A key that is not there (missing) is reported at its group. */
    if (!line && key) {
        return vc_line(p, group, NULL);
    }
    return line;
}

static void vc_record(VcParser *p, const char *group, const char *key,
                      guint line)
{
    char *id = key ? g_strconcat(group, "\n", key, NULL) : g_strdup(group);
    guint first = GPOINTER_TO_UINT(g_hash_table_lookup(p->lines, id));

    if (!first) {
        g_hash_table_insert(p->lines, id, GUINT_TO_POINTER(line));
        return;
    }
    g_free(id);
    /* GKeyFile merges a repeated group and keeps a repeated key's last
     * value: both are mistakes in a VC file, so the first is reported. */
    if (!p->dup_line) {
        p->dup_line = line;
        p->dup_first = first;
        p->dup_group = g_strdup(group);
        p->dup_key = g_strdup(key);
    }
}

/* Whether GKeyFile takes @key as a key name: KEY or KEY[LOCALE]. */
static gboolean vc_key_name_ok(const char *key)
{
    const char *open = strpbrk(key, "[]");

    if (!*key || key == open) {
        return FALSE;
    }
    if (!open) {
        return TRUE;
    }
    return *open == '[' && !strchr(open + 1, '[') &&
           strchr(open + 1, ']') == key + strlen(key) - 1;
}

static gboolean vc_group_name_ok(const char *start, const char *end)
{
    if (start == end) {
        return FALSE;
    }
    for (const char *c = start; c < end; c++) {
        if (*c == '[' || g_ascii_iscntrl(*c)) {
            return FALSE;
        }
    }
    return TRUE;
}

static void vc_bad_line(VcParser *p, guint line)
{
    if (!p->bad_line) {
        p->bad_line = line;
    }
}

/* Splits lines the way GKeyFile does: at '\n', dropping a '\r' before it. */
static void vc_scan(VcParser *p, const char *text)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autofree char *group = NULL;

    for (guint i = 0; lines[i]; i++) {
        guint line = i + 1;
        char *s = lines[i];
        gsize len = strlen(s);
        char *end;

        if (len && s[len - 1] == '\r') {
            s[len - 1] = '\0';
        }
        while (g_ascii_isspace(*s)) {
            s++;
        }
        if (*s == '#' || *s == '\0') {
            continue;
        }
        if (!g_utf8_validate(s, -1, NULL)) {
            vc_bad_line(p, line);
            continue;
        }
        if (*s == '[') {
            end = strchr(s, ']');
            if (!end || !vc_group_name_ok(s + 1, end) ||
                end[1 + strspn(end + 1, " \t")] != '\0') {
                vc_bad_line(p, line);
                continue;
            }
            g_free(group);
            group = g_strndup(s + 1, end - s - 1);
            vc_record(p, group, NULL, line);
            continue;
        }
        end = strchr(s, '=');
        if (!end || !group) {
            vc_bad_line(p, line);
            continue;
        }
        *end = '\0';
        g_strchomp(s);
        if (!vc_key_name_ok(s)) {
            vc_bad_line(p, line);
            continue;
        }
        vc_record(p, group, s, line);
    }
}

/* ---- Errors: one line each ---- */

static gboolean G_GNUC_PRINTF(7, 0)
vc_fail_va(VcParser *p, GError **error, gint code, guint line,
           const char *group, const char *key, const char *format,
           va_list args)
{
    g_autofree char *message = g_strdup_vprintf(format, args);
    g_autofree char *where = line ? g_strdup_printf("%s:%u", p->path, line)
                                  : g_strdup(p->path);

    if (!group) {
        g_set_error(error, LIMEVI_ERROR, code, "%s: %s", where, message);
    } else if (!key) {
        g_set_error(error, LIMEVI_ERROR, code, "%s: [%s]: %s", where, group,
                    message);
    } else {
        g_set_error(error, LIMEVI_ERROR, code, "%s: [%s] key '%s': %s",
                    where, group, key, message);
    }
    return FALSE;
}

gboolean G_GNUC_PRINTF(7, 8)
vc_fail_at(VcParser *p, GError **error, gint code, guint line,
           const char *group, const char *key, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    vc_fail_va(p, error, code, line, group, key, format, args);
    va_end(args);
    return FALSE;
}

gboolean G_GNUC_PRINTF(6, 7)
vc_fail(VcParser *p, GError **error, gint code, const char *group,
        const char *key, const char *format, ...)
{
    guint line = group ? vc_line(p, group, key) : 0;
    va_list args;

    va_start(args, format);
    vc_fail_va(p, error, code, line, group, key, format, args);
    va_end(args);
    return FALSE;
}


/* ---- Loading ---- */

gboolean vc_read(VcParser *p, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autofree char *text = NULL;
    gboolean loaded;

    loaded = g_key_file_load_from_file(p->kf, p->path, G_KEY_FILE_NONE,
                                       &local);
    if (!loaded && local->domain != G_KEY_FILE_ERROR) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, NULL, NULL, "%s",
                       local->message);
    }
    if (!g_file_get_contents(p->path, &text, NULL, loaded ? &local : NULL)) {
        if (loaded) {
            return vc_fail(p, error, LIMEVI_ERROR_INVALID, NULL, NULL, "%s",
                           local->message);
        }
    } else {
        vc_scan(p, text);
    }
    if (!loaded) {
        return vc_fail_at(p, error, LIMEVI_ERROR_INVALID, p->bad_line, NULL,
                          NULL, "%s", local->message);
    }
    if (p->dup_line && !p->dup_key) {
        return vc_fail_at(p, error, LIMEVI_ERROR_INVALID, p->dup_line,
                          p->dup_group, NULL,
                          "group given twice, first at line %u",
                          p->dup_first);
    }
    if (p->dup_line) {
        return vc_fail_at(p, error, LIMEVI_ERROR_INVALID, p->dup_line,
                          p->dup_group, p->dup_key,
                          "key given twice in the group, first at line %u",
                          p->dup_first);
    }
    return TRUE;
}

