/*
 * libvirt as the way to a host's QEMUs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "launch.h"
#include "qmp.h"
#include "virt.h"

#define QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"
/* A PCI slot libvirt does not hand out on its own (it fills from 1 up). */
#define NIC_ADDR "0x1e"

struct LimeviVirtMigration {
    char *vm;
    char *dst_uri;
    char *mig_uri;
    char *dest_xml;
    guint64 bandwidth;
    gboolean tls;               /* VIR_MIGRATE_TLS: the VC has [vc] tls */
    virConnectPtr conn;
    virDomainPtr dom;
    GThread *thread;
    GMutex lock;
    GCond cond;
    gboolean ended;
    char *error;                /* why it failed, once ended */
};

/* libvirt would print every error on stderr too; ours say it once. */
static void quiet(void *data, virErrorPtr err)
{
}

static void virt_init(void)
{
    static gsize done;

    if (g_once_init_enter(&done)) {
        virInitialize();
        virSetErrorFunc(NULL, quiet);
        g_once_init_leave(&done, 1);
    }
}

static gboolean virt_fail(GError **error, const char *what)
{
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what,
                virGetLastErrorMessage());
    return FALSE;
}

static virConnectPtr virt_open(const LimeviVcHost *host, GError **error)
{
    virConnectPtr conn;

    virt_init();
    conn = virConnectOpen(host->libvirt);
    if (!conn) {
        g_autofree char *what = g_strdup_printf("host %s: libvirt %s",
                                                host->name, host->libvirt);

        virt_fail(error, what);
    }
    return conn;
}

/* Stable across hosts: the destination's domain must have the source's
 * UUID, and the template is the same. */
static char *vm_uuid(const LimeviVc *vc, const LimeviVcVm *vm)
{
    g_autofree char *key = g_strdup_printf("limevi:%s:%s", vc->name,
                                           vm->name);
    g_autofree char *h = g_compute_checksum_for_string(G_CHECKSUM_SHA1, key,
                                                       -1);

    /* A name-based (version 5) UUID, RFC 4122 variant. */
    h[12] = '5';
    h[16] = "89ab"[g_ascii_xdigit_value(h[16]) & 3];
    return g_strdup_printf("%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12,
                           h + 16, h + 20);
}

static void add_arg(GString *xml, const char *value)
{
    g_autofree char *esc = g_markup_escape_text(value, -1);

    g_string_append_printf(xml, "    <qemu:arg value='%s'/>\n", esc);
}

char *limevi_virt_domain_xml(const LimeviVc *vc, const LimeviVcVm *vm,
                             const LimeviVcHost *host,
                             GError **error)
{
    g_autofree char *text = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *netdev = limevi_launch_netdev(vc, vm, host);
    g_autofree char *qmp = limevi_launch_path(host, vm, "qmp");
    g_autofree char *nic = NULL, *qmp_arg = NULL;
    g_autofree char *key_object = limevi_launch_key_object(vc);
    GString *out;
    const char *open, *open_end, *close;

    if (!g_file_get_contents(vm->domain, &text, NULL, error)) {
        g_prefix_error(error, "%s: [vm %s] key 'domain': ", vc->path,
                       vm->name);
        return NULL;
    }
    xml = limevi_vc_expand(vc, vm, host, text, error);
    if (!xml) {
        return NULL;
    }
    open = strstr(xml, "<domain");
    open_end = open ? strchr(open, '>') : NULL;
    close = g_strrstr(xml, "</domain>");
    if (!open_end || !close || close < open_end) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%s: [vm %s] key 'domain': %s has no <domain> element",
                    vc->path, vm->name, vm->domain);
        return NULL;
    }
    out = g_string_new_len(xml, open_end + 1 - xml);
    if (!strstr(xml, "<uuid>")) {
        g_autofree char *uuid = vm_uuid(vc, vm);

        g_string_append_printf(out, "\n  <uuid>%s</uuid>", uuid);
    }
    g_string_append_len(out, open_end + 1, close - open_end - 1);
    nic = g_strdup_printf("virtio-net-pci,netdev=" LIMEVI_NETDEV_ID
                          ",mac=%s,addr=" NIC_ADDR ",romfile=", vm->mac);
    qmp_arg = g_strdup_printf("unix:%s,server=on,wait=off", qmp);
    g_string_append(out, "  <qemu:commandline xmlns:qemu='" QEMU_NS "'>\n");
    if (key_object) {
        add_arg(out, "-object");
        add_arg(out, key_object);
    }
    add_arg(out, "-netdev");
    add_arg(out, netdev);
    add_arg(out, "-device");
    add_arg(out, nic);
    add_arg(out, "-qmp");
    add_arg(out, qmp_arg);
    g_string_append(out, "  </qemu:commandline>\n");
    g_string_append(out, close);
    return g_string_free(out, FALSE);
}

