/*
 * The VC description file (docs/vc-file.md): one GLib key file describing
 * a virtual cluster's LANs, hosts and VMs, loaded into plain structs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_VCFILE_H
#define LIMEVI_VCFILE_H

#include <glib.h>

#include "limevi.h"

G_BEGIN_DECLS

typedef struct {
    char *name;
    char *site;
    char *address;              /* IPv4 literal */
    char *netns;                /* NULL: the coordinator's namespace */
    char *run_dir;              /* holds VM.qmp of each VM on this host */
    char *libvirt;              /* libvirt URI; NULL: QEMU run directly */
} LimeviVcHost;

/* A local disk of a VM (docs/disks.md): a qcow2 file at each host, moved
 * with the VM by limevi migrate. */
typedef struct {
    char *path;                 /* as written: ${run_dir} etc. not expanded */
    guint64 size;               /* bytes, a multiple of 512 */
    guint index;                /* 1, 2, ... in the VM's 'disks' */
    guint line;                 /* of the VM's 'disks' key */
} LimeviVcDisk;

typedef struct {
    char *name;
    char *host;                 /* a host of the VC: where the VM runs now */
    char *lan;                  /* one of the VC's lans */
    char *mac;                  /* xx:xx:xx:xx:xx:xx, lower case */
    guint memory;               /* MiB */
    guint16 port;               /* UDP port of its tunnel endpoint */
    char *qemu;                 /* the command line as written, or NULL */
    char *domain;               /* domain XML template path, or NULL */
    GPtrArray *disks;           /* of LimeviVcDisk *, in file order */
} LimeviVcVm;

/* A limevi-gateway on a LAN of the VC (docs/gateway.md); it stays at its
 * host when the VC moves. */
typedef struct {
    char *name;                 /* its member name, not a VM's */
    char *host;
    char *lan;
    guint16 port;               /* UDP port of its tunnel endpoint */
    char *net;                  /* ADDR/LEN, --net */
    char *router, *dhcp_start, *dns;    /* optional, or NULL */
    GStrv dns_names;            /* --dns-name values, maybe empty */
    GStrv forwards;             /* --forward values, maybe empty */
} LimeviVcGateway;

typedef struct {
    char *path;                 /* as given to limevi_vc_load() */
    char *name;
    GStrv lans;
    char *key;                  /* the VC key's file, absolute, or NULL */
    gboolean insecure;          /* "insecure = yes": the VC runs
                                 * unauthenticated, on purpose */
    char *tls;                  /* the certificates' directory, absolute;
                                 * NULL: migration streams in plain TCP */
    GPtrArray *hosts;           /* of LimeviVcHost *, in file order */
    GPtrArray *vms;             /* of LimeviVcVm *, in file order */
    GPtrArray *gateways;        /* of LimeviVcGateway *, in file order */
} LimeviVc;

/*
 * Loads and checks the VC file at @path.  On error returns NULL with
 * @error in LIMEVI_ERROR set to one line "FILE:LINE: [group] key 'k': ...".
 */
LimeviVc *limevi_vc_load(const char *path, GError **error);
void limevi_vc_free(LimeviVc *vc);
void limevi_vc_disk_free(LimeviVcDisk *disk);

/* NULL when the VC has no such host or VM. */
LimeviVcHost *limevi_vc_host(const LimeviVc *vc, const char *name);
LimeviVcVm *limevi_vc_vm(const LimeviVc *vc, const char *name);

/* The gateway of @lan, or NULL. */
LimeviVcGateway *limevi_vc_lan_gateway(const LimeviVc *vc, const char *lan);

/*
 * limevi-gateway's arguments for @gw (after the program name): its
 * member name, VC, LAN, listen address, a route to every VM of its LAN
 * where the VC file says it runs, and the options of its group; with
 * @control, "--control CONTROL".
 */
GPtrArray *limevi_vc_gateway_args(const LimeviVc *vc,
                                  const LimeviVcGateway *gw,
                                  const char *control);

/* The hosts of @site in file order; the array does not own them. */
GPtrArray *limevi_vc_hosts_at_site(const LimeviVc *vc, const char *site);

/*
 * The VM's QEMU command line on @host (NULL: the host it runs on) split
 * into arguments, with ${memory}, ${vm}, ${mac}, ${host}, ${site} and
 * ${run_dir} replaced by their values; without -qmp, -incoming and
 * -netdev limevi, which the caller adds.
 */
char **limevi_vc_vm_qemu_argv(const LimeviVc *vc, const LimeviVcVm *vm,
                              const LimeviVcHost *host, GError **error);

/* @text with the variables of limevi_vc_vm_qemu_argv() replaced. */
char *limevi_vc_expand(const LimeviVc *vc, const LimeviVcVm *vm,
                       const LimeviVcHost *host, const char *text,
                       GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(LimeviVc, limevi_vc_free)

G_END_DECLS

#endif /* LIMEVI_VCFILE_H */
