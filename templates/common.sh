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

# wait_until WHAT CMD...: polls until CMD succeeds, at most WAIT_SECONDS, with a progress line a minute.
# Each pause adds up to half a poll interval at random, so a thousand nodes booting together do not
# call the parameter store in lockstep.
wait_until() {
  local what=$1 start=$SECONDS next=0
  shift
  until "$@"; do
    local waited=$((SECONDS - start))
    ((waited < WAIT_SECONDS)) || die "gave up waiting for $what after ${waited}s"
    if ((waited >= next)); then
      log "waiting for $what (${waited}s of ${WAIT_SECONDS}s)"
      next=$((waited + 60))
    fi
    sleep "$POLL_SECONDS" "$((RANDOM % (${POLL_SECONDS%.*} / 2 + 1)))"
  done
}

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
# SSM_STATE=present (it decrypts) or SSM_STATE=absent: ParameterNotFound, or stale (a KMS error such
# as KMSInvalidStateException or InvalidKeyId, or AccessDenied on kms: a value left by a destroyed
# deployment of the same stack name, encrypted with a KMS key that is pending deletion). Anything
# else (throttling, network, credentials, IAM propagation) is unknown: it logs the error's first
# line (an error, never a value) and fails, so the caller's wait_until asks again. Only the name is
# queried and stdout goes to /dev/null: the value is never captured.
# shellcheck disable=SC2034 # SSM_STATE is for the scripts that source this file.
ssm_state() {
  SSM_STATE=$(ssm get-parameter --name "$1" --with-decryption --query Parameter.Name 2>&1 >/dev/null) && SSM_STATE=present && return
  [[ $SSM_STATE =~ ParameterNotFound|KMS|InvalidKeyId|AccessDenied.*kms ]] && SSM_STATE=absent && return
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
