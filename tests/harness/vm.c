/*
 * Guests: a QEMU under TCG booting the test guest's ELF kernel (PVH boot
 * skips decompression) and initramfs, its serial port on QEMU's stdin and
 * stdout, QMP on a unix socket and stderr in a file.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness-private.h"

#define START_TIMEOUT_MS 10000
#define QUIT_TIMEOUT_MS 5000

static void add_args(GPtrArray *argv, ...) G_GNUC_NULL_TERMINATED;

static void add_args(GPtrArray *argv, ...)
{
    const char *arg;
    va_list ap;

    va_start(ap, argv);
    while ((arg = va_arg(ap, const char *))) {
        g_ptr_array_add(argv, g_strdup(arg));
    }
    va_end(ap);
}

static GPtrArray *qemu_argv(const HVmConfig *cfg, const char *qemu,
                            const char *guest_dir, const char *dir)
{
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *kernel = g_build_filename(guest_dir, "vmlinux", NULL);
    g_autofree char *initrd = g_build_filename(guest_dir, "initrd.img",
                                               NULL);
    g_autofree char *qmp = g_strdup_printf("unix:%s/qmp.sock,server=on,"
                                           "wait=off", dir);
    /* no_timer_check: under TCG on a loaded host the kernel's IO-APIC
     * timer check can fail and panic the boot. */
    GString *append = g_string_new("console=ttyS0 quiet panic=-1 "
                                   "no_timer_check");

    if (cfg->netns) {
        add_args(argv, "ip", "netns", "exec", cfg->netns, NULL);
    }
    if (cfg->ip) {
        g_string_append_printf(append, " limevi.ip=%s", cfg->ip);
    }
    g_string_append_printf(append, " limevi.name=%s", cfg->name);
    /* Only what the guest needs: no firmware menus, no default devices. */
    add_args(argv, qemu, "-nodefaults", "-no-user-config", "-display", "none",
             "-accel", "tcg", "-cpu", "max", "-m", "256", "-smp", "1",
             "-no-reboot", "-name", cfg->name,
             "-kernel", kernel, "-initrd", initrd, "-append", append->str,
             "-serial", "stdio", "-qmp", qmp, NULL);
    g_string_free(append, TRUE);
    if (cfg->netdev) {
        g_autofree char *netdev = g_strdup_printf("%s,id=" LIMEVI_NETDEV_ID,
                                                  cfg->netdev);
        /* No option ROM: the guest boots from -kernel, not the network. */
        g_autofree char *device = g_strdup_printf(
            "virtio-net-pci,netdev=" LIMEVI_NETDEV_ID ",romfile=%s%s",
            cfg->mac ? ",mac=" : "",
            cfg->mac ? cfg->mac : "");

        add_args(argv, "-netdev", netdev, "-device", device, NULL);
    }
    if (cfg->incoming) {
        add_args(argv, "-incoming", cfg->incoming, NULL);
    }
    for (gsize i = 0; cfg->extra_args && cfg->extra_args[i]; i++) {
        g_ptr_array_add(argv, g_strdup(cfg->extra_args[i]));
    }
    g_ptr_array_add(argv, NULL);
    return argv;
}

static void remove_dir(HVm *vm)
{
    g_autoptr(GDir) d = NULL;
    const char *name;

    if (!vm->dir) {
        return;
    }
    d = g_dir_open(vm->dir, 0, NULL);
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(vm->dir, name, NULL);

        g_unlink(path);
    }
    g_rmdir(vm->dir);
    g_clear_pointer(&vm->dir, g_free);
}

