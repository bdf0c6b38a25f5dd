/**
 * Runs every node's real boot scripts, exactly as its user-data writes them, in a sandbox per node
 * (KUBEADM_HA_ROOT), all nodes of a cluster at once, with fakes on PATH for everything that would
 * touch a real machine or AWS. The fake `aws` is a shared parameter store that enforces each role's
 * KMS rights from lib/secret-store.ts; the fake `kubeadm` checks what a real one would (file
 * discovery kubeconfig present with a valid token and the cluster CA, shared certificates present
 * for a control-plane join). Every fake records its calls with a timestamp and the node's name, and
 * the tests assert the order of events across nodes.
 */
import { spawn, spawnSync, ChildProcess } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { gunzipSync } from "zlib";
import { parse } from "yaml";
import { BOOT_UNIT, BOOT_UNIT_PATH } from "../lib/render/node-files";
import { renderUserData } from "../lib/render/user-data";
import { SECRET_KEYS, kmsAlias, parameterPrefix } from "../lib/secret-store";
import type { ClusterNode, Topology } from "../lib/topology";
import { installResidentPython, ResidentPython } from "./support/resident-python";
import { inlineTopology, shippedTopology } from "./support/specs";

jest.setTimeout(180_000);

const RUN_TIMEOUT_MS = 90_000;
// Under this jest run's own temp folder (jest.config.js), which its teardown removes.
const BASE = fs.mkdtempSync(path.join(os.tmpdir(), "kubeadm-ha-sim-"));
const FAKE_BIN = path.join(BASE, "bin");
const ASSETS = path.join(BASE, "assets");
const running = new Set<ChildProcess>();

afterAll(() => {
  killAll();
  residentAws?.stop();
  fs.rmSync(BASE, { recursive: true, force: true });
});

