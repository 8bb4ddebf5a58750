#!/usr/bin/env bash
# Certificates for a VC's migration streams over TLS (docs/security.md):
# a CA of the VC's own, a server certificate naming every host address
# a source connects to, and a client certificate, in the layout QEMU's
# tls-creds-x509 and libvirt's migrate_tls_x509_cert_dir read.
#
#   tls-certs.sh DIR VC ADDRESS...   writes DIR/ca-cert.pem,
#       server-cert.pem, server-key.pem, client-cert.pem, client-key.pem
#       (and ca-key.pem, to sign more); [vc] tls = DIR then uses them
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: tls-certs.sh DIR VC ADDRESS..." >&2; exit 2; }
dir=$1 vc=$2
shift 2
command -v certtool >/dev/null ||
    { echo "tls-certs.sh: certtool not installed (gnutls-bin)" >&2; exit 1; }
mkdir -p "$dir"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cert() {                        # NAME TEMPLATE-TEXT [signed]
    local name=$1 text=$2
    certtool --generate-privkey --key-type rsa --bits 3072 \
        --outfile "$dir/$name-key.pem" 2>/dev/null
    printf '%s\n' "$text" > "$tmp/$name.info"
    if [ "$name" = ca ]; then
        certtool --generate-self-signed --load-privkey "$dir/ca-key.pem" \
            --template "$tmp/ca.info" --outfile "$dir/ca-cert.pem" 2>/dev/null
    else
        certtool --generate-certificate --load-privkey "$dir/$name-key.pem" \
            --load-ca-certificate "$dir/ca-cert.pem" \
            --load-ca-privkey "$dir/ca-key.pem" \
            --template "$tmp/$name.info" --outfile "$dir/$name-cert.pem" \
            2>/dev/null
    fi
}

cert ca "cn = LimeVI VC $vc CA
ca
cert_signing_key
expiration_days = 3650"
ips=
for a in "$@"; do ips+="ip_address = $a"$'\n'; done
cert server "cn = LimeVI VC $vc hosts
${ips}tls_www_server
encryption_key
signing_key
expiration_days = 3650"
cert client "cn = LimeVI VC $vc coordinator
tls_www_client
encryption_key
signing_key
expiration_days = 3650"
# QEMU and libvirt read these; the CA's key stays here to sign more.
chmod 0644 "$dir"/*-cert.pem
