/*
 * The VC description file: GKeyFile parses it, this file checks it.
 * GKeyFile knows no line numbers, so the text is scanned once more for
 * the line of each group and key, and every error names file and line.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdarg.h>
#include <string.h>

#include <gio/gio.h>

#include "vcfile-private.h"

#define VC_MEMORY_MIN 16
#define VC_MEMORY_MAX 1048576

static const char *const vc_keys[] = { "name", "lans", NULL };
static const char *const host_keys[] = {
    "site", "address", "netns", "run-dir", "libvirt", NULL
};
static const char *const vm_keys[] = {
    "host", "lan", "mac", "memory", "port", "qemu", "domain", NULL
};


/* ---- Where things are in the text ---- */

static guint vc_line(VcParser *p, const char *group, const char *key)
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

static gboolean G_GNUC_PRINTF(7, 8)
vc_fail_at(VcParser *p, GError **error, gint code, guint line,
           const char *group, const char *key, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    vc_fail_va(p, error, code, line, group, key, format, args);
    va_end(args);
    return FALSE;
}

/* Fails at the line of @key in @group, or of @group when @key is NULL. */
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

/* Errors without file or line: the callers say where. */
static char **qemu_argv(const LimeviVcVm *vm, const LimeviVcHost *host,
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
    char **argv = qemu_argv(vm, host ? host : limevi_vc_host(vc, vm->host),
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

static void vc_vm_free(LimeviVcVm *vm)
{
    g_free(vm->name);
    g_free(vm->host);
    g_free(vm->lan);
    g_free(vm->mac);
    g_free(vm->qemu);
    g_free(vm->domain);
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

static gboolean vc_parse_vc(VcParser *p, LimeviVc *vc, GError **error)
{
    g_autofree char *lans = NULL;
    g_auto(GStrv) split = NULL;
    guint n;

    if (!vc_get(p, "vc", "name", TRUE, &vc->name, error) ||
        !vc_check_name(p, "vc", "name", vc->name, "name", error) ||
        !vc_get(p, "vc", "lans", TRUE, &lans, error)) {
        return FALSE;
    }
    /* Like g_key_file_get_string_list(): a last ';' ends the list. */
    split = g_strsplit(lans, ";", -1);
    n = g_strv_length(split);
    if (n > 1 && !*split[n - 1]) {
        g_clear_pointer(&split[n - 1], g_free);
    }
    for (guint i = 0; split[i]; i++) {
        g_strstrip(split[i]);
        if (!vc_check_name(p, "vc", "lans", split[i], "lans", error)) {
            return FALSE;
        }
        for (guint j = 0; j < i; j++) {
            if (g_str_equal(split[i], split[j])) {
                return vc_fail(p, error, LIMEVI_ERROR_INVALID, "vc", "lans",
                               "LAN '%s' is listed twice", split[i]);
            }
        }
    }
    vc->lans = g_steal_pointer(&split);
    return TRUE;
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

static gboolean vc_parse_vm(VcParser *p, LimeviVc *vc, const char *group,
                            GError **error)
{
    LimeviVcVm *vm = g_new0(LimeviVcVm, 1);
    g_autofree char *mac = NULL;
    g_autofree char *memory = NULL;
    g_autofree char *port = NULL;
    g_autoptr(GError) local = NULL;
    g_auto(GStrv) argv = NULL;
    const LimeviVcHost *at;
    guint64 number;
    guint8 first;
    gboolean zero;

    vm->name = g_strdup(group + strlen("vm "));
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

    /* A libvirt host runs the VM from its domain XML, others from its
     * QEMU line: the VM needs the one of the host it is on. */
    at = limevi_vc_host(vc, vm->host);
    if (!vc_get(p, group, "qemu", !at->libvirt, &vm->qemu, error) ||
        !vc_get(p, group, "domain", at->libvirt != NULL, &vm->domain,
                error)) {
        return FALSE;
    }
    if (vm->qemu && !(argv = qemu_argv(vm, NULL, &local))) {
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

/* ---- Loading ---- */

static gboolean vc_read(VcParser *p, GError **error)
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

static gboolean vc_parse(VcParser *p, LimeviVc *vc, GError **error)
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
    return TRUE;
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
