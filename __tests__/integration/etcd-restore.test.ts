/**
 * Backup and restore with the real etcd: the external-etcd members rendered from
 * clusters/external-etcd.yaml run on loopback (support/etcd-local-cluster.ts), keys are written,
 * templates/etcd-backup.sh runs on every member with its rendered settings and the real etcdctl
 * (a fake aws keeps S3 in a folder): only the leader uploads. Then every member
 * is stopped and restored by scripts/restore-etcd.sh into a fresh data dir, each with its own name
 * and peer URL and the initial-cluster from its rendered config, under a new cluster token. After a
 * start every key is there and all three members are healthy. Only loopback addresses; every etcd
 * is killed by PID.
 */
import { spawnSync } from "child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join, resolve } from "path";
import { parse } from "yaml";
import { etcdBackupEnv } from "../../lib/render/etcd-backup";
import { ETCD_PKI_DIR } from "../../lib/render/etcd";
import { commandAvailable, EtcdProcesses, LoopbackPlan, logTail, prepareLocalMembers } from "../support/etcd-local-cluster";
import { sleep } from "../support/etcd-write-loop";
import { installFakes, provisionNode, runNodeScript } from "../support/node-sandbox";
import { shippedTopology } from "../support/specs";

/** S3 as a folder: put-object copies the body to FAKE_S3/<bucket>/<key>; list-objects-v2 sees them as written now. */
const FAKE_AWS = `
case " $* " in
  *" sts get-caller-identity "*) echo 111122223333 ;;
  *" put-object "*) args=("$@"); for ((i = 0; i < \${#args[@]}; i++)); do case \${args[i]} in --bucket) b=\${args[i+1]} ;; --key) k=\${args[i+1]} ;; --body) f=\${args[i+1]} ;; esac; done
    mkdir -p "$(dirname "$FAKE_S3/$b/$k")"; cp "$f" "$FAKE_S3/$b/$k"; echo "{}" ;;
  *" list-objects-v2 "*) if [[ -n $(find "$FAKE_S3" -name '*.db' 2>/dev/null) ]]; then date -u +%FT%TZ; else echo None; fi ;;
  *) echo "unexpected aws $*" >&2; exit 1 ;;
esac`;

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)]));
}

const RESTORE_SCRIPT = resolve(__dirname, "..", "..", "scripts", "restore-etcd.sh");
const etcdInstalled = commandAvailable("etcd") && commandAvailable("etcdctl", ["version"]);
const runHere = etcdInstalled || process.env.CI === "true";
if (!runHere) console.warn("SKIPPED __tests__/integration/etcd-restore.test.ts: etcd and etcdctl are not installed (CI=true makes this a failure).");
const describeWithEtcd = runHere ? describe : describe.skip;

