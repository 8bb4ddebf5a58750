#!/usr/bin/env bash
# Emulated sites for limevi-wan: for each SITE, namespace TAG-SITE with lo
# and eth0 (198.18.0.N/24, N = its position + 1) up, joined by a veth to
# interface SITE in namespace TAG-wan, where limevi-wan runs.
#
#   wan-sites.sh up TAG SITE...     create what is missing
#   wan-sites.sh down TAG SITE...   delete the namespaces (and so the veths)
#
# Addresses stay in 198.18.0.0/15 (RFC 2544, benchmarking); IPv6 is off so
# the sites have no other addresses.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail

usage() {
    echo "usage: wan-sites.sh up|down TAG SITE..." >&2
    exit 2
}

[ $# -ge 3 ] || usage
cmd=$1 tag=$2
shift 2
[[ $tag =~ ^[A-Za-z0-9_.-]+$ ]] ||
    { echo "wan-sites.sh: bad TAG '$tag'" >&2; exit 2; }
[ $# -le 253 ] || { echo "wan-sites.sh: at most 253 sites" >&2; exit 2; }
for site in "$@"; do
    # The site is an interface name in TAG-wan: at most 15 characters.
    [[ $site =~ ^[A-Za-z0-9_.]{1,15}$ && $site != wan ]] ||
        { echo "wan-sites.sh: bad SITE '$site'" >&2; exit 2; }
done

wan=$tag-wan

ns_exists() {
    [ -e "/run/netns/$1" ]
}

ns_add() {
    ns_exists "$1" || ip netns add "$1"
    # The new namespace's own IPv6 defaults, before any interface exists.
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 >/dev/null
    ip -n "$1" link set lo up
}

up() {
    local n=0 site ns
    ns_add "$wan"
    for site in "$@"; do
        n=$((n + 1))
        ns=$tag-$site
        ns_add "$ns"
        if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
            # A half-made pair (the peer left in TAG-wan) goes first.
            ip -n "$wan" link del "$site" 2>/dev/null || true
            ip -n "$ns" link add eth0 type veth peer name "$site" netns "$wan"
        fi
        # One frame per MTU-sized segment, so loss and rate apply per
        # packet as on a real WAN (there is no ethtool to turn TSO off).
        ip -n "$ns" link set eth0 gso_max_segs 1 2>/dev/null || true
        ip -n "$ns" addr flush dev eth0
        ip -n "$ns" addr add "198.18.0.$n/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$wan" link set "$site" up
    done
}

down() {
    local ns
    for ns in "${@/#/$tag-}" "$wan"; do
        if ns_exists "$ns"; then
            ip netns delete "$ns"
        fi
    done
}

case $cmd in
    up) up "$@" ;;
    down) down "$@" ;;
    *) usage ;;
esac
