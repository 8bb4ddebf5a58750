/*
 * The VC file: limevi_vc_load() reads every field of a good file, and
 * refuses each bad one with one line naming the file, line and key.
 */
#include <string.h>

#include <glib/gstdio.h>

#include "launch.h"
#include "vcfile.h"

/* Line numbers matter: the bad cases below refer to them. */
static const char valid_vc[] =
    "# A VC of two VMs on two LANs, on two sites.\n"          /*  1 */
    "[vc]\n"                                                  /*  2 */
    "name = vc1\n"                                            /*  3 */
    "lans = front;back\n"                                     /*  4 */
    "insecure = yes\n"                                        /*  5 */
    "[host a1]\n"                                             /*  6 */
    "site = A\n"                                              /*  7 */
    "address = 198.18.1.1\n"                                  /*  8 */
    "netns = lv-site-a\n"                                     /*  9 */
    "run-dir = /run/limevi/a1\n"                              /* 10 */
    "\n"                                                      /* 11 */
    "[host b1]\n"                                             /* 12 */
    "site = B\n"                                              /* 13 */
    "address = 198.18.2.1\n"                                  /* 14 */
    "run-dir = /run/limevi/b1\n"                              /* 15 */
    "\n"                                                      /* 16 */
    "[vm web]\n"                                              /* 17 */
    "host = a1\n"                                             /* 18 */
    "lan = front\n"                                           /* 19 */
    "mac = 52:54:00:18:00:0A\n"                               /* 20 */
    "memory = 256\n"                                          /* 21 */
    "port = 7001\n"                                           /* 22 */
    "qemu = /usr/bin/qemu-system-x86_64 -m ${memory} -name ${vm} "
    "-device virtio-net,mac=${mac} -append \"console=ttyS0 quiet\"\n"
                                                              /* 23 */
    "\n"                                                      /* 24 */
    "[vm db]\n"                                               /* 25 */
    "host = b1\n"                                             /* 26 */
    "lan = back\n"                                            /* 27 */
    "mac = 52:54:00:18:00:02\n"                               /* 28 */
    "memory = 512\n"                                          /* 29 */
    "# The same port as web's, on another host.\n"            /* 30 */
    "port = 7001\n"                                           /* 31 */
    "qemu = qemu-system-x86_64 -m ${memory}\n";               /* 32 */

typedef struct {
    const char *name;
    const char *find;           /* replaced once in valid_vc */
    const char *replace;
    gint code;
    const char *message;        /* after "FILE:" */
    gboolean prefix_only;       /* GLib's own wording follows @message */
} BadVc;

#define NO_KEY "the VC has no key: give 'key = FILE' (32 random bytes, " \
    "e.g. head -c 32 /dev/urandom > vc.key), or 'insecure = yes' to run " \
    "its tunnels unauthenticated"

