# shellcheck shell=bash
# Helpers sourced by every kubeadm-ha boot script. KUBEADM_HA_ROOT prefixes every path the scripts
# touch (empty on a node), so the bootstrap simulation runs them unprivileged in a sandbox.
ROOT="${KUBEADM_HA_ROOT:-}"
# shellcheck disable=SC2034 # LIB_DIR and RUN_DIR are for the scripts that source this file.
LIB_DIR="$ROOT/usr/local/lib/kubeadm-ha"
STATE_DIR="$ROOT/var/lib/kubeadm-ha"
# shellcheck disable=SC2034
RUN_DIR="$ROOT/run/kubeadm-ha"
LOG_FILE="$ROOT/var/log/kubeadm-ha-bootstrap.log"
POLL_SECONDS="${KUBEADM_HA_POLL_SECONDS:-10}"
WAIT_SECONDS="${KUBEADM_HA_WAIT_SECONDS:-1800}"
KMS_DENIED_STALE_SECONDS="${KUBEADM_HA_KMS_DENIED_STALE_SECONDS:-300}"
# cloud-init's runcmd has neither HOME (the AWS CLI wants one) nor /snap/bin on PATH.
export HOME="${HOME:-/root}" PATH="$PATH:/snap/bin" DEBIAN_FRONTEND=noninteractive
# shellcheck source=/dev/null
. "$ROOT/etc/kubeadm-ha/cluster.env"
mkdir -p "$STATE_DIR" "${LOG_FILE%/*}"

log() { printf '%s %s %s: %s\n' "$(date -u +%FT%TZ)" "$NODE_NAME" "${SCRIPT:-kubeadm-ha}" "$*" | tee -a "$LOG_FILE" >&2; }
die() { log "FAILED: $*"; exit 1; }
# errtrace: a failure inside a helper function is reported too.
set -o errtrace
trap 'die "line $LINENO: \"$BASH_COMMAND\" exited $?"' ERR

# Runs a command with its output in the log (kubeadm's own progress lines). Callers make sure the
# command prints no secret (kubeadm init --skip-token-print).
run_logged() { "$@" 2>&1 | tee -a "$LOG_FILE"; }

# retry ATTEMPTS CMD...: for network steps that fail transiently (apt mirrors, downloads, AWS calls).
retry() {
  local attempts=$1 n=1
  shift
  until "$@"; do
    ((n < attempts)) || return 1
    log "attempt $n of $attempts failed: $1; retrying"
    n=$((n + 1))
    sleep "$POLL_SECONDS"
  done
}

# poll_until SECONDS WHAT CMD...: polls until CMD succeeds (0) or SECONDS have passed (1), with a
# progress line a minute. Each pause adds up to half a poll interval at random, so a thousand nodes
# booting together do not call the parameter store in lockstep.
poll_until() {
  local limit=$1 what=$2 start=$SECONDS next=0
  shift 2
  until "$@"; do
    local waited=$((SECONDS - start))
    ((waited < limit)) || return 1
    if ((waited >= next)); then
      log "waiting for $what (${waited}s of ${limit}s)"
      next=$((waited + 60))
    fi
    sleep "$POLL_SECONDS" "$((RANDOM % (${POLL_SECONDS%.*} / 2 + 1)))"
  done
}

# wait_until WHAT CMD...: poll_until WAIT_SECONDS, and this attempt fails if CMD never succeeds (the
# boot unit runs the boot again later).
wait_until() { poll_until "$WAIT_SECONDS" "$@" || die "gave up waiting for $1 after ${WAIT_SECONDS}s"; }

# note MESSAGE: logs MESSAGE unless it is what the last note said (why a wait is still waiting).
note() { [[ $* == "${LAST_NOTE:-}" ]] || { LAST_NOTE=$*; log "$*"; }; }

apt_get() { retry 5 apt-get -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold "$@"; }

# Ubuntu 24.04 has no awscli deb any more; the snap is the packaged AWS CLI v2.
ensure_aws_cli() {
  command -v aws >/dev/null && return 0
  log "installing the AWS CLI (snap aws-cli)"
  retry 5 snap install aws-cli --classic
  command -v aws >/dev/null || die "no aws command after snap install"
}

ssm() { aws --region "$AWS_REGION" ssm "$@"; }

# ssm_state NAME: one attempt to classify NAME, for decisions to create something. Succeeds with
# SSM_STATE=present (it decrypts) or SSM_STATE=absent: ParameterNotFound, or stale, which needs a
# definite answer that the value's KMS key is gone: disabled or pending deletion
# (KMSInvalidStateException, DisabledException) or a ciphertext no existing key decrypts
# (InvalidCiphertextException): a value left by a destroyed deployment of the same stack name.
# kms:Decrypt denied is stale only once it has persisted KMS_DENIED_STALE_SECONDS (a key of another
# deployment denies it for good; IAM propagation on a new role only for seconds). Anything else,
# any other KMS error included (throttling, KMSInternalException, network, credentials), is
# unknown: it logs the error's first line (an error, never a value) and fails, so the caller's
# wait_until asks again. Only the name is queried and stdout goes to /dev/null: the value is never
# captured.
# shellcheck disable=SC2034 # SSM_STATE is for the scripts that source this file.
ssm_state() {
  SSM_STATE=$(ssm get-parameter --name "$1" --with-decryption --query Parameter.Name 2>&1 >/dev/null) && SSM_STATE=present && return
  if [[ $SSM_STATE =~ ParameterNotFound|KMSInvalidStateException|DisabledException|InvalidCiphertextException ]]; then
    SSM_STATE=absent
    return
  fi
  if [[ $SSM_STATE =~ AccessDenied.*kms:Decrypt ]] && ((SECONDS - ${KMS_DENIED_SINCE:=$SECONDS} >= KMS_DENIED_STALE_SECONDS)); then
    log "kms:Decrypt of $1 denied for $((SECONDS - KMS_DENIED_SINCE))s: a value of another deployment"
    SSM_STATE=absent
    return
  fi
  log "cannot tell whether $1 exists yet: ${SSM_STATE%%$'\n'*}"
  return 1
}

# ssm_readable NAME: exists AND decrypts, for readiness checks (one attempt: callers wait on it;
# anything else, unknown errors included, is "not ready").
ssm_readable() { ssm_state "$1" && [[ $SSM_STATE == present ]]; }

# kubeadm_reset: undoes a kubeadm init or join that stopped after writing its kubeconfigs, so it
# can run again (kubeadm reset leaves the CNI configuration behind).
kubeadm_reset() { log "kubeadm stopped half-way"; run_logged kubeadm reset -f; rm -rf "$ROOT/etc/cni/net.d"; }

# ssm_fetch NAME FILE: one attempt to decrypt into FILE.part (0600). The value never passes through
# argv or the log.
ssm_fetch() {
  (umask 077 && mkdir -p "${2%/*}" && ssm get-parameter --name "$1" --with-decryption \
    --query Parameter.Value --output text >"$2.part")
}

# ssm_get NAME FILE: ssm_fetch, retried (throttling, IAM/KMS eventual consistency), into FILE.
ssm_get() {
  retry 4 ssm_fetch "$1" "$2" || { rm -f "$2.part"; die "cannot read $1"; }
  mv -f "$2.part" "$2"
}

# ssm_put NAME FILE KMS_ALIAS: SecureString from a file (file:// keeps the value out of argv), retried.
ssm_put() {
  retry 4 ssm put-parameter --name "$1" --type SecureString --key-id "$3" --value "file://$2" \
    --overwrite --tier Intelligent-Tiering >/dev/null || die "cannot write $1 (encrypted with $3)"
}