function killAll(): void {
  for (const child of running) {
    // Each node runs in its own process group (detached): this ends the script and every child.
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  running.clear();
}

// ---------------------------------------------------------------------------------------------
// Fakes

const RECORD = `
# Appends "<ns timestamp> <node> <command> <args>" to the node's call log.
# The clock is bash's own EPOCHREALTIME (microseconds, written as nanoseconds): no date process per call.
record() { printf '%s%s %s %s\\n' "\${EPOCHREALTIME/./}" 000 "$FAKE_NODE" "$*" >>"$FAKE_STATE/calls/$FAKE_NODE.log"; }
event() { record "event $*"; }
fail() { echo "fake: $*" >&2; record "event failed $*"; exit 1; }
ROOT="$KUBEADM_HA_ROOT"
# An external etcd member answers once its start time has come (see the systemctl fake).
etcd_up() { local since; [[ -f $FAKE_STATE/etcd/$1 ]] && read -r since <"$FAKE_STATE/etcd/$1" && ((\${EPOCHREALTIME/./} / 1000 >= since)); }
etcd_quorum() {
  local up=0 member
  for member in "$FAKE_STATE"/etcd/*; do [[ -f $member ]] && etcd_up "\${member##*/}" && up=$((up + 1)); done
  ((up >= FAKE_ETCD_MEMBERS / 2 + 1))
}
`;

const FAKES: Record<string, string> = {
  kubeadm: `
record kubeadm "$@"
config=""; args=("$@")
for ((i = 0; i < \${#args[@]}; i++)); do [[ \${args[i]} == --config ]] && config=\${args[i+1]}; done
pki="$ROOT/etc/kubernetes/pki"
new_ca() { mkdir -p "$(dirname "$1")"; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.crt" -subj "/CN=$2" -days 1 2>/dev/null; }
case $1 in
  config)
    [[ "$*" == "config images list --kubernetes-version v"* ]] || fail "unexpected kubeadm $*"
    for image in kube-apiserver:v1.35.0 kube-proxy:v1.35.0 coredns/coredns:v1.12.1 pause:3.10.1 etcd:3.6.5-0; do echo "registry.k8s.io/$image"; done
    ;;
  init)
    [[ -f $config ]] || fail "init without --config"
    # FAKE_INIT_SECONDS: a slow init node (image pulls, a slow disk).
    sleep "\${FAKE_INIT_SECONDS:-0}"
    grep -q '^kind: InitConfiguration' "$config" || fail "init config has no InitConfiguration"
    [[ -f $ROOT/etc/kubernetes/admin.conf ]] && fail "init on an initialised node"
    external=false
    if grep -q '^  external:' "$config"; then
      external=true
      for f in etcd/ca.crt apiserver-etcd-client.crt apiserver-etcd-client.key; do [[ -f $pki/$f ]] || fail "external etcd: $f missing"; done
      # Preflight ExternalEtcdVersion: GET /version on every endpoint, fatal on any miss.
      if [[ " $* " != *" --ignore-preflight-errors=ExternalEtcdVersion "* ]]; then
        for endpoint in $(grep -o 'https://[0-9.]*:2379' "$config"); do
          ip=\${endpoint#https://}; ip=\${ip%%:*}
          etcd_up "$ip" || fail "[preflight] ExternalEtcdVersion: Get $endpoint/version: connection refused"
        done
      fi
    else
      new_ca "$pki/etcd/ca" etcd-ca
    fi
    new_ca "$pki/ca" kubernetes; new_ca "$pki/front-proxy-ca" front-proxy-ca
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/sa.key" 2>/dev/null
    openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
    printf 'apiVersion: v1\\nkind: Config\\n# admin of the simulated cluster\\n' >"$ROOT/etc/kubernetes/admin.conf"
    printf 'apiVersion: v1\\nkind: Config\\n# kubelet\\n' >"$ROOT/etc/kubernetes/kubelet.conf"
    # FAKE_FAIL_INIT: a later phase (wait-control-plane, upload-config, ...) fails after the kubeconfig phase;
    # FAKE_FAIL_INIT_TIMES=N: only the node's first N inits do.
    [[ -z \${FAKE_FAIL_INIT:-} ]] || fail "init after writing admin.conf"
    if [[ -n \${FAKE_FAIL_INIT_TIMES:-} ]]; then
      count=$(($(cat "$FAKE_STATE/init-failures-$FAKE_NODE" 2>/dev/null || echo 0) + 1)); echo "$count" >"$FAKE_STATE/init-failures-$FAKE_NODE"
      ((count > FAKE_FAIL_INIT_TIMES)) || fail "init after writing admin.conf (failure $count of $FAKE_FAIL_INIT_TIMES)"
    fi
    # The API server needs an etcd quorum (wait-control-plane); the upload phases go through the endpoint.
    ! $external || etcd_quorum || fail "init: kube-apiserver cannot reach an etcd quorum"
    [[ -f $FAKE_STATE/lb-up ]] || fail "init: upload-config cannot reach $FAKE_ENDPOINT (no load balancer)"
    cp "$pki/ca.crt" "$FAKE_STATE/cluster-ca.crt"
    touch "$FAKE_STATE/api-ready" "$FAKE_STATE/nodes/$FAKE_NODE"
    mkdir -p "$ROOT/sys/fs/cgroup/kubepods.slice"
    event initialised
    if [[ " $* " == *" --skip-token-print "* ]]; then
      echo "kubeadm join $FAKE_ENDPOINT --token <value withheld>"
    else
      echo "kubeadm join $FAKE_ENDPOINT --token abcdef.0123456789abcdef"
    fi
    ;;
  token)
    [[ $2 == create ]] || fail "unexpected token subcommand $2"
    [[ " $* " == *" --kubeconfig $ROOT/etc/kubernetes/admin.conf "* && -f $ROOT/etc/kubernetes/admin.conf ]] || fail "token create without admin.conf"
    token="$(openssl rand -hex 3).$(openssl rand -hex 8)"
    echo "$token" >>"$FAKE_STATE/tokens"
    echo "$token"
    ;;
  join)
    [[ -f $config ]] || fail "join without --config"
    grep -q '^kind: JoinConfiguration' "$config" || fail "join config has no JoinConfiguration"
    ! grep -q '@NODE_' "$config" || fail "join config with unresolved placeholders"
    grep -Eq '^  name: "?'"$FAKE_NODE"'"?$' "$config" || fail "join config registers another node name than $FAKE_NODE"
    discovery="$ROOT$(sed -n 's/^ *kubeConfigPath: *//p' "$config")"
    [[ -f $discovery ]] || fail "discovery kubeconfig $discovery missing"
    [[ $(stat -c %a "$discovery") == 600 ]] || fail "discovery kubeconfig is not 0600"
    token="$(sed -n 's/^ *token: *//p' "$discovery")"
    grep -qx "$token" "$FAKE_STATE/tokens" || fail "discovery kubeconfig has an unknown token"
    ca_data="$(sed -n 's/^ *certificate-authority-data: *//p' "$discovery")"
    [[ $ca_data == "$(base64 -w0 "$FAKE_STATE/cluster-ca.crt")" ]] || fail "discovery kubeconfig has the wrong CA"
    [[ -f $ROOT/etc/kubernetes/kubelet.conf ]] && fail "join on a joined node"
    if grep -q '^controlPlane:' "$config"; then
      for f in $FAKE_SHARED_PKI; do [[ -s $pki/$f ]] || fail "control-plane join without $f"; done
      cmp -s "$pki/ca.crt" "$FAKE_STATE/cluster-ca.crt" || fail "control-plane join with a foreign ca.crt"
      if [[ $FAKE_SHARED_PKI == *etcd/ca.key* ]]; then
        # Stacked etcd: kubeadm adds this node's member as a learner, and etcd admits one at a time.
        mkdir "$FAKE_STATE/etcd-learner" 2>/dev/null || fail "etcdserver: too many learner members in cluster"
        event "etcd learner added"
        sleep "\${FAKE_LEARNER_SECONDS:-0}"
        rmdir "$FAKE_STATE/etcd-learner"
        event "etcd learner promoted"
      fi
      printf 'apiVersion: v1\\nkind: Config\\n# admin\\n' >"$ROOT/etc/kubernetes/admin.conf"
      role=control-plane
    else
      mkdir -p "$pki"; cp "$FAKE_STATE/cluster-ca.crt" "$pki/ca.crt"
      role=worker
    fi
    printf 'apiVersion: v1\\nkind: Config\\n# kubelet\\n' >"$ROOT/etc/kubernetes/kubelet.conf"
    # FAKE_FAIL_JOIN: a last phase (control-plane-join, mark-control-plane, ...) fails after kubelet-start.
    [[ -z \${FAKE_FAIL_JOIN:-} ]] || fail "join after writing kubelet.conf"
    touch "$FAKE_STATE/nodes/$FAKE_NODE"
    mkdir -p "$ROOT/sys/fs/cgroup/kubepods.slice"
    event "joined $role"
    ;;
  reset)
    [[ "$*" == "reset -f" ]] || fail "unexpected kubeadm $*"
    rm -rf "$ROOT/etc/kubernetes/admin.conf" "$ROOT/etc/kubernetes/kubelet.conf" "$pki"
    event reset
    ;;
  *) fail "unexpected kubeadm $1" ;;
esac
`,
  curl: `
record curl "$@"
out=""; cacert=""; cert=""; key=""; url=""; args=("$@")
for ((i = 0; i < \${#args[@]}; i++)); do
  case \${args[i]} in
    -o) out=\${args[i+1]} ;; --cacert) cacert=\${args[i+1]} ;; --cert) cert=\${args[i+1]} ;; --key) key=\${args[i+1]} ;; https://* | http://*) url=\${args[i]} ;;
  esac
done
case $url in
  # The instance metadata service, IMDSv2 only (as every launch template requires): a session
  # token by PUT, then reads that carry it; an Auto Scaling group instance's id, IP and zone.
  http://169.254.169.254/latest/api/token)
    [[ " $* " == *" -X PUT "* && " $* " == *" X-aws-ec2-metadata-token-ttl-seconds: "* ]] || exit 22
    echo "imds-session-token"
    ;;
  http://169.254.169.254/latest/meta-data/*)
    [[ " $* " == *" X-aws-ec2-metadata-token: imds-session-token "* ]] || { event "imds refused: no IMDSv2 token"; exit 22; }
    case \${url#http://169.254.169.254/latest/meta-data/} in
      instance-id) echo "$FAKE_INSTANCE_ID" ;;
      local-ipv4) echo "$FAKE_NODE_IP" ;;
      placement/availability-zone) echo "$FAKE_ZONE" ;;
      *) exit 22 ;;
    esac
    ;;
  "https://$FAKE_ENDPOINT/livez")
    # The init node's look at the endpoint (-k): nothing listens (7), the load balancer closes the
    # connection for want of a backend (35), or an API server answers (0).
    [[ -f $FAKE_STATE/lb-up ]] || exit 7
    [[ -f $FAKE_STATE/api-ready ]] || exit 35
    ;;
  https://*:2379/*)
    # An external etcd member, with TLS client authentication like the real one.
    ip=\${url#https://}; ip=\${ip%%:*}
    [[ -n $cacert && -f $cert && -f $key ]] || exit 58
    # Verified once per client certificate (a new one is verified again): openssl is slow to start.
    verified="$FAKE_STATE/etcd-client-verified-$FAKE_NODE"
    if [[ ! -f $verified || $cert -nt $verified ]]; then
      openssl verify -CAfile "$cacert" "$cert" >/dev/null 2>&1 || exit 35
      touch "$verified"
    fi
    etcd_up "$ip" || exit 7
    case $url in
      */health) etcd_quorum || exit 22 ;;
      */version) ;;
      *) fail "unexpected etcd request $url" ;;
    esac
    ;;
  */readyz)
    [[ -f $FAKE_STATE/api-ready && -f $FAKE_STATE/lb-up ]] || exit 7
    # Real curl: "SSL certificate problem" (60) when the CA does not verify the server.
    cmp -s "$cacert" "$FAKE_STATE/cluster-ca.crt" || { event "readyz refused: not the cluster CA"; exit 60; }
    ;;
  */Release.key) echo "fake apt key" ;;
  https://github.com/etcd-io/etcd/releases/download/*) cp "$FAKE_ASSETS/\${url##*/}" "$out" ;;
  *) fail "unexpected download $url" ;;
esac
`,
  gpg: `record gpg "$@"; out=""; args=("$@"); for ((i = 0; i < \${#args[@]}; i++)); do [[ \${args[i]} == -o ]] && out=\${args[i+1]}; done; cat >"$out"`,
  // containerd 1.x's default layout, trimmed; FAKE_CONTAINERD_LAYOUT=other has no sandbox image setting.
  containerd: `record containerd "$@"; printf '[plugins]\\n  SystemdCgroup = false\\n'
[[ \${FAKE_CONTAINERD_LAYOUT:-} == other ]] || printf '  [plugins."io.containerd.grpc.v1.cri"]\\n    sandbox_image = "registry.k8s.io/pause:3.8"\\n'`,
  dpkg: `record dpkg "$@"; echo amd64`,
  haproxy: `record haproxy "$@"; [[ -f \${@: -1} ]]`,
  nginx: `record nginx "$@"`,
  kubectl: `
record kubectl "$@"
kubeconfig=\${KUBECONFIG:-}; get=""; args=("$@")
for ((i = 0; i < \${#args[@]}; i++)); do
  case \${args[i]} in --kubeconfig) kubeconfig=\${args[i+1]} ;; get) get="\${args[*]:i+1}" ;; esac
done
case $get in
  "--raw /api/v1/namespaces/kube-system/configmaps/kubeadm-config")
    # A bootstrap token may read kubeadm-config; the API refuses a token it does not know.
    [[ -f $FAKE_STATE/api-ready && -f $FAKE_STATE/lb-up ]] || exit 1
    token="$(sed -n 's/^ *token: *//p' "$kubeconfig")"
    grep -qx "$token" "$FAKE_STATE/tokens" || { echo "error: You must be logged in to the server (Unauthorized)" >&2; exit 1; }
    ;;
  "secret bootstrap-token-"*)
    id=\${get#secret bootstrap-token-}; id=\${id%% *}
    grep -q "^$id\\." "$FAKE_STATE/tokens" || { echo "Error from server (NotFound)" >&2; exit 1; }
    echo "secret/bootstrap-token-$id"
    ;;
  "node "*)
    name=\${get#node }; name=\${name%% *}
    [[ -f $FAKE_STATE/nodes/$name ]] || { echo "Error from server (NotFound): nodes \"$name\" not found" >&2; exit 1; }
    echo True
    ;;
esac`,
  // FAKE_INACTIVE=1: every unit is stopped (is-active answers 3, as systemctl does). Starting the
  // load balancer makes the endpoint accept connections; starting etcd makes the member answer,
  // FAKE_ETCD_SLOW="<node>=<ms>" that long after, never for a node in FAKE_ETCD_DEAD.
  systemctl: `record systemctl "$@"; [[ $1 != is-active || -z \${FAKE_INACTIVE:-} ]] || exit 3
case "$*" in
  "restart haproxy" | "restart nginx") touch "$FAKE_STATE/lb-up" ;;
  "start --no-block etcd")
    [[ " \${FAKE_ETCD_DEAD:-} " != *" $FAKE_NODE "* ]] || exit 0
    delay=0; [[ \${FAKE_ETCD_SLOW:-} != "$FAKE_NODE="* ]] || delay=\${FAKE_ETCD_SLOW#*=}
    echo $((\${EPOCHREALTIME/./} / 1000 + delay)) >"$FAKE_STATE/etcd/$FAKE_NODE_IP"
    ;;
esac`,
  // The rules in FAKE_STATE/iptables-<node>; -C answers 1 for a rule not there, as iptables does.
  iptables: `record iptables "$@"; rules="$FAKE_STATE/iptables-$FAKE_NODE"; rule="\${*:3}"
case $2 in
  -C) grep -qxF -- "$rule" "$rules" 2>/dev/null ;;
  -I) echo "$rule" >>"$rules" ;;
  *) fail "unexpected iptables $*" ;;
esac`,
  "apt-get": `record apt-get "$@"`,
  "apt-mark": `record apt-mark "$@"`,
  snap: `record snap "$@"`,
  modprobe: `record modprobe "$@"`,
  sysctl: `record sysctl "$@"`,
  swapoff: `record swapoff "$@"`,
};

/** The parameter store: python, for its argument parsing and JSON. */
const FAKE_AWS = `#!/usr/bin/env python3
import base64, datetime, json, os, sys, tempfile, time, urllib.parse
state = os.environ["FAKE_STATE"]; node = os.environ["FAKE_NODE"]; role = os.environ["FAKE_ROLE"]
argv = sys.argv[1:]
with open(os.path.join(state, "calls", node + ".log"), "a") as log:
    log.write("%d %s aws %s\\n" % (time.time_ns(), node, " ".join(argv)))
def opt(name):
    return argv[argv.index(name) + 1] if name in argv else None
def error(code, op, message):
    sys.stderr.write("An error occurred (%s) when calling the %s operation: %s\\n" % (code, op, message)); sys.exit(254)
policy = json.load(open(os.path.join(state, "policy.json")))
if argv[:1] == ["--region"]: argv = argv[2:]
if argv[0] != "ssm": error("InvalidAction", argv[0], "only ssm is simulated")
op, name = argv[1], opt("--name")
audience = next((a for a in policy if name.startswith(policy[a]["prefix"] + "/")), None)
if audience is None: error("AccessDeniedException", op, "%s is outside every kubeadm-ha prefix" % name)
rights = policy[audience]
store = os.path.join(state, "params", urllib.parse.quote(name, safe="") + ".json")
def denied(op, what):
    with open(os.path.join(state, "denied.log"), "a") as f: f.write("%s %s %s\\n" % (node, op, name))
    error("AccessDeniedException", op, "role %s may not %s with %s" % (role, what, rights["alias"]))
def throttle(op):
    # FAKE_THROTTLE=1: each node's first call of this kind is throttled, as SSM does under load.
    if os.environ.get("FAKE_THROTTLE") != "1": return
    marker = os.path.join(state, "throttled-%s-%s" % (node, op))
    if os.path.exists(marker): return
    open(marker, "w").close()
    with open(os.path.join(state, "calls", node + ".log"), "a") as log:
        log.write("%d %s event throttled %s %s\\n" % (time.time_ns(), node, op, name))
    error("ThrottlingException", op, "Rate exceeded")
def throttle_check():
    # FAKE_THROTTLE_CHECKS=N: the node's first N existence checks (no value asked for) are throttled.
    limit = int(os.environ.get("FAKE_THROTTLE_CHECKS", "0"))
    if opt("--query") not in (None, "Parameter.Name") or limit == 0: return
    counter = os.path.join(state, "throttled-checks-" + node)
    count = int(open(counter).read()) if os.path.exists(counter) else 0
    if count >= limit: return
    open(counter, "w").write(str(count + 1))
    with open(os.path.join(state, "calls", node + ".log"), "a") as log:
        log.write("%d %s event throttled check %s\\n" % (time.time_ns(), node, name))
    error("ThrottlingException", "GetParameter", "Rate exceeded")
def kms_transient():
    # FAKE_KMS_TRANSIENT=N: the node's first N decryptions fail with a passing KMS error.
    limit = int(os.environ.get("FAKE_KMS_TRANSIENT", "0"))
    counter = os.path.join(state, "kms-transient-" + node)
    count = int(open(counter).read()) if os.path.exists(counter) else 0
    if count >= limit: return
    open(counter, "w").write(str(count + 1))
    with open(os.path.join(state, "calls", node + ".log"), "a") as log:
        log.write("%d %s event kms transient %s\\n" % (time.time_ns(), node, name))
    error("KMSInternalException", "GetParameter", "KMS could not complete the request; try again")
if op == "get-parameter":
    throttle_check()
    if not os.path.exists(store): error("ParameterNotFound", "GetParameter", "")
    param = json.load(open(store)); query = opt("--query")
    if param.get("type") == "String":
        # Not encrypted: --with-decryption changes nothing, no KMS key is involved.
        if query == "Parameter.Value": print(param["value"])
        elif query == "Parameter.Name": print(name)
        else: error("InvalidQuery", "GetParameter", str(query))
        sys.exit(0)
    if "--with-decryption" in argv:
        kms_transient()
        if role not in rights["readers"]: denied("GetParameter", "kms:Decrypt")
        # A value left by a destroyed deployment: its KMS key is pending deletion.
        if param.get("stale"): error("KMSInvalidStateException", "GetParameter", "arn:aws:kms:eu-west-1:111122223333:key/old is pending deletion.")
    if query == "Parameter.Value":
        if "--with-decryption" not in argv: print(base64.b64encode(b"ciphertext:" + name.encode()).decode()); sys.exit(0)
        throttle("GetParameter")
        sys.stdout.write(param["value"] + "\\n")
    elif query == "Parameter.Name": print(name)
    elif query is None:
        print(json.dumps({"Parameter": {"Name": name, "Type": "SecureString", "Value": param["value"] if "--with-decryption" in argv else "ciphertext"}}))
    elif query == "Parameter.LastModifiedDate":
        print(datetime.datetime.fromtimestamp(param["modified"], datetime.timezone.utc).isoformat())
    else: error("InvalidQuery", "GetParameter", str(query))
elif op == "put-parameter" and opt("--type") == "String":
    # Only the control-plane join lease is a plain String: not secret, no KMS key.
    if not name.endswith("/join-lease"): error("ValidationException", "PutParameter", "%s must be a SecureString" % name)
    if role not in rights["writers"]: denied("PutParameter", "ssm:PutParameter")
    if os.path.exists(store) and "--overwrite" not in argv: error("ParameterAlreadyExists", "PutParameter", "The parameter already exists.")
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(store))
    with os.fdopen(fd, "w") as f: json.dump({"value": opt("--value"), "type": "String", "modified": time.time(), "writer": node}, f)
    if "--overwrite" in argv: os.replace(tmp, store)
    else:
        # Atomic create-if-absent, as SSM does it.
        try: os.link(tmp, store)
        except FileExistsError: os.unlink(tmp); error("ParameterAlreadyExists", "PutParameter", "The parameter already exists.")
        os.unlink(tmp)
    print(json.dumps({"Version": 1, "Tier": "Standard"}))
elif op == "delete-parameter":
    if not name.endswith("/join-lease"): denied("DeleteParameter", "ssm:DeleteParameter")
    if role not in rights["writers"]: denied("DeleteParameter", "ssm:DeleteParameter")
    try: os.unlink(store)
    except FileNotFoundError: error("ParameterNotFound", "DeleteParameter", "")
elif op == "put-parameter":
    if opt("--type") != "SecureString": error("ValidationException", "PutParameter", "not a SecureString")
    if opt("--key-id") != rights["alias"]: error("ValidationException", "PutParameter", "wrong key %s for %s" % (opt("--key-id"), name))
    if role not in rights["writers"]: denied("PutParameter", "kms:Encrypt")
    throttle("PutParameter")
    if os.path.exists(store) and "--overwrite" not in argv: error("ParameterAlreadyExists", "PutParameter", name)
    value = opt("--value")
    if not value.startswith("file://"): error("ValidationException", "PutParameter", "value not from a file (it would be in argv)")
    content = open(value[len("file://"):]).read()
    if content.endswith("\\n"): content = content[:-1]
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(store))
    with os.fdopen(fd, "w") as f: json.dump({"value": content, "modified": time.time(), "writer": node}, f)
    os.replace(tmp, store); print(json.dumps({"Version": 1, "Tier": "Standard"}))
else: error("InvalidAction", op, "not simulated")
`;

function writeExecutable(file: string, content: string): void {
  fs.writeFileSync(file, content, { mode: 0o755 });
}

/** The fake aws's resident interpreter (support/resident-python.ts). */
let residentAws: ResidentPython | undefined;

async function installFakes(): Promise<void> {
  fs.mkdirSync(FAKE_BIN, { recursive: true });
  for (const [name, body] of Object.entries(FAKES)) {
    writeExecutable(path.join(FAKE_BIN, name), `#!/bin/bash\nset -euo pipefail\n${RECORD}\n${body}\n`);
  }
  residentAws = await installResidentPython(path.join(FAKE_BIN, "aws"), FAKE_AWS);
}

/** A fake etcd release: a tarball whose etcd prints its version, and the matching SHA256SUMS. */
function buildEtcdRelease(version: string): void {
  const dir = path.join(ASSETS, `etcd-v${version}-linux-amd64`);
  fs.mkdirSync(dir, { recursive: true });
  for (const tool of ["etcd", "etcdctl", "etcdutl"]) {
    writeExecutable(path.join(dir, tool), `#!/usr/bin/env bash\necho "${tool === "etcd" ? "etcd" : tool} Version: ${version}"\n`);
  }
  const tarball = `etcd-v${version}-linux-amd64.tar.gz`;
  const tar = spawnSync("tar", ["-czf", tarball, path.basename(dir)], { cwd: ASSETS });
  expect(tar.status).toBe(0);
  const digest = crypto.createHash("sha256").update(fs.readFileSync(path.join(ASSETS, tarball))).digest("hex");
  fs.writeFileSync(path.join(ASSETS, "SHA256SUMS"), `${"0".repeat(64)}  etcd-v${version}-linux-arm64.tar.gz\n${digest}  ${tarball}\n`);
}

// ---------------------------------------------------------------------------------------------
// A simulated cluster

interface Call {
  readonly time: bigint;
  readonly node: string;
  readonly argv: string[];
  readonly line: string;
}

interface RunResult {
  readonly node: string;
  readonly code: number | null;
  readonly output: string;
  /** How many times systemd ran the boot unit. */
  readonly attempts?: number;
}

/** The boot unit's RestartSec, scaled down for the simulation. */
const RESTART_DELAY_MS = 300;
/** hrtime is monotonic from an arbitrary origin; the fakes log wall-clock nanoseconds. */
const EPOCH_OFFSET_NS = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

class SimulatedCluster {
  readonly dir: string;
  readonly state: string;

  /** `variant` names a second simulated deployment of the same stack (its own directory and store). */
  constructor(
    readonly topology: Topology,
    variant = "",
    private readonly extraEnv: NodeJS.ProcessEnv = {},
  ) {
    this.dir = path.join(BASE, topology.stack + variant);
    this.state = path.join(this.dir, "state");
    for (const sub of ["calls", "params", "nodes", "etcd"]) fs.mkdirSync(path.join(this.state, sub), { recursive: true });
    fs.writeFileSync(path.join(this.state, "tokens"), "");
    // A managed load balancer (the NLB) exists once Terraform created it; a node-run one starts with its node.
    if (!topology.loadBalancer) fs.writeFileSync(path.join(this.state, "lb-up"), "");
    const policy = Object.fromEntries(
      SECRET_KEYS.map((key) => [
        key.audience,
        { prefix: parameterPrefix(topology.stack, key.audience), alias: kmsAlias(topology.stack, key.audience), readers: key.readers, writers: key.writers },
      ]),
    );
    fs.writeFileSync(path.join(this.state, "policy.json"), JSON.stringify(policy));
    this.nodes = [...topology.nodes, ...groupInstances(topology)];
    for (const node of this.nodes) this.provision(node);
  }

  /** The static nodes and the Auto Scaling group's instances (groupInstances). */
  readonly nodes: readonly ClusterNode[];

  /** What the node boots: its own user data, or an Auto Scaling group instance's launch template's. */
  private userData(node: ClusterNode): string {
    return renderUserData(this.topology, node.dynamic ? this.topology.workerAutoScaling!.template : node);
  }

  root(node: ClusterNode): string {
    return path.join(this.dir, "nodes", node.name);
  }

  /** What cloud-init does with write_files: every file under the node's root, with its mode (default 0644). */
  private provision(node: ClusterNode): void {
    const userData = parse(this.userData(node)) as {
      write_files: { path: string; content: string; permissions?: string; encoding?: string }[];
    };
    for (const file of userData.write_files) {
      const target = path.join(this.root(node), file.path);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      // A node near EC2's 16 KB limit gets its largest files as cloud-init's `encoding: gz+b64`.
      const content = file.encoding === "gz+b64" ? gunzipSync(Buffer.from(file.content, "base64")) : file.content;
      fs.writeFileSync(target, content, { mode: parseInt(file.permissions ?? "0644", 8) });
    }
  }

  /** A new instance in the node's place: an empty root with the node's user-data files. */
  replace(node: ClusterNode): void {
    fs.rmSync(this.root(node), { recursive: true, force: true });
    this.provision(node);
  }

  /** The stored parameter (value, modified, writer, stale), or undefined. */
  parameter(name: string): { value: string; modified: number; writer: string; stale?: boolean } | undefined {
    const file = this.parameterFile(name);
    return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : undefined;
  }

  /** Writes a parameter as if an earlier deployment had (a stale one no longer decrypts). */
  setParameter(name: string, fields: { value: string; modified: number; writer: string; stale?: boolean }): void {
    fs.writeFileSync(this.parameterFile(name), JSON.stringify(fields));
  }

  deleteParameter(name: string): void {
    fs.rmSync(this.parameterFile(name));
  }

  /** The fake aws's file for a parameter (python's urllib.parse.quote(name, safe="")). */
  private parameterFile(name: string): string {
    const quoted = encodeURIComponent(name).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    return path.join(this.state, "params", `${quoted}.json`);
  }

  private env(node: ClusterNode): NodeJS.ProcessEnv {
    fs.mkdirSync(path.join(this.root(node), "tmp"), { recursive: true });
    const sharedPki =
      this.topology.etcd.topology === "stacked"
        ? "ca.crt ca.key sa.key sa.pub front-proxy-ca.crt front-proxy-ca.key etcd/ca.crt etcd/ca.key"
        : "ca.crt ca.key sa.key sa.pub front-proxy-ca.crt front-proxy-ca.key etcd/ca.crt apiserver-etcd-client.crt apiserver-etcd-client.key";
    return {
      PATH: `${FAKE_BIN}:/usr/bin:/bin`,
      HOME: path.join(this.root(node), "root"),
      LANG: "C",
      TMPDIR: path.join(this.root(node), "tmp"),
      KUBEADM_HA_ROOT: this.root(node),
      KUBEADM_HA_POLL_SECONDS: "0.1",
      KUBEADM_HA_WAIT_SECONDS: "60",
      KUBEADM_HA_ETCD_MEMBERS_WAIT_SECONDS: "30",
      FAKE_NODE: node.name,
      FAKE_NODE_IP: node.privateIp,
      FAKE_ETCD_MEMBERS: String(this.topology.etcdNodes.length),
      FAKE_ROLE: node.role,
      FAKE_STATE: this.state,
      FAKE_ASSETS: ASSETS,
      FAKE_ENDPOINT: this.topology.controlPlaneEndpoint,
      FAKE_SHARED_PKI: sharedPki,
      // What the instance metadata service tells an Auto Scaling group instance about itself.
      ...(node.dynamic ? { FAKE_INSTANCE_ID: node.name.replace(/^worker-/, ""), FAKE_ZONE: node.availabilityZone } : {}),
      ...residentAws?.env,
      ...this.extraEnv,
    };
  }

  /**
   * What systemd runs for the boot unit that cloud-init's runcmd starts: its ExecStart, with
   * absolute paths inside the node's root, and whether it restarts after a failure.
   */
  private bootUnit(node: ClusterNode): { command: string[]; restartOnFailure: boolean } {
    const userData = parse(this.userData(node)) as { runcmd: string[][] };
    expect(userData.runcmd.slice(-2)).toEqual([["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", "--no-block", BOOT_UNIT]]);
    const unit = fs.readFileSync(path.join(this.root(node), BOOT_UNIT_PATH), "utf8");
    const execStart = /^ExecStart=(.+)$/m.exec(unit);
    expect(execStart).not.toBeNull();
    return {
      command: execStart![1].split(" ").map((arg) => (arg.startsWith("/usr/local") ? path.join(this.root(node), arg) : arg)),
      restartOnFailure: /^Restart=on-failure$/m.test(unit),
    };
  }

  /** Boots every node (or these) at once; resolves when all have finished (or kills them all on timeout). */
  bootAll(env: NodeJS.ProcessEnv = {}, attempts = 1, nodes: readonly ClusterNode[] = this.nodes): Promise<RunResult[]> {
    return this.bootNodes(nodes, env, undefined, attempts);
  }

  /**
   * Boots these nodes at once: the boot unit as systemd runs it, up to `attempts` times (a failed
   * attempt is restarted after RESTART_DELAY_MS, the unit's RestartSec scaled down), or `command`
   * once inside the node's root.
   */
  async bootNodes(nodes: readonly ClusterNode[], env: NodeJS.ProcessEnv = {}, command?: string[], attempts = 1): Promise<RunResult[]> {
    const runs = nodes.map((node) => (command ? this.boot(node, env, command) : this.bootWithRetries(node, env, attempts)));
    const timeout = new Promise<never>((_, reject) => {
      const timer = setTimeout(() => {
        killAll();
        reject(new Error(`${this.topology.stack}: nodes still running after ${RUN_TIMEOUT_MS} ms; killed`));
      }, RUN_TIMEOUT_MS);
      Promise.allSettled(runs).then(() => clearTimeout(timer));
    });
    return Promise.race([Promise.all(runs), timeout]);
  }

  private async bootWithRetries(node: ClusterNode, env: NodeJS.ProcessEnv, attempts: number): Promise<RunResult> {
    const unit = this.bootUnit(node);
    let output = "";
    for (let attempt = 1; ; attempt += 1) {
      this.event(node, `systemd boot attempt ${attempt}`);
      const run = await this.boot(node, env, unit.command, false);
      output += run.output;
      if (run.code === 0 || !unit.restartOnFailure || attempt >= attempts) return { ...run, output, attempts: attempt };
      await new Promise((resolve) => setTimeout(resolve, RESTART_DELAY_MS));
    }
  }

  /** Appends an event to the node's call log, as the fakes do. */
  event(node: ClusterNode, what: string): void {
    fs.appendFileSync(path.join(this.state, "calls", `${node.name}.log`), `${process.hrtime.bigint() + EPOCH_OFFSET_NS} ${node.name} event ${what}\n`);
  }

  private boot(node: ClusterNode, env: NodeJS.ProcessEnv = {}, argv: string[], inRoot = true): Promise<RunResult> {
    const [command, ...args] = inRoot ? argv.map((arg) => (arg.startsWith("/") ? path.join(this.root(node), arg) : arg)) : argv;
    const child = spawn(command, args, { env: { ...this.env(node), ...env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    let output = "";
    child.stdout?.on("data", (chunk) => (output += chunk));
    child.stderr?.on("data", (chunk) => (output += chunk));
    return new Promise((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code) => {
        running.delete(child);
        resolve({ node: node.name, code, output });
      });
    });
  }

  /** Runs the fake aws as a node would, for negative controls. */
  aws(node: ClusterNode, args: string[]) {
    return spawnSync(path.join(FAKE_BIN, "aws"), args, { env: this.env(node), encoding: "utf8" });
  }

  calls(): Call[] {
    const calls: Call[] = [];
    for (const file of fs.readdirSync(path.join(this.state, "calls"))) {
      for (const line of fs.readFileSync(path.join(this.state, "calls", file), "utf8").split("\n")) {
        if (!line) continue;
        const [time, node, ...argv] = line.split(" ");
        calls.push({ time: BigInt(time), node, argv, line });
      }
    }
    return calls.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  }

  log(node: ClusterNode): string {
    const file = path.join(this.root(node), "var/log/kubeadm-ha-bootstrap.log");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  }

  /** Every file under the node's root with its content hash (the boot log aside). */
  snapshot(node: ClusterNode): Map<string, string> {
    const result = new Map<string, string>();
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (!full.endsWith("kubeadm-ha-bootstrap.log")) {
          result.set(path.relative(this.root(node), full), crypto.createHash("sha256").update(fs.readFileSync(full)).digest("hex"));
        }
      }
    };
    walk(this.root(node));
    return result;
  }

  filesUnder(node: ClusterNode): string[] {
    return [...this.snapshot(node).keys()];
  }

  denied(): string {
    const file = path.join(this.state, "denied.log");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  }
}

