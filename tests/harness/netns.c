/*
 * Network namespaces the tests create, named after our PID so parallel
 * runs never meet, and the processes started in them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <unistd.h>

#include "harness-private.h"

#define IP_TIMEOUT_MS 10000

struct HNetns {
    char *name;
    GPtrArray *procs;           /* GSubprocess *, killed at free */
    gboolean adopted;           /* made by someone else: not deleted */
};

/* "ip netns exec NAME argv..." */
static GPtrArray *netns_argv(HNetns *ns, const char *const *argv)
{
    GPtrArray *full = g_ptr_array_new();

    g_ptr_array_add(full, (gpointer)"ip");
    g_ptr_array_add(full, (gpointer)"netns");
    g_ptr_array_add(full, (gpointer)"exec");
    g_ptr_array_add(full, ns->name);
    for (gsize i = 0; argv[i]; i++) {
        g_ptr_array_add(full, (gpointer)argv[i]);
    }
    g_ptr_array_add(full, NULL);
    return full;
}

static gboolean run_ip(const char *const *argv, GError **err)
{
    g_autofree char *output = NULL;
    int status = harness_run(argv, IP_TIMEOUT_MS, &output, err);

    if (status < 0) {
        return FALSE;
    }
    if (status != 0) {
        g_autofree char *cmd = g_strjoinv(" ", (char **)argv);

        g_set_error(err, HARNESS_ERROR, HARNESS_ERROR_FAILED,
                    "'%s' failed (%d): %s", cmd, status, g_strchomp(output));
        return FALSE;
    }
    return TRUE;
}

HNetns *hnetns_new(const char *tag, GError **err)
{
    static guint counter;
    HNetns *ns = g_new0(HNetns, 1);

    ns->name = g_strdup_printf("limevi-%s-%d-%u", tag, (int)getpid(),
                               ++counter);
    ns->procs = g_ptr_array_new_with_free_func(g_object_unref);
    if (!run_ip((const char *[]){ "ip", "netns", "add", ns->name, NULL },
                err)) {
        g_ptr_array_unref(ns->procs);
        g_free(ns->name);
        g_free(ns);
        return NULL;
    }
    if (!run_ip((const char *[]){ "ip", "-n", ns->name, "link", "set", "lo",
                                  "up", NULL }, err)) {
        hnetns_free(ns);
        return NULL;
    }
    return ns;
}

HNetns *hnetns_adopt(const char *name)
{
    HNetns *ns = g_new0(HNetns, 1);

    ns->name = g_strdup(name);
    ns->procs = g_ptr_array_new_with_free_func(g_object_unref);
    ns->adopted = TRUE;
    return ns;
}

const char *hnetns_name(HNetns *ns)
{
    return ns->name;
}

int hnetns_run(HNetns *ns, const char *const *argv, guint timeout_ms,
               char **output, GError **err)
{
    g_autoptr(GPtrArray) full = netns_argv(ns, argv);

    return harness_run((const char *const *)full->pdata, timeout_ms, output,
                       err);
}

GSubprocess *hnetns_spawn(HNetns *ns, const char *const *argv,
                          GError **err)
{
    g_autoptr(GPtrArray) full = netns_argv(ns, argv);
    g_autoptr(GSubprocessLauncher) launcher = harness_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    GSubprocess *proc;

    g_subprocess_launcher_set_stdin_file_path(launcher, "/dev/null");
    proc = g_subprocess_launcher_spawnv(launcher,
                                        (const char *const *)full->pdata,
                                        err);
    if (proc) {
        g_ptr_array_add(ns->procs, proc);
    }
    return proc;
}

void hnetns_free(HNetns *ns)
{
    g_autoptr(GError) err = NULL;

    if (!ns) {
        return;
    }
    /* Nothing may hold the namespace when it is deleted. */
    for (guint i = 0; i < ns->procs->len; i++) {
        harness_kill_process(g_ptr_array_index(ns->procs, i));
    }
    g_ptr_array_unref(ns->procs);
    if (!ns->adopted && !run_ip((const char *[]){ "ip", "netns", "delete", ns->name, NULL },
                &err)) {
        g_printerr("# harness: %s\n", err->message);
    }
    g_free(ns->name);
    g_free(ns);
}

guint16 harness_free_udp_port(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocket) sock = g_socket_new(G_SOCKET_FAMILY_IPV4,
                                           G_SOCKET_TYPE_DATAGRAM,
                                           G_SOCKET_PROTOCOL_UDP, &err);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(
        G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) bound = NULL;

    g_assert_no_error(err);
    g_assert_true(g_socket_bind(sock, any, FALSE, &err));
    bound = g_socket_get_local_address(sock, &err);
    g_assert_no_error(err);
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}
