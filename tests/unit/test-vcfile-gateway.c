/*
 * [gateway NAME] in the VC file: every field read, the gateway's own
 * option checks applied at load with the file's line, and the routes of
 * the VMs of its LAN passed to it and to them.
 */
#include <string.h>

#include <glib/gstdio.h>

#include "launch.h"
#include "vcfile.h"

/* Line numbers matter: the bad cases below refer to them. */
static const char base_vc[] =
    "[vc]\n"                                                  /*  1 */
    "name = vc1\n"                                            /*  2 */
    "lans = front;back\n"                                     /*  3 */
    "insecure = yes\n"                                        /*  4 */
    "[host a1]\n"                                             /*  5 */
    "site = A\n"                                              /*  6 */
    "address = 198.18.1.1\n"                                  /*  7 */
    "run-dir = /run/limevi/a1\n"                              /*  8 */
    "[host b1]\n"                                             /*  9 */
    "site = B\n"                                              /* 10 */
    "address = 198.18.2.1\n"                                  /* 11 */
    "run-dir = /run/limevi/b1\n"                              /* 12 */
    "[vm web]\n"                                              /* 13 */
    "host = a1\n"                                             /* 14 */
    "lan = front\n"                                           /* 15 */
    "mac = 52:54:00:18:00:0a\n"                               /* 16 */
    "memory = 128\n"                                          /* 17 */
    "port = 7001\n"                                           /* 18 */
    "qemu = qemu-system-x86_64 -m ${memory}\n"                /* 19 */
    "[vm db]\n"                                               /* 20 */
    "host = b1\n"                                             /* 21 */
    "lan = front\n"                                           /* 22 */
    "mac = 52:54:00:18:00:0b\n"                               /* 23 */
    "memory = 128\n"                                          /* 24 */
    "port = 7002\n"                                           /* 25 */
    "qemu = qemu-system-x86_64 -m ${memory}\n"                /* 26 */
    "[gateway gw]\n"                                          /* 27 */
    "host = a1\n"                                             /* 28 */
    "lan = front\n"                                           /* 29 */
    "port = 7050\n"                                           /* 30 */
    "net = 198.19.0.0/24\n"                                   /* 31 */
    "dns-names = files.example=198.19.0.2\n"                  /* 32 */
    "forwards = tcp:198.18.1.1:8080-198.19.0.15:80;"
    "udp::5353-198.19.0.16:53\n";                             /* 33 */

typedef struct {
    const char *name;
    const char *find;           /* replaced once in base_vc */
    const char *replace;
    const char *message;        /* after "FILE:", a prefix */
} BadGateway;

static const BadGateway bad_gateways[] = {
    { "second-on-a-lan", "udp::5353-198.19.0.16:53\n",
      "udp::5353-198.19.0.16:53\n[gateway gw2]\nhost = b1\nlan = front\n"
      "port = 7051\nnet = 198.19.1.0/24\n",
      "36: [gateway gw2] key 'lan': LAN 'front' already has gateway 'gw'" },
    { "forward-outside-the-lan", "198.19.0.15:80", "198.20.0.15:80",
      "33: [gateway gw] key 'forwards': '--forward'" },
    { "malformed-forward", "udp::5353-198.19.0.16:53", "udp:5353",
      "33: [gateway gw] key 'forwards': '--forward'" },
    { "bad-net", "net = 198.19.0.0/24", "net = 198.19.0.0/33",
      "31: [gateway gw] key 'net': '--net'" },
    { "bad-dns-name", "files.example=198.19.0.2", "files.example",
      "32: [gateway gw] key 'dns-names': '--dns-name'" },
    { "name-of-a-vm", "[gateway gw]", "[gateway db]",
      "27: [gateway db]: 'db' is also a [vm db]" },
    { "unknown-host", "host = a1\nlan = front\nport = 7050",
      "host = c1\nlan = front\nport = 7050",
      "28: [gateway gw] key 'host': host 'c1' is not declared" },
    { "unknown-lan", "lan = front\nport = 7050", "lan = side\nport = 7050",
      "29: [gateway gw] key 'lan': LAN 'side' is not declared" },
    { "port-of-a-vm", "port = 7050", "port = 7001",
      "30: [gateway gw] key 'port': port 7001 on host a1 is also "
      "[vm web]'s" },
    { "missing-net", "net = 198.19.0.0/24\n", "",
      "27: [gateway gw] key 'net': required key is missing" },
    { "unknown-key", "net = 198.19.0.0/24\n",
      "net = 198.19.0.0/24\nnat = on\n",
      "32: [gateway gw] key 'nat': unknown key" },
};

static char *tmp_dir;

static char *write_vc(const char *name, const char *text)
{
    g_autofree char *file = g_strdup_printf("%s.conf", name);
    char *path = g_build_filename(tmp_dir, file, NULL);

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    return path;
}