const is = (call: Call, ...prefix: string[]) => prefix.every((word, index) => call.argv[index] === word);
const firstTime = (calls: Call[]) => {
  expect(calls.length).toBeGreaterThan(0);
  return calls[0].time;
};

/**
 * The instances an Auto Scaling group has launched when the simulation starts: desiredCapacity of
 * them, round-robin over the zones, at addresses EC2 could give them (above the reserved hosts).
 * Each is named as node-identity.sh names it; it boots the group's launch template user data.
 */
function groupInstances(topology: Topology): ClusterNode[] {
  const group = topology.workerAutoScaling;
  if (!group) return [];
  return Array.from({ length: group.desiredCapacity }, (_, index) => {
    const zoneIndex = index % topology.zones.length;
    const zone = topology.zones[zoneIndex];
    const [a, b, c] = zone.privateSubnet.split(".").map(Number);
    return {
      ...group.template,
      name: `worker-i-0abc${(0x10000 + index).toString(16)}def0123`,
      ordinal: index + 1,
      privateIp: `${a}.${b}.${c + 1}.${17 + index}`,
      availabilityZone: zone.name,
      zoneIndex,
    };
  });
}

const SECRET_IN_LOG = [/\b[a-z0-9]{6}\.[a-z0-9]{16}\b/, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, /\b[0-9a-f]{64}\b/];

