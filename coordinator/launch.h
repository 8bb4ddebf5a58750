/*
 * Starting a VM's QEMU on a host of the VC: the command line (the VC
 * file's plus what LimeVI needs) and a daemonized start whose failure is
 * reported with QEMU's own message.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef LIMEVI_LAUNCH_H
#define LIMEVI_LAUNCH_H

#include "vcfile.h"

/* RUN-DIR/VM.SUFFIX of @vm on @host; g_free() it. */
char *limevi_launch_path(const LimeviVcHost *host, const LimeviVcVm *vm,
                         const char *suffix);

/* The id of the secret object that holds the VC's key in each QEMU. */
#define LIMEVI_KEY_SECRET_ID "limevi-key"

/* The -netdev limevi value for @vm on @host: listening on the host's
 * address, routes to the VMs of its LAN where the VC file says they run,
 * key-secret=LIMEVI_KEY_SECRET_ID with a VC key, insecure=on without.
 * No gate: the source's switchover-hold holds a migration, not the
 * netdev. */
char *limevi_launch_netdev(const LimeviVc *vc, const LimeviVcVm *vm,
                           const LimeviVcHost *host);

/* With [vc] tls, the ids of the tls-creds-x509 objects a migration's
 * streams (RAM and NBD) run over: the destination's, named on its command
 * line, and the source's, added over QMP before it migrates. */
#define LIMEVI_TLS_SERVER_ID "limevi-tls-server"
#define LIMEVI_TLS_CLIENT_ID "limevi-tls-client"

/* The -object value of the VC key's secret ("secret,id=...,file=..."), or
 * NULL for a VC without a key.  g_free() it. */
char *limevi_launch_key_object(const LimeviVc *vc);

/* Appends "ip netns exec NS" to @argv (of g_free'd strings) for a host
 * with a namespace: what runs a host's processes there. */
void limevi_launch_netns_prefix(GPtrArray *argv, const LimeviVcHost *host);

/*
 * The command line that runs @vm on @host: the VC file's "qemu" line with
 * ${vm} ${memory} ${mac} ${host} ${run_dir} expanded, then the VC key's
 * secret object (limevi_launch_key_object()), -netdev limevi
 * (listening on the host's address, routes to the VMs of its LAN where the
 * VC file says they run), the NIC, its disks (disks.h), QMP at RUN-DIR/VM.qmp, -daemonize with
 * RUN-DIR/VM.pid; with @incoming, -incoming defer and, with [vc] tls,
 * the server's tls-creds-x509 object (LIMEVI_TLS_SERVER_ID).  Prefixed
 * with "ip netns exec NS" for a host with a namespace.
 */
char **limevi_launch_argv(const LimeviVc *vc, const LimeviVcVm *vm,
                          const LimeviVcHost *host, gboolean incoming,
                          GError **error);

/* Runs @argv (QEMU daemonizes) and waits for it to be up; a failure
 * carries QEMU's stderr.  Returns QEMU's PID, or 0 with @error set. */
GPid limevi_launch(char **argv, const LimeviVcVm *vm,
                   const LimeviVcHost *host, GError **error);

#endif /* LIMEVI_LAUNCH_H */