static void test_valid(void)
{
    g_autofree char *path = write_vc("valid", base_vc);
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviVc) vc = limevi_vc_load(path, &error);
    g_autoptr(GPtrArray) args = NULL;
    g_autofree char *joined = NULL;
    g_autofree char *netdev = NULL;
    LimeviVcGateway *gw;

    g_assert_no_error(error);
    g_assert_cmpuint(vc->gateways->len, ==, 1);
    gw = vc->gateways->pdata[0];
    g_assert_true(limevi_vc_lan_gateway(vc, "front") == gw);
    g_assert_null(limevi_vc_lan_gateway(vc, "back"));
    g_assert_cmpstr(gw->host, ==, "a1");
    g_assert_cmpuint(gw->port, ==, 7050);
    g_assert_cmpuint(g_strv_length(gw->forwards), ==, 2);
    g_assert_cmpstr(gw->forwards[1], ==, "udp::5353-198.19.0.16:53");

    /* The gateway reaches each VM of its LAN where it runs... */
    args = limevi_vc_gateway_args(vc, gw, "/run/limevi/a1/gw.ctl");
    g_ptr_array_add(args, NULL);
    joined = g_strjoinv(" ", (char **)args->pdata);
    g_assert_cmpstr(joined, ==,
                    "--vm gw --vc vc1 --lan front --listen 198.18.1.1:7050 "
                    "--route web=198.18.1.1:7001 --route db=198.18.2.1:7002 "
                    "--net 198.19.0.0/24 --dns-name files.example=198.19.0.2 "
                    "--forward tcp:198.18.1.1:8080-198.19.0.15:80 "
                    "--forward udp::5353-198.19.0.16:53 "
                    "--control /run/limevi/a1/gw.ctl --insecure");
    /* ... and each VM reaches it. */
    netdev = limevi_launch_netdev(vc, vc->vms->pdata[1],
                                  limevi_vc_host(vc, "b1"));
    g_assert_true(g_str_has_suffix(netdev, ",routes.1.vm=gw,"
                                   "routes.1.endpoint=198.18.1.1:7050,"
                                   "insecure=on"));
    g_unlink(path);
}

/* With the VC's key the gateway gets the same key, and no --insecure. */
static void test_key(void)
{
    g_autofree char *key = g_build_filename(tmp_dir, "vc1.key", NULL);
    const char *insecure = strstr(base_vc, "insecure = yes\n");
    g_autofree char *text = g_strdup_printf(
        "%.*skey = vc1.key\n%s", (int)(insecure - base_vc), base_vc,
        insecure + strlen("insecure = yes\n"));
    g_autofree char *path = write_vc("key", text);
    g_autoptr(GError) error = NULL;
    g_autoptr(LimeviVc) vc = NULL;
    g_autoptr(GPtrArray) args = NULL;
    g_autofree char *joined = NULL;
    g_autofree char *tail = NULL;

    g_assert_true(g_file_set_contents(key, "000102030405060708090a0b0c0d0e0f"
                                      "101112131415161718191a1b1c1d1e1f",
                                      -1, NULL));
    vc = limevi_vc_load(path, &error);
    g_assert_no_error(error);
    args = limevi_vc_gateway_args(vc, vc->gateways->pdata[0], NULL);
    g_ptr_array_add(args, NULL);
    joined = g_strjoinv(" ", (char **)args->pdata);
    tail = g_strdup_printf(" --key-file %s", key);
    g_assert_true(g_str_has_suffix(joined, tail));
    g_assert_null(strstr(joined, "--insecure"));
    g_unlink(path);
    g_unlink(key);
}

static void test_rejects(gconstpointer data)
{
    const BadGateway *bad = data;
    const char *at = strstr(base_vc, bad->find);
    g_autofree char *text = NULL;
    g_autofree char *path = NULL;
    g_autofree char *expected = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_nonnull(at);
    g_assert_null(strstr(at + 1, bad->find));
    text = g_strdup_printf("%.*s%s%s", (int)(at - base_vc), base_vc,
                           bad->replace, at + strlen(bad->find));
    path = write_vc(bad->name, text);
    expected = g_strdup_printf("%s:%s", path, bad->message);
    g_assert_null(limevi_vc_load(path, &error));
    g_assert_error(error, LIMEVI_ERROR, LIMEVI_ERROR_INVALID);
    g_assert_null(strchr(error->message, '\n'));
    if (!g_str_has_prefix(error->message, expected)) {
        g_test_message("got: %s", error->message);
    }
    g_assert_true(g_str_has_prefix(error->message, expected));
    g_unlink(path);
}

int main(int argc, char **argv)
{
    int status;

    g_test_init(&argc, &argv, NULL);
    tmp_dir = g_dir_make_tmp("limevi-vcgw-XXXXXX", NULL);
    g_test_add_func("/vcfile/gateway/accepts/valid", test_valid);
    g_test_add_func("/vcfile/gateway/accepts/key", test_key);
    for (guint i = 0; i < G_N_ELEMENTS(bad_gateways); i++) {
        g_autofree char *name = g_strdup_printf("/vcfile/gateway/rejects/%s",
                                                bad_gateways[i].name);

        g_test_add_data_func(name, &bad_gateways[i], test_rejects);
    }
    status = g_test_run();
    g_rmdir(tmp_dir);
    g_free(tmp_dir);
    return status;
}