gboolean limevi_virt_start(const LimeviVc *vc, const LimeviVcVm *vm,
                           const LimeviVcHost *host, GError **error)
{
    g_autofree char *xml = limevi_virt_domain_xml(vc, vm, host, error);
    g_autofree char *qmp = limevi_launch_path(host, vm, "qmp");
    virConnectPtr conn;
    virDomainPtr dom;

    if (!xml) {
        return FALSE;
    }
    if (g_mkdir_with_parents(host->run_dir, 0700) < 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
                    "VM %s: cannot create %s", vm->name, host->run_dir);
        return FALSE;
    }
    /* A stale socket would pass for the new QEMU's. */
    unlink(qmp);
    if (!(conn = virt_open(host, error))) {
        return FALSE;
    }
    dom = virDomainCreateXML(conn, xml, 0);
    if (!dom) {
        g_autofree char *what = g_strdup_printf("VM %s on %s", vm->name,
                                                host->name);

        virt_fail(error, what);
    } else {
        virDomainFree(dom);
    }
    virConnectClose(conn);
    return dom != NULL;
}

static gpointer migrate_thread(gpointer data)
{
    LimeviVirtMigration *mig = data;
    virTypedParameterPtr params = NULL;
    int n = 0, max = 0;
    virDomainPtr moved;
    char *error = NULL;

    virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_URI,
                            mig->mig_uri);
    virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_DEST_XML,
                            mig->dest_xml);
    if (mig->bandwidth) {
        virTypedParamsAddULLong(&params, &n, &max,
                                VIR_MIGRATE_PARAM_BANDWIDTH,
                                MAX(mig->bandwidth >> 20, 1));
    }
    /* Peer to peer: the source's libvirtd sees it through even when the
     * coordinator dies (limevi migrate --resume then finds it). */
    /* TLS with the certificates of each libvirtd's qemu.conf
     * (migrate_tls_x509_cert_dir): libvirt sets QEMU's tls-creds. */
    moved = virDomainMigrateToURI3(mig->dom, mig->dst_uri, params, n,
                                   VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER |
                                   (mig->tls ? VIR_MIGRATE_TLS : 0))
            == 0 ? mig->dom : NULL;
    if (!moved) {
        error = g_strdup_printf("libvirt: %s", virGetLastErrorMessage());
    }
    virTypedParamsFree(params, n);
    g_mutex_lock(&mig->lock);
    mig->error = error;
    mig->ended = TRUE;
    g_cond_broadcast(&mig->cond);
    g_mutex_unlock(&mig->lock);
    return NULL;
}