beforeAll(async () => {
  await installFakes();
  buildEtcdRelease(shippedTopology("external-etcd").spec.etcd.version);
});

describe.each(["five-server", "external-etcd", "production"])("bootstrap of %s", (stack) => {
  const topology = shippedTopology(stack);
  // Workers are the static ones and, with workers.autoScaling, the group's instances.
  const instances = groupInstances(topology);
  const nodes = [...topology.nodes, ...instances];
  const workers = [...topology.workers, ...instances];
  let cluster: SimulatedCluster;
  let firstRun: RunResult[];
  let calls: Call[];

  beforeAll(async () => {
    cluster = new SimulatedCluster(topology);
    firstRun = await cluster.bootAll();
    calls = cluster.calls();
  });

  afterEach(() => {
    // On a failure, show what each node said: that is what an operator would read on the console.
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts && firstRun) {
      for (const run of firstRun) if (run.code !== 0) console.log(`--- ${run.node} exited ${run.code}\n${run.output}`);
    }
  });

  test("every node's boot finishes successfully", () => {
    expect(firstRun.map((run) => `${run.node}: ${run.code}`)).toEqual(nodes.map((node) => `${node.name}: 0`));
    for (const node of nodes) expect(cluster.log(node)).toMatch(/bootstrap complete/);
  });

  test("exactly one kubeadm init, on the init node, before any join", () => {
    const inits = calls.filter((call) => is(call, "kubeadm", "init"));
    expect(inits.map((call) => call.node)).toEqual([topology.initNode.name]);
    expect(inits[0].argv).toContain("--skip-token-print");
    expect(inits[0].argv.join(" ")).toContain(`--config ${cluster.root(topology.initNode)}/etc/kubeadm-ha/kubeadm.yaml`);
    const joins = calls.filter((call) => is(call, "kubeadm", "join"));
    for (const join of joins) expect(join.time).toBeGreaterThan(inits[0].time);
  });

  test("the init node installs the CNI and publishes certificates and admin.conf before the join kubeconfig", () => {
    const init = topology.initNode.name;
    const puts = calls.filter((call) => call.node === init && is(call, "aws", "--region", topology.spec.region, "ssm", "put-parameter"));
    const joinPut = puts.filter((call) => call.argv.includes(`/kubeadm-ha/${stack}/join/discovery-kubeconfig`));
    expect(joinPut).toHaveLength(1);
    const others = puts.filter((call) => call !== joinPut[0]);
    expect(others.length).toBeGreaterThanOrEqual(7);
    for (const put of others) expect(put.time).toBeLessThan(joinPut[0].time);
    const cni = calls.filter((call) => call.node === init && is(call, "kubectl", "apply") && !call.line.includes("coredns"));
    expect(cni.map((call) => call.argv[call.argv.length - 1])).toEqual([
      "https://raw.githubusercontent.com/projectcalico/calico/v3.31.3/manifests/operator-crds.yaml",
      "https://raw.githubusercontent.com/projectcalico/calico/v3.31.3/manifests/tigera-operator.yaml",
      `${cluster.root(topology.initNode)}/etc/kubeadm-ha/cni/pod-network.yaml`,
    ]);
    expect(calls.some((call) => call.node === init && call.line.endsWith("systemctl enable --now kubeadm-ha-join-token.timer"))).toBe(true);
  });

  test("every other Kubernetes node waits, then joins once with the right role after the join kubeconfig is published", () => {
    const published = firstTime(calls.filter((call) => call.argv.includes("put-parameter") && call.argv.includes(`/kubeadm-ha/${stack}/join/discovery-kubeconfig`)));
    for (const node of [...topology.controlPlane, ...workers].filter((candidate) => candidate !== topology.initNode)) {
      const mine = calls.filter((call) => call.node === node.name);
      const joins = mine.filter((call) => is(call, "kubeadm", "join"));
      expect(joins).toHaveLength(1);
      expect(joins[0].argv).toEqual(["kubeadm", "join", "--config", `${cluster.root(node)}/etc/kubeadm-ha/kubeadm.yaml`]);
      expect(joins[0].time).toBeGreaterThan(published);
      expect(mine.filter((call) => call.line.includes("event joined")).map((call) => call.argv.slice(1).join(" "))).toEqual([
        `joined ${node.role}`,
      ]);
      // It really waited: it asked for the join kubeconfig and probed /readyz before joining.
      expect(firstTime(mine.filter((call) => is(call, "curl") && call.line.includes("/readyz")))).toBeLessThan(joins[0].time);
      // The discovery kubeconfig with the token is gone after the join.
      expect(fs.existsSync(path.join(cluster.root(node), "run/kubeadm-ha/discovery.kubeconfig"))).toBe(false);
      expect(fs.existsSync(path.join(cluster.root(node), "etc/kubernetes/kubelet.conf"))).toBe(true);
    }
  });

  test("after the joins, the init node spreads CoreDNS over the nodes and gives it a PodDisruptionBudget", () => {
    const init = topology.initNode;
    const mine = calls.filter((call) => call.node === init.name);
    const pdb = mine.filter((call) => is(call, "kubectl", "apply") && call.line.endsWith("/etc/kubeadm-ha/coredns-pdb.yaml"));
    const patch = mine.filter((call) => is(call, "kubectl", "-n", "kube-system", "patch", "deployment", "coredns"));
    expect(pdb).toHaveLength(1);
    expect(patch).toHaveLength(1);
    expect(patch[0].line).toContain("--type strategic --patch-file");
    // It waits for the static nodes it spreads over (an Auto Scaling group's instances may join later).
    const joins = calls.filter((call) => call.line.includes(" event joined ") && topology.nodes.some((node) => node.name === call.node));
    expect(joins).toHaveLength(topology.controlPlane.length - 1 + topology.workers.length);
    for (const join of joins) expect(join.time).toBeLessThan(patch[0].time);
    expect(cluster.log(init)).toMatch(/CoreDNS spread across nodes and zones, with a PodDisruptionBudget/);
  });

  test("every Kubernetes node keeps its pods, hostNetwork ones too, away from the instance metadata service", () => {
    for (const node of [...topology.controlPlane, ...workers]) {
      const rules = fs.readFileSync(path.join(cluster.state, `iptables-${node.name}`), "utf8");
      expect(rules).toBe("OUTPUT -d 169.254.169.254/32 -m cgroup --path kubepods.slice -j REJECT\n");
      const added = calls.filter((call) => call.node === node.name && is(call, "iptables", "-w", "-I"));
      const joined = calls.filter((call) => call.node === node.name && (call.line.includes("event joined") || call.line.endsWith("event initialised")));
      expect(added).toHaveLength(1);
      expect(added[0].time).toBeGreaterThan(joined[0].time);
    }
    for (const node of [...(topology.loadBalancer ? [topology.loadBalancer] : []), ...topology.etcdNodes]) expect(fs.existsSync(path.join(cluster.state, `iptables-${node.name}`))).toBe(false);
  });

  test("control-plane joiners receive the shared certificates; workers receive no control-plane material", () => {
    for (const node of topology.controlPlane.filter((candidate) => candidate !== topology.initNode)) {
      const pki = path.join(cluster.root(node), "etc/kubernetes/pki");
      const init = path.join(cluster.root(topology.initNode), "etc/kubernetes/pki");
      for (const file of ["ca.key", "sa.key", "front-proxy-ca.key"]) {
        expect(fs.readFileSync(path.join(pki, file), "utf8")).toBe(fs.readFileSync(path.join(init, file), "utf8").trimEnd() + "\n");
        expect(fs.statSync(path.join(pki, file)).mode & 0o077).toBe(0);
      }
      expect(calls.some((call) => call.node === node.name && call.line.endsWith("systemctl enable --now kubeadm-ha-join-token.timer"))).toBe(true);
    }
    for (const node of workers) {
      const files = cluster.filesUnder(node);
      expect(files.filter((file) => file.endsWith(".key"))).toEqual([]);
      expect(files).not.toContain("etc/kubernetes/pki/ca.key");
      const asked = calls.filter((call) => call.node === node.name && call.line.includes(`/kubeadm-ha/${stack}/control-plane`));
      expect(asked).toEqual([]);
    }
    // Nobody ever tried something its role may not do.
    expect(cluster.denied()).toBe("");
  });

  test("negative control: the parameter store refuses control-plane secrets to a worker", () => {
    const worker = workers[0];
    const name = `/kubeadm-ha/${stack}/control-plane/pki/ca.key`;
    const result = cluster.aws(worker, ["--region", topology.spec.region, "ssm", "get-parameter", "--name", name, "--with-decryption", "--query", "Parameter.Value", "--output", "text"]);
    expect(result.status).toBe(254);
    expect(result.stderr).toMatch(/AccessDeniedException/);
    expect(result.stdout).not.toMatch(/PRIVATE KEY/);
    const allowed = cluster.aws(topology.controlPlane[1], ["--region", topology.spec.region, "ssm", "get-parameter", "--name", name, "--with-decryption", "--query", "Parameter.Value", "--output", "text"]);
    expect(allowed.stdout).toMatch(/PRIVATE KEY/);
    expect(cluster.denied()).toContain(`${worker.name} GetParameter ${name}`);
    fs.rmSync(path.join(cluster.state, "denied.log"));
  });

  test("the load balancer validates its configuration before starting it (an NLB has no node and nothing starts a proxy)", () => {
    if (!topology.loadBalancer) {
      expect(calls.filter((call) => is(call, "haproxy") || is(call, "nginx"))).toEqual([]);
      return;
    }
    const lb = calls.filter((call) => call.node === topology.loadBalancer!.name);
    const check = firstTime(lb.filter((call) => is(call, "haproxy", "-c")));
    const restart = lb.filter((call) => is(call, "systemctl", "restart", "haproxy"));
    expect(restart).toHaveLength(1);
    expect(check).toBeLessThan(restart[0].time);
  });

  test("boot logs have timestamps and no secret", () => {
    for (const node of nodes) {
      const log = cluster.log(node);
      expect(log).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ ${node.name} `, "m"));
      for (const pattern of SECRET_IN_LOG) expect(log).not.toMatch(pattern);
    }
  });

  if (stack === "external-etcd") {
    test("etcd: the first member creates and publishes the CA, the others wait for it; all members share it", () => {
      const [first, ...others] = topology.etcdNodes;
      const caPut = calls.filter((call) => call.node === first.name && call.argv.includes("put-parameter") && call.argv.includes(`/kubeadm-ha/${stack}/etcd/ca.crt`));
      expect(caPut).toHaveLength(1);
      for (const node of others) {
        expect(calls.some((call) => call.node === node.name && call.argv.includes("put-parameter"))).toBe(false);
        const fetched = calls.filter((call) => call.node === node.name && call.argv.includes("--with-decryption") && call.argv.includes(`/kubeadm-ha/${stack}/etcd/ca.key`));
        expect(fetched).toHaveLength(1);
        expect(fetched[0].time).toBeGreaterThan(caPut[0].time);
      }
      const firstCa = path.join(cluster.root(first), "etc/etcd/pki/ca.crt");
      for (const node of topology.etcdNodes) {
        const pki = path.join(cluster.root(node), "etc/etcd/pki");
        expect(fs.existsSync(path.join(pki, "ca.key"))).toBe(false);
        const verify = spawnSync("openssl", ["verify", "-CAfile", firstCa, path.join(pki, "server.crt"), path.join(pki, "peer.crt")], { encoding: "utf8" });
        expect(verify.stdout).toMatch(/server.crt: OK[\s\S]*peer.crt: OK/);
        expect(fs.existsSync(path.join(cluster.root(node), "usr/local/bin/etcd"))).toBe(true);
        expect(calls.some((call) => call.node === node.name && call.line.endsWith("systemctl start --no-block etcd"))).toBe(true);
      }
    });

    test("the init node waits for the etcd client certificate and hands it to kube-apiserver", () => {
      const clientPut = firstTime(calls.filter((call) => call.argv.includes("put-parameter") && call.argv.includes(`/kubeadm-ha/${stack}/control-plane/pki/apiserver-etcd-client.key`)));
      const init = firstTime(calls.filter((call) => is(call, "kubeadm", "init")));
      expect(clientPut).toBeLessThan(init);
      const pki = path.join(cluster.root(topology.initNode), "etc/kubernetes/pki");
      const verify = spawnSync("openssl", ["verify", "-CAfile", path.join(pki, "etcd/ca.crt"), path.join(pki, "apiserver-etcd-client.crt")], { encoding: "utf8" });
      expect(verify.stdout).toMatch(/OK/);
      expect(fs.existsSync(path.join(pki, "etcd/ca.key"))).toBe(false);
    });
  }

  test("a second run of every node's boot changes nothing", async () => {
    const before = new Map(nodes.map((node) => [node.name, cluster.snapshot(node)]));
    const count = calls.length;
    const secondRun = await cluster.bootAll();
    expect(secondRun.map((run) => `${run.node}: ${run.code}`)).toEqual(nodes.map((node) => `${node.name}: 0`));
    const after = cluster.calls().slice(count);
    const changing = after.filter(
      (call) =>
        is(call, "kubeadm") ||
        call.argv.includes("put-parameter") ||
        is(call, "apt-get") ||
        is(call, "systemctl", "restart") ||
        is(call, "kubectl", "apply"),
    );
    expect(changing.map((call) => call.line)).toEqual([]);
    for (const node of nodes) expect(cluster.snapshot(node)).toEqual(before.get(node.name));
  });

  test("containerd runs with the systemd cgroup driver and the pause image kubeadm names", () => {
    for (const node of [...topology.controlPlane, ...workers]) {
      const config = fs.readFileSync(path.join(cluster.root(node), "etc/containerd/config.toml"), "utf8");
      expect(config).toContain("SystemdCgroup = true");
      expect(config).toContain('sandbox_image = "registry.k8s.io/pause:3.10.1"');
      expect(config).not.toContain("pause:3.8");
    }
  });

  test("a containerd config without a sandbox image setting stops the install with a clear message", async () => {
    const worker = workers[0];
    cluster.replace(worker);
    const [run] = await cluster.bootNodes([worker], { FAKE_CONTAINERD_LAYOUT: "other" }, ["bash", "/usr/local/lib/kubeadm-ha/install-kubernetes.sh"]);
    expect(run.code).not.toBe(0);
    expect(cluster.log(worker)).toMatch(/FAILED: unexpected containerd config layout: cannot set SystemdCgroup = true and sandbox image registry.k8s.io\/pause:3.10.1/);
    expect(fs.existsSync(path.join(cluster.root(worker), "var/lib/kubeadm-ha/kubernetes-installed"))).toBe(false);
    cluster.replace(worker);
  });

  test("late join: a worker created days after the cluster joins with the join kubeconfig published back then", async () => {
    const joinParameter = `/kubeadm-ha/${stack}/join/discovery-kubeconfig`;
    const published = cluster.parameter(joinParameter);
    expect(published).toBeDefined();
    // Written 3 days before the new instance's first boot (the timer republishes only every ~6 h).
    cluster.setParameter(joinParameter, { ...published!, modified: Date.now() / 1000 - 3 * 86400 });
    const worker = workers[workers.length - 1];
    cluster.replace(worker);
    const count = cluster.calls().length;
    const [run] = await cluster.bootNodes([worker], { KUBEADM_HA_WAIT_SECONDS: "20" });
    expect(`${run.node}: ${run.code}`).toBe(`${worker.name}: 0`);
    const mine = cluster.calls().slice(count).filter((call) => call.node === worker.name);
    expect(mine.filter((call) => is(call, "kubeadm", "join")).map((call) => call.argv.join(" "))).toEqual([
      `kubeadm join --config ${cluster.root(worker)}/etc/kubeadm-ha/kubeadm.yaml`,
    ]);
    expect(mine.some((call) => call.line.endsWith("event joined worker"))).toBe(true);
    expect(fs.existsSync(path.join(cluster.root(worker), "run/kubeadm-ha/discovery.kubeconfig"))).toBe(false);
  });

  test("replacing the init node: it joins the running cluster with kubeadm-join.yaml, never runs kubeadm init, and the CA stays", async () => {
    const init = topology.initNode;
    const caParameter = `/kubeadm-ha/${stack}/control-plane/pki/ca.crt`;
    const caBefore = cluster.parameter(caParameter)!.value;
    const joinBefore = cluster.parameter(`/kubeadm-ha/${stack}/join/discovery-kubeconfig`)!.value;
    const clusterCa = fs.readFileSync(path.join(cluster.state, "cluster-ca.crt"), "utf8");
    cluster.replace(init);
    const count = cluster.calls().length;
    const [run] = await cluster.bootNodes([init]);
    expect(`${run.node}: ${run.code}`).toBe(`${init.name}: 0`);
    const mine = cluster.calls().slice(count).filter((call) => call.node === init.name);
    expect(mine.filter((call) => is(call, "kubeadm", "init"))).toEqual([]);
    expect(mine.filter((call) => is(call, "kubeadm", "join")).map((call) => call.argv.join(" "))).toEqual([
      `kubeadm join --config ${cluster.root(init)}/etc/kubeadm-ha/kubeadm-join.yaml`,
    ]);
    expect(mine.some((call) => call.line.endsWith("event joined control-plane"))).toBe(true);
    expect(mine.filter((call) => call.argv.includes("put-parameter") && !call.line.includes("/join-lease"))).toEqual([]);
    expect(mine.some((call) => call.line.endsWith("systemctl enable --now kubeadm-ha-join-token.timer"))).toBe(true);
    expect(cluster.parameter(caParameter)!.value).toBe(caBefore);
    expect(cluster.parameter(`/kubeadm-ha/${stack}/join/discovery-kubeconfig`)!.value).toBe(joinBefore);
    expect(fs.readFileSync(path.join(cluster.state, "cluster-ca.crt"), "utf8")).toBe(clusterCa);
    expect(fs.readFileSync(path.join(cluster.root(init), "etc/kubernetes/pki/ca.crt"), "utf8")).toBe(caBefore + "\n");
    expect(cluster.log(init)).toMatch(/this deployment has a cluster/);
    for (const pattern of SECRET_IN_LOG) expect(cluster.log(init)).not.toMatch(pattern);

    // And its boot stays idempotent: a second run changes nothing.
    const snapshot = cluster.snapshot(init);
    const again = cluster.calls().length;
    const [second] = await cluster.bootNodes([init]);
    expect(second.code).toBe(0);
    const changing = cluster.calls().slice(again).filter((call) => is(call, "kubeadm") || call.argv.includes("put-parameter") || is(call, "kubectl", "apply"));
    expect(changing.map((call) => call.line)).toEqual([]);
    expect(cluster.snapshot(init)).toEqual(snapshot);
  });

  test("replacing the init node while the API is unreachable fails clearly and never runs kubeadm init", async () => {
    const init = topology.initNode;
    fs.rmSync(path.join(cluster.state, "api-ready"));
    try {
      cluster.replace(init);
      const count = cluster.calls().length;
      const [run] = await cluster.bootNodes([init], { KUBEADM_HA_WAIT_SECONDS: "2" });
      expect(run.code).not.toBe(0);
      const mine = cluster.calls().slice(count).filter((call) => call.node === init.name);
      expect(mine.filter((call) => is(call, "kubeadm", "init") || is(call, "kubeadm", "join"))).toEqual([]);
      const log = cluster.log(init);
      expect(log).toMatch(/gave up waiting for join material whose CA verifies/);
      expect(log).toMatch(new RegExp(`FAILED: the existing cluster's API at https://${topology.controlPlaneEndpoint} is unreachable`));
      expect(log).toContain(`delete the /kubeadm-ha/${stack}/ parameters`);
    } finally {
      fs.writeFileSync(path.join(cluster.state, "api-ready"), "");
    }
  });
  if (instances.length > 0) {
    test("Auto Scaling group instances take their name, IP and zone from IMDSv2 and join with them", () => {
      for (const node of instances) {
        const mine = calls.filter((call) => call.node === node.name && is(call, "curl") && call.line.includes("169.254.169.254"));
        // A session token first (PUT), then the three reads with it; once per instance.
        expect(mine.map((call) => call.line.replace(/^\S+ \S+ /, ""))).toEqual([
          "curl -fsS --max-time 5 -X PUT -H X-aws-ec2-metadata-token-ttl-seconds: 300 http://169.254.169.254/latest/api/token",
          "curl -fsS --max-time 5 -H X-aws-ec2-metadata-token: imds-session-token http://169.254.169.254/latest/meta-data/instance-id",
          "curl -fsS --max-time 5 -H X-aws-ec2-metadata-token: imds-session-token http://169.254.169.254/latest/meta-data/local-ipv4",
          "curl -fsS --max-time 5 -H X-aws-ec2-metadata-token: imds-session-token http://169.254.169.254/latest/meta-data/placement/availability-zone",
        ]);
      }
      // What it wrote, on the instance no earlier test has replaced (the containerd test replaces
      // the first worker, the late join the last).
      for (const node of [instances[1]]) {
        const kubeadm = fs.readFileSync(path.join(cluster.root(node), "etc/kubeadm-ha/kubeadm.yaml"), "utf8");
        expect(kubeadm).toContain(`name: "${node.name}"`);
        expect(kubeadm).toContain(`{name: node-ip, value: "${node.privateIp}"}`);
        expect(kubeadm).toContain(`topology.kubernetes.io/zone=${node.availabilityZone}"}`);
        expect(fs.statSync(path.join(cluster.root(node), "etc/kubeadm-ha/kubeadm.yaml")).mode & 0o077).toBe(0);
        expect(fs.readFileSync(path.join(cluster.root(node), "etc/kubeadm-ha/node-identity.env"), "utf8")).toBe(
          `NODE_NAME='${node.name}'\nNODE_IP='${node.privateIp}'\nNODE_ZONE='${node.availabilityZone}'\n`,
        );
        expect(cluster.log(node)).toContain(`this instance is ${node.name} (${node.privateIp}, ${node.availabilityZone})`);
        expect(cluster.log(node)).toContain(`bootstrapping ${node.name} (worker, ${node.privateIp})`);
      }
      // Three instances, three zones, three names.
      expect(new Set(instances.map((node) => node.availabilityZone)).size).toBe(Math.min(instances.length, topology.zones.length));
    });

    test("an instance whose metadata names a zone outside the cluster stops, saying so, before it joins", async () => {
      const node = instances[0];
      cluster.replace(node);
      const count = cluster.calls().length;
      const [run] = await cluster.bootNodes([node], { FAKE_ZONE: "us-east-1a" });
      expect(run.code).not.toBe(0);
      expect(cluster.log(node)).toMatch(/node-identity: FAILED: zone "us-east-1a" is not one of the cluster's \(eu-west-1a eu-west-1b eu-west-1c\)/);
      const mine = cluster.calls().slice(count).filter((call) => call.node === node.name);
      expect(mine.filter((call) => is(call, "kubeadm") || is(call, "aws"))).toEqual([]);
      expect(fs.existsSync(path.join(cluster.root(node), "etc/kubeadm-ha/node-identity.env"))).toBe(false);
      // The same instance with the right answer joins.
      cluster.replace(node);
      const [again] = await cluster.bootNodes([node]);
      expect(`${again.node}: ${again.code}`).toBe(`${node.name}: 0`);
    });
  }
});

