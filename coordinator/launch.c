/*
 * Starting a VM's QEMU on a host of the VC.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "disks.h"
#include "launch.h"
#include "qmp.h"

char *limevi_launch_path(const LimeviVcHost *host, const LimeviVcVm *vm,
                         const char *suffix)
{
    g_autofree char *file = g_strdup_printf("%s.%s", vm->name, suffix);

    return g_build_filename(host->run_dir, file, NULL);
}

char *limevi_launch_netdev(const LimeviVc *vc, const LimeviVcVm *vm,
                           const LimeviVcHost *host)
{
    GString *netdev = g_string_new(NULL);
    const LimeviVcGateway *gw;
    guint n = 0;

    g_string_printf(netdev, "limevi,id=" LIMEVI_NETDEV_ID ",vm=%s,vc=%s,lan=%s,listen=%s:%u",
                    vm->name, vc->name, vm->lan, host->address, vm->port);
    for (guint i = 0; i < vc->vms->len; i++) {
        const LimeviVcVm *peer = vc->vms->pdata[i];
        const LimeviVcHost *at = limevi_vc_host(vc, peer->host);

        if (peer == vm || strcmp(peer->lan, vm->lan) != 0) {
            continue;
        }
        g_string_append_printf(netdev, ",routes.%u.vm=%s,routes.%u.endpoint="
                               "%s:%u", n, peer->name, n, at->address,
                               peer->port);
        n++;
    }
    /* The LAN's gateway stays at its host. */
    gw = limevi_vc_lan_gateway(vc, vm->lan);
    if (gw) {
        g_string_append_printf(netdev, ",routes.%u.vm=%s,routes.%u.endpoint="
                               "%s:%u", n, gw->name, n,
                               limevi_vc_host(vc, gw->host)->address,
                               gw->port);
    }
    /* Without a key the VC runs unauthenticated, and must say so: a
     * netdev on a host's address refuses to start otherwise. */
    g_string_append(netdev, vc->key ? ",key-secret=" LIMEVI_KEY_SECRET_ID
                                    : ",insecure=on");
    return g_string_free(netdev, FALSE);
}

/* QEMU's option syntax: a comma in a value is written twice. */
static char *launch_opt_escape(const char *value)
{
    g_auto(GStrv) parts = g_strsplit(value, ",", -1);

    return g_strjoinv(",,", parts);
}

char *limevi_launch_key_object(const LimeviVc *vc)
{
    g_autofree char *file = NULL;

    if (!vc->key) {
        return NULL;
    }
    file = launch_opt_escape(vc->key);
    return g_strdup_printf("secret,id=" LIMEVI_KEY_SECRET_ID ",file=%s",
                           file);
}

void limevi_launch_netns_prefix(GPtrArray *argv, const LimeviVcHost *host)
{
    if (host->netns) {
        g_ptr_array_add(argv, g_strdup("ip"));
        g_ptr_array_add(argv, g_strdup("netns"));
        g_ptr_array_add(argv, g_strdup("exec"));
        g_ptr_array_add(argv, g_strdup(host->netns));
    }
}

char **limevi_launch_argv(const LimeviVc *vc, const LimeviVcVm *vm,
                          const LimeviVcHost *host, gboolean incoming,
                          GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) disks = NULL;
    g_auto(GStrv) base = NULL;

    base = limevi_vc_vm_qemu_argv(vc, vm, host, error);
    if (!base || !(disks = limevi_disks_at(vc, vm, host, error))) {
        return NULL;
    }
    limevi_launch_netns_prefix(argv, host);
    for (guint i = 0; base[i]; i++) {
        g_ptr_array_add(argv, g_strdup(base[i]));
    }
    if (vc->key) {
        g_ptr_array_add(argv, g_strdup("-object"));
        g_ptr_array_add(argv, limevi_launch_key_object(vc));
    }
    g_ptr_array_add(argv, g_strdup("-netdev"));
    g_ptr_array_add(argv, limevi_launch_netdev(vc, vm, host));
    g_ptr_array_add(argv, g_strdup("-device"));
    g_ptr_array_add(argv, g_strdup_printf("virtio-net-pci,netdev=" LIMEVI_NETDEV_ID ",mac=%s,"
                                          "romfile=", vm->mac));
    limevi_disks_launch_args(argv, disks);
    {
        g_autofree char *qmp = limevi_launch_path(host, vm, "qmp");
        g_autofree char *pid = limevi_launch_path(host, vm, "pid");

        g_ptr_array_add(argv, g_strdup("-qmp"));
        g_ptr_array_add(argv, g_strdup_printf("unix:%s,server=on,wait=off",
                                              qmp));
        g_ptr_array_add(argv, g_strdup("-daemonize"));
        g_ptr_array_add(argv, g_strdup("-pidfile"));
        g_ptr_array_add(argv, g_strdup(pid));
    }
    if (incoming) {
        g_ptr_array_add(argv, g_strdup("-incoming"));
        g_ptr_array_add(argv, g_strdup("defer"));
    }
    /* The destination accepts only sources with a certificate of the
     * VC's CA (verify-peer), RAM and NBD alike. */
    if (incoming && vc->tls) {
        g_autofree char *dir = launch_opt_escape(vc->tls);

        g_ptr_array_add(argv, g_strdup("-object"));
        g_ptr_array_add(argv, g_strdup_printf(
            "tls-creds-x509,id=" LIMEVI_TLS_SERVER_ID ",dir=%s,"
            "endpoint=server,verify-peer=on", dir));
    }
    g_ptr_array_add(argv, NULL);
    return (char **)g_ptr_array_steal(argv, NULL);
}

GPid limevi_launch(char **argv, const LimeviVcVm *vm,
                   const LimeviVcHost *host, GError **error)
{
    g_autofree char *pidfile = limevi_launch_path(host, vm, "pid");
    g_autofree char *qmp = limevi_launch_path(host, vm, "qmp");
    g_autoptr(GSubprocess) proc = NULL;
    g_autofree char *err_text = NULL;
    g_autofree char *pid_text = NULL;

    if (g_mkdir_with_parents(host->run_dir, 0700) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                    "VM %s: cannot create %s: %s", vm->name, host->run_dir,
                    g_strerror(errno));
        return 0;
    }
    /* A stale socket or pid file would pass for the new QEMU's. */
    unlink(pidfile);
    unlink(qmp);
    proc = g_subprocess_newv((const char *const *)argv,
                             G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                             G_SUBPROCESS_FLAGS_STDERR_PIPE, error);
    if (!proc) {
        g_prefix_error(error, "VM %s on %s: ", vm->name, host->name);
        return 0;
    }
    /* With -daemonize the parent exits once QEMU is initialised, with
     * QEMU's startup error on stderr when it is not. */
    if (!g_subprocess_communicate_utf8(proc, NULL, NULL, NULL, &err_text,
                                       error)) {
        return 0;
    }
    if (!g_subprocess_get_if_exited(proc) ||
        g_subprocess_get_exit_status(proc) != 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "VM %s on %s: QEMU did not start: %s", vm->name,
                    host->name, err_text && *err_text ?
                    g_strstrip(err_text) : "(no message)");
        return 0;
    }
    if (!g_file_get_contents(pidfile, &pid_text, NULL, error)) {
        g_prefix_error(error, "VM %s on %s: ", vm->name, host->name);
        return 0;
    }
    return (GPid)g_ascii_strtoll(pid_text, NULL, 10);
}
