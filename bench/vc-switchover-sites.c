/*
 * The bed of bench/vc-switchover: the tools it runs, two sites in network
 * namespaces with limevi-wan between them, and a VC of VMs there: its VC
 * file, consoles, start and stop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vc-switchover.h"

/* ---- Guest consoles ---- */

/* The VC file puts each guest's serial port on a unix socket,
 * RUN-DIR/VM.console (and logs it to RUN-DIR/VM.log), so that commands
 * reach a guest wherever it runs: the harness's console speaks to it. */

/* Connects to the console at @path, retrying while its QEMU starts, and
 * waits until the guest answers (a resync every 2 s while it boots). */
static gboolean console_open(HConsole *c, const char *vm, const char *path,
                             gint64 deadline, GError **err)
{
    hconsole_clear(c);
    if (!hconsole_connect(c, vm, path, deadline, err)) {
        return FALSE;
    }
    for (;;) {
        g_autoptr(GError) local = NULL;

        if (hconsole_sync(c, MIN(deadline, harness_deadline(2000)),
                          &local)) {
            return TRUE;
        }
        if (!g_error_matches(local, HARNESS_ERROR, HARNESS_ERROR_TIMEOUT) ||
            g_get_monotonic_time() > deadline) {
            g_propagate_prefixed_error(err, g_steal_pointer(&local),
                                       "waiting for the guest: ");
            return FALSE;
        }
        if (!bench_check_interrupted(err)) {
            return FALSE;
        }
    }
}

/* Runs @cmd (one line of busybox sh) in the guest; FALSE unless it
 * exited 0.  What it printed goes to *@output if non-NULL. */
gboolean console_run(HConsole *c, const char *cmd, guint timeout_ms,
                     char **output, GError **err)
{
    g_autofree char *out = NULL;
    int status;

    bench_log("%s$ %s", c->name, cmd);
    status = hconsole_exec(c, cmd, harness_deadline(timeout_ms), &out, err);
    if (status < 0) {
        g_prefix_error(err, "'%s': ", cmd);
        return FALSE;
    }
    if (status != 0) {
        g_set_error(err, BENCH_ERROR, 0, "%s: '%s' exited %d: %s", c->name,
                    cmd, status, g_strchomp(out));
        return FALSE;
    }
    if (output) {
        *output = g_steal_pointer(&out);
    }
    return TRUE;
}

/* ---- Tools ---- */

/* Runs @argv, failing unless it exits 0 within @timeout_ms. */
gboolean tool_run(const char *const *argv, guint timeout_ms,
                  GError **err)
{
    g_autofree char *output = NULL;
    int status = harness_run(argv, timeout_ms, &output, err);

    return bench_command_ok(status, argv, NULL, output, err);
}

/* The last @n lines of the file at @path, for an error message. */
char *file_tail(const char *path, guint n)
{
    g_autofree char *text = NULL;
    char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return g_strdup("");
    }
    g_strchomp(text);
    p = text + strlen(text);
    while (p > text && n) {
        if (*--p == '\n') {
            n--;
        }
    }
    return g_strdup(n ? p : p + 1);
}

/* Kills every process left in namespace @ns, by its PID. */
static void netns_kill_all(const char *ns)
{
    g_autofree char *out = NULL;
    g_auto(GStrv) pids = NULL;

    if (harness_run((const char *const[]){ "ip", "netns", "pids", ns, NULL },
                    TOOL_TIMEOUT_MS, &out, NULL) != 0) {
        return;
    }
    pids = g_strsplit(g_strstrip(out), "\n", -1);
    for (guint i = 0; pids[i]; i++) {
        gint64 pid = g_ascii_strtoll(pids[i], NULL, 10);

        if (pid > 1) {
            bench_log("killing pid %" G_GINT64_FORMAT " left in %s", pid, ns);
            kill((pid_t)pid, SIGKILL);
        }
    }
}

/* ---- The sites and the WAN between them ---- */



static char *site_ns(guint site)
{
    return g_strdup_printf("%s-%s", bed.tag, site_name[site]);
}

/* Starts limevi-wan between the sites; it writes its statistics to
 * @stats when wan_stop() ends it.  One per run, so that what its queues
 * dropped (guest frames and migration streams alike, when the
 * migrations fill the link) is the run's. */
gboolean wan_start(const char *stats, GError **err)
{
    g_autofree char *ns_wan = g_strdup_printf("%s-wan", bed.tag);
    g_autofree char *ready = g_build_filename(bed.dir, "wan.ready", NULL);
    g_autofree char *link = g_strdup_printf("A-B:%s", opt.link);
    g_autoptr(GSubprocessLauncher) launcher = harness_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    gint64 deadline = harness_deadline(WAN_READY_TIMEOUT_MS);

    unlink(ready);
    bed.wan = g_subprocess_launcher_spawn(launcher, err, "ip", "netns",
        "exec", ns_wan, tool.wan, "--site", "A=A", "--site", "B=B",
        "--link", link, "--ready-file", ready, "--stats-json", stats,
        "--seed", "1", NULL);
    if (!bed.wan) {
        return FALSE;
    }
    while (!g_file_test(ready, G_FILE_TEST_EXISTS)) {
        if (!g_subprocess_get_identifier(bed.wan) ||
            g_get_monotonic_time() > deadline) {
            g_set_error(err, BENCH_ERROR, 0, "limevi-wan --link %s did not "
                        "start (bad --link?)", link);
            return FALSE;
        }
        g_usleep(50 * 1000);
    }
    return TRUE;
}

