/**
 * The certificate renewal scripts as the nodes receive them, in a sandbox per node, with fakes:
 * `kubeadm certs check-expiration` reports the residual time the test sets (and `certs renew all`
 * resets it to a year), `kubectl` keeps the renewal Lease (created atomically, as the API server
 * does), `crictl` shows a static pod running while its manifest is in place (what the kubelet does),
 * `curl` answers /readyz while the API server's manifest is there, `aws` stores parameters. With
 * external etcd, real certificates from templates/etcd-pki.sh.
 *
 * Proves: renewal below the threshold, only a warning in the warning band, nothing above it; the
 * components restart one at a time and admin.conf is republished; the lock is respected (a node
 * waits for a fresh lock held by another, breaks a stale one) and two nodes renewing at once never
 * have their control planes down together; an interrupted run puts paused manifests back; external
 * etcd members renew their own certificates from the parameter store's CA key and etcd-1 publishes
 * the API servers' client certificate, which a control-plane node installs once its own is due.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { ClusterNode, Topology } from "../lib/topology";
import { installFakes, nodeLog, provisionNode, runNodeScript, SCRIPT_DIR } from "./support/node-sandbox";
import { shippedTopology } from "./support/specs";

jest.setTimeout(120_000);
const BASE = fs.mkdtempSync(path.join(os.tmpdir(), "kubeadm-ha-cert-sim-"));
const BIN = path.join(BASE, "bin");
afterAll(() => fs.rmSync(BASE, { recursive: true, force: true }));
const DAY = 86400;

const EVENT = `event() { printf '%s %s %s\\n' "$(date +%s%N)" "$FAKE_NODE" "$*" >>"$FAKE_STATE/events"; }`;
const FAKES: Record<string, string> = {
  kubeadm: `${EVENT}
case "$1 $2" in
  "certs check-expiration")
    left=$(cat "$KUBEADM_HA_ROOT/fake-cert-seconds")
    printf 'admin.conf %s false \\napiserver %s false \\nfront-proxy-client %s false \\nexternal-thing 1 true \\nmissing-one 0 false true\\n' "$left" "$((left + 60))" "$((left + 120))" ;;
  "certs renew") [[ $3 == all ]] || exit 1; event "certs renew all"; echo $((365 * 86400)) >"$KUBEADM_HA_ROOT/fake-cert-seconds"; echo "admin.conf renewed" >>"$KUBEADM_HA_ROOT/etc/kubernetes/admin.conf" ;;
  *) echo "unexpected kubeadm $*" >&2; exit 1 ;;
esac`,
  kubectl: `${EVENT}
lease="$FAKE_STATE/lease"
args=" $* "
case $args in
  *" create -f - "*) input=$(cat); tmp="$lease.$$"
    holder=$(sed -n 's/.*holderIdentity: \\([^,]*\\),.*/\\1/p' <<<"$input"); time=$(sed -n 's/.*acquireTime: "\\([^"]*\\)".*/\\1/p' <<<"$input")
    printf '%s %s' "$holder" "$time" >"$tmp"
    # A hard link appears whole or not at all and fails if the lease exists: the API server's create.
    ln "$tmp" "$lease" 2>/dev/null || { rm -f "$tmp"; echo "AlreadyExists" >&2; exit 1; }
    rm -f "$tmp"; event "lock acquired" ;;
  *" get lease "*) [[ -f $lease ]] || { echo NotFound >&2; exit 1; }; cat "$lease" ;;
  *" delete lease "*) rm -f "$lease"; event "lock released" ;;
  *) echo "unexpected kubectl $*" >&2; exit 1 ;;
esac`,
  crictl: `
