/**
 * Operator commands for a stack's etcd backups (AWS CLI v2 and credentials for the account):
 *
 *   npm run etcd-backups -- STACK age                      newest snapshot and its age; exit 1 when
 *                                                          older than backups.maxAge or missing
 *   npm run etcd-backups -- STACK restore-plan [--snapshot KEY]
 *                                                          the restore runbook for this stack with
 *                                                          every member's exact restore-etcd.sh call
 *
 * The stack's facts (region, members, peer URLs, maxAge) come from clusters/STACK.yaml (or
 * CLUSTERS_DIR) through the same validation and topology as synth; the bucket name from the
 * account id, as the nodes compute it. Nothing is changed: restore-plan only prints.
 */
import { execFileSync } from "child_process";
import * as path from "path";
import { BACKUP_OBJECT_PREFIX, backupBucketName, backupMaxAgeSeconds } from "../lib/backups";
import { loadClusterSpecs, SpecLoadError } from "../lib/load-specs";
import { etcdInitialCluster } from "../lib/render/etcd";
import { buildTopology, Topology } from "../lib/topology";

const USAGE = "usage: npm run etcd-backups -- STACK age | STACK restore-plan [--snapshot KEY]";

class UsageError extends Error {}

/** What the command reaches outside itself; the defaults are the real ones. */
export interface EtcdBackupsDeps {
  /** Default: CLUSTERS_DIR, else the repo's clusters/. */
  readonly clustersDir?: string;
  /** Runs `aws --region REGION ...args` and returns its trimmed stdout. Default: the AWS CLI on PATH. */
  readonly aws?: (region: string, args: readonly string[]) => string;
  /** Default: console.log. */
  readonly out?: (text: string) => void;
  /** Default: console.error. */
  readonly err?: (text: string) => void;
  /** Default: the current time. */
  readonly now?: Date;
}

