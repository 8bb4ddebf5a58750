#!/usr/bin/env bash
# make bench: runs bench/vc-switchover (a VC of 2, 4, 8 VMs moved between
# two sites over an emulated WAN, limevi migrate against independent
# migrations) with the build tree's QEMU, guest, limevi and limevi-wan.
# Arguments go to the program: --sizes 2,4,8, --runs N, --json FILE, ...
exec bash "$(dirname "$0")/bench.sh" vc-switchover "$@"
