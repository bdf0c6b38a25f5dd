/**
 * templates/etcd-backup.sh as each etcd member receives it (its user-data files, in a sandbox per
 * node under KUBEADM_HA_ROOT), with fakes on PATH: `etcdctl`/`etcdutl`/`crictl` answer for a member
 * whose leadership the test chooses, and `aws` is an S3 that records uploads and lists objects.
 * Proves: only the leader uploads, the others skip, a failed or unverifiable snapshot is never
 * uploaded and is logged, the object lands in the bucket the stack creates, and every member fails
 * its run (loudly) once the newest snapshot is older than the limit.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { backupBucketName, backupMaxAgeSeconds } from "../lib/backups";
import type { ClusterNode, Topology } from "../lib/topology";
import { installFakes, provisionNode, runNodeScript } from "./support/node-sandbox";
import { shippedTopology } from "./support/specs";

const BASE = fs.mkdtempSync(path.join(os.tmpdir(), "kubeadm-ha-backup-sim-"));
const BIN = path.join(BASE, "bin");
const ACCOUNT = "111122223333";
afterAll(() => fs.rmSync(BASE, { recursive: true, force: true }));

const FAKES: Record<string, string> = {
  // FAKE_LEADER=1: this member leads. FAKE_SNAPSHOT=fail|corrupt: save fails / writes garbage.
  etcdctl: `
echo "etcdctl $*" >>"$FAKE_STATE/calls"
args=" $* "
case $args in
  *" endpoint status "*) echo '"MemberID" : 42'; if [[ \${FAKE_LEADER:-0} == 1 ]]; then echo '"Leader" : 42'; else echo '"Leader" : 7'; fi ;;
  *" snapshot save "*)
    [[ $args == *" --cacert="*" --cert="*" --key="* ]] || { echo "no TLS" >&2; exit 1; }
    [[ \${FAKE_SNAPSHOT:-} != fail ]] || { echo "Error: context deadline exceeded" >&2; exit 1; }
    file="\${@: -1}"; if [[ \${FAKE_SNAPSHOT:-} == corrupt ]]; then echo garbage >"$file"; else echo "etcd-snapshot" >"$file"; fi ;;
  *" snapshot status "*) file="$3"; grep -q etcd-snapshot "$file" || { echo "Error: invalid database" >&2; exit 1; }; printf '"Hash" : 1\\n"Revision" : 99\\n"Keys" : 5\\n' ;;
  *) echo "unexpected etcdctl $*" >&2; exit 1 ;;
esac`,
  etcdutl: `echo "etcdutl $*" >>"$FAKE_STATE/calls"; grep -q etcd-snapshot "$3" || { echo "Error: invalid database" >&2; exit 1; }; printf '"Hash" : 1\\n"Revision" : 99\\n"Keys" : 5\\n'`,
  crictl: `
echo "crictl $*" >>"$FAKE_STATE/calls"
case $1 in ps) echo etcd-container-id ;; exec) shift 2; exec "$@" ;; *) exit 1 ;; esac`,
};

/** The S3 side: objects are files under FAKE_STATE/s3/<bucket>/<key>; LastModified is the file's mtime. */
const FAKE_AWS = `#!/usr/bin/env python3
import datetime, os, shutil, sys
state = os.environ["FAKE_STATE"]; argv = sys.argv[1:]
open(os.path.join(state, "calls"), "a").write("aws " + " ".join(argv) + "\\n")
def opt(name): return argv[argv.index(name) + 1] if name in argv else None
if argv[:1] == ["--region"]: argv = argv[2:]
if argv[:2] == ["sts", "get-caller-identity"]: print("${ACCOUNT}"); sys.exit(0)
if argv[0] != "s3api": sys.exit("unexpected aws " + " ".join(argv))
root = os.path.join(state, "s3", opt("--bucket"))
if argv[1] == "put-object":
    if opt("--checksum-algorithm") != "SHA256": sys.exit("no checksum")
    if "--server-side-encryption" in argv or "--sse-kms-key-id" in argv: sys.exit("encryption is the bucket's default")
    target = os.path.join(root, opt("--key")); os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(opt("--body"), target); print("{}")
elif argv[1] == "list-objects-v2":
    prefix = os.path.join(root, opt("--prefix")); found = []
    if os.path.isdir(prefix):
        for name in os.listdir(prefix):
            found.append(datetime.datetime.fromtimestamp(os.path.getmtime(os.path.join(prefix, name)), datetime.timezone.utc).isoformat())
    print("\\t".join(found) if found else "None")
else: sys.exit("unexpected s3api " + argv[1])
`;

beforeAll(() => installFakes(BIN, { ...FAKES, aws: FAKE_AWS }));