describe("a deployment that finds parameters of a destroyed deployment of the same stack name", () => {
  const topology = shippedTopology("external-etcd");
  const stack = topology.stack;
  // Every parameter the nodes write, left behind encrypted with KMS keys now pending deletion.
  const stale = [
    `/kubeadm-ha/${stack}/etcd/ca.crt`,
    `/kubeadm-ha/${stack}/etcd/ca.key`,
    ...["ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key", "etcd/ca.crt", "apiserver-etcd-client.crt", "apiserver-etcd-client.key"].map(
      (file) => `/kubeadm-ha/${stack}/control-plane/pki/${file}`,
    ),
    `/kubeadm-ha/${stack}/control-plane/admin.conf`,
    `/kubeadm-ha/${stack}/join/discovery-kubeconfig`,
  ];
  let cluster: SimulatedCluster;
  let runs: RunResult[];

  beforeAll(async () => {
    cluster = new SimulatedCluster(topology, "-stale");
    // Written just now, so no age check could tell them apart from fresh values.
    for (const name of stale) cluster.setParameter(name, { value: `old value of ${name}`, modified: Date.now() / 1000, writer: "destroyed", stale: true });
    runs = await cluster.bootAll();
  });

  afterEach(() => {
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts && runs) {
      for (const run of runs) if (run.code !== 0) console.log(`--- ${run.node} exited ${run.code}\n${run.output}`);
    }
  });

  test("the cluster still comes up, with one kubeadm init", () => {
    expect(runs.map((run) => `${run.node}: ${run.code}`)).toEqual(topology.nodes.map((node) => `${node.name}: 0`));
    expect(cluster.calls().filter((call) => is(call, "kubeadm", "init")).map((call) => call.node)).toEqual([topology.initNode.name]);
    expect(cluster.denied()).toBe("");
  });

  test("every stale value was replaced by this deployment", () => {
    const left = stale.filter((name) => {
      const parameter = cluster.parameter(name);
      return !parameter || parameter.stale || parameter.writer === "destroyed";
    });
    expect(left).toEqual([]);
    const pki = path.join(cluster.root(topology.etcdNodes[1]), "etc/etcd/pki");
    const caFile = path.join(cluster.dir, "published-etcd-ca.crt");
    fs.writeFileSync(caFile, cluster.parameter(`/kubeadm-ha/${stack}/etcd/ca.crt`)!.value + "\n");
    const verify = spawnSync("openssl", ["verify", "-CAfile", caFile, path.join(pki, "server.crt")], { encoding: "utf8" });
    expect(verify.stdout).toMatch(/server.crt: OK/);
  });

});

