#!/usr/bin/env bash
# etcd-pki.sh: the kubeadm-ha way of making the certificates of an external etcd cluster.
#
# Usage (the boot scripts call exactly these forms):
#   etcd-pki.sh ca     DIR               DIR/ca.crt + DIR/ca.key: the etcd CA (EC P-256, 10 years).
#                                        Idempotent: an existing CA is kept, never replaced.
#   etcd-pki.sh member DIR NAME IP       DIR/server.crt + server.key (client-facing TLS:
#                                          SANs DNS:NAME, DNS:localhost, IP:IP, IP:127.0.0.1)
#                                        DIR/peer.crt + peer.key (member-to-member TLS: SANs DNS:NAME, IP:IP)
#                                        Both carry serverAuth and clientAuth, because etcd presents the
#                                        same certificate when it dials a peer and when it accepts one.
#   etcd-pki.sh client DIR CN OUTNAME    DIR/OUTNAME.crt + OUTNAME.key, a clientAuth certificate with
#                                        common name CN, e.g. `client DIR kube-apiserver-etcd-client
#                                        apiserver-etcd-client` for the API servers.
#
# etcd accepts a peer connection only when the peer certificate names the connection's source
# address (IP SAN first; otherwise it resolves the DNS SANs), so peer.crt must carry the node's own
# IP. Optional: ETCD_PKI_EXTRA_PEER_IPS="a.b.c.d[,...]" adds IP SANs to peer.crt, for hosts that run
# several members whose connections all leave from one address (the integration test on loopback,
# where every connection comes from 127.0.0.1). The AWS nodes never need it.
#
# member and client sign with DIR/ca.crt + DIR/ca.key (run `ca` first, or copy the CA into DIR) and
# issue a fresh key on every run, so re-running them rotates that certificate. Leaf certificates are
# valid for 5 years, inside the CA's 10, because the blueprint has no automatic rotation.
# Private keys are written 0600 and are never printed; files appear only once complete (a failed
# run leaves the previous certificate and key untouched). Needs bash and openssl 1.1.1 or 3.x.
set -euo pipefail

readonly CA_DAYS=3650
readonly LEAF_DAYS=1825
# New files and directories are private by default; certificates are opened up explicitly below.
umask 077

die() {
  echo "etcd-pki: $*" >&2
  exit 1
}

usage() {
  cat >&2 <<'EOF'
usage: etcd-pki.sh ca DIR
       etcd-pki.sh member DIR NAME IP
       etcd-pki.sh client DIR CN OUTNAME
(documented at the top of templates/etcd-pki.sh in the kubeadm-ha repository)
EOF
  exit 2
}