static const BadVc bad_vcs[] = {
    { "libvirt-vm-without-domain", "run-dir = /run/limevi/b1\n",
      "run-dir = /run/limevi/b1\nlibvirt = qemu:///system\n",
      LIMEVI_ERROR_INVALID,
      "26: [vm db] key 'domain': required key is missing" },
    { "domain-file-missing", "qemu = qemu-system-x86_64 -m ${memory}\n",
      "qemu = q\ndomain = /nonexistent/db.xml\n",
      LIMEVI_ERROR_INVALID,
      "33: [vm db] key 'domain': no domain XML file /nonexistent/db.xml" },
    { "missing-key", "mac = 52:54:00:18:00:02\n", "",
      LIMEVI_ERROR_INVALID,
      "25: [vm db] key 'mac': required key is missing" },
    { "missing-vc-name", "name = vc1\n", "",
      LIMEVI_ERROR_INVALID,
      "2: [vc] key 'name': required key is missing" },
    { "empty-value", "site = B", "site =",
      LIMEVI_ERROR_INVALID,
      "13: [host b1] key 'site': must not be empty" },
    { "unknown-host", "host = b1", "host = c1",
      LIMEVI_ERROR_INVALID,
      "26: [vm db] key 'host': host 'c1' is not declared: "
      "there is no [host c1]" },
    { "duplicate-mac", "52:54:00:18:00:02", "52:54:00:18:00:0a",
      LIMEVI_ERROR_INVALID,
      "28: [vm db] key 'mac': MAC 52:54:00:18:00:0a is also [vm web]'s" },
    { "multicast-mac", "52:54:00:18:00:02", "01:00:5e:00:00:01",
      LIMEVI_ERROR_INVALID,
      "28: [vm db] key 'mac': 01:00:5e:00:00:01 is not a unicast address" },
    { "bad-mac", "52:54:00:18:00:02", "52:54:00:18:00",
      LIMEVI_ERROR_INVALID,
      "28: [vm db] key 'mac': expects a MAC address xx:xx:xx:xx:xx:xx, "
      "got '52:54:00:18:00'" },
    { "undeclared-lan", "lan = back", "lan = storage",
      LIMEVI_ERROR_INVALID,
      "27: [vm db] key 'lan': LAN 'storage' is not declared in [vc] lans" },
    { "duplicate-lan", "lans = front;back", "lans = front;back;front",
      LIMEVI_ERROR_INVALID,
      "4: [vc] key 'lans': LAN 'front' is listed twice" },
    { "bad-lan-name", "lans = front;back", "lans = front;b/ack",
      LIMEVI_ERROR_INVALID,
      "4: [vc] key 'lans': 'lans' may contain only letters, digits, '_', "
      "'.' and '-', got 'b/ack'" },
    { "unknown-key", "netns = lv-site-a", "netnz = lv-site-a",
      LIMEVI_ERROR_INVALID,
      "9: [host a1] key 'netnz': unknown key; "
      "known are site, address, netns, run-dir, libvirt" },
    { "unknown-group", "[host b1]", "[hots b1]",
      LIMEVI_ERROR_INVALID,
      "12: [hots b1]: unknown group; expected [vc], [host NAME], "
      "[vm NAME] or [gateway NAME]" },
    { "bad-vm-name", "[vm db]", "[vm d b]",
      LIMEVI_ERROR_INVALID,
      "25: [vm d b]: 'vm name' may contain only letters, digits, '_', '.' "
      "and '-', got 'd b'" },
    { "duplicate-group", "[vm db]", "[vm web]",
      LIMEVI_ERROR_INVALID,
      "25: [vm web]: group given twice, first at line 17" },
    { "duplicate-key", "memory = 512\n", "memory = 512\nmemory = 1024\n",
      LIMEVI_ERROR_INVALID,
      "30: [vm db] key 'memory': key given twice in the group, "
      "first at line 29" },
    { "bad-address", "198.18.2.1", "198.18.2",
      LIMEVI_ERROR_ENDPOINT,
      "14: [host b1] key 'address': expects an IPv4 address, "
      "got '198.18.2'" },
    { "ipv6-address", "198.18.2.1", "2001:db8::1",
      LIMEVI_ERROR_ENDPOINT,
      "14: [host b1] key 'address': expects an IPv4 address, "
      "got '2001:db8::1'" },
    { "duplicate-port", "host = b1", "host = a1",
      LIMEVI_ERROR_INVALID,
      "31: [vm db] key 'port': port 7001 on host a1 is also [vm web]'s" },
    { "bad-port", "port = 7001\nqemu = qemu", "port = 65536\nqemu = qemu",
      LIMEVI_ERROR_INVALID,
      "31: [vm db] key 'port': expects a UDP port from 1 to 65535, "
      "got '65536'" },
    { "memory-too-small", "memory = 512", "memory = 8",
      LIMEVI_ERROR_INVALID,
      "29: [vm db] key 'memory': expects MiB from 16 to 1048576, got '8'" },
    { "memory-not-a-number", "memory = 512", "memory = 512M",
      LIMEVI_ERROR_INVALID,
      "29: [vm db] key 'memory': expects MiB from 16 to 1048576, "
      "got '512M'" },
    { "qemu-qmp", "-m ${memory}\n", "-m ${memory} -qmp unix:/q,server\n",
      LIMEVI_ERROR_INVALID,
      "32: [vm db] key 'qemu': must not contain -qmp: limevi adds it" },
    { "qemu-incoming", "-m ${memory}\n", "-m ${memory} --incoming defer\n",
      LIMEVI_ERROR_INVALID,
      "32: [vm db] key 'qemu': must not contain -incoming: limevi adds it" },
    { "qemu-netdev-limevi", "-m ${memory}\n",
      "-m ${memory} -netdev limevi,id=n0\n",
      LIMEVI_ERROR_INVALID,
      "32: [vm db] key 'qemu': must not contain -netdev limevi: "
      "limevi adds it" },
    { "qemu-unknown-variable", "-m ${memory}\n", "-m ${memory} ${disk}\n",
      LIMEVI_ERROR_INVALID,
      "32: [vm db] key 'qemu': unknown variable '${disk}'; known are "
      "${memory}, ${vm}, ${mac}, ${host}, ${site} and ${run_dir}" },
    { "qemu-bad-quoting", "-m ${memory}\n", "-m ${memory} -append \"x\n",
      LIMEVI_ERROR_INVALID,
      "32: [vm db] key 'qemu': ", TRUE },
    { "syntax-error", "memory = 256\n", "memory = 256\nthis is not a key\n",
      LIMEVI_ERROR_INVALID,
      "22: Key file contains line “this is not a key”", TRUE },
    { "key-missing-file", "insecure = yes\n", "key = no-such.key\n",
      LIMEVI_ERROR_INVALID,
      "5: [vc] key 'key': ", TRUE },
    { "key-empty", "insecure = yes\n", "key =\n",
      LIMEVI_ERROR_INVALID,
      "5: [vc] key 'key': must not be empty; leave the key out instead" },
    { "insecure-not-yes-or-no", "insecure = yes\n", "insecure = on\n",
      LIMEVI_ERROR_INVALID,
      "5: [vc] key 'insecure': expects yes or no, got 'on'" },
    { "neither-key-nor-insecure", "insecure = yes\n", "# no key\n",
      LIMEVI_ERROR_INVALID, "2: [vc]: " NO_KEY },
    { "insecure-no", "insecure = yes\n", "insecure = no\n",
      LIMEVI_ERROR_INVALID, "2: [vc]: " NO_KEY },
    { "no-vc", "[vc]\nname = vc1\nlans = front;back\ninsecure = yes\n", "",
      LIMEVI_ERROR_INVALID,
      " there is no [vc] group" },
#define DB_QEMU "qemu = qemu-system-x86_64 -m ${memory}\n"
    { "disk-without-size", DB_QEMU, DB_QEMU "disks = /srv/db.qcow2\n",
      LIMEVI_ERROR_INVALID,
      "33: [vm db] key 'disks': disk 1: expects PATH,SIZE, got "
      "'/srv/db.qcow2'" },
    { "disk-size-not-a-size", DB_QEMU,
      DB_QEMU "disks = /srv/a.qcow2,1G; /srv/b.qcow2,12X\n",
      LIMEVI_ERROR_INVALID,
      "33: [vm db] key 'disks': disk 2: expects a size from 1M to 16T, a "
      "multiple of 512 bytes (K, M, G, T: binary), got '12X'" },
    { "disk-size-too-small", DB_QEMU, DB_QEMU "disks = /srv/a.qcow2,64K\n",
      LIMEVI_ERROR_INVALID,
      "33: [vm db] key 'disks': disk 1: expects a size from 1M to 16T, a "
      "multiple of 512 bytes (K, M, G, T: binary), got '64K'" },
    { "disk-size-not-sectors", DB_QEMU,
      DB_QEMU "disks = /srv/a.qcow2,1048577\n",
      LIMEVI_ERROR_INVALID,
      "33: [vm db] key 'disks': disk 1: expects a size from 1M to 16T, a "
      "multiple of 512 bytes (K, M, G, T: binary), got '1048577'" },
    { "disk-relative-path", DB_QEMU, DB_QEMU "disks = db.qcow2,1G\n",
      LIMEVI_ERROR_INVALID,
      "33: [vm db] key 'disks': disk 1: expects an absolute path (or one "
      "under ${run_dir}), got 'db.qcow2'" },
    { "disk-unknown-variable", DB_QEMU,
      DB_QEMU "disks = ${dir}/db.qcow2,1G\n",
      LIMEVI_ERROR_INVALID,
      "33: [vm db] key 'disks': disk 1: unknown variable '${dir}'; known "
      "are ${memory}, ${vm}, ${mac}, ${host}, ${site} and ${run_dir}" },
    { "disk-twice", DB_QEMU,
      DB_QEMU "disks = ${run_dir}/${vm}.qcow2,1G;/RUN-DIR/db.qcow2,2G\n",
      LIMEVI_ERROR_INVALID,
      "33: [vm db] key 'disks': disk 2: /RUN-DIR/db.qcow2 is also this "
      "[vm db]'s disk 1" },
#undef DB_QEMU
};

