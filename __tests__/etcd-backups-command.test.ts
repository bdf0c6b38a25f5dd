/**
 * `npm run etcd-backups` (scripts/etcd-backups.ts) against a fake `aws` that lists the objects the
 * test gives it: the age verdict and exit code, and a restore plan whose per-member commands carry
 * the rendered names, peer URLs and one shared initial cluster. The command runs in-process with a
 * fake AWS CLI function; two runs are real processes with a fake `aws` on PATH, for the entry point,
 * the AWS CLI's arguments and the exit codes as the shell sees them.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { etcdInitialCluster } from "../lib/render/etcd";
import { etcdBackupsMain } from "../scripts/etcd-backups";
import { installFakes } from "./support/node-sandbox";
import { REPO_ROOT, shippedTopology } from "./support/specs";

const BASE = fs.mkdtempSync(path.join(os.tmpdir(), "kubeadm-ha-backups-cmd-"));
const BIN = path.join(BASE, "bin");
afterAll(() => fs.rmSync(BASE, { recursive: true, force: true }));
beforeAll(() =>
  installFakes(BIN, {
    aws: `
echo "$*" >>"$FAKE_CALLS"
case " $* " in
  *" sts get-caller-identity "*) echo 111122223333 ;;
  *" list-objects-v2 "*) prefix=""; args=("$@"); for ((i = 0; i < \${#args[@]}; i++)); do [[ \${args[i]} == --prefix ]] && prefix=\${args[i+1]}; done
    grep "^$prefix" "$FAKE_LISTING" || echo None ;;
  *) echo "unexpected aws $*" >&2; exit 1 ;;
esac`,
  }),
);

interface Run { code: number | null; stdout: string; stderr: string; calls: string }

/** The command in-process; the fake answers as the PATH fake does and records its arguments the same way. */
function run(args: string[], listing: string[]): Run {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const calls: string[] = [];
  const aws = (region: string, awsArgs: readonly string[]): string => {
    calls.push(["--region", region, ...awsArgs].join(" "));
    if (awsArgs[0] === "sts" && awsArgs[1] === "get-caller-identity") return "111122223333";
    if (awsArgs[0] === "s3api" && awsArgs[1] === "list-objects-v2") {
      const prefix = awsArgs[awsArgs.indexOf("--prefix") + 1];
      const matches = listing.filter((line) => line.startsWith(prefix));
      return matches.length > 0 ? matches.join("\n") : "None";
    }
    throw new Error(`unexpected aws ${awsArgs.join(" ")}`);
  };
  const code = etcdBackupsMain(args, { aws, out: (text) => stdout.push(`${text}\n`), err: (text) => stderr.push(`${text}\n`) });
  return { code, stdout: stdout.join(""), stderr: stderr.join(""), calls: calls.map((line) => `${line}\n`).join("") };
}

/** The command as `npm run etcd-backups` starts it, a real process with the fake `aws` first on PATH. */
function runProcess(args: string[], listing: string[]): Run {
  const listingFile = path.join(BASE, `listing-${Math.random()}`);
  fs.writeFileSync(listingFile, listing.map((line) => `${line}\n`).join(""));
  const calls = path.join(BASE, `calls-${Math.random()}`);
  const result = spawnSync(process.execPath, ["-r", "./scripts/register.js", "scripts/etcd-backups.ts", ...args], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, PATH: `${BIN}:${process.env.PATH}`, FAKE_LISTING: listingFile, FAKE_CALLS: calls },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, calls: fs.existsSync(calls) ? fs.readFileSync(calls, "utf8") : "" };
}

const dayOf = (date: Date) => date.toISOString().slice(0, 10).replace(/-/g, "/");
const object = (secondsAgo: number, member = "etcd-2") => {
  const when = new Date(Date.now() - secondsAgo * 1000);
  const stamp = when.toISOString().replace(/[-:]/g, "").slice(0, 15) + "Z";
  return `etcd/${dayOf(when)}/${stamp}-${member}.db\t${when.toISOString()}`;
};

