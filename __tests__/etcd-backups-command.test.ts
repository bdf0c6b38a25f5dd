/**
 * `npm run etcd-backups` (scripts/etcd-backups.ts) against a fake `aws` that lists the objects the
 * test gives it: the age verdict and exit code, and a restore plan whose per-member commands carry
 * the rendered names, peer URLs and one shared initial cluster. The command runs in-process with a
 * fake AWS CLI function; __tests__/integration/entry-points.test.ts runs it as a process, with a
 * fake `aws` on PATH.
 */
import { etcdInitialCluster } from "../lib/render/etcd";
import { etcdBackupsMain } from "../scripts/etcd-backups";
import { shippedTopology } from "./support/specs";

interface Run { code: number | null; stdout: string; stderr: string; calls: string }

/** The command in-process, with a fake AWS CLI that lists `listing` and records its arguments. */
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

const dayOf = (date: Date) => date.toISOString().slice(0, 10).replace(/-/g, "/");
const object = (secondsAgo: number, member = "etcd-2") => {
  const when = new Date(Date.now() - secondsAgo * 1000);
  const stamp = when.toISOString().replace(/[-:]/g, "").slice(0, 15) + "Z";
  return `etcd/${dayOf(when)}/${stamp}-${member}.db\t${when.toISOString()}`;
};

test("age: a fresh snapshot is ok (exit 0), in the stack's bucket and region", () => {
  const result = run(["external-etcd", "age"], [object(3600), object(300)]);
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
});