static char *tmp_dir;

/* Writes @text to a new file of the temporary directory. */
static char *write_vc(const char *name, const char *text)
{
    g_autofree char *base = g_strconcat(name, ".conf", NULL);
    char *path = g_build_filename(tmp_dir, base, NULL);
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, text, -1, &error);
    g_assert_no_error(error);
    return path;
}

static char *replace_in(const char *text, const char *find,
                        const char *replace)
{
    const char *at = strstr(text, find);

    g_assert_nonnull(at);
    g_assert_null(strstr(at + 1, find));
    return g_strdup_printf("%.*s%s%s", (int)(at - text), text,
                           replace, at + strlen(find));
}

static char *replace_once(const char *find, const char *replace)
{
    return replace_in(valid_vc, find, replace);
}

static void test_rejects(gconstpointer data)
{
    const BadVc *bad = data;
    g_autofree char *text = replace_once(bad->find, bad->replace);
    g_autofree char *path = write_vc(bad->name, text);
    g_autofree char *expected = g_strdup_printf("%s:%s", path,
                                                bad->message);
    g_autoptr(GError) error = NULL;

    g_assert_null(limevi_vc_load(path, &error));
    g_assert_error(error, LIMEVI_ERROR, bad->code);
    g_assert_null(strchr(error->message, '\n'));
    if (bad->prefix_only) {
        g_assert_true(g_str_has_prefix(error->message, expected));
    } else {
        g_assert_cmpstr(error->message, ==, expected);
    }
    g_unlink(path);
}

