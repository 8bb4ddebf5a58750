/*
 * The VC file's groups and values: what each group may hold and that
 * every value makes sense, each error at its line.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <gio/gio.h>

#include "vcfile-private.h"

#define VC_MEMORY_MIN 16
#define VC_MEMORY_MAX 1048576

static const char *const host_keys[] = {
    "site", "address", "netns", "run-dir", "libvirt", NULL
};
static const char *const vm_keys[] = {
    "host", "lan", "mac", "memory", "port", "qemu", "domain", "disks", NULL
};

/* ---- Values ---- */

/*
 * The value of @key as written, stripped: GKeyFile's escapes are not
 * interpreted, so a qemu line is quoted as in a shell.  An absent
 * optional key gives TRUE and NULL.
 */
gboolean vc_get(VcParser *p, const char *group, const char *key,
                gboolean required, char **value, GError **error)
{
    *value = g_key_file_get_value(p->kf, group, key, NULL);
    if (!*value) {
        if (required) {
            return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, key,
                           "required key is missing");
        }
        return TRUE;
    }
    g_strstrip(*value);
    if (!**value) {
        g_clear_pointer(value, g_free);
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, key,
                       "must not be empty%s",
                       required ? "" : "; leave the key out instead");
    }
    return TRUE;
}

gboolean vc_check_name(VcParser *p, const char *group, const char *key,
                       const char *name, const char *what, GError **error)
{
    g_autoptr(GError) local = NULL;

    if (!limevi_name_valid(name, what, &local)) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, key, "%s",
                       local->message);
    }
    return TRUE;
}

gboolean vc_parse_uint(const char *value, guint64 min, guint64 max,
                       guint64 *out)
{
    return g_ascii_string_to_unsigned(value, 10, min, max, out, NULL);
}

/* Parses xx:xx:xx:xx:xx:xx into lower case; NULL when malformed. */
static char *vc_parse_mac(const char *value, guint8 *first, gboolean *zero)
{
    guint8 octets[6];

    if (strlen(value) != 17) {
        return NULL;
    }
    for (guint i = 0; i < 6; i++) {
        const char *o = value + 3 * i;

        if (!g_ascii_isxdigit(o[0]) || !g_ascii_isxdigit(o[1]) ||
            (i < 5 && o[2] != ':')) {
            return NULL;
        }
        octets[i] = g_ascii_xdigit_value(o[0]) << 4 |
                    g_ascii_xdigit_value(o[1]);
    }
    *first = octets[0];
    *zero = !(octets[0] | octets[1] | octets[2] | octets[3] | octets[4] |
              octets[5]);
    return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", octets[0],
                           octets[1], octets[2], octets[3], octets[4],
                           octets[5]);
}

/* The kind of every group, its name, and that it has only known keys. */
static gboolean vc_check_group(VcParser *p, const char *group,
                               gboolean *is_vc, GError **error)
{
    const char *space = strchr(group, ' ');
    g_autofree char *kind = space ? g_strndup(group, space - group)
                                  : g_strdup(group);
    const char *const *known;
    g_auto(GStrv) keys = NULL;

    *is_vc = FALSE;
    if (g_str_equal(kind, "vc")) {
        if (space) {
            return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, NULL,
                           "[vc] takes no name; the VC's is its key 'name'");
        }
        *is_vc = TRUE;
        known = vc_keys;
    } else if (g_str_equal(kind, "host") || g_str_equal(kind, "vm") ||
               g_str_equal(kind, "gateway")) {
        gboolean host = g_str_equal(kind, "host");
        gboolean gateway = g_str_equal(kind, "gateway");

        if (!space) {
            return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, NULL,
                           "a %s group needs a name: [%s NAME]", kind, kind);
        }
        if (!vc_check_name(p, group, NULL, space + 1,
                           host ? "host name" :
                           gateway ? "gateway name" : "vm name", error)) {
            return FALSE;
        }
        known = host ? host_keys : gateway ? vc_gateway_keys : vm_keys;
    } else {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, NULL,
                       "unknown group; expected [vc], [host NAME], "
                       "[vm NAME] or [gateway NAME]");
    }

    keys = g_key_file_get_keys(p->kf, group, NULL, NULL);
    for (guint i = 0; keys && keys[i]; i++) {
        if (!g_strv_contains(known, keys[i])) {
            g_autofree char *list = g_strjoinv(", ", (char **)known);

            return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, keys[i],
                           "unknown key; known are %s", list);
        }
    }
    return TRUE;
}