[[ $1 == ps ]] || exit 1
name=$3; name=\${name#^}; name=\${name%$}
[[ ! -f $KUBEADM_HA_ROOT/etc/kubernetes/manifests/$name.yaml ]] || echo "id-$name"`,
  curl: `[[ -f $KUBEADM_HA_ROOT/etc/kubernetes/manifests/kube-apiserver.yaml ]]`,
  // Every manifest move, seen from the "kubelet": records when the API server goes down and up.
  mv: `${EVENT}
/bin/mv "$@"
dest="\${@: -1}"
if [[ $dest == */paused-manifests/ && $* == */manifests/kube-apiserver.yaml* ]]; then event "apiserver down"; fi
if [[ $dest == */manifests/ && $* == */paused-manifests/kube-apiserver.yaml* ]]; then event "apiserver up"; fi`,
  aws: `#!/usr/bin/env python3
import os, sys, urllib.parse
state = os.environ["FAKE_STATE"]; argv = sys.argv[1:]
if argv[:1] == ["--region"]: argv = argv[2:]
def opt(n): return argv[argv.index(n) + 1] if n in argv else None
store = os.path.join(state, "params"); os.makedirs(store, exist_ok=True)
f = os.path.join(store, urllib.parse.quote(opt("--name") or "", safe=""))
open(os.path.join(state, "aws"), "a").write(os.environ["FAKE_NODE"] + " " + " ".join(argv[:2]) + " " + (opt("--name") or "") + "\\n")
if argv[:2] == ["ssm", "put-parameter"]:
    open(f, "w").write(open(opt("--value")[len("file://"):]).read()); print("{}")
elif argv[:2] == ["ssm", "get-parameter"]:
    if not os.path.exists(f): sys.stderr.write("An error occurred (ParameterNotFound)\\n"); sys.exit(254)
    sys.stdout.write(open(f).read())
else: sys.exit("unexpected aws " + " ".join(argv))`,
  snap: "true",
};

beforeAll(() => installFakes(BIN, FAKES));

class Sandbox {
  readonly state: string;
  constructor(readonly topology: Topology, label: string) {
    this.state = path.join(BASE, label);
    fs.mkdirSync(this.state, { recursive: true });
    fs.writeFileSync(path.join(this.state, "events"), "");
  }
  root(node: ClusterNode): string {
    return path.join(this.state, "nodes", node.name);
  }
  /** A control-plane node after kubeadm: manifests in place, admin.conf, certificates with `days` left. */
  controlPlane(node: ClusterNode, days: number): string {
    const root = provisionNode(this.topology, node, this.root(node));
    fs.mkdirSync(path.join(root, "etc/kubernetes/manifests"), { recursive: true });
    for (const component of ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"]) {
      fs.writeFileSync(path.join(root, `etc/kubernetes/manifests/${component}.yaml`), `# ${component}\n`);
    }
    fs.mkdirSync(path.join(root, "etc/kubernetes/pki"), { recursive: true });
    fs.writeFileSync(path.join(root, "etc/kubernetes/admin.conf"), "apiVersion: v1\nkind: Config\n");
    fs.writeFileSync(path.join(root, "fake-cert-seconds"), String(days * DAY));
    return root;
  }
  env(node: ClusterNode, extra: Record<string, string> = {}): Record<string, string> {
    return { FAKE_STATE: this.state, FAKE_NODE: node.name, KUBEADM_HA_WAIT_SECONDS: "20", ...extra };
  }
  run(node: ClusterNode, script: string, extra: Record<string, string> = {}) {
    return runNodeScript(this.root(node), script, BIN, this.env(node, extra));
  }
  /** Starts the script in the background; resolves with its exit code. */
  start(node: ClusterNode, script: string): Promise<number | null> {
    const child = spawn("bash", [path.join(this.root(node), SCRIPT_DIR, script)], {
      env: { PATH: `${BIN}:/usr/bin:/bin`, HOME: this.root(node), LANG: "C", KUBEADM_HA_ROOT: this.root(node), KUBEADM_HA_POLL_SECONDS: "0.1", ...this.env(node) },
      stdio: "ignore",
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    return new Promise((resolve) => child.on("close", (code) => { clearTimeout(timer); resolve(code); }));
  }
  events(): { node: string; what: string }[] {
    return fs.readFileSync(path.join(this.state, "events"), "utf8").split("\n").filter(Boolean)
      .map((line) => line.split(" ")).sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : 1))
      .map(([, node, ...what]) => ({ node, what: what.join(" ") }));
  }
  awsCalls(): string {
    const file = path.join(this.state, "aws");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  }
  manifests(node: ClusterNode): string[] {
    return fs.readdirSync(path.join(this.root(node), "etc/kubernetes/manifests")).sort();
  }
}