LimeviVirtMigration *limevi_virt_migrate(const LimeviVc *vc,
                                         const LimeviVcVm *vm,
                                         const LimeviVcHost *src,
                                         const LimeviVcHost *dst,
                                         guint64 bandwidth, GError **error)
{
    LimeviVirtMigration *mig;
    g_autofree char *dest_xml = NULL;
    g_autofree char *qmp = limevi_launch_path(dst, vm, "qmp");
    virConnectPtr conn;
    virDomainPtr dom;

    if (!src->libvirt || !dst->libvirt) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    "VM %s: %s and %s must both be libvirt hosts to "
                    "migrate through libvirt", vm->name, src->name,
                    dst->name);
        return NULL;
    }
    if (!(dest_xml = limevi_virt_domain_xml(vc, vm, dst, error)) ||
        !(conn = virt_open(src, error))) {
        return NULL;
    }
    if (!(dom = virDomainLookupByName(conn, vm->name))) {
        g_autofree char *what = g_strdup_printf("VM %s on %s", vm->name,
                                                src->name);

        virt_fail(error, what);
        virConnectClose(conn);
        return NULL;
    }
    /* The destination's QMP socket must be its new QEMU's. */
    g_mkdir_with_parents(dst->run_dir, 0700);
    unlink(qmp);
    mig = g_new0(LimeviVirtMigration, 1);
    mig->vm = g_strdup(vm->name);
    mig->dst_uri = g_strdup(dst->libvirt);
    mig->mig_uri = g_strdup_printf("tcp://%s", dst->address);
    mig->dest_xml = g_steal_pointer(&dest_xml);
    mig->bandwidth = bandwidth;
    mig->tls = vc->tls != NULL;
    mig->conn = conn;
    mig->dom = dom;
    g_mutex_init(&mig->lock);
    g_cond_init(&mig->cond);
    mig->thread = g_thread_new("limevi-virt-migrate", migrate_thread, mig);
    return mig;
}

gboolean limevi_virt_migration_ended(LimeviVirtMigration *mig,
                                     guint timeout_ms, GError **error)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    gboolean ended;

    g_mutex_lock(&mig->lock);
    while (!mig->ended &&
           g_cond_wait_until(&mig->cond, &mig->lock, deadline)) {
    }
    ended = mig->ended;
    if (ended && mig->error) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", mig->error);
    }
    g_mutex_unlock(&mig->lock);
    return ended;
}

gboolean limevi_virt_wait_idle(const LimeviVcHost *host,
                               const LimeviVcVm *vm, gboolean abort,
                               guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    virConnectPtr conn = virt_open(host, NULL);
    virDomainPtr dom = conn ? virDomainLookupByName(conn, vm->name) : NULL;
    gboolean idle = !dom;

    /* An error here is "no job": nothing to cancel. */
    if (dom && abort) {
        virDomainAbortJob(dom);
    }

    while (dom && g_get_monotonic_time() < deadline) {
        virDomainJobInfo info;

        if (virDomainGetJobInfo(dom, &info) < 0 ||
            info.type == VIR_DOMAIN_JOB_NONE) {
            idle = TRUE;
            break;
        }
        g_usleep(100 * 1000);
    }
    if (dom) {
        virDomainFree(dom);
    }
    if (conn) {
        virConnectClose(conn);
    }
    return idle;
}

gboolean limevi_virt_job_active(const LimeviVcHost *host,
                                const LimeviVcVm *vm)
{
    virConnectPtr conn = virt_open(host, NULL);
    virDomainPtr dom = conn ? virDomainLookupByName(conn, vm->name) : NULL;
    virDomainJobInfo info;
    gboolean active = dom && virDomainGetJobInfo(dom, &info) == 0 &&
                      info.type != VIR_DOMAIN_JOB_NONE;

    if (dom) {
        virDomainFree(dom);
    }
    if (conn) {
        virConnectClose(conn);
    }
    return active;
}

void limevi_virt_migration_abort(LimeviVirtMigration *mig)
{
    if (!limevi_virt_migration_ended(mig, 0, NULL)) {
        virDomainAbortJob(mig->dom);
    }
}

void limevi_virt_migration_free(LimeviVirtMigration *mig)
{
    if (!mig) {
        return;
    }
    g_thread_join(mig->thread);
    virDomainFree(mig->dom);
    virConnectClose(mig->conn);
    g_mutex_clear(&mig->lock);
    g_cond_clear(&mig->cond);
    g_free(mig->vm);
    g_free(mig->dst_uri);
    g_free(mig->mig_uri);
    g_free(mig->dest_xml);
    g_free(mig->error);
    g_free(mig);
}