void vc_make_absolute(VcParser *p, char **path)
{
    if (!g_path_is_absolute(*path)) {
        g_autofree char *dir = g_path_get_dirname(p->path);
        char *abs = g_build_filename(dir, *path, NULL);

        g_free(*path);
        *path = abs;
    }
}

static gboolean vc_parse_host(VcParser *p, LimeviVc *vc, const char *group,
                              GError **error)
{
    LimeviVcHost *host = g_new0(LimeviVcHost, 1);
    g_autoptr(GInetAddress) address = NULL;

    host->name = g_strdup(group + strlen("host "));
    g_ptr_array_add(vc->hosts, host);
    if (!vc_get(p, group, "site", TRUE, &host->site, error) ||
        !vc_get(p, group, "address", TRUE, &host->address, error)) {
        return FALSE;
    }
    address = g_inet_address_new_from_string(host->address);
    if (!address ||
        g_inet_address_get_family(address) != G_SOCKET_FAMILY_IPV4) {
        return vc_fail(p, error, LIMEVI_ERROR_ENDPOINT, group, "address",
                       "expects an IPv4 address, got '%s'", host->address);
    }
    if (!vc_get(p, group, "netns", FALSE, &host->netns, error)) {
        return FALSE;
    }
    /* It names /run/netns/NETNS. */
    if (host->netns && strchr(host->netns, '/')) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "netns",
                       "expects a namespace name without '/', got '%s'",
                       host->netns);
    }
    return vc_get(p, group, "run-dir", TRUE, &host->run_dir, error) &&
           vc_get(p, group, "libvirt", FALSE, &host->libvirt, error);
}

/* The VM's MAC: unicast, and no other VM's. */
static gboolean vc_parse_vm_mac(VcParser *p, LimeviVc *vc, LimeviVcVm *vm,
                                const char *group, GError **error)
{
    g_autofree char *mac = NULL;
    guint8 first;
    gboolean zero;

    if (!vc_get(p, group, "mac", TRUE, &mac, error)) {
        return FALSE;
    }
    vm->mac = vc_parse_mac(mac, &first, &zero);
    if (!vm->mac) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "mac",
                       "expects a MAC address xx:xx:xx:xx:xx:xx, got '%s'",
                       mac);
    }
    if ((first & 1) || zero) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "mac",
                       "%s is not a unicast address", mac);
    }
    for (guint i = 0; i + 1 < vc->vms->len; i++) {
        LimeviVcVm *other = vc->vms->pdata[i];

        if (g_str_equal(other->mac, vm->mac)) {
            return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "mac",
                           "MAC %s is also [vm %s]'s", vm->mac, other->name);
        }
    }
    return TRUE;
}

/* Its memory, and its UDP port: no other VM's on the same host. */
static gboolean vc_parse_vm_numbers(VcParser *p, LimeviVc *vc,
                                    LimeviVcVm *vm, const char *group,
                                    GError **error)
{
    g_autofree char *memory = NULL;
    g_autofree char *port = NULL;
    guint64 number;

    if (!vc_get(p, group, "memory", TRUE, &memory, error)) {
        return FALSE;
    }
    if (!vc_parse_uint(memory, VC_MEMORY_MIN, VC_MEMORY_MAX, &number)) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "memory",
                       "expects MiB from %d to %d, got '%s'",
                       VC_MEMORY_MIN, VC_MEMORY_MAX, memory);
    }
    vm->memory = number;

    if (!vc_get(p, group, "port", TRUE, &port, error)) {
        return FALSE;
    }
    if (!vc_parse_uint(port, 1, G_MAXUINT16, &number)) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "port",
                       "expects a UDP port from 1 to 65535, got '%s'", port);
    }
    vm->port = number;
    for (guint i = 0; i + 1 < vc->vms->len; i++) {
        LimeviVcVm *other = vc->vms->pdata[i];

        if (other->port == vm->port && g_str_equal(other->host, vm->host)) {
            return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "port",
                           "port %u on host %s is also [vm %s]'s",
                           vm->port, vm->host, other->name);
        }
    }
    return TRUE;
}

/* A libvirt host runs the VM from its domain XML, others from its QEMU
 * line: the VM needs the one of the host it is on. */