HVm *hvm_start(const HVmConfig *cfg, GError **err)
{
    const char *qemu = cfg->qemu ? cfg->qemu : g_getenv("LIMEVI_QEMU");
    const char *guest_dir = cfg->guest_dir ? cfg->guest_dir
                                           : g_getenv("LIMEVI_GUEST_DIR");
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GPtrArray) argv = NULL;
    g_autofree char *stderr_path = NULL;
    g_autofree char *qmp_path = NULL;
    GInputStream *out;
    HVm *vm;

    g_return_val_if_fail(cfg->name, NULL);
    if (!qemu || !guest_dir) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "LIMEVI_QEMU or LIMEVI_GUEST_DIR is not set");
        return NULL;
    }
    vm = g_new0(HVm, 1);
    vm->name = g_strdup(cfg->name);
    vm->incoming = cfg->incoming != NULL;
    vm->stderr_fd = -1;
    vm->console_log = g_string_new(NULL);
    hconsole_init(&vm->console, vm->name, NULL, -1, vm->console_log);
    vm->dir = g_dir_make_tmp("limevi-vm-XXXXXX", err);
    if (!vm->dir) {
        hvm_free(vm);
        return NULL;
    }
    stderr_path = g_build_filename(vm->dir, "qemu.stderr", NULL);
    qmp_path = g_build_filename(vm->dir, "qmp.sock", NULL);
    vm->stderr_fd = open(stderr_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (vm->stderr_fd < 0) {
        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED, "%s: %s",
                    stderr_path, g_strerror(errno));
        hvm_free(vm);
        return NULL;
    }

    argv = qemu_argv(cfg, qemu, guest_dir, vm->dir);
    launcher = harness_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                    G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    /* Same file offset for both: hvm_stderr() reads with pread(). */
    g_subprocess_launcher_take_stderr_fd(launcher, dup(vm->stderr_fd));
    for (guint i = 0; cfg->env && cfg->env[i]; i++) {
        g_auto(GStrv) kv = g_strsplit(cfg->env[i], "=", 2);

        g_subprocess_launcher_setenv(launcher, kv[0], kv[1] ? kv[1] : "",
                                     TRUE);
    }
    vm->proc = g_subprocess_launcher_spawnv(launcher,
                                            (const char *const *)argv->pdata,
                                            err);
    if (!vm->proc) {
        hvm_free(vm);
        return NULL;
    }
    /* "ip netns exec" execs QEMU: this PID is QEMU's either way. */
    vm->pid = atoi(g_subprocess_get_identifier(vm->proc));
    vm->console.in = g_subprocess_get_stdin_pipe(vm->proc);
    out = g_subprocess_get_stdout_pipe(vm->proc);
    vm->console.out.fd = g_unix_input_stream_get_fd(
        G_UNIX_INPUT_STREAM(out));

    if (!hvm_qmp_connect(vm, qmp_path, harness_deadline(START_TIMEOUT_MS),
                         err)) {
        g_autofree char *msg = hvm_stderr(vm);

        /* QEMU that refused to start says why on stderr. */
        g_prefix_error(err, "%s: QMP: ", vm->name);
        if (err && *err && *msg) {
            g_autofree char *old = (*err)->message;

            (*err)->message = g_strdup_printf("%s; QEMU stderr: %s", old,
                                              g_strchomp(msg));
        }
        hvm_free(vm);
        return NULL;
    }
    /* QEMU holds both files open: nothing is left if the test aborts. */
    remove_dir(vm);
    return vm;
}

gboolean hvm_wait_ready(HVm *vm, guint timeout_ms, GError **err)
{
    gint64 deadline = harness_deadline(timeout_ms);

    while (!vm->ready) {
        GError *local = NULL;
        g_autofree char *line = hlines_read(&vm->console.out, deadline,
                                                &local);

        if (!line) {
            g_propagate_prefixed_error(err, local,
                                       "%s: waiting for @@LIMEVI-READY: ",
                                       vm->name);
            return FALSE;
        }
        vm->ready = g_str_has_suffix(line, "@@LIMEVI-READY");
    }
    return TRUE;
}

const char *hvm_name(HVm *vm)
{
    return vm->name;
}

GPid hvm_pid(HVm *vm)
{
    return vm->pid;
}

char *hvm_stderr(HVm *vm)
{
    GString *text = g_string_new(NULL);
    char chunk[4096];
    ssize_t n;

    while (vm->stderr_fd >= 0 &&
           (n = pread(vm->stderr_fd, chunk, sizeof(chunk), text->len)) > 0) {
        g_string_append_len(text, chunk, n);
    }
    return g_string_free(text, FALSE);
}

const char *hvm_console(HVm *vm)
{
    return vm->console_log->str;
}

void hvm_free(HVm *vm)
{
    if (!vm) {
        return;
    }
    if (vm->proc) {
        if (vm->qmp) {
            g_autoptr(GError) err = NULL;
            JsonNode *ret = hvm_qmp(vm, "quit", NULL, &err);

            if (ret) {
                json_node_unref(ret);
            }
        }
        if (!harness_wait_process(vm->proc, QUIT_TIMEOUT_MS)) {
            g_printerr("# %s: QEMU (pid %d) did not quit: killing it\n",
                       vm->name, (int)vm->pid);
        }
        harness_kill_process(vm->proc);
        g_object_unref(vm->proc);
    }
    hvm_qmp_close(vm);
    hconsole_clear(&vm->console);
    remove_dir(vm);
    if (vm->stderr_fd >= 0) {
        close(vm->stderr_fd);
    }
    g_string_free(vm->console_log, TRUE);
    g_free(vm->name);
    g_free(vm);
}