describe("control-plane certificate renewal (five-server)", () => {
  const topology = shippedTopology("five-server");
  const [first, second] = topology.controlPlane;
  const allManifests = ["etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"];
  let n = 0;
  const sandbox = () => new Sandbox(topology, `five-${(n += 1)}`);

  test("above the warning threshold: nothing but a log line", () => {
    const box = sandbox();
    box.controlPlane(first, 200);
    const result = box.run(first, "renew-certs.sh");
    expect(result.code).toBe(0);
    expect(nodeLog(box.root(first))).toMatch(/certificates valid for 200\+ days/);
    expect(box.events()).toEqual([]);
    expect(box.awsCalls()).toBe("");
  });

  test("in the warning band (45 to 30 days): a warning, no renewal", () => {
    const box = sandbox();
    box.controlPlane(first, 40);
    expect(box.run(first, "renew-certs.sh").code).toBe(0);
    expect(nodeLog(box.root(first))).toMatch(/WARNING: certificate admin.conf expires in 40 days/);
    expect(box.events()).toEqual([]);
  });

  test("below the threshold: lock, renew, restart one component at a time, republish admin.conf, unlock", () => {
    const box = sandbox();
    box.controlPlane(first, 20);
    const result = box.run(first, "renew-certs.sh");
    expect(result.code).toBe(0);
    const events = box.events().map((event) => event.what).filter((what) => !what.startsWith("apiserver"));
    expect(events[0]).toBe("lock acquired");
    expect(events[1]).toBe("certs renew all");
    expect(events[events.length - 1]).toBe("lock released");
    const log = nodeLog(box.root(first));
    const restarts = [...log.matchAll(/restarted (\S+)/g)].map((match) => match[1]);
    expect(restarts).toEqual(["kube-apiserver", "kube-controller-manager", "kube-scheduler"]);
    // etcd is never restarted (it reloads certificates per connection); everything is back in place.
    expect(box.manifests(first)).toEqual(allManifests);
    expect(log).not.toMatch(/restarted etcd/);
    expect(box.awsCalls()).toContain(`${first.name} ssm put-parameter /kubeadm-ha/five-server/control-plane/admin.conf`);
    expect(fs.readFileSync(path.join(box.state, "params", encodeURIComponent("/kubeadm-ha/five-server/control-plane/admin.conf")), "utf8")).toMatch(/renewed/);
    expect(fs.existsSync(path.join(box.state, "lease"))).toBe(false);
  });

  test("a fresh lock held by another node is respected: no renewal, and the run gives up", () => {
    const box = sandbox();
    box.controlPlane(first, 20);
    fs.writeFileSync(path.join(box.state, "lease"), `${second.name} ${new Date().toISOString()}`);
    const result = box.run(first, "renew-certs.sh", { KUBEADM_HA_WAIT_SECONDS: "1" });
    expect(result.code).not.toBe(0);
    expect(nodeLog(box.root(first))).toMatch(/gave up waiting for the renewal lock/);
    expect(box.events().map((event) => event.what)).not.toContain("certs renew all");
    expect(box.manifests(first)).toEqual(allManifests);
  });

  test("a stale lock (older than an hour) is broken", () => {
    const box = sandbox();
    box.controlPlane(first, 20);
    fs.writeFileSync(path.join(box.state, "lease"), `${second.name} ${new Date(Date.now() - 2 * 3600_000).toISOString()}`);
    expect(box.run(first, "renew-certs.sh").code).toBe(0);
    expect(nodeLog(box.root(first))).toMatch(new RegExp(`breaking the stale renewal lock of ${second.name}`));
    expect(box.events().map((event) => event.what)).toContain("certs renew all");
  });

  test("two nodes renewing at once: one after the other, never both API servers down", async () => {
    const box = sandbox();
    box.controlPlane(first, 10);
    box.controlPlane(second, 10);
    const codes = await Promise.all([box.start(first, "renew-certs.sh"), box.start(second, "renew-certs.sh")]);
    expect(codes).toEqual([0, 0]);
    const events = box.events();
    const down = new Set<string>();
    let maxDown = 0;
    for (const event of events) {
      if (event.what === "apiserver down") down.add(event.node);
      if (event.what === "apiserver up") down.delete(event.node);
      maxDown = Math.max(maxDown, down.size);
    }
    expect(maxDown).toBe(1);
    const locks = events.filter((event) => event.what.startsWith("lock"));
    expect(locks.map((event) => event.what)).toEqual(["lock acquired", "lock released", "lock acquired", "lock released"]);
    expect(locks[0].node).toBe(locks[1].node);
    expect(locks[2].node).toBe(locks[3].node);
    expect(locks[0].node).not.toBe(locks[2].node);
  });

  test("an interrupted run's paused manifest is put back first", () => {
    const box = sandbox();
    const root = box.controlPlane(first, 200);
    fs.mkdirSync(path.join(root, "var/lib/kubeadm-ha/paused-manifests"), { recursive: true });
    fs.renameSync(path.join(root, "etc/kubernetes/manifests/kube-scheduler.yaml"), path.join(root, "var/lib/kubeadm-ha/paused-manifests/kube-scheduler.yaml"));
    expect(box.run(first, "renew-certs.sh").code).toBe(0);
    expect(box.manifests(first)).toEqual(allManifests);
    expect(nodeLog(root)).toMatch(/putting back kube-scheduler.yaml/);
  });
});

