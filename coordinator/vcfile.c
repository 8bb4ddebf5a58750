/*
 * The VC description file: the structs it loads into, their lookups, and
 * a VM's QEMU line.  GKeyFile parses the file, vcfile-check.c checks it,
 * vcfile-scan.c places every error at its line.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <gio/gio.h>

#include "vcfile-private.h"

/* ---- The QEMU command line ---- */

/* @host NULL: only checking, the host's values are not known yet. */
static gboolean qemu_expand(const LimeviVcVm *vm, const LimeviVcHost *host,
                            const char *arg, char **out, GError **error)
{
    g_autoptr(GString) s = g_string_new(NULL);
    const char *c = arg;
    const char *var;

    while ((var = strstr(c, "${"))) {
        const char *close = strchr(var, '}');
        g_autofree char *name = NULL;

        g_string_append_len(s, c, var - c);
        if (!close) {
            g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                        "'${' without a closing '}' in '%s'", arg);
            return FALSE;
        }
        name = g_strndup(var + 2, close - var - 2);
        if (g_str_equal(name, "memory")) {
            g_string_append_printf(s, "%u", vm->memory);
        } else if (g_str_equal(name, "vm")) {
            g_string_append(s, vm->name);
        } else if (g_str_equal(name, "mac")) {
            g_string_append(s, vm->mac);
        } else if (g_str_equal(name, "host")) {
            g_string_append(s, host ? host->name : "HOST");
        } else if (g_str_equal(name, "site")) {
            g_string_append(s, host ? host->site : "SITE");
        } else if (g_str_equal(name, "run_dir")) {
            g_string_append(s, host ? host->run_dir : "/RUN-DIR");
        } else {
            g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                        "unknown variable '${%s}'; known are ${memory}, "
                        "${vm}, ${mac}, ${host}, ${site} and ${run_dir}",
                        name);
            return FALSE;
        }
        c = close + 1;
    }
    g_string_append(s, c);
    *out = g_string_free(g_steal_pointer(&s), FALSE);
    return TRUE;
}

/* A -netdev value of type limevi: "limevi,...", "type=limevi,..." or JSON. */
static gboolean qemu_netdev_is_limevi(const char *value)
{
    g_auto(GStrv) opts = NULL;

    if (value[0] == '{') {
        return strstr(value, "\"limevi\"") != NULL;
    }
    opts = g_strsplit(value, ",", -1);
    for (guint i = 0; opts[i]; i++) {
        if ((i == 0 && g_str_equal(opts[i], "limevi")) ||
            g_str_equal(opts[i], "type=limevi")) {
            return TRUE;
        }
    }
    return FALSE;
}

char **vc_qemu_argv(const LimeviVcVm *vm, const LimeviVcHost *host,
                        GError **error)
{
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) local = NULL;

    if (!g_shell_parse_argv(vm->qemu, NULL, &argv, &local)) {
        g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID, "%s",
                    local->message);
        return NULL;
    }
    for (guint i = 0; argv[i]; i++) {
        char *expanded;

        if (!qemu_expand(vm, host, argv[i], &expanded, error)) {
            return NULL;
        }
        g_free(argv[i]);
        argv[i] = expanded;
    }
    for (guint i = 1; argv[i]; i++) {
        /* QEMU takes --opt for -opt. */
        const char *opt = g_str_has_prefix(argv[i], "--") ? argv[i] + 1
                                                         : argv[i];

        if (g_str_equal(opt, "-qmp") || g_str_equal(opt, "-incoming") ||
            (g_str_equal(opt, "-netdev") && argv[i + 1] &&
             qemu_netdev_is_limevi(argv[i + 1]))) {
            g_set_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID,
                        "must not contain %s%s: limevi adds it", opt,
                        g_str_equal(opt, "-netdev") ? " limevi" : "");
            return NULL;
        }
    }
    return g_steal_pointer(&argv);
}

char *vc_expand(const LimeviVcVm *vm, const LimeviVcHost *host,
                const char *text, GError **error)
{
    char *out;

    return qemu_expand(vm, host, text, &out, error) ? out : NULL;
}