function awsCli(region: string, args: readonly string[]): string {
  return execFileSync("aws", ["--region", region, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}

interface Io {
  readonly aws: (region: string, args: readonly string[]) => string;
  readonly out: (text: string) => void;
}

function topologyOf(stack: string, clustersDir: string | undefined): Topology {
  const dir = path.resolve(clustersDir ?? process.env.CLUSTERS_DIR ?? path.join(__dirname, "..", "clusters"));
  const loaded = loadClusterSpecs(dir).find((spec) => spec.spec.name === stack);
  if (!loaded) throw new UsageError(`${stack}: no clusters/${stack}.yaml in ${dir}`);
  if (!loaded.spec.backups.enabled) throw new UsageError(`${stack}: backups.enabled is false in ${loaded.file}; there are no backups`);
  return buildTopology(loaded.spec, loaded.warnings);
}

interface Snapshot {
  readonly key: string;
  readonly modified: Date;
}

/** Today's and yesterday's snapshots (UTC), newest first. */
function recentSnapshots(io: Io, topology: Topology, bucket: string, now: Date): Snapshot[] {
  const days = [now, new Date(now.getTime() - 86400_000)].map((day) => day.toISOString().slice(0, 10).replace(/-/g, "/"));
  const found: Snapshot[] = [];
  for (const day of days) {
    const listed = io.aws(topology.spec.region, ["s3api", "list-objects-v2", "--bucket", bucket, "--prefix", `${BACKUP_OBJECT_PREFIX}/${day}/`,
      "--query", "Contents[].[Key,LastModified]", "--output", "text"]);
    for (const line of listed.split("\n")) {
      const [key, modified] = line.split("\t");
      if (key && modified && key !== "None") found.push({ key, modified: new Date(modified) });
    }
  }
  return found.sort((a, b) => b.modified.getTime() - a.modified.getTime());
}

function age(io: Io, topology: Topology, bucket: string, now: Date): number {
  const limit = backupMaxAgeSeconds(topology.spec);
  const [newest] = recentSnapshots(io, topology, bucket, now);
  if (!newest) {
    io.out(`${topology.stack}: STALE: no snapshot in s3://${bucket}/${BACKUP_OBJECT_PREFIX}/ today or yesterday (UTC)`);
    return 1;
  }
  const seconds = Math.round((now.getTime() - newest.modified.getTime()) / 1000);
  const verdict = seconds <= limit ? "ok" : "STALE";
  io.out(`${topology.stack}: ${verdict}: newest snapshot s3://${bucket}/${newest.key} is ${seconds}s old (limit ${limit}s)`);
  return seconds <= limit ? 0 : 1;
}

function restorePlan(io: Io, topology: Topology, bucket: string, now: Date, snapshotKey: string | undefined): number {
  const key = snapshotKey ?? recentSnapshots(io, topology, bucket, now)[0]?.key;
  if (!key) throw new UsageError(`${topology.stack}: no recent snapshot; pass --snapshot KEY (aws s3 ls s3://${bucket}/${BACKUP_OBJECT_PREFIX}/ --recursive)`);
  const stacked = topology.etcd.topology === "stacked";
  const token = `kubeadm-ha-${topology.stack}-etcd-restore-${now.toISOString().replace(/[-:T]/g, "").slice(0, 14)}`;
  const initialCluster = etcdInitialCluster(topology.etcd.members);
  const holders = stacked ? topology.controlPlane : topology.etcdNodes;
  const lines = [
    `# Restore of ${topology.stack} from s3://${bucket}/${key} (docs/operations.md, section 7).`,
    `# Everything written after the snapshot is lost. Run each step on the named nodes (aws ssm start-session).`,
    "",
    "# 1. Download on your machine and copy to every member (the nodes cannot read the bucket):",
    `aws --region ${topology.spec.region} s3 cp s3://${bucket}/${key} snapshot.db`,
    "",
    `# 2. Stop the API servers on ${topology.controlPlane.map((node) => node.name).join(", ")}:`,
    "mv /etc/kubernetes/manifests/kube-apiserver.yaml /root/kube-apiserver.yaml",
    "",
    `# 3. Stop etcd on ${holders.map((node) => node.name).join(", ")}:`,
    stacked ? "mv /etc/kubernetes/manifests/etcd.yaml /root/etcd.yaml   # then wait until `crictl ps --name etcd` is empty" : "systemctl stop etcd",
    "",
    "# 4. On each member, move its data aside and restore (same snapshot, initial cluster and token everywhere):",
  ];
  for (const member of topology.etcd.members) {
    lines.push(
      `#    on ${member.name} (${member.ip}):`,
      "mv /var/lib/etcd /var/lib/etcd.before-restore",
      `restore-etcd.sh --snapshot snapshot.db --name ${member.name} --peer-url ${member.peerUrl} --initial-cluster ${initialCluster} --token ${token} --data-dir /var/lib/etcd` +
        // Stacked: etcdutl exists only in kubeadm's etcd image, named in the manifest moved aside in step 3.
        (stacked ? ` --etcd-image "$(sed -n 's/^ *image: *//p' /root/etcd.yaml)"` : ""),
    );
  }
  lines.push(
    "",
    `# 5. Start etcd on every member at about the same time:`,
    stacked ? "mv /root/etcd.yaml /etc/kubernetes/manifests/etcd.yaml" : "systemctl start etcd",
    "#    check: etcdctl endpoint health --cluster; etcdctl member list (every member, nothing else)",
    "",
    "# 6. Start the API servers, then check kubectl get nodes:",
    "mv /root/kube-apiserver.yaml /etc/kubernetes/manifests/kube-apiserver.yaml",
  );
  io.out(lines.join("\n"));
  return 0;
}

/** The command: argv after `npm run etcd-backups --`; returns the exit code (0, 1 stale or failed, 2 usage). */
export function etcdBackupsMain(argv: readonly string[], deps: EtcdBackupsDeps = {}): number {
  const io: Io = { aws: deps.aws ?? awsCli, out: deps.out ?? ((text) => console.log(text)) };
  const err = deps.err ?? ((text: string) => console.error(text));
  const [stack, command, ...rest] = argv;
  try {
    if (!stack || !command) throw new UsageError(USAGE);
    let snapshot: string | undefined;
    for (let index = 0; index < rest.length; index += 2) {
      if (rest[index] !== "--snapshot" || rest[index + 1] === undefined || command !== "restore-plan") throw new UsageError(`${rest[index]}: unknown option\n${USAGE}`);
      snapshot = rest[index + 1];
    }
    if (command !== "age" && command !== "restore-plan") throw new UsageError(`${command}: expected age or restore-plan\n${USAGE}`);
    const topology = topologyOf(stack, deps.clustersDir);
    const account = io.aws(topology.spec.region, ["sts", "get-caller-identity", "--query", "Account", "--output", "text"]);
    if (!/^\d{12}$/.test(account)) throw new Error(`aws sts get-caller-identity gave ${JSON.stringify(account)}, not an account id`);
    const bucket = backupBucketName(stack, account, topology.spec.region);
    const now = deps.now ?? new Date();
    return command === "age" ? age(io, topology, bucket, now) : restorePlan(io, topology, bucket, now, snapshot);
  } catch (error) {
    if (error instanceof UsageError) {
      err(`etcd-backups: ${error.message}`);
      return 2;
    }
    if (error instanceof SpecLoadError) {
      err(`etcd-backups: invalid cluster spec\n${error.problems.join("\n")}`);
      return 2;
    }
    err(`etcd-backups: ${(error as Error).message}`);
    return 1;
  }
}

if (require.main === module) process.exitCode = etcdBackupsMain(process.argv.slice(2));