describe("a parameter store that throttles", () => {
  const topology = shippedTopology("external-etcd");
  let cluster: SimulatedCluster;
  let runs: RunResult[];

  beforeAll(async () => {
    // FAKE_THROTTLE: each node's first value read and first write fail with ThrottlingException.
    cluster = new SimulatedCluster(topology, "-throttled", { FAKE_THROTTLE: "1" });
    runs = await cluster.bootAll();
  });

  test("reads and writes are retried and the cluster comes up", () => {
    expect(runs.map((run) => `${run.node}: ${run.code}`)).toEqual(topology.nodes.map((node) => `${node.name}: 0`));
    const throttled = cluster.calls().filter((call) => call.line.includes("event throttled"));
    expect(throttled.map((call) => call.argv[2])).toEqual(expect.arrayContaining(["GetParameter", "PutParameter"]));
    const logs = topology.nodes.map((node) => cluster.log(node)).join("");
    expect(logs).toMatch(/attempt 1 of 4 failed: ssm_fetch; retrying/);
    expect(logs).toMatch(/attempt 1 of 4 failed: ssm; retrying/);
    for (const pattern of SECRET_IN_LOG) expect(logs).not.toMatch(pattern);
  });
});

describe("kubeadm that stops half-way, mismatched or throttled answers, stopped services", () => {
  const topology = shippedTopology("external-etcd");
  const stack = topology.stack;
  const init = topology.initNode;
  const joiners = topology.controlPlane.filter((node) => node !== init);
  const failingJoiners = [joiners[0], topology.workers[0]];
  const clientKey = `/kubeadm-ha/${stack}/control-plane/pki/apiserver-etcd-client.key`;
  let cluster: SimulatedCluster;

  const since = (count: number, node: ClusterNode) => cluster.calls().slice(count).filter((call) => call.node === node.name);
  const marker = (node: ClusterNode, name: string) => fs.existsSync(path.join(cluster.root(node), "var/lib/kubeadm-ha", name));

  beforeAll(async () => {
    cluster = new SimulatedCluster(topology, "-halfway");
    const first = [...topology.etcdNodes, topology.loadBalancer!];
    const runs = await cluster.bootNodes(first);
    expect(runs.map((run) => run.code)).toEqual(first.map(() => 0));
  });

  test("the init node waits for an etcd client key that matches its certificate", async () => {
    const published = cluster.parameter(clientKey)!;
    // etcd-1 re-ran and issued a new key whose certificate is not published yet.
    const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
    cluster.setParameter(clientKey, { ...published, value: privateKey.export({ type: "pkcs8", format: "pem" }).toString().trimEnd() });
    const count = cluster.calls().length;
    const [run] = await cluster.bootNodes([init], { KUBEADM_HA_WAIT_SECONDS: "2" });
    expect(run.code).not.toBe(0);
    expect(since(count, init).filter((call) => is(call, "kubeadm", "init"))).toEqual([]);
    expect(cluster.log(init)).toMatch(/gave up waiting for a matching etcd client cert and key/);
    cluster.setParameter(clientKey, published);
  });

  test("a kubeadm init that failed after writing admin.conf is reset and run again", async () => {
    const [failed] = await cluster.bootNodes([init], { FAKE_FAIL_INIT: "1" });
    expect(failed.code).not.toBe(0);
    expect(fs.existsSync(path.join(cluster.root(init), "etc/kubernetes/admin.conf"))).toBe(true);
    expect(marker(init, "kubeadm-init-done")).toBe(false);
    const cni = path.join(cluster.root(init), "etc/cni/net.d");
    fs.mkdirSync(cni, { recursive: true });
    fs.writeFileSync(path.join(cni, "10-calico.conflist"), "{}");
    const count = cluster.calls().length;
    // Only the init step: the other nodes boot in the next test, so there is no CoreDNS to spread yet.
    const [run] = await cluster.bootNodes([init], {}, ["bash", "/usr/local/lib/kubeadm-ha/init-control-plane.sh"]);
    expect(`${run.node}: ${run.code}`).toBe(`${init.name}: 0`);
    const kubeadm = since(count, init).filter((call) => is(call, "kubeadm", "reset") || is(call, "kubeadm", "init"));
    expect(kubeadm.map((call) => call.argv.slice(0, 2).join(" "))).toEqual(["kubeadm reset", "kubeadm init"]);
    expect(fs.existsSync(cni)).toBe(false);
    expect(marker(init, "kubeadm-init-done")).toBe(true);
    const pki = path.join(cluster.root(init), "etc/kubernetes/pki");
    const verify = spawnSync("openssl", ["verify", "-CAfile", path.join(pki, "etcd/ca.crt"), path.join(pki, "apiserver-etcd-client.crt")], { encoding: "utf8" });
    expect(verify.stdout).toMatch(/OK/);
  });

  test("a kubeadm join that failed after writing kubelet.conf is reset and run again", async () => {
    const others = topology.nodes.filter((node) => node !== init && !topology.etcdNodes.includes(node) && !failingJoiners.includes(node));
    const rest = await cluster.bootNodes(others);
    expect(rest.map((run) => run.code)).toEqual(others.map(() => 0));
    const failed = await cluster.bootNodes(failingJoiners, { FAKE_FAIL_JOIN: "1" });
    expect(failed.map((run) => run.code)).not.toContain(0);
    const count = cluster.calls().length;
    const runs = await cluster.bootNodes(failingJoiners);
    expect(runs.map((run) => `${run.node}: ${run.code}`)).toEqual(failingJoiners.map((node) => `${node.name}: 0`));
    for (const node of failingJoiners) {
      const kubeadm = since(count, node).filter((call) => is(call, "kubeadm", "reset") || is(call, "kubeadm", "join"));
      expect(kubeadm.map((call) => call.argv.slice(0, 2).join(" "))).toEqual(["kubeadm reset", "kubeadm join"]);
      expect(since(count, node).some((call) => call.line.endsWith(`event joined ${node.role}`))).toBe(true);
      expect(marker(node, "kubeadm-joined")).toBe(true);
    }
  });

  test("a replaced init node whose join failed late joins again on the re-run and never applies the CNI", async () => {
    cluster.replace(init);
    const count = cluster.calls().length;
    const [failed] = await cluster.bootNodes([init], { FAKE_FAIL_JOIN: "1" });
    if (failed.code === 0) console.log(failed.output);
    expect(failed.code).not.toBe(0);
    expect(marker(init, "join-decided")).toBe(true);
    const [run] = await cluster.bootNodes([init]);
    expect(`${run.node}: ${run.code}`).toBe(`${init.name}: 0`);
    const mine = since(count, init);
    expect(mine.filter((call) => is(call, "kubectl", "apply") || is(call, "kubeadm", "init"))).toEqual([]);
    expect(mine.filter((call) => is(call, "kubeadm", "reset") || is(call, "kubeadm", "join")).map((call) => call.argv.slice(0, 2).join(" "))).toEqual([
      "kubeadm join",
      "kubeadm reset",
      "kubeadm join",
    ]);
    expect(mine.filter((call) => call.argv.includes("put-parameter") && !call.line.includes("/join-lease"))).toEqual([]);
  });

  test("a replaced init node whose existence check is throttled more than 3 times still joins", async () => {
    const clusterCa = fs.readFileSync(path.join(cluster.state, "cluster-ca.crt"), "utf8");
    cluster.replace(init);
    fs.rmSync(path.join(cluster.state, `throttled-checks-${init.name}`), { force: true });
    const count = cluster.calls().length;
    const [run] = await cluster.bootNodes([init], { FAKE_THROTTLE_CHECKS: "5" });
    expect(`${run.node}: ${run.code}`).toBe(`${init.name}: 0`);
    const mine = since(count, init);
    expect(mine.filter((call) => call.line.includes("event throttled check"))).toHaveLength(5);
    expect(mine.filter((call) => is(call, "kubeadm", "init") || is(call, "kubectl", "apply"))).toEqual([]);
    expect(mine.filter((call) => is(call, "kubeadm", "join"))).toHaveLength(1);
    expect(cluster.log(init)).toMatch(/waiting for a known state of \/kubeadm-ha\/\S+\/join\/discovery-kubeconfig/);
    expect(fs.readFileSync(path.join(cluster.state, "cluster-ca.crt"), "utf8")).toBe(clusterCa);
  });

  test("a replaced etcd-1 whose CA check is throttled more than 3 times issues no second CA", async () => {
    const first = topology.etcdNodes[0];
    const caBefore = cluster.parameter(`/kubeadm-ha/${stack}/etcd/ca.crt`)!.value;
    cluster.replace(first);
    fs.rmSync(path.join(cluster.state, `throttled-checks-${first.name}`), { force: true });
    const count = cluster.calls().length;
    const [run] = await cluster.bootNodes([first], { FAKE_THROTTLE_CHECKS: "5" });
    expect(`${run.node}: ${run.code}`).toBe(`${first.name}: 0`);
    const mine = since(count, first);
    expect(mine.filter((call) => call.line.includes("event throttled check"))).toHaveLength(5);
    expect(mine.filter((call) => call.argv.includes("put-parameter") && !call.line.includes("/join-lease"))).toEqual([]);
    expect(cluster.parameter(`/kubeadm-ha/${stack}/etcd/ca.crt`)!.value).toBe(caBefore);
  });

  test("an etcd member whose certificates are missing is set up again on a re-run", async () => {
    const member = topology.etcdNodes[1];
    const pki = path.join(cluster.root(member), "etc/etcd/pki");
    fs.rmSync(path.join(pki, "server.crt"));
    const [run] = await cluster.bootNodes([member], {}, ["bash", "/usr/local/lib/kubeadm-ha/etcd-node.sh"]);
    expect(run.code).toBe(0);
    const verify = spawnSync("openssl", ["verify", "-CAfile", path.join(pki, "ca.crt"), path.join(pki, "server.crt")], { encoding: "utf8" });
    expect(verify.stdout).toMatch(/server.crt: OK/);
  });

  test("the load balancer is restarted when its service is not running, even with the same configuration", async () => {
    const lb = topology.loadBalancer!;
    const count = cluster.calls().length;
    const [run] = await cluster.bootNodes([lb], { FAKE_INACTIVE: "1" }, ["bash", "/usr/local/lib/kubeadm-ha/load-balancer.sh"]);
    expect(run.code).toBe(0);
    expect(since(count, lb).filter((call) => is(call, "systemctl", "restart"))).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Slow, failed and racing nodes (issue: bring-up that survives them)

/** Shows what each node said when an assertion of the current test failed. */
function showRunsOnFailure(runs: () => RunResult[] | undefined): void {
  afterEach(() => {
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts) {
      for (const run of runs() ?? []) if (run.code !== 0) console.log(`--- ${run.node} exited ${run.code}\n${run.output}`);
    }
  });
}

const timesOf = (cluster: SimulatedCluster, node: ClusterNode, ...prefix: string[]) =>
  cluster.calls().filter((call) => call.node === node.name && is(call, ...prefix)).map((call) => call.time);

describe("external etcd: a slow member and a dead member at boot", () => {
  const topology = shippedTopology("external-etcd");
  const init = topology.initNode;
  let runs: RunResult[] | undefined;
  showRunsOnFailure(() => runs);

  test("a slow member: kubeadm init waits until every member answers /version, with its preflight check on", async () => {
    const cluster = new SimulatedCluster(topology, "-slow-etcd");
    const slow = topology.etcdNodes[1];
    runs = await cluster.bootAll({ FAKE_ETCD_SLOW: `${slow.name}=2000` }, 3);
    expect(runs.map((run) => `${run.node}: ${run.code}`)).toEqual(topology.nodes.map((node) => `${node.name}: 0`));
    const inits = cluster.calls().filter((call) => is(call, "kubeadm", "init"));
    expect(inits).toHaveLength(1);
    expect(inits[0].argv.join(" ")).not.toContain("--ignore-preflight-errors");
    // etcd on the slow member answers 2 s after its start: init came after that.
    const started = timesOf(cluster, slow, "systemctl", "start", "--no-block", "etcd");
    expect(started).toHaveLength(1);
    expect(inits[0].time - started[0]).toBeGreaterThan(2_000_000_000n);
    expect(cluster.log(init)).toMatch(new RegExp(`etcd members not answering /version yet: https://${slow.privateIp.replace(/\./g, "\\.")}:2379`));
    expect(cluster.calls().filter((call) => call.line.includes("event failed"))).toEqual([]);
  });

  test("a dead member: with a quorum, kubeadm init runs after the bounded wait without ExternalEtcdVersion, and says so", async () => {
    const cluster = new SimulatedCluster(topology, "-dead-etcd");
    const dead = topology.etcdNodes[2];
    runs = await cluster.bootAll({ FAKE_ETCD_DEAD: dead.name, KUBEADM_HA_ETCD_MEMBERS_WAIT_SECONDS: "2" }, 3);
    expect(runs.map((run) => `${run.node}: ${run.code}`)).toEqual(topology.nodes.map((node) => `${node.name}: 0`));
    const inits = cluster.calls().filter((call) => is(call, "kubeadm", "init"));
    expect(inits.map((call) => call.argv.slice(-1)[0])).toEqual(["--ignore-preflight-errors=ExternalEtcdVersion"]);
    expect(cluster.log(init)).toMatch(/etcd members silent after 2s: https:\/\/\S+:2379; etcd has a quorum, so kubeadm init runs without its ExternalEtcdVersion preflight check/);
  });
});

describe("a failed kubeadm init, a slow init node and a late load balancer", () => {
  const topology = shippedTopology("five-server");
  const init = topology.initNode;
  let runs: RunResult[] | undefined;
  showRunsOnFailure(() => runs);

  test("init fails once: systemd runs the boot again, it resets and inits; joiners outwait the slow init node", async () => {
    const cluster = new SimulatedCluster(topology, "-init-retry");
    // Joiners give up each attempt after 1 s, the init node takes 2 s per init and fails the first one.
    runs = await cluster.bootAll({ FAKE_FAIL_INIT_TIMES: "1", FAKE_INIT_SECONDS: "2", KUBEADM_HA_WAIT_SECONDS: "1" }, 20);
    expect(runs.map((run) => `${run.node}: ${run.code}`)).toEqual(topology.nodes.map((node) => `${node.name}: 0`));
    expect(runs.find((run) => run.node === init.name)!.attempts).toBe(2);
    const kubeadm = cluster.calls().filter((call) => call.node === init.name && (is(call, "kubeadm", "init") || is(call, "kubeadm", "reset")));
    expect(kubeadm.map((call) => call.argv.slice(0, 2).join(" "))).toEqual(["kubeadm init", "kubeadm reset", "kubeadm init"]);
    for (const node of [...topology.controlPlane, ...topology.workers].filter((candidate) => candidate !== init)) {
      const run = runs.find((candidate) => candidate.node === node.name)!;
      // The first attempts gave up (bounded); a later one joined, once.
      expect(run.attempts).toBeGreaterThan(1);
      expect(cluster.log(node)).toMatch(/gave up waiting for join material/);
      expect(cluster.calls().filter((call) => call.node === node.name && is(call, "kubeadm", "join"))).toHaveLength(1);
    }
  });

  test("the load balancer comes up late: the init node waits for it before kubeadm init", async () => {
    const cluster = new SimulatedCluster(topology, "-lb-late");
    const others = topology.nodes.filter((node) => node !== topology.loadBalancer);
    const early = cluster.bootAll(undefined, 3, others);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const [lb] = await cluster.bootNodes([topology.loadBalancer!]);
    runs = [...(await early), lb];
    expect(runs.map((run) => run.code)).toEqual(runs.map(() => 0));
    const lbUp = timesOf(cluster, topology.loadBalancer!, "systemctl", "restart", "haproxy");
    const inits = timesOf(cluster, init, "kubeadm", "init");
    expect(inits).toHaveLength(1);
    expect(inits[0]).toBeGreaterThan(lbUp[0]);
    expect(cluster.log(init)).toMatch(/waiting for the load balancer to accept connections at 10\.0\.0\.10:6443/);
    expect(cluster.calls().filter((call) => call.line.includes("event failed"))).toEqual([]);
  });
});

describe("a join token that expired or was revoked", () => {
  const topology = shippedTopology("five-server");
  const joinParameter = `/kubeadm-ha/${topology.stack}/join/discovery-kubeconfig`;
  let runs: RunResult[] | undefined;
  showRunsOnFailure(() => runs);

  test("keeps a new node waiting, saying why, until a control-plane node publishes a new token; it then joins", async () => {
    const cluster = new SimulatedCluster(topology, "-expired-token");
    runs = await cluster.bootAll();
    expect(runs.map((run) => run.code)).toEqual(runs.map(() => 0));
    // The token cleaner removed the published token (it expired), still within the 6 h refresh age.
    fs.writeFileSync(path.join(cluster.state, "tokens"), "");
    const worker = topology.workers[0];
    cluster.replace(worker);
    const count = cluster.calls().length;
    const joining = cluster.bootNodes([worker]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // What the hourly timer on a control-plane node does.
    const [refresh] = await cluster.bootNodes([topology.controlPlane[1]], {}, ["bash", "/usr/local/lib/kubeadm-ha/refresh-join-token.sh"]);
    expect(refresh.code).toBe(0);
    runs = [...(await joining), refresh];
    expect(runs.map((run) => run.code)).toEqual([0, 0]);
    const since = cluster.calls().slice(count);
    const republished = since.filter((call) => call.argv.includes("put-parameter") && call.argv.includes(joinParameter));
    expect(republished).toHaveLength(1);
    const joins = since.filter((call) => call.node === worker.name && is(call, "kubeadm", "join"));
    expect(joins).toHaveLength(1);
    expect(joins[0].time).toBeGreaterThan(republished[0].time);
    expect(since.filter((call) => call.line.includes("event failed"))).toEqual([]);
    expect(cluster.log(worker)).toMatch(/the API refuses the published join token \(expired or revoked\)/);
    expect(cluster.log(topology.controlPlane[1])).toMatch(/the published join token is no longer valid/);
  });
});

describe("two control-plane joins at once (stacked etcd, 3 control-plane nodes)", () => {
  const topology = inlineTopology("three-masters", "controlPlane:\n  count: 3\nworkers:\n  count: 1\n");
  let runs: RunResult[] | undefined;
  showRunsOnFailure(() => runs);

  test("take turns through the join lease: one etcd learner at a time, both join, the lease is released", async () => {
    const cluster = new SimulatedCluster(topology, "-two-joins");
    // Each learner takes 1 s to catch up and be promoted: two joins at once would overlap.
    runs = await cluster.bootAll({ FAKE_LEARNER_SECONDS: "1" });
    expect(runs.map((run) => `${run.node}: ${run.code}`)).toEqual(topology.nodes.map((node) => `${node.name}: 0`));
    const calls = cluster.calls();
    expect(calls.filter((call) => call.line.includes("event failed"))).toEqual([]);
    const learners = calls.filter((call) => call.line.includes("event etcd learner"));
    expect(learners.map((call) => call.argv.slice(1).join(" "))).toEqual([
      "etcd learner added", "etcd learner promoted", "etcd learner added", "etcd learner promoted",
    ]);
    expect(learners[0].node).toBe(learners[1].node);
    expect(learners[2].node).toBe(learners[3].node);
    expect(new Set([learners[0].node, learners[2].node])).toEqual(new Set(["control-plane-2", "control-plane-3"]));
    expect(cluster.parameter(`/kubeadm-ha/${topology.stack}/control-plane/join-lease`)).toBeUndefined();
    const second = topology.controlPlane.find((node) => node.name === learners[2].node)!;
    expect(cluster.log(second)).toMatch(new RegExp(`the control-plane join lease is held by ${learners[0].node} until`));
    expect(cluster.denied()).toBe("");
  });
});

describe("a replacement init node and a live cluster", () => {
  const topology = shippedTopology("five-server");
  const init = topology.initNode;
  const joinParameter = `/kubeadm-ha/${topology.stack}/join/discovery-kubeconfig`;
  let cluster: SimulatedCluster;
  let runs: RunResult[] | undefined;
  showRunsOnFailure(() => runs);

  beforeAll(async () => {
    cluster = new SimulatedCluster(topology, "-live");
    runs = await cluster.bootAll();
    expect(runs.map((run) => run.code)).toEqual(runs.map(() => 0));
  });

  test("a transient KMS error on its existence check is asked again, never taken for a stale value: it joins", async () => {
    const clusterCa = fs.readFileSync(path.join(cluster.state, "cluster-ca.crt"), "utf8");
    cluster.replace(init);
    const count = cluster.calls().length;
    runs = await cluster.bootNodes([init], { FAKE_KMS_TRANSIENT: "3" });
    expect(runs[0].code).toBe(0);
    const mine = cluster.calls().slice(count).filter((call) => call.node === init.name);
    expect(mine.filter((call) => call.line.includes("event kms transient"))).toHaveLength(3);
    expect(mine.filter((call) => is(call, "kubeadm", "init"))).toEqual([]);
    expect(mine.filter((call) => is(call, "kubeadm", "join"))).toHaveLength(1);
    expect(cluster.log(init)).toMatch(/cannot tell whether \S+discovery-kubeconfig exists yet: An error occurred \(KMSInternalException\)/);
    expect(fs.readFileSync(path.join(cluster.state, "cluster-ca.crt"), "utf8")).toBe(clusterCa);
  });

  test("with its join material gone, it refuses kubeadm init because an API server answers at the endpoint", async () => {
    const saved = cluster.parameter(joinParameter)!;
    cluster.deleteParameter(joinParameter);
    try {
      cluster.replace(init);
      const count = cluster.calls().length;
      runs = await cluster.bootNodes([init]);
      expect(runs[0].code).not.toBe(0);
      const mine = cluster.calls().slice(count).filter((call) => call.node === init.name);
      expect(mine.filter((call) => is(call, "kubeadm", "init") || is(call, "kubeadm", "join") || call.argv.includes("put-parameter"))).toEqual([]);
      expect(cluster.log(init)).toMatch(/an API server already answers at https:\/\/10\.0\.0\.10:6443: refusing kubeadm init over a live cluster/);
    } finally {
      cluster.setParameter(joinParameter, saved);
    }
  });
});