describe("external etcd certificate renewal", () => {
  const topology = shippedTopology("external-etcd");
  const [etcd1, etcd2] = topology.etcdNodes;
  const controlPlane = topology.controlPlane[0];
  const box = new Sandbox(topology, "external");
  const pki = (node: ClusterNode) => path.join(box.root(node), "etc/etcd/pki");
  const openssl = (...args: string[]) => {
    const result = spawnSync("openssl", args, { encoding: "utf8" });
    if (result.status !== 0) throw new Error(result.stderr);
    return result.stdout;
  };
  const notAfterDays = (file: string) => (Date.parse(openssl("x509", "-enddate", "-noout", "-in", file).trim().split("=")[1]) - Date.now()) / 86400_000;
  /** A leaf signed by the CA that expires in `days` (what etcd-pki.sh made years ago). */
  const shortLeaf = (dir: string, base: string, caDir: string, days: number, cn: string) => {
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path.join(dir, `${base}.key`),
      "-out", path.join(dir, `${base}.crt`), "-subj", `/CN=${cn}`, "-days", String(days), "-CA", path.join(caDir, "ca.crt"), "-CAkey", path.join(caDir, "ca.key"));
  };

  beforeAll(() => {
    const ca = path.join(box.state, "ca");
    fs.mkdirSync(ca);
    spawnSync("bash", [path.join(__dirname, "..", "templates", "etcd-pki.sh"), "ca", ca]);
    for (const node of [etcd1, etcd2]) {
      provisionNode(topology, node, box.root(node));
      fs.mkdirSync(pki(node), { recursive: true });
      fs.copyFileSync(path.join(ca, "ca.crt"), path.join(pki(node), "ca.crt"));
      for (const base of ["server", "peer"]) shortLeaf(pki(node), base, ca, node === etcd2 ? 10 : 400, node.name);
    }
    // The parameter store holds the etcd CA, as etcd-1 published it at boot.
    const params = path.join(box.state, "params");
    fs.mkdirSync(params, { recursive: true });
    fs.copyFileSync(path.join(ca, "ca.key"), path.join(params, encodeURIComponent("/kubeadm-ha/external-etcd/etcd/ca.key")));
    // The control-plane node's etcd client certificate, 10 days left.
    const cpPki = path.join(box.controlPlane(controlPlane, 300), "etc/kubernetes/pki");
    fs.mkdirSync(path.join(cpPki, "etcd"), { recursive: true });
    fs.copyFileSync(path.join(ca, "ca.crt"), path.join(cpPki, "etcd/ca.crt"));
    shortLeaf(cpPki, "apiserver-etcd-client", ca, 10, "kube-apiserver-etcd-client");
  });

  test("a member with certificates still valid (and etcd-1's client record fresh) changes nothing", () => {
    fs.mkdirSync(path.join(box.root(etcd1), "var/lib/kubeadm-ha"), { recursive: true });
    const record = path.join(box.root(etcd1), "var/lib/kubeadm-ha/apiserver-etcd-client.crt");
    fs.copyFileSync(path.join(pki(etcd1), "server.crt"), record);
    const before = fs.readFileSync(path.join(pki(etcd1), "server.crt"), "utf8");
    expect(box.run(etcd1, "renew-etcd-certs.sh").code).toBe(0);
    expect(fs.readFileSync(path.join(pki(etcd1), "server.crt"), "utf8")).toBe(before);
    expect(box.awsCalls()).not.toMatch(/^etcd-1 /m);
    fs.rmSync(record);
  });

  test("a member below the threshold reissues its certificates from the stored CA key, which does not stay", () => {
    expect(notAfterDays(path.join(pki(etcd2), "server.crt"))).toBeLessThan(11);
    const result = box.run(etcd2, "renew-etcd-certs.sh");
    expect(result.code).toBe(0);
    for (const base of ["server", "peer"]) expect(notAfterDays(path.join(pki(etcd2), `${base}.crt`))).toBeGreaterThan(1800);
    openssl("verify", "-CAfile", path.join(pki(etcd2), "ca.crt"), path.join(pki(etcd2), "server.crt"));
    expect(fs.existsSync(path.join(pki(etcd2), "ca.key"))).toBe(false);
    expect(nodeLog(box.root(etcd2))).toMatch(/renewed this member's server and peer certificates/);
  });

  test("etcd-1 publishes a renewed client certificate; the control-plane node installs it and restarts the API server", () => {
    expect(box.run(etcd1, "renew-etcd-certs.sh").code).toBe(0);
    expect(box.awsCalls()).toMatch(/etcd-1 ssm put-parameter \/kubeadm-ha\/external-etcd\/control-plane\/pki\/apiserver-etcd-client\.key\netcd-1 ssm put-parameter \/kubeadm-ha\/external-etcd\/control-plane\/pki\/etcd\/ca\.crt/);
    // etcd-1's own certificates had 400 days: untouched.
    expect(notAfterDays(path.join(pki(etcd1), "server.crt"))).toBeLessThan(401);
    const result = box.run(controlPlane, "renew-certs.sh");
    expect(result.code).toBe(0);
    const cpPki = path.join(box.root(controlPlane), "etc/kubernetes/pki");
    expect(notAfterDays(path.join(cpPki, "apiserver-etcd-client.crt"))).toBeGreaterThan(1800);
    const log = nodeLog(box.root(controlPlane));
    expect(log).toMatch(/installed the renewed etcd client certificate/);
    expect(log).toMatch(/restarted kube-apiserver/);
    // kubeadm's own certificates had 300 days: not renewed.
    expect(box.events().map((event) => event.what)).not.toContain("certs renew all");
  });
});

