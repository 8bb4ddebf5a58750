/*
 * A VM's local disks in the VC file: "disks = PATH,SIZE;PATH,SIZE".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include "vcfile-private.h"

#define VC_DISK_MIN (G_GUINT64_CONSTANT(1) << 20)
#define VC_DISK_MAX (G_GUINT64_CONSTANT(16) << 40)
#define VC_DISKS_MAX 8

/* SIZE of a disk: bytes, or a number with K, M, G or T (binary, as
 * qemu-img takes them); FALSE when malformed. */
static gboolean vc_parse_size(const char *value, guint64 *out)
{
    static const char units[] = "KMGT";
    g_autofree char *digits = g_strdup(value);
    gsize len = strlen(digits);
    const char *unit = len ? strchr(units, g_ascii_toupper(digits[len - 1]))
                           : NULL;
    guint shift = 0;
    guint64 n;

    if (unit && *unit) {
        digits[len - 1] = '\0';
        shift = 10 * (unit - units + 1);
    }
    /* Bounded so that the shift cannot wrap. */
    if (!vc_parse_uint(digits, 1, G_MAXUINT64 >> (shift + 1), &n)) {
        return FALSE;
    }
    *out = n << shift;
    return TRUE;
}

/* One disk, "PATH,SIZE" (the last ',' ends the path), the @n'th. */
static gboolean vc_parse_vm_disk(VcParser *p, LimeviVc *vc, LimeviVcVm *vm,
                                 const char *group, const char *entry,
                                 guint n, GError **error)
{
    const char *comma = strrchr(entry, ',');
    g_autofree char *size = NULL;
    g_autofree char *where = NULL;
    g_autoptr(GError) local = NULL;
    LimeviVcDisk *disk;

    if (!comma || comma == entry || !comma[1]) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "disks",
                       "disk %u: expects PATH,SIZE, got '%s'", n, entry);
    }
    disk = g_new0(LimeviVcDisk, 1);
    disk->path = g_strstrip(g_strndup(entry, comma - entry));
    disk->index = n;
    disk->line = vc_line(p, group, "disks");
    g_ptr_array_add(vm->disks, disk);
    size = g_strstrip(g_strdup(comma + 1));
    if (!vc_parse_size(size, &disk->size) ||
        disk->size < VC_DISK_MIN || disk->size > VC_DISK_MAX ||
        disk->size % 512) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "disks",
                       "disk %u: expects a size from 1M to 16T, a multiple "
                       "of 512 bytes (K, M, G, T: binary), got '%s'", n,
                       size);
    }
    where = vc_expand(vm, NULL, disk->path, &local);
    if (!where) {
        return vc_fail(p, error, local->code, group, "disks", "disk %u: %s",
                       n, local->message);
    }
    if (!g_path_is_absolute(where)) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "disks",
                       "disk %u: expects an absolute path (or one under "
                       "${run_dir}), got '%s'", n, disk->path);
    }
    /* Two VMs, or one twice, on one file would corrupt it. */
    for (guint i = 0; i < vc->vms->len; i++) {
        LimeviVcVm *other = vc->vms->pdata[i];

        for (guint d = 0; d < other->disks->len; d++) {
            LimeviVcDisk *od = other->disks->pdata[d];
            g_autofree char *at = NULL;

            if (od == disk) {
                break;
            }
            at = vc_expand(other, NULL, od->path, NULL);
            if (!g_strcmp0(at, where)) {
                return vc_fail(p, error, LIMEVI_ERROR_INVALID, group,
                               "disks", "disk %u: %s is also %s[vm %s]'s "
                               "disk %u", n, disk->path,
                               other == vm ? "this " : "", other->name,
                               d + 1);
            }
        }
    }
    return TRUE;
}

/* Its local disks: "PATH,SIZE;PATH,SIZE", on a host without libvirt. */
gboolean vc_parse_vm_disks(VcParser *p, LimeviVc *vc, LimeviVcVm *vm,
                                  const char *group, GError **error)
{
    g_autofree char *disks = NULL;
    g_auto(GStrv) split = NULL;
    guint n;

    if (!vc_get(p, group, "disks", FALSE, &disks, error)) {
        return FALSE;
    }
    if (!disks) {
        return TRUE;
    }
    if (limevi_vc_host(vc, vm->host)->libvirt) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "disks",
                       "local disks move only between hosts without "
                       "'libvirt' for now; see docs/disks.md");
    }
    /* Like [vc] lans: a last ';' ends the list. */
    split = g_strsplit(disks, ";", -1);
    n = g_strv_length(split);
    if (n > 1 && !*g_strstrip(split[n - 1])) {
        g_clear_pointer(&split[--n], g_free);
    }
    if (n > VC_DISKS_MAX) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "disks",
                       "%u disks; a VM has at most %d", n, VC_DISKS_MAX);
    }
    for (guint i = 0; i < n; i++) {
        if (!vc_parse_vm_disk(p, vc, vm, group, g_strstrip(split[i]), i + 1,
                              error)) {
            return FALSE;
        }
    }
    return TRUE;
}