test.each([["in-process", run], ["as a process", runProcess]])("age (%s): a fresh snapshot is ok (exit 0), in the stack's bucket and region", (_how, command) => {
  const result = command(["external-etcd", "age"], [object(3600), object(300)]);
  expect(result.stdout).toMatch(/^external-etcd: ok: newest snapshot s3:\/\/external-etcd-etcd-111122223333-eu-west-1\/etcd\/\S+ is 30\ds old \(limit 1800s\)$/m);
  expect(result.code).toBe(0);
  expect(result.calls).toMatch(/^--region eu-west-1 s3api list-objects-v2 --bucket external-etcd-etcd-111122223333-eu-west-1 --prefix etcd\/\d{4}\/\d{2}\/\d{2}\//m);
});

test("age: older than maxAge, or none, is stale (exit 1)", () => {
  const stale = run(["five-server", "age"], [object(2000, "control-plane-1")]);
  expect(stale.stdout).toMatch(/five-server: STALE: newest snapshot .* is 20\d\ds old \(limit 1800s\)/);
  expect(stale.code).toBe(1);
  const none = run(["five-server", "age"], []);
  expect(none.stdout).toMatch(/five-server: STALE: no snapshot in s3:\/\/five-server-etcd-111122223333-eu-west-1\/etcd\/ today or yesterday/);
  expect(none.code).toBe(1);
});

test("restore-plan: the newest snapshot, one restore per member with its own name and peer URL, one initial cluster and token", () => {
  const topology = shippedTopology("five-server");
  const result = run(["five-server", "restore-plan"], [object(3000, "control-plane-2"), object(60, "control-plane-1")]);
  expect(result.code).toBe(0);
  const restores = result.stdout.split("\n").filter((line) => line.startsWith("restore-etcd.sh "));
  expect(restores).toHaveLength(topology.etcd.members.length);
  const tokens = new Set(restores.map((line) => /--token (\S+)/.exec(line)![1]));
  expect(tokens.size).toBe(1);
  expect([...tokens][0]).toMatch(/^kubeadm-ha-five-server-etcd-restore-\d{14}$/);
  topology.etcd.members.forEach((member, index) => {
    expect(restores[index]).toContain(`--name ${member.name} --peer-url ${member.peerUrl} --initial-cluster ${etcdInitialCluster(topology.etcd.members)} `);
  });
  expect(result.stdout).toMatch(/s3 cp s3:\/\/five-server-etcd-111122223333-eu-west-1\/etcd\/\S+-control-plane-1\.db snapshot\.db/);
  expect(result.stdout).toContain("mv /etc/kubernetes/manifests/etcd.yaml /root/etcd.yaml");
  // Stacked: etcdutl from kubeadm's etcd image, as named in the manifest moved aside before.
  for (const line of restores) expect(line).toMatch(/ --etcd-image "\$\(sed -n 's\/\^ \*image: \*\/\/p' \/root\/etcd\.yaml\)"$/);
  const external = run(["external-etcd", "restore-plan", "--snapshot", "etcd/2027/01/31/x.db"], []);
  expect(external.code).toBe(0);
  expect(external.stdout).toContain("s3://external-etcd-etcd-111122223333-eu-west-1/etcd/2027/01/31/x.db");
  expect(external.stdout).not.toContain("--etcd-image");
  expect(external.stdout).toContain("systemctl stop etcd");
});

test("bad arguments: usage, exit 2", () => {
  for (const args of [[], ["five-server"], ["five-server", "delete"], ["no-such-stack", "age"], ["five-server", "age", "--snapshot", "x"]]) {
    const result = run(args, []);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^etcd-backups: /);
    expect(result.calls).toBe("");
  }
  const process = runProcess(["five-server", "delete"], []);
  expect([process.code, process.stdout]).toEqual([2, ""]);
  expect(process.stderr).toMatch(/^etcd-backups: delete: expected age or restore-plan\nusage: npm run etcd-backups/);
});
