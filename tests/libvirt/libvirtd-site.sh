#!/usr/bin/env bash
# A libvirtd of its own for an emulated site: run inside network namespace
# NS with private /run/libvirt, /var/lib/libvirt, /etc/libvirt,
# /var/log/libvirt and /var/cache/libvirt (bind mounts of DIR/...), so two
# of them on one machine can migrate a guest to each other.  Its socket is
# DIR/run/libvirt-sock: URI qemu+unix:///system?socket=DIR/run/libvirt-sock.
#
#   libvirtd-site.sh up NS DIR [TLS-DIR]
#                                  start it (no-op when it runs); waits
#                                  for its socket.  With TLS-DIR (the
#                                  layout of scripts/tls-certs.sh), its
#                                  migrations with VIR_MIGRATE_TLS use
#                                  those certificates
#   libvirtd-site.sh down NS DIR   stop it (by the PID it wrote), wait
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail

usage() {
    echo "usage: libvirtd-site.sh up|down NS DIR [TLS-DIR]" >&2
    exit 2
}

[ $# -eq 3 ] || [ $# -eq 4 ] || usage
cmd=$1 ns=$2 dir=$3 tls=${4:-}
[[ $ns =~ ^[A-Za-z0-9_.-]+$ ]] ||
    { echo "libvirtd-site.sh: bad NS '$ns'" >&2; exit 2; }
[[ $dir = /* ]] ||
    { echo "libvirtd-site.sh: DIR must be absolute" >&2; exit 2; }
pidfile=$dir/libvirtd.pid

running() {
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

up() {
    local libvirtd
    libvirtd=$(command -v libvirtd || echo /usr/sbin/libvirtd)
    [ -x "$libvirtd" ] ||
        { echo "libvirtd-site.sh: libvirtd not installed" >&2; exit 1; }
    [ -e "/run/netns/$ns" ] ||
        { echo "libvirtd-site.sh: no network namespace '$ns'" >&2; exit 1; }
    running && return 0
    mkdir -p "$dir"/{run,lib,etc,log,cache}
    cat > "$dir/etc/libvirtd.conf" <<CONF
# Local socket only, no authentication: the site is a test namespace.
listen_tls = 0
listen_tcp = 0
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
CONF
    cat > "$dir/etc/qemu.conf" <<CONF
# No systemd, no cgroup delegation, no SELinux/AppArmor here: QEMU runs as
# root in the site's namespace, its stdio logged to a plain file.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
CONF
    if [ -n "$tls" ]; then
        [[ $tls = /* && -f $tls/ca-cert.pem ]] ||
            { echo "libvirtd-site.sh: no certificates in '$tls'" >&2; exit 2; }
        cat >> "$dir/etc/qemu.conf" <<CONF
# VIR_MIGRATE_TLS: both ends check each other against the VC's CA.
migrate_tls_x509_cert_dir = "$tls"
migrate_tls_x509_verify = 1
CONF
    fi
    # unshare -m: the bind mounts stay inside this libvirtd's namespace.
    ip netns exec "$ns" unshare -m --propagation private sh -c '
        d=$1
        for p in run:/run/libvirt lib:/var/lib/libvirt etc:/etc/libvirt \
                 log:/var/log/libvirt cache:/var/cache/libvirt; do
            mkdir -p "${p#*:}"
            mount --bind "$d/${p%%:*}" "${p#*:}"
        done
        exec "$2" -f /etc/libvirt/libvirtd.conf -p "$d/libvirtd.pid"
    ' sh "$dir" "$libvirtd" >"$dir/libvirtd.out" 2>&1 &
    for _ in $(seq 100); do
        [ -S "$dir/run/libvirt-sock" ] && running && return 0
        sleep 0.1
    done
    echo "libvirtd-site.sh: libvirtd in $ns did not start:" >&2
    tail -5 "$dir/libvirtd.out" "$dir/log/libvirtd.log" >&2 2>/dev/null || true
    exit 1
}

down() {
    local pid
    running || return 0
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

case $cmd in
    up) up ;;
    down) down ;;
    *) usage ;;
esac