static void test_missing_file(void)
{
    g_autofree char *path = g_build_filename(tmp_dir, "missing.conf", NULL);
    g_autofree char *expected = g_strdup_printf(
        "%s: No such file or directory", path);
    g_autoptr(GError) error = NULL;

    g_assert_null(limevi_vc_load(path, &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==, expected);
}

static void test_no_vm(void)
{
    static const char text[] =
        "[vc]\nname = vc1\nlans = front\n"
        "[host a1]\nsite = A\naddress = 198.18.0.1\nrun-dir = /run\n";
    g_autofree char *path = write_vc("no-vm", text);
    g_autofree char *expected = g_strdup_printf(
        "%s: there is no [vm NAME] group; a VC needs a VM", path);
    g_autoptr(GError) error = NULL;

    g_assert_null(limevi_vc_load(path, &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==, expected);
    g_unlink(path);
}

static void test_valid(void)
{
    g_autofree char *path = write_vc("valid", valid_vc);
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviVc) vc = limevi_vc_load(path, &error);
    const char *const lans[] = { "front", "back", NULL };
    LimeviVcHost *host;
    LimeviVcVm *vm;

    g_assert_no_error(error);
    g_assert_nonnull(vc);
    g_assert_cmpstr(vc->path, ==, path);
    g_assert_cmpstr(vc->name, ==, "vc1");
    g_assert_true(g_strv_equal((const char *const *)vc->lans, lans));

    g_assert_cmpuint(vc->hosts->len, ==, 2);
    host = vc->hosts->pdata[0];
    g_assert_cmpstr(host->name, ==, "a1");
    g_assert_cmpstr(host->site, ==, "A");
    g_assert_cmpstr(host->address, ==, "198.18.1.1");
    g_assert_cmpstr(host->netns, ==, "lv-site-a");
    g_assert_cmpstr(host->run_dir, ==, "/run/limevi/a1");
    host = vc->hosts->pdata[1];
    g_assert_cmpstr(host->name, ==, "b1");
    g_assert_cmpstr(host->site, ==, "B");
    g_assert_cmpstr(host->address, ==, "198.18.2.1");
    g_assert_null(host->netns);
    g_assert_cmpstr(host->run_dir, ==, "/run/limevi/b1");

    g_assert_cmpuint(vc->vms->len, ==, 2);
    vm = vc->vms->pdata[0];
    g_assert_cmpstr(vm->name, ==, "web");
    g_assert_cmpstr(vm->host, ==, "a1");
    g_assert_cmpstr(vm->lan, ==, "front");
    /* MACs are kept in lower case, so they compare as strings. */
    g_assert_cmpstr(vm->mac, ==, "52:54:00:18:00:0a");
    g_assert_cmpuint(vm->memory, ==, 256);
    g_assert_cmpuint(vm->port, ==, 7001);
    g_assert_true(g_str_has_prefix(vm->qemu, "/usr/bin/qemu-system-x86_64 "));
    vm = vc->vms->pdata[1];
    g_assert_cmpstr(vm->name, ==, "db");
    g_assert_cmpstr(vm->host, ==, "b1");
    g_assert_cmpstr(vm->lan, ==, "back");
    g_assert_cmpstr(vm->mac, ==, "52:54:00:18:00:02");
    g_assert_cmpuint(vm->memory, ==, 512);
    g_assert_cmpuint(vm->port, ==, 7001);
    g_assert_cmpstr(vm->qemu, ==, "qemu-system-x86_64 -m ${memory}");
    g_unlink(path);
}

/* Disks: PATH,SIZE in file order, the path as written (expanded per
 * host when used), sizes in bytes. */
static void test_valid_disks(void)
{
    g_autofree char *text = replace_once(
        "qemu = qemu-system-x86_64 -m ${memory}\n",
        "qemu = qemu-system-x86_64 -m ${memory}\n"
        "disks = ${run_dir}/${vm}.qcow2,64M; /srv/db-logs.qcow2 , 1G ;\n");
    g_autofree char *path = write_vc("valid-disks", text);
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviVc) vc = limevi_vc_load(path, &error);
    LimeviVcVm *db;
    LimeviVcDisk *disk;

    g_assert_no_error(error);
    g_assert_cmpuint(((LimeviVcVm *)vc->vms->pdata[0])->disks->len, ==, 0);
    db = vc->vms->pdata[1];
    g_assert_cmpuint(db->disks->len, ==, 2);
    disk = db->disks->pdata[0];
    g_assert_cmpstr(disk->path, ==, "${run_dir}/${vm}.qcow2");
    g_assert_cmpuint(disk->size, ==, 64 << 20);
    disk = db->disks->pdata[1];
    g_assert_cmpstr(disk->path, ==, "/srv/db-logs.qcow2");
    g_assert_cmpuint(disk->size, ==, 1 << 30);
    g_unlink(path);
}