/* Ends limevi-wan; returns what its queues dropped, -1 if unknown. */
gint64 wan_stop(const char *stats)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *root;
    JsonArray *links;

    if (!bed.wan) {
        return -1;
    }
    /* SIGTERM: it writes its statistics. */
    g_subprocess_send_signal(bed.wan, SIGTERM);
    if (!harness_wait_process(bed.wan, 5000)) {
        harness_kill_process(bed.wan);
    }
    g_clear_object(&bed.wan);
    if (!stats || !json_parser_load_from_file(parser, stats, NULL)) {
        return -1;
    }
    root = json_node_get_object(json_parser_get_root(parser));
    links = json_object_get_array_member(root, "links");
    return links && json_array_get_length(links) ?
           json_object_get_int_member(json_array_get_object_element(links, 0),
                                      "dropped_queue") : -1;
}

void sites_down(void)
{
    if (!bed.tag) {
        return;
    }
    wan_stop(NULL);
    for (guint s = 0; s < 2; s++) {
        g_autofree char *ns = site_ns(s);

        netns_kill_all(ns);
    }
    harness_run((const char *const[]){ "bash", tool.wan_sites, "down",
                                       bed.tag, "A", "B", NULL },
                TOOL_TIMEOUT_MS, NULL, NULL);
}

/* ---- A VC at the sites ---- */



static char *vm_name(guint i)
{
    return g_strdup_printf("v%u", i);
}

char *vm_ip(guint i)
{
    return g_strdup_printf("198.18.10.%u", i + 1);
}

/* A fresh random VC key, bench.key next to the VC file. */
static gboolean cluster_key(Cluster *c, GError **err)
{
    g_autofree char *path = g_build_filename(c->dir, "bench.key", NULL);
    guint8 key[32];
    FILE *f = fopen("/dev/urandom", "rb");
    gboolean ok = f && fread(key, 1, sizeof(key), f) == sizeof(key);

    if (f) {
        fclose(f);
    }
    if (!ok) {
        g_set_error(err, BENCH_ERROR, 0, "cannot read a key from "
                    "/dev/urandom");
        return FALSE;
    }
    ok = g_file_set_contents(path, (const char *)key, sizeof(key), err);
    memset(key, 0, sizeof(key));
    return ok;
}

/* One LAN; every VM streams to the next one, the last to the first. */
static char *vc_file_text(Cluster *c)
{
    const char *dir = g_getenv("LIMEVI_GUEST_DIR");
    GString *s = g_string_new(NULL);

    /* Keyed (cluster_key()), as users run it. */
    g_string_append(s, "# bench/vc-switchover's VC\n[vc]\nname = bench\n"
                    "lans = lan1\nkey = bench.key\n\n");
    for (guint h = 0; h < 2; h++) {
        g_autofree char *ns = site_ns(h);

        g_string_append_printf(s, "[host %s]\nsite = %s\naddress = %s\n"
                               "netns = %s\nrun-dir = %s/%s\n\n",
                               host_name[h], site_name[h], site_addr[h], ns,
                               c->dir, host_name[h]);
    }
    for (guint i = 0; i < c->size; i++) {
        g_autofree char *name = vm_name(i);
        g_autofree char *ip = vm_ip(i);

        g_string_append_printf(s,
            "[vm %s]\nhost = a1\nlan = lan1\nmac = 52:54:00:18:0a:%02x\n"
            "memory = %u\nport = %u\n"
            "qemu = %s -machine pc -accel tcg -cpu max -m ${memory} "
            "-nodefaults -no-user-config -display none "
            "-kernel %s/vmlinux -initrd %s/initrd.img "
            "-append \"console=ttyS0 quiet limevi.ip=%s/24 "
            "limevi.name=${vm}\" "
            "-chardev socket,id=con0,path=${run_dir}/${vm}.console,"
            "server=on,wait=off,logfile=${run_dir}/${vm}.log,logappend=on "
            "-serial chardev:con0\n\n",
            name, i + 1, profiles[i % G_N_ELEMENTS(profiles)].memory_mib,
            7001 + i, g_getenv("LIMEVI_QEMU"), dir, dir, ip);
    }
    return g_string_free(s, FALSE);
}

char *run_path(Cluster *c, guint site, guint i, const char *suffix)
{
    g_autofree char *name = vm_name(i);

    return limevi_launch_path(limevi_vc_host(c->vc, host_name[site]),
                              limevi_vc_vm(c->vc, name), suffix);
}