static gboolean vc_parse_vm_runner(VcParser *p, LimeviVc *vc,
                                   LimeviVcVm *vm, const char *group,
                                   GError **error)
{
    const LimeviVcHost *at = limevi_vc_host(vc, vm->host);
    g_autoptr(GError) local = NULL;
    g_auto(GStrv) argv = NULL;

    if (!vc_get(p, group, "qemu", !at->libvirt, &vm->qemu, error) ||
        !vc_get(p, group, "domain", at->libvirt != NULL, &vm->domain,
                error)) {
        return FALSE;
    }
    if (vm->qemu && !(argv = vc_qemu_argv(vm, NULL, &local))) {
        return vc_fail(p, error, local->code, group, "qemu", "%s",
                       local->message);
    }
    if (vm->domain && !g_path_is_absolute(vm->domain)) {
        g_autofree char *dir = g_path_get_dirname(p->path);
        char *abs = g_build_filename(dir, vm->domain, NULL);

        g_free(vm->domain);
        vm->domain = abs;
    }
    if (vm->domain && !g_file_test(vm->domain, G_FILE_TEST_IS_REGULAR)) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "domain",
                       "no domain XML file %s", vm->domain);
    }
    return TRUE;
}

static gboolean vc_parse_vm(VcParser *p, LimeviVc *vc, const char *group,
                            GError **error)
{
    LimeviVcVm *vm = g_new0(LimeviVcVm, 1);

    vm->name = g_strdup(group + strlen("vm "));
    vm->disks = g_ptr_array_new_with_free_func(
        (GDestroyNotify)limevi_vc_disk_free);
    g_ptr_array_add(vc->vms, vm);

    if (!vc_get(p, group, "host", TRUE, &vm->host, error)) {
        return FALSE;
    }
    if (!limevi_vc_host(vc, vm->host)) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "host",
                       "host '%s' is not declared: there is no [host %s]",
                       vm->host, vm->host);
    }

    if (!vc_get(p, group, "lan", TRUE, &vm->lan, error)) {
        return FALSE;
    }
    if (!g_strv_contains((const char *const *)vc->lans, vm->lan)) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, group, "lan",
                       "LAN '%s' is not declared in [vc] lans", vm->lan);
    }
    return vc_parse_vm_mac(p, vc, vm, group, error) &&
           vc_parse_vm_numbers(p, vc, vm, group, error) &&
           vc_parse_vm_runner(p, vc, vm, group, error) &&
           vc_parse_vm_disks(p, vc, vm, group, error);
}

gboolean vc_parse(VcParser *p, LimeviVc *vc, GError **error)
{
    g_auto(GStrv) groups = NULL;
    gboolean has_vc = FALSE;

    if (!vc_read(p, error)) {
        return FALSE;
    }
    groups = g_key_file_get_groups(p->kf, NULL);
    for (guint i = 0; groups[i]; i++) {
        gboolean is_vc;

        if (!vc_check_group(p, groups[i], &is_vc, error)) {
            return FALSE;
        }
        has_vc |= is_vc;
    }
    if (!has_vc) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, NULL, NULL,
                       "there is no [vc] group");
    }
    if (!vc_parse_vc(p, vc, error)) {
        return FALSE;
    }
    /* Hosts first: a VM may name a host declared after it. */
    for (guint i = 0; groups[i]; i++) {
        if (g_str_has_prefix(groups[i], "host ") &&
            !vc_parse_host(p, vc, groups[i], error)) {
            return FALSE;
        }
    }
    for (guint i = 0; groups[i]; i++) {
        if (g_str_has_prefix(groups[i], "vm ") &&
            !vc_parse_vm(p, vc, groups[i], error)) {
            return FALSE;
        }
    }
    /* After the VMs: a gateway's name must not be a VM's. */
    for (guint i = 0; groups[i]; i++) {
        if (g_str_has_prefix(groups[i], "gateway ") &&
            !vc_parse_gateway(p, vc, groups[i], error)) {
            return FALSE;
        }
    }
    if (!vc->hosts->len) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, NULL, NULL,
                       "there is no [host NAME] group; a VC needs a host");
    }
    if (!vc->vms->len) {
        return vc_fail(p, error, LIMEVI_ERROR_INVALID, NULL, NULL,
                       "there is no [vm NAME] group; a VC needs a VM");
    }
    /* After the hosts: the certificates must name their addresses. */
    return vc_parse_tls(p, vc, error) && vc_check_secured(p, vc, error);
}