char *limevi_vc_expand(const LimeviVc *vc, const LimeviVcVm *vm,
                       const LimeviVcHost *host, const char *text,
                       GError **error)
{
    char *out;

    if (!qemu_expand(vm, host, text, &out, error)) {
        g_prefix_error(error, "%s: [vm %s]: ", vc->path, vm->name);
        return NULL;
    }
    return out;
}

char **limevi_vc_vm_qemu_argv(const LimeviVc *vc, const LimeviVcVm *vm,
                              const LimeviVcHost *host, GError **error)
{
    g_autoptr(GError) local = NULL;
    char **argv = vc_qemu_argv(vm, host ? host : limevi_vc_host(vc, vm->host),
                            &local);

    if (!argv) {
        g_set_error(error, LIMEVI_ERROR, local->code,
                    "%s: [vm %s] key 'qemu': %s", vc->path, vm->name,
                    local->message);
    }
    return argv;
}

/* ---- Groups ---- */

static void vc_host_free(LimeviVcHost *host)
{
    g_free(host->name);
    g_free(host->site);
    g_free(host->address);
    g_free(host->netns);
    g_free(host->run_dir);
    g_free(host->libvirt);
    g_free(host);
}

void limevi_vc_disk_free(LimeviVcDisk *disk)
{
    g_free(disk->path);
    g_free(disk);
}

static void vc_vm_free(LimeviVcVm *vm)
{
    g_free(vm->name);
    g_free(vm->host);
    g_free(vm->lan);
    g_free(vm->mac);
    g_free(vm->qemu);
    g_free(vm->domain);
    g_clear_pointer(&vm->disks, g_ptr_array_unref);
    g_free(vm);
}

void limevi_vc_free(LimeviVc *vc)
{
    if (!vc) {
        return;
    }
    g_free(vc->path);
    g_free(vc->name);
    g_strfreev(vc->lans);
    g_free(vc->key);
    g_free(vc->tls);
    g_clear_pointer(&vc->hosts, g_ptr_array_unref);
    g_clear_pointer(&vc->vms, g_ptr_array_unref);
    g_clear_pointer(&vc->gateways, g_ptr_array_unref);
    g_free(vc);
}

LimeviVcHost *limevi_vc_host(const LimeviVc *vc, const char *name)
{
    for (guint i = 0; i < vc->hosts->len; i++) {
        LimeviVcHost *host = vc->hosts->pdata[i];

        if (g_str_equal(host->name, name)) {
            return host;
        }
    }
    return NULL;
}

LimeviVcVm *limevi_vc_vm(const LimeviVc *vc, const char *name)
{
    for (guint i = 0; i < vc->vms->len; i++) {
        LimeviVcVm *vm = vc->vms->pdata[i];

        if (g_str_equal(vm->name, name)) {
            return vm;
        }
    }
    return NULL;
}

GPtrArray *limevi_vc_hosts_at_site(const LimeviVc *vc, const char *site)
{
    GPtrArray *hosts = g_ptr_array_new();

    for (guint i = 0; i < vc->hosts->len; i++) {
        LimeviVcHost *host = vc->hosts->pdata[i];

        if (g_str_equal(host->site, site)) {
            g_ptr_array_add(hosts, host);
        }
    }
    return hosts;
}


LimeviVc *limevi_vc_load(const char *path, GError **error)
{
    g_autoptr(LimeviVc) vc = g_new0(LimeviVc, 1);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    VcParser p = {
        .path = path,
        .kf = kf,
        .lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
    };
    gboolean ok;

    g_return_val_if_fail(path != NULL, NULL);

    vc->path = g_strdup(path);
    vc->hosts = g_ptr_array_new_with_free_func((GDestroyNotify)vc_host_free);
    vc->vms = g_ptr_array_new_with_free_func((GDestroyNotify)vc_vm_free);
    vc->gateways = g_ptr_array_new_with_free_func(
        (GDestroyNotify)vc_gateway_free);
    ok = vc_parse(&p, vc, error);
    g_hash_table_unref(p.lines);
    g_free(p.dup_group);
    g_free(p.dup_key);
    return ok ? g_steal_pointer(&vc) : NULL;
}