/* The consoles of every VM, where the VC runs now. */
gboolean cluster_consoles(Cluster *c, guint timeout_ms, GError **err)
{
    gint64 deadline = harness_deadline(timeout_ms);

    for (guint i = 0; i < c->size; i++) {
        g_autofree char *path = run_path(c, c->site, i, "console");
        const LimeviVcVm *vm = c->vc->vms->pdata[i];

        if (!console_open(&c->con[i], vm->name, path, deadline, err)) {
            return FALSE;
        }
    }
    return TRUE;
}

/* ---- Stopping and starting a VC ---- */

/* Kills by PID each QEMU of the VC that outlived "limevi stop": its pid
 * file names it, and it is ours if its command line names the file. */
static void cluster_kill_leftovers(Cluster *c)
{
    for (guint site = 0; site < 2; site++) {
        for (guint i = 0; i < c->size; i++) {
            g_autofree char *pidfile = run_path(c, site, i, "pid");
            g_autofree char *text = NULL, *cmdline = NULL, *proc = NULL;
            gsize len;
            gint64 pid;

            if (!g_file_get_contents(pidfile, &text, NULL, NULL)) {
                continue;
            }
            pid = g_ascii_strtoll(text, NULL, 10);
            proc = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/cmdline", pid);
            if (pid <= 1 || !g_file_get_contents(proc, &cmdline, &len,
                                                 NULL)) {
                continue;
            }
            for (gsize k = 0; k + 1 < len; k++) {
                cmdline[k] = cmdline[k] ? cmdline[k] : ' ';
            }
            if (strstr(cmdline, pidfile)) {
                bench_log("killing QEMU %" G_GINT64_FORMAT, pid);
                kill((pid_t)pid, SIGKILL);
            }
        }
    }
}

void cluster_stop(Cluster *c)
{
    /* Interrupted, it ends now rather than wait for the receivers. */
    if (c->pending && !bench_interrupted) {
        streams_collect(c);
    }
    g_clear_pointer(&c->pending, g_ptr_array_unref);
    for (guint i = 0; i < MAX_VMS; i++) {
        hconsole_clear(&c->con[i]);
    }
    if (c->vc) {
        g_autoptr(GError) err = NULL;

        if (!tool_run((const char *const[]){ tool.cli, "stop", c->path,
                                             NULL }, TOOL_TIMEOUT_MS,
                      &err)) {
            fprintf(stderr, "# %s\n", err->message);
        }
        cluster_kill_leftovers(c);
    }
    g_clear_pointer(&c->vc, limevi_vc_free);
    g_clear_pointer(&c->path, g_free);
    g_clear_pointer(&c->dir, g_free);
}

/* Boots the VC at site A; each guest fills and starts dirtying its
 * memory. */
gboolean cluster_start(Cluster *c, guint size, guint attempt,
                       GError **err)
{
    g_autofree char *name = g_strdup_printf("vc%u-%u", size, attempt);
    g_autofree char *text = NULL;

    c->size = size;
    c->site = 0;
    c->pending = g_ptr_array_new();
    c->dir = g_build_filename(bed.dir, name, NULL);
    c->path = g_build_filename(c->dir, "vc.conf", NULL);
    if (g_mkdir_with_parents(c->dir, 0700) < 0) {
        g_set_error(err, BENCH_ERROR, 0, "cannot create %s", c->dir);
        return FALSE;
    }
    text = vc_file_text(c);
    if (!cluster_key(c, err) ||
        !g_file_set_contents(c->path, text, -1, err) ||
        !(c->vc = limevi_vc_load(c->path, err))) {
        return FALSE;
    }
    bench_log("%u VMs: limevi start %s", size, c->path);
    if (!tool_run((const char *const[]){ tool.cli, "start", c->path, NULL },
                  TOOL_TIMEOUT_MS, err) ||
        !cluster_consoles(c, BOOT_TIMEOUT_MS, err)) {
        return FALSE;
    }
    for (guint i = 0; i < size; i++) {
        guint p = i % G_N_ELEMENTS(profiles);
        g_autofree char *fill = g_strdup_printf(
            "dd if=/dev/urandom of=/tmp/fill bs=1M count=%u 2>/dev/null",
            profiles[p].fill_mib);

        if (!console_run(&c->con[i], fill, FILL_TIMEOUT_MS, NULL, err)) {
            return FALSE;
        }
        /* busybox watch runs its command through sh, every second. */
        if (profiles[p].dirty_kib) {
            g_autofree char *dirty = g_strdup_printf(
                "watch -t -n 1 'dd if=/dev/urandom of=/tmp/fill bs=64k "
                "count=%u conv=notrunc 2>/dev/null' >/dev/null 2>&1 &",
                profiles[p].dirty_kib / 64);

            if (!console_run(&c->con[i], dirty, CMD_TIMEOUT_MS, NULL, err)) {
                return FALSE;
            }
        }
    }
    return TRUE;
}