function run(topology: Topology, node: ClusterNode, state: string, env: Record<string, string> = {}) {
  const root = path.join(state, "nodes", node.name);
  if (!fs.existsSync(root)) provisionNode(topology, node, root);
  return { ...runNodeScript(root, "etcd-backup.sh", BIN, { KUBEADM_HA_POLL_SECONDS: "0", FAKE_STATE: state, ...env }), root };
}

function objects(state: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    if (!fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else found.push(path.relative(path.join(state, "s3"), full));
    }
  };
  walk(path.join(state, "s3"));
  return found;
}

describe.each(["five-server", "external-etcd"])("etcd backup on %s", (stack) => {
  const topology = shippedTopology(stack);
  const members = topology.etcd.topology === "external" ? topology.etcdNodes : topology.controlPlane;
  const bucket = backupBucketName(stack, ACCOUNT, topology.spec.region);
  let n = 0;
  const freshState = () => {
    const state = path.join(BASE, `${stack}-${(n += 1)}`);
    fs.mkdirSync(state, { recursive: true });
    fs.writeFileSync(path.join(state, "calls"), "");
    return state;
  };

  test("only the leader uploads one verified snapshot; the others skip", () => {
    const state = freshState();
    // The leader first: a member's freshness check fails while the bucket is still empty.
    const order = [1, ...members.keys()].filter((index, position, all) => all.indexOf(index) === position);
    const results: ReturnType<typeof run>[] = [];
    for (const index of order) results[index] = run(topology, members[index], state, { FAKE_LEADER: index === 1 ? "1" : "0" });
    for (const result of results) expect(result.code).toBe(0);
    const uploaded = objects(state);
    expect(uploaded).toHaveLength(1);
    expect(uploaded[0]).toMatch(new RegExp(`^${bucket}/etcd/\\d{4}/\\d{2}/\\d{2}/\\d{8}T\\d{6}Z-${members[1].name}\\.db$`));
    expect(results[1].output).toMatch(/uploaded s3:\/\/.* \(revision 99\)/);
    for (const index of members.keys()) if (index !== 1) expect(results[index].output).toMatch(/not the etcd leader: no snapshot/);
    const calls = fs.readFileSync(path.join(state, "calls"), "utf8");
    // Stacked: through the etcd container (kubeadm's image has etcdctl and etcdutl); external: the release binaries.
    expect(calls.includes("crictl exec etcd-container-id etcdctl")).toBe(stack === "five-server");
    expect(calls).toMatch(stack === "five-server" ? /etcdutl snapshot status/ : /(etcdutl|etcdctl) snapshot status/);
    // The snapshot file does not stay on the node.
    expect(fs.readdirSync(path.join(results[1].root, stack === "five-server" ? "var/lib/etcd" : "var/lib/kubeadm-ha")).filter((f) => f.endsWith(".db"))).toEqual([]);
    const metrics = fs.readFileSync(path.join(results[1].root, "var/lib/kubeadm-ha/etcd-backup.prom"), "utf8");
    expect(metrics).toMatch(/^kubeadm_ha_etcd_backup_last_success_timestamp_seconds \d+$/m);
  });

  test.each(["fail", "corrupt"])("a snapshot that %ss is not uploaded, and the run fails with a log line", (mode) => {
    const state = freshState();
    const result = run(topology, members[0], state, { FAKE_LEADER: "1", FAKE_SNAPSHOT: mode });
    expect(result.code).not.toBe(0);
    expect(objects(state)).toEqual([]);
    const log = fs.readFileSync(path.join(result.root, "var/log/kubeadm-ha-bootstrap.log"), "utf8");
    expect(log).toMatch(mode === "fail" ? /FAILED: etcdctl snapshot save failed; nothing uploaded/ : /FAILED: snapshot does not verify; nothing uploaded/);
    expect(fs.readFileSync(path.join(state, "calls"), "utf8")).not.toMatch(/put-object/);
  });

  test("every member fails its run when the newest snapshot is older than the limit (or missing)", () => {
    const state = freshState();
    const missing = run(topology, members[0], state, { FAKE_LEADER: "0" });
    expect(missing.code).not.toBe(0);
    expect(missing.output).toMatch(/no etcd snapshot in s3:\/\/\S+ newer than \d+s/);
    expect(run(topology, members[0], state, { FAKE_LEADER: "1" }).code).toBe(0);
    expect(run(topology, members[1], state, { FAKE_LEADER: "0" }).code).toBe(0);
    // Age the snapshot past the limit (two schedule periods: 30 min by default).
    const [object] = objects(state);
    const limit = backupMaxAgeSeconds(topology.spec);
    expect(limit).toBe(1800);
    const past = Date.now() / 1000 - limit - 60;
    fs.utimesSync(path.join(state, "s3", object), past, past);
    const stale = run(topology, members[1], state, { FAKE_LEADER: "0" });
    expect(stale.code).not.toBe(0);
    expect(stale.output).toMatch(new RegExp(`no etcd snapshot in s3://${bucket} newer than ${limit}s`));
  });
});