describeWithEtcd("etcd snapshot and restore of every member (real etcd)", () => {
  const topology = shippedTopology("external-etcd");
  const plan: LoopbackPlan = {
    memberIps: new Map(topology.etcdNodes.map((node) => [node.name, `127.0.0.${70 + node.ordinal}`])),
    nodeLocalIps: new Map(topology.etcdNodes.map((node) => [node.name, `127.0.0.${80 + node.ordinal}`])),
  };
  const workDir = mkdtempSync(join(tmpdir(), "kubeadm-ha-etcd-restore-"));
  const FAKE_BIN = join(workDir, "bin");
  installFakes(FAKE_BIN, { aws: FAKE_AWS });
  // Stacked etcd: kubeadm's image holds etcdutl. This ctr checks the call and runs the image's
  // command here, with etcd 3.4's etcdctl standing in for etcdutl.
  const CTR_BIN = join(workDir, "ctr-bin");
  installFakes(CTR_BIN, {
    ctr: `echo "ctr $*" >>"$FAKE_CTR_LOG"
[[ $1 == -n && $2 == k8s.io && $3 == run && $4 == --rm ]] || { echo "unexpected ctr $*" >&2; exit 1; }
shift 4
while [[ $1 == --mount ]]; do [[ $2 == type=bind,src=*,dst=*,options=rbind:* ]] || exit 1; shift 2; done
[[ $1 == registry.k8s.io/etcd:* ]] || { echo "not the etcd image: $1" >&2; exit 1; }
shift 2
[[ $1 == etcdutl ]] || exit 1
shift
ETCDCTL_API=3 exec etcdctl "$@"`,
  });
  let savedSnapshot = "";
  const members = prepareLocalMembers(topology, plan, workDir);
  const processes = new EtcdProcesses();
  afterAll(async () => {
    await processes.killAll();
    rmSync(workDir, { recursive: true, force: true });
  });

  /** The backup timer's TLS settings on that member (ETCD_BACKUP_* in its cluster.env), in the test's pki dir. */
  const backupTls = (name: string) => {
    const node = topology.etcdNodes.find((candidate) => candidate.name === name)!;
    const env = Object.fromEntries(etcdBackupEnv(topology, node));
    const local = (file: string) => join(workDir, name, "pki", file.slice(ETCD_PKI_DIR.length + 1));
    return { cacert: local(env.ETCD_BACKUP_CA), cert: local(env.ETCD_BACKUP_CERT), key: local(env.ETCD_BACKUP_KEY) };
  };
  const all = members.map((member) => member.clientUrl).join(",");
  const healthy = async () => {
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const result = await processes.etcdctl([`--endpoints=${all}`, "endpoint", "health"], backupTls("etcd-1"), 5000);
      if (result.code === 0) return;
      await sleep(200);
    }
    throw new Error(`cluster not healthy\n${members.map((m) => `--- ${m.name}\n${logTail(m, 5)}`).join("\n")}`);
  };

  test("write keys, snapshot with the rendered settings, restore all members, every key present, cluster healthy", async () => {
    for (const member of members) processes.start(member);
    await healthy();
    const keys = Array.from({ length: 50 }, (_, index) => `/restore-test/key-${index}`);
    for (const key of keys) {
      const put = await processes.etcdctl([`--endpoints=${all}`, "put", key, `value of ${key}`], backupTls("etcd-1"), 5000);
      expect(put.code).toBe(0);
    }
    // templates/etcd-backup.sh itself, on every member, with the real etcdctl and a fake aws (S3 as
    // a folder): the leader alone uploads, and that object is what gets restored.
    const uploads = join(workDir, "s3");
    const runs = members.map((member) => {
      const node = topology.etcdNodes.find((candidate) => candidate.name === member.name)!;
      const root = provisionNode(topology, node, join(workDir, "sandbox", member.name));
      // The one rewrite: the node-local listener 127.0.0.1 has another loopback address here (see
      // support/etcd-local-cluster.ts), which the member's certificate does not name; dial its own URL.
      const envFile = join(root, "etc/kubeadm-ha/cluster.env");
      writeFileSync(envFile, readFileSync(envFile, "utf8").replace("ETCD_BACKUP_ENDPOINT='https://127.0.0.1:2379'", `ETCD_BACKUP_ENDPOINT='${member.clientUrl}'`));
      mkdirSync(join(root, "etc/etcd/pki"), { recursive: true });
      for (const file of ["ca.crt", "server.crt", "server.key"]) copyFileSync(join(workDir, member.name, "pki", file), join(root, "etc/etcd/pki", file));
      return { member, ...runNodeScript(root, "etcd-backup.sh", FAKE_BIN, { FAKE_S3: uploads }, 60_000) };
    });
    // A member that ran before the leader found no snapshot yet: its freshness check fails (as it
    // should). The leader's run, and every run after it, succeeds.
    const leaderIndex = runs.findIndex((run) => /uploaded s3:\/\//.test(run.output));
    expect(leaderIndex).toBeGreaterThanOrEqual(0);
    runs.forEach((run, index) => {
      if (index >= leaderIndex) expect(`${run.member.name}: ${run.code}`).toBe(`${run.member.name}: 0`);
      else expect(run.output).toMatch(/no etcd snapshot in s3:\/\/external-etcd-etcd-111122223333-eu-west-1 newer than 1800s/);
    });
    const uploaded = listFiles(uploads);
    expect(uploaded).toHaveLength(1);
    const leaderRuns = runs.filter((run) => /uploaded s3:\/\//.test(run.output));
    expect(leaderRuns).toHaveLength(1);
    expect(uploaded[0]).toContain(`-${leaderRuns[0].member.name}.db`);
    expect(runs.filter((run) => /not the etcd leader/.test(run.output))).toHaveLength(members.length - 1);
    const snapshot = uploaded[0];
    savedSnapshot = snapshot;
    await processes.killAll();

    const token = "kubeadm-ha-external-etcd-etcd-restore-1";
    for (const member of members) {
      const config = parse(readFileSync(member.configPath, "utf8")) as Record<string, string>;
      const dataDir = config["data-dir"];
      renameSync(dataDir, `${dataDir}.before-restore`);
      const result = spawnSync("bash", [RESTORE_SCRIPT, "--snapshot", snapshot, "--name", config.name, "--peer-url", config["initial-advertise-peer-urls"],
        "--initial-cluster", config["initial-cluster"], "--token", token, "--data-dir", dataDir], { encoding: "utf8", timeout: 30000 });
      expect(`${result.stdout}${result.stderr}`).toMatch(new RegExp(`restored ${member.name} into`));
      expect(result.status).toBe(0);
      // Never over existing data.
      const again = spawnSync("bash", [RESTORE_SCRIPT, "--snapshot", snapshot, "--name", config.name, "--peer-url", config["initial-advertise-peer-urls"],
        "--initial-cluster", config["initial-cluster"], "--token", token, "--data-dir", dataDir], { encoding: "utf8", timeout: 30000 });
      expect(again.status).not.toBe(0);
      expect(again.stderr).toMatch(/exists; move it aside first/);
    }
    for (const member of members) processes.start(member);
    await healthy();
    const listed = await processes.etcdctl([`--endpoints=${all}`, "get", "/restore-test/", "--prefix", "--keys-only"], backupTls("etcd-3"), 5000);
    expect(listed.code).toBe(0);
    expect(listed.stdout.split("\n").filter(Boolean).sort()).toEqual([...keys].sort());
    const memberList = await processes.etcdctl([`--endpoints=${all}`, "member", "list"], backupTls("etcd-1"), 5000);
    expect(memberList.stdout.trim().split("\n")).toHaveLength(3);
    for (const member of members) expect(existsSync(`${member.configPath.replace(/etcd\.conf\.yml$/, "data")}.before-restore`)).toBe(true);
  });

  test("stacked etcd (five-server): each control-plane member restored through kubeadm's etcd image", () => {
    expect(savedSnapshot).not.toBe("");
    const stacked = shippedTopology("five-server");
    const ctrLog = join(workDir, "ctr.log");
    const initialCluster = stacked.etcd.members.map((member) => `${member.name}=${member.peerUrl}`).join(",");
    for (const member of stacked.etcd.members) {
      const dataDir = join(workDir, "stacked", member.name, "var/lib/etcd");
      const result = spawnSync("bash", [RESTORE_SCRIPT, "--snapshot", savedSnapshot, "--name", member.name, "--peer-url", member.peerUrl,
        "--initial-cluster", initialCluster, "--token", "kubeadm-ha-five-server-etcd-restore-1", "--data-dir", dataDir,
        "--etcd-image", "registry.k8s.io/etcd:3.6.5-0"], { encoding: "utf8", timeout: 30000, env: { ...process.env, PATH: `${CTR_BIN}:${process.env.PATH}`, FAKE_CTR_LOG: ctrLog } });
      expect(`${result.stdout}${result.stderr}`).toMatch(new RegExp(`restored ${member.name} into`));
      expect(result.status).toBe(0);
      expect(existsSync(join(dataDir, "member", "snap", "db"))).toBe(true);
    }
    const calls = readFileSync(ctrLog, "utf8").trim().split("\n");
    // Verify, then restore, per member; always the image's etcdutl.
    expect(calls).toHaveLength(2 * stacked.etcd.members.length);
    expect(calls.every((call) => / registry\.k8s\.io\/etcd:3\.6\.5-0 kubeadm-ha-restore-\d+-\d+ etcdutl snapshot (status|restore) /.test(call))).toBe(true);
  });

  test("a corrupt snapshot is refused before anything is written", () => {
    const bad = join(workDir, "corrupt.db");
    require("fs").writeFileSync(bad, "not a snapshot");
    const target = join(workDir, "never-written");
    const result = spawnSync("bash", [RESTORE_SCRIPT, "--snapshot", bad, "--name", "etcd-1", "--peer-url", "https://127.0.0.71:2380",
      "--initial-cluster", "etcd-1=https://127.0.0.71:2380", "--token", "t", "--data-dir", target], { encoding: "utf8" });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/does not verify/);
    expect(existsSync(target)).toBe(false);
  });
});
