#!/usr/bin/env bash
# make bench: runs bench/migration-blackout (live migration of a receiving
# VM, LimeVI against bridge + VXLAN) with the build tree's QEMU and guest.
# Arguments go to the program: --runs N, --json FILE, --help, ...
exec bash "$(dirname "$0")/bench.sh" migration-blackout "$@"
