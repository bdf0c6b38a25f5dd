#!/usr/bin/env bash
# cloud-init's single runcmd entry: runs this node's boot scripts (BOOT_SCRIPTS in cluster.env)
# in order and stops at the first failure, naming it, instead of letting later steps fail obscurely.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${KUBEADM_HA_ROOT:-}/usr/local/lib/kubeadm-ha/common.sh"
SCRIPT=boot
log "bootstrapping $NODE_NAME ($NODE_ROLE, $NODE_IP) of stack $STACK: $BOOT_SCRIPTS"
for step in $BOOT_SCRIPTS; do
  bash "$LIB_DIR/$step" || die "$step failed; its messages are above and in $LOG_FILE"
done
log "bootstrap complete"