static void test_lookups(void)
{
    g_autofree char *path = write_vc("lookups", valid_vc);
    g_autoptr(LimeviVc) vc = limevi_vc_load(path, NULL);
    g_autoptr(GPtrArray) at_a = NULL;
    g_autoptr(GPtrArray) at_c = NULL;

    g_assert_nonnull(vc);
    g_assert_true(limevi_vc_host(vc, "b1") == vc->hosts->pdata[1]);
    g_assert_null(limevi_vc_host(vc, "c1"));
    g_assert_true(limevi_vc_vm(vc, "db") == vc->vms->pdata[1]);
    g_assert_null(limevi_vc_vm(vc, "a1"));

    at_a = limevi_vc_hosts_at_site(vc, "A");
    g_assert_cmpuint(at_a->len, ==, 1);
    g_assert_true(at_a->pdata[0] == vc->hosts->pdata[0]);
    at_c = limevi_vc_hosts_at_site(vc, "C");
    g_assert_cmpuint(at_c->len, ==, 0);
    g_unlink(path);
}

static void test_qemu_argv(void)
{
    g_autofree char *path = write_vc("qemu-argv", valid_vc);
    g_autoptr(LimeviVc) vc = limevi_vc_load(path, NULL);
    const char *const expected[] = {
        "/usr/bin/qemu-system-x86_64", "-m", "256", "-name", "web",
        "-device", "virtio-net,mac=52:54:00:18:00:0a",
        "-append", "console=ttyS0 quiet", NULL
    };
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *message = NULL;
    LimeviVcVm *vm;

    g_assert_nonnull(vc);
    vm = limevi_vc_vm(vc, "web");
    argv = limevi_vc_vm_qemu_argv(vc, vm, NULL, &error);
    g_assert_no_error(error);
    g_assert_true(g_strv_equal((const char *const *)argv, expected));

    /* A line changed after loading is checked again. */
    g_free(vm->qemu);
    vm->qemu = g_strdup("qemu -incoming tcp:0:4444");
    g_assert_null(limevi_vc_vm_qemu_argv(vc, vm, NULL, &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    message = g_strdup_printf("%s: [vm web] key 'qemu': must not contain "
                              "-incoming: limevi adds it", path);
    g_assert_cmpstr(error->message, ==, message);
    g_unlink(path);
}

/* The argv entry after the first @flag, or NULL. */
static const char *arg_after(char **argv, const char *flag)
{
    for (guint i = 0; argv[i] && argv[i + 1]; i++) {
        if (g_str_equal(argv[i], flag)) {
            return argv[i + 1];
        }
    }
    return NULL;
}

static void assert_load_fails(const char *name, const char *text,
                              const char *message)
{
    g_autofree char *path = write_vc(name, text);
    g_autofree char *expected = g_strdup_printf("%s:%s", path, message);
    g_autoptr(GError) error = NULL;

    g_assert_null(limevi_vc_load(path, &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==, expected);
    g_unlink(path);
}

/* @keyed (a VC with "key = vc1.key" at line 5) may not say insecure too;
 * and the missing key is named only once the file has no other error. */
static void assert_key_xor_insecure(const char *keyed)
{
    g_autofree char *both = replace_in(keyed, "key = vc1.key\n",
                                       "key = vc1.key\ninsecure = yes\n");
    g_autofree char *keyless = replace_once("insecure = yes\n", "\n");
    g_autofree char *bad_memory = replace_in(keyless, "memory = 512",
                                             "memory = 8");

    assert_load_fails("key-and-insecure", both,
                      "6: [vc] key 'insecure': a VC with a key is not "
                      "insecure; leave out one of 'key' and 'insecure'");
    assert_load_fails("keyless-bad-memory", bad_memory,
                      "29: [vm db] key 'memory': expects MiB from 16 to "
                      "1048576, got '8'");
    assert_load_fails("keyless", keyless, "2: [vc]: " NO_KEY);
}

/*
 * "key = FILE" (relative to the VC file) gives every netdev the key
 * through a secret object; "insecure = yes" gives it insecure=on, and a
 * VC file with neither is refused.  A file
 * that holds no key is the VC file's error, at the key's line.
 */
static void test_key(void)
{
    static const char hex[] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    g_autofree char *key_path = g_build_filename(tmp_dir, "vc1.key", NULL);
    g_autofree char *text = replace_once("insecure = yes\n",
                                         "key = vc1.key\n");
    g_autofree char *path = NULL, *plain_path = NULL, *netdev = NULL;
    g_autofree char *object = NULL, *message = NULL;
    g_autoptr(LimeviVc) vc = NULL;
    g_autoptr(LimeviVc) plain = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    LimeviVcVm *web;

    g_file_set_contents(key_path, hex, -1, &error);
    g_assert_no_error(error);
    path = write_vc("key", text);
    vc = limevi_vc_load(path, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(vc->key, ==, key_path);
    web = limevi_vc_vm(vc, "web");
    netdev = limevi_launch_netdev(vc, web, limevi_vc_host(vc, "a1"));
    g_assert_true(g_str_has_suffix(netdev, ",key-secret=limevi-key"));
    g_assert_null(strstr(netdev, "insecure"));
    argv = limevi_launch_argv(vc, web, limevi_vc_host(vc, "a1"), FALSE,
                              &error);
    g_assert_no_error(error);
    object = g_strdup_printf("secret,id=limevi-key,file=%s", key_path);
    g_assert_cmpstr(arg_after(argv, "-object"), ==, object);
    g_clear_pointer(&netdev, g_free);
    g_clear_pointer(&argv, g_strfreev);

    plain_path = write_vc("no-key", valid_vc);
    plain = limevi_vc_load(plain_path, &error);
    g_assert_no_error(error);
    g_assert_null(plain->key);
    web = limevi_vc_vm(plain, "web");
    netdev = limevi_launch_netdev(plain, web, limevi_vc_host(plain, "a1"));
    g_assert_true(g_str_has_suffix(netdev, ",insecure=on"));
    argv = limevi_launch_argv(plain, web, limevi_vc_host(plain, "a1"),
                              FALSE, &error);
    g_assert_no_error(error);
    g_assert_null(arg_after(argv, "-object"));
    assert_key_xor_insecure(text);

    /* 31 bytes and a newline are no key. */
    g_file_set_contents(key_path, hex + 2, -1, &error);
    g_assert_no_error(error);
    g_clear_pointer(&vc, limevi_vc_free);
    g_assert_null(limevi_vc_load(path, &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    g_assert_null(strchr(error->message, '\n'));
    message = g_strdup_printf("%s:5: [vc] key 'key': ", path);
    g_assert_true(g_str_has_prefix(error->message, message));
    g_unlink(key_path);
    g_unlink(path);
    g_unlink(plain_path);
}

/* scripts/tls-certs.sh DIR vc1 ADDRESSES...: certificates as users
 * make them. */
static void make_certs(const char *dir, const char *addresses)
{
    g_autofree char *cmd = g_strdup_printf("%s %s vc1 %s",
                                           g_getenv("LIMEVI_TLS_CERTS"),
                                           dir, addresses);
    g_autoptr(GError) error = NULL;
    int status;

    g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, &status,
                                            &error));
    g_assert_no_error(error);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
}

/* The VC file at @path refuses to load with "PATH:5: [vc] key 'tls': "
 * and then @what. */
static void assert_tls_refused(const char *path, const char *what)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *prefix = g_strdup_printf("%s:5: [vc] key 'tls': ",
                                              path);

    g_assert_null(limevi_vc_load(path, &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    g_test_message("%s", error->message);
    g_assert_null(strchr(error->message, '\n'));
    g_assert_true(g_str_has_prefix(error->message, prefix));
    g_assert_nonnull(strstr(error->message, what));
}

/*
 * "tls = DIR" (relative to the VC file): a destination QEMU gets the
 * server's tls-creds-x509 object of DIR, a QEMU that is no destination
 * none.  A missing directory, a missing or bad file, or a server
 * certificate that does not name every host's address is the VC file's
 * one error, naming the file.
 */
static void test_tls(void)
{
    g_autofree char *dir = g_build_filename(tmp_dir, "tls", NULL);
    g_autofree char *text = replace_once("lans = front;back\n",
                                         "lans = front;back\n"
                                         "tls = tls\n");
    g_autofree char *path = write_vc("tls", text);
    g_autofree char *object = NULL, *file = NULL, *cmd = NULL;
    g_autoptr(LimeviVc) vc = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = NULL;
    const LimeviVcVm *web;

    assert_tls_refused(path, "is not a directory of certificates");
    make_certs(dir, "198.18.1.1 198.18.2.1");
    vc = limevi_vc_load(path, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(vc->tls, ==, dir);
    web = limevi_vc_vm(vc, "web");
    argv = limevi_launch_argv(vc, web, limevi_vc_host(vc, "b1"), TRUE,
                              &error);
    g_assert_no_error(error);
    object = g_strdup_printf("tls-creds-x509,id=limevi-tls-server,dir=%s,"
                             "endpoint=server,verify-peer=on", dir);
    g_assert_true(g_strv_contains((const char *const *)argv, object));
    g_clear_pointer(&argv, g_strfreev);
    argv = limevi_launch_argv(vc, web, limevi_vc_host(vc, "a1"), FALSE,
                              &error);
    g_assert_false(g_strv_contains((const char *const *)argv, object));

    file = g_build_filename(dir, "server-cert.pem", NULL);
    g_file_set_contents(file, "-----BEGIN CERTIFICATE-----\nnot one\n"
                        "-----END CERTIFICATE-----\n", -1, &error);
    g_assert_no_error(error);
    assert_tls_refused(path, "server-cert.pem: not a PEM certificate");
    g_unlink(file);
    assert_tls_refused(path, "server-cert.pem");

    /* Certificates for another VC's hosts: b1 is not named. */
    make_certs(dir, "198.18.1.1");
    assert_tls_refused(path, "server-cert.pem does not name host b1's "
                       "address 198.18.2.1");

    cmd = g_strdup_printf("rm -r %s", dir);
    g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
    g_unlink(path);
}

int main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);

    tmp_dir = g_dir_make_tmp("test-vcfile-XXXXXX", &error);
    g_assert_no_error(error);

    g_test_add_func("/vcfile/accepts/valid", test_valid);
    g_test_add_func("/vcfile/accepts/disks", test_valid_disks);
    g_test_add_func("/vcfile/lookups", test_lookups);
    g_test_add_func("/vcfile/qemu-argv", test_qemu_argv);
    g_test_add_func("/vcfile/key", test_key);
    g_test_add_func("/vcfile/tls", test_tls);
    for (gsize i = 0; i < G_N_ELEMENTS(bad_vcs); i++) {
        g_autofree char *path = g_strdup_printf("/vcfile/rejects/%s",
                                                bad_vcs[i].name);

        g_test_add_data_func(path, &bad_vcs[i], test_rejects);
    }
    g_test_add_func("/vcfile/rejects/missing-file", test_missing_file);
    g_test_add_func("/vcfile/rejects/no-vm", test_no_vm);
    ret = g_test_run();

    g_rmdir(tmp_dir);
    g_free(tmp_dir);
    return ret;
}
