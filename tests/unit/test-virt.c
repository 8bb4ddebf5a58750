/*
 * The domain XML limevi gives libvirt: the operator's template with the
 * VC file's variables, the same UUID on every host, and the NIC, the
 * limevi netdev and our QMP socket for the host it runs on.
 */
#include <string.h>

#include <glib/gstdio.h>

#include "virt.h"

static char *dir;

static const char template_xml[] =
    "<domain type='qemu'>\n  <name>${vm}</name>\n"
    "  <memory unit='MiB'>${memory}</memory>\n"
    "  <devices><serial type='file'><source path='${run_dir}/${vm}.log'/>"
    "</serial></devices>\n</domain>\n";

static LimeviVc *load_vc(const char *domain_text)
{
    g_autofree char *vc_path = g_build_filename(dir, "vc.conf", NULL);
    g_autofree char *xml_path = g_build_filename(dir, "web.xml", NULL);
    g_autofree char *text = g_strdup_printf(
        "[vc]\nname = vc1\nlans = front\ninsecure = yes\n\n"
        "[host a1]\nsite = A\naddress = 198.18.1.1\nrun-dir = %s/a1\n"
        "libvirt = qemu:///system\n\n"
        "[host b1]\nsite = B\naddress = 198.18.2.1\nrun-dir = %s/b1\n"
        "libvirt = qemu:///system\n\n"
        "[vm web]\nhost = a1\nlan = front\nmac = 52:54:00:18:00:0a\n"
        "memory = 256\nport = 7001\ndomain = web.xml\n\n"
        "[vm db]\nhost = b1\nlan = front\nmac = 52:54:00:18:00:0b\n"
        "memory = 512\nport = 7002\ndomain = web.xml\n", dir, dir);
    g_autoptr(GError) error = NULL;
    LimeviVc *vc;

    g_assert_true(g_file_set_contents(xml_path, domain_text, -1, NULL));
    g_assert_true(g_file_set_contents(vc_path, text, -1, NULL));
    vc = limevi_vc_load(vc_path, &error);
    g_assert_no_error(error);
    return vc;
}

static char *between(const char *text, const char *open, const char *close)
{
    const char *a = strstr(text, open);
    const char *b = a ? strstr(a + strlen(open), close) : NULL;

    g_assert_nonnull(b);
    return g_strndup(a + strlen(open), b - a - strlen(open));
}

static void test_xml_per_host(void)
{
    g_autoptr(LimeviVc) vc = load_vc(template_xml);
    LimeviVcVm *web = limevi_vc_vm(vc, "web");
    g_autoptr(GError) error = NULL;
    g_autofree char *src = limevi_virt_domain_xml(
        vc, web, limevi_vc_host(vc, "a1"), &error);
    g_autofree char *dst = limevi_virt_domain_xml(
        vc, web, limevi_vc_host(vc, "b1"), &error);
    g_autofree char *uuid = NULL, *run_log = NULL;

    g_assert_no_error(error);
    g_assert_nonnull(strstr(src, "<name>web</name>"));
    g_assert_nonnull(strstr(src, "<memory unit='MiB'>256</memory>"));
    run_log = g_strdup_printf("%s/a1/web.log", dir);
    g_assert_nonnull(strstr(src, run_log));
    /* libvirt takes the destination only with the source's UUID. */
    uuid = between(src, "<uuid>", "</uuid>");
    g_assert_true(g_uuid_string_is_valid(uuid));
    g_assert_nonnull(strstr(dst, uuid));
    /* Each listens on its own host's address, routes to db where it is;
     * neither gates (the source's switchover-hold holds the migration). */
    g_assert_nonnull(strstr(src, "listen=198.18.1.1:7001,routes.0.vm=db,"
                                 "routes.0.endpoint=198.18.2.1:7002,"
                                 "insecure=on'"));
    g_assert_nonnull(strstr(dst, "listen=198.18.2.1:7001,"));
    g_assert_null(strstr(src, "gate=on"));
    g_assert_null(strstr(dst, "gate=on"));
    g_assert_nonnull(strstr(src, "mac=52:54:00:18:00:0a"));
    {
        g_autofree char *qmp = g_strdup_printf(
            "<qemu:arg value='unix:%s/b1/web.qmp,server=on,wait=off'/>",
            dir);

        g_assert_nonnull(strstr(dst, qmp));
    }
    g_assert_true(g_str_has_suffix(src, "</qemu:commandline>\n</domain>\n"));
    /* Another VM, another UUID. */
    {
        g_autofree char *db = limevi_virt_domain_xml(
            vc, limevi_vc_vm(vc, "db"), limevi_vc_host(vc, "b1"), &error);
        g_autofree char *db_uuid = between(db, "<uuid>", "</uuid>");

        g_assert_cmpstr(db_uuid, !=, uuid);
    }
}

static void test_xml_keeps_its_uuid(void)
{
    g_autoptr(LimeviVc) vc = load_vc(
        "<domain type='qemu'><uuid>0c3d9a46-1111-4a5b-8c3d-000000000001"
        "</uuid><name>${vm}</name></domain>");
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = limevi_virt_domain_xml(
        vc, limevi_vc_vm(vc, "web"), limevi_vc_host(vc, "a1"), &error);
    const char *first;

    g_assert_no_error(error);
    first = strstr(xml, "<uuid>");
    g_assert_nonnull(first);
    g_assert_null(strstr(first + 1, "<uuid>"));
}

static void test_xml_refuses_bad_templates(void)
{
    const char *bad[] = {
        "not xml at all",
        "<domain type='qemu'><name>${vmm}</name></domain>",
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(LimeviVc) vc = load_vc(bad[i]);
        g_autoptr(GError) error = NULL;
        g_autofree char *xml = limevi_virt_domain_xml(
            vc, limevi_vc_vm(vc, "web"), limevi_vc_host(vc, "a1"), &error);

        g_assert_null(xml);
        g_assert_nonnull(error);
        g_test_message("%s", error->message);
        g_assert_nonnull(strstr(error->message, "[vm web]"));
    }
}

int main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);
    dir = g_dir_make_tmp("limevi-virt-XXXXXX", &error);
    g_assert_no_error(error);
    g_test_add_func("/virt/domain-xml/per-host", test_xml_per_host);
    g_test_add_func("/virt/domain-xml/keeps-its-uuid",
                    test_xml_keeps_its_uuid);
    g_test_add_func("/virt/domain-xml/refuses-bad-templates",
                    test_xml_refuses_bad_templates);
    ret = g_test_run();
    {
        g_autofree char *vc = g_build_filename(dir, "vc.conf", NULL);
        g_autofree char *xml = g_build_filename(dir, "web.xml", NULL);

        g_unlink(vc);
        g_unlink(xml);
        g_rmdir(dir);
    }
    return ret;
}