# DNS-1123 names only: NAME and CN end up inside openssl extension files, so nothing that could
# start a new directive (newline, comma, '=') may get through.
valid_name() { [[ $1 =~ ^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$ ]]; }
valid_file_base() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]]; }
valid_ipv4() {
  local octet
  [[ $1 =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
  for octet in "${BASH_REMATCH[@]:1}"; do
    ((10#$octet <= 255)) || return 1
  done
}

# openssl chatters on stderr ("Certificate request self-signature ok"); keep it out of the boot
# log unless it failed. Key material only ever goes to files, so the log cannot contain any.
openssl_quiet() {
  local log
  log="$WORK_DIR/openssl.log"
  if ! openssl "$@" >"$log" 2>&1; then
    cat "$log" >&2
    die "openssl $1 failed"
  fi
}

new_work_dir() {
  WORK_DIR="$(mktemp -d "$DIR/.etcd-pki.XXXXXX")"
  trap 'rm -rf -- "$WORK_DIR"' EXIT
}

new_ec_key() {
  openssl_quiet genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
  chmod 0600 "$1"
}

# Moves a finished certificate and key into DIR: the key first, so a reader never sees a new
# certificate next to the old key for longer than one rename.
install_pair() {
  local base=$1
  chmod 0644 "$WORK_DIR/$base.crt"
  mv -f -- "$WORK_DIR/$base.key" "$DIR/$base.key"
  mv -f -- "$WORK_DIR/$base.crt" "$DIR/$base.crt"
}

make_ca() {
  if [[ -f $DIR/ca.crt && -f $DIR/ca.key ]]; then
    echo "etcd-pki: $DIR/ca.crt exists; keeping it"
    return 0
  fi
  if [[ -e $DIR/ca.crt || -e $DIR/ca.key ]]; then
    die "$DIR holds only one of ca.crt and ca.key; refusing to replace half a CA (restore the other file or remove both)"
  fi
  new_work_dir
  cat >"$WORK_DIR/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = etcd-ca
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
EOF
  new_ec_key "$WORK_DIR/ca.key"
  openssl_quiet req -x509 -new -config "$WORK_DIR/ca.cnf" -extensions v3_ca -key "$WORK_DIR/ca.key" \
    -sha256 -days "$CA_DAYS" -set_serial "0x$(openssl rand -hex 16)" -out "$WORK_DIR/ca.crt"
  install_pair ca
  echo "etcd-pki: wrote $DIR/ca.crt and $DIR/ca.key"
}

require_ca() {
  [[ -f $DIR/ca.crt && -f $DIR/ca.key ]] || die "$DIR/ca.crt and $DIR/ca.key are missing: run 'etcd-pki.sh ca $DIR' first or copy the cluster's CA there"
}

# issue BASE CN EKU SAN: a CA-signed leaf certificate in the work directory, verified against the CA.
issue() {
  local base=$1 common_name=$2 extended_key_usage=$3 subject_alt_names=$4
  {
    echo "basicConstraints = critical, CA:FALSE"
    echo "keyUsage = critical, digitalSignature"
    echo "extendedKeyUsage = $extended_key_usage"
    echo "subjectKeyIdentifier = hash"
    echo "authorityKeyIdentifier = keyid, issuer"
    if [[ -n $subject_alt_names ]]; then echo "subjectAltName = $subject_alt_names"; fi
  } >"$WORK_DIR/$base.ext"
  printf '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = %s\n' "$common_name" >"$WORK_DIR/$base.cnf"
  new_ec_key "$WORK_DIR/$base.key"
  openssl_quiet req -new -config "$WORK_DIR/$base.cnf" -key "$WORK_DIR/$base.key" -out "$WORK_DIR/$base.csr"
  openssl_quiet x509 -req -in "$WORK_DIR/$base.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -sha256 -days "$LEAF_DAYS" \
    -extfile "$WORK_DIR/$base.ext" -out "$WORK_DIR/$base.crt"
  openssl_quiet verify -CAfile "$DIR/ca.crt" -purpose "$([[ $extended_key_usage == clientAuth ]] && echo sslclient || echo sslserver)" "$WORK_DIR/$base.crt"
}

make_member() {
  local name=$1 ip=$2
  valid_name "$name" || die "member name '$name' is not a DNS-1123 name"
  valid_ipv4 "$ip" || die "'$ip' is not an IPv4 address"
  require_ca
  new_work_dir
  issue server "$name" "serverAuth, clientAuth" "DNS:$name, DNS:localhost, IP:$ip, IP:127.0.0.1"
  local peer_sans="DNS:$name, IP:$ip" extra_ip
  local -a extra_ips=()
  if [[ -n ${ETCD_PKI_EXTRA_PEER_IPS:-} ]]; then IFS=',' read -r -a extra_ips <<<"$ETCD_PKI_EXTRA_PEER_IPS"; fi
  for extra_ip in "${extra_ips[@]}"; do
    valid_ipv4 "$extra_ip" || die "ETCD_PKI_EXTRA_PEER_IPS: '$extra_ip' is not an IPv4 address"
    peer_sans+=", IP:$extra_ip"
  done
  issue peer "$name" "serverAuth, clientAuth" "$peer_sans"
  install_pair server
  install_pair peer
  echo "etcd-pki: wrote $DIR/server.{crt,key} and $DIR/peer.{crt,key} for $name ($ip)"
}

make_client() {
  local common_name=$1 out_name=$2
  valid_name "$common_name" || die "client common name '$common_name' is not a DNS-1123 name"
  valid_file_base "$out_name" || die "output name '$out_name' must be a plain file name"
  case $out_name in ca | server | peer) die "output name '$out_name' would overwrite the CA or member files" ;; esac
  require_ca
  new_work_dir
  issue "$out_name" "$common_name" "clientAuth" ""
  install_pair "$out_name"
  echo "etcd-pki: wrote $DIR/$out_name.crt and $DIR/$out_name.key (CN $common_name)"
}

main() {
  local command=${1:-}
  case $command in
    ca) [[ $# -eq 2 ]] || usage ;;
    member | client) [[ $# -eq 4 ]] || usage ;;
    *) usage ;;
  esac
  DIR=$2
  command -v openssl >/dev/null || die "openssl is not installed"
  case $command in
    ca) mkdir -p -- "$DIR" && make_ca ;;
    member) make_member "$3" "$4" ;;
    client) make_client "$3" "$4" ;;
  esac
}

main "$@"
