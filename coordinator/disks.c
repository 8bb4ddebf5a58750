/*
 * A VM's local disks at one host: qcow2 files that qemu-img (Debian's
 * qemu-utils) creates and describes, attached as -blockdev and
 * virtio-blk-pci.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <string.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "disks.h"

void limevi_disk_free(LimeviDisk *disk)
{
    g_free(disk->path);
    g_free(disk);
}

GPtrArray *limevi_disks_at(const LimeviVc *vc, const LimeviVcVm *vm,
                           const LimeviVcHost *host, GError **error)
{
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func(
        (GDestroyNotify)limevi_disk_free);

    for (guint i = 0; i < vm->disks->len; i++) {
        const LimeviVcDisk *conf = vm->disks->pdata[i];
        char *path = limevi_vc_expand(vc, vm, host, conf->path, error);
        LimeviDisk *disk;

        if (!path) {
            return NULL;
        }
        disk = g_new0(LimeviDisk, 1);
        disk->conf = conf;
        disk->path = path;
        g_ptr_array_add(disks, disk);
    }
    return g_steal_pointer(&disks);
}

/* Fails naming the VC file's line, the disk and its file. */
static gboolean G_GNUC_PRINTF(5, 6)
disk_fail(const LimeviVc *vc, const LimeviVcVm *vm, const LimeviDisk *disk,
          GError **error, const char *format, ...)
{
    g_autofree char *message = NULL;
    va_list args;

    va_start(args, format);
    message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                "%s:%u: [vm %s] key 'disks': disk %u: %s %s", vc->path,
                disk->conf->line, vm->name, disk->conf->index, disk->path,
                message);
    return FALSE;
}

/* Runs qemu-img with @args; its stdout in *@out, or its own message
 * (without "qemu-img: ") in *@why. */
static gboolean qemu_img(const char *const *args, char **out, char **why)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *prog = g_find_program_in_path("qemu-img");
    g_autoptr(GSubprocess) proc = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *err_text = NULL;

    if (!prog) {
        *why = g_strdup("cannot be made or checked: qemu-img is not "
                        "installed (Debian: qemu-utils)");
        return FALSE;
    }
    g_ptr_array_add(argv, g_steal_pointer(&prog));
    for (guint i = 0; args[i]; i++) {
        g_ptr_array_add(argv, g_strdup(args[i]));
    }
    g_ptr_array_add(argv, NULL);
    proc = g_subprocess_newv((const char *const *)argv->pdata,
                             G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                             G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
    if (!proc ||
        !g_subprocess_communicate_utf8(proc, NULL, NULL, out, &err_text,
                                       &error)) {
        *why = g_strdup(error->message);
        return FALSE;
    }
    if (!g_subprocess_get_if_exited(proc) ||
        g_subprocess_get_exit_status(proc) != 0) {
        const char *text = err_text ? g_strstrip(err_text) : "";

        if (g_str_has_prefix(text, "qemu-img: ")) {
            text += strlen("qemu-img: ");
        }
        /* Only its first line: errors here are one line. */
        *why = g_strndup(text, strcspn(text, "\n"));
        return FALSE;
    }
    return TRUE;
}

gboolean limevi_disk_create(const LimeviVc *vc, const LimeviVcVm *vm,
                            const LimeviDisk *disk, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(disk->path);
    g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT,
                                            disk->conf->size);
    const char *args[] = { "create", "-q", "-f", "qcow2", disk->path, size,
                           NULL };
    g_autofree char *why = NULL;

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        return disk_fail(vc, vm, disk, error, "cannot be created: %s: %s",
                         dir, g_strerror(errno));
    }
    if (!qemu_img(args, NULL, &why)) {
        return disk_fail(vc, vm, disk, error, "cannot be created: %s", why);
    }
    return TRUE;
}

/* "1 GiB" or "1048576 bytes": sizes as the VC file would say them. */
static char *size_text(guint64 size)
{
    static const char *const units[] = { "bytes", "KiB", "MiB", "GiB",
                                         "TiB" };
    guint u = 0;

    while (u + 1 < G_N_ELEMENTS(units) && size && !(size % 1024)) {
        size /= 1024;
        u++;
    }
    return g_strdup_printf("%" G_GUINT64_FORMAT " %s", size, units[u]);
}

gboolean limevi_disk_prepare(const LimeviVc *vc, const LimeviVcVm *vm,
                             const LimeviDisk *disk, GError **error)
{
    const char *args[] = { "info", "--output=json", disk->path, NULL };
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *out = NULL;
    g_autofree char *why = NULL;
    const char *format;
    JsonObject *info;
    gint64 size;

    if (!g_file_test(disk->path, G_FILE_TEST_EXISTS)) {
        return limevi_disk_create(vc, vm, disk, error);
    }
    if (!qemu_img(args, &out, &why)) {
        return disk_fail(vc, vm, disk, error, "cannot be read: %s", why);
    }
    if (!json_parser_load_from_data(parser, out, -1, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        return disk_fail(vc, vm, disk, error,
                         "cannot be read: qemu-img info said no JSON");
    }
    info = json_node_get_object(json_parser_get_root(parser));
    format = json_object_get_string_member_with_default(info, "format", "");
    size = json_object_get_int_member_with_default(info, "virtual-size", -1);
    if (strcmp(format, "qcow2")) {
        return disk_fail(vc, vm, disk, error, "is a %s image, not qcow2",
                         format);
    }
    if (size < 0 || (guint64)size != disk->conf->size) {
        g_autofree char *has = size_text(size);
        g_autofree char *want = size_text(disk->conf->size);

        return disk_fail(vc, vm, disk, error, "is %s, but the VC file says "
                         "%s; limevi does not resize a disk", has, want);
    }
    return TRUE;
}

gboolean limevi_disks_prepare(const LimeviVc *vc, const LimeviVcVm *vm,
                              const LimeviVcHost *host, GError **error)
{
    g_autoptr(GPtrArray) disks = limevi_disks_at(vc, vm, host, error);

    for (guint i = 0; disks && i < disks->len; i++) {
        if (!limevi_disk_prepare(vc, vm, disks->pdata[i], error)) {
            return FALSE;
        }
    }
    return disks != NULL;
}

void limevi_disks_launch_args(GPtrArray *argv, GPtrArray *disks)
{
    for (guint i = 0; i < disks->len; i++) {
        const LimeviDisk *disk = disks->pdata[i];
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *node = g_strdup_printf(LIMEVI_DISK_NODE,
                                                disk->conf->index);

        /* JSON: a path may hold a ',', which -blockdev's key=value form
         * would take for the next option. */
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "driver");
        json_builder_add_string_value(b, "qcow2");
        json_builder_set_member_name(b, "node-name");
        json_builder_add_string_value(b, node);
        json_builder_set_member_name(b, "file");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "driver");
        json_builder_add_string_value(b, "file");
        json_builder_set_member_name(b, "filename");
        json_builder_add_string_value(b, disk->path);
        json_builder_end_object(b);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        g_ptr_array_add(argv, g_strdup("-blockdev"));
        g_ptr_array_add(argv, json_to_string(root, FALSE));
        g_ptr_array_add(argv, g_strdup("-device"));
        g_ptr_array_add(argv, g_strdup_printf(
            "virtio-blk-pci,drive=%s,id=" LIMEVI_DISK_DEVICE, node,
            disk->conf->index));
    }
}
