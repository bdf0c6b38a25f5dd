/**
 * The commands as the shell runs them: `npm run synth` (main.ts) and `npm run etcd-backups`
 * (scripts/etcd-backups.ts) as real processes, their exit codes, stdout and stderr. The unit suite
 * runs the same commands in-process (synth.test.ts, etcd-backups-command.test.ts).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { installFakes } from "../support/node-sandbox";
import { REPO_ROOT } from "../support/specs";

const BASE = fs.mkdtempSync(path.join(os.tmpdir(), "kubeadm-ha-entry-points-"));
afterAll(() => fs.rmSync(BASE, { recursive: true, force: true }));

function node(script: string, args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, ["-r", "./scripts/register.js", script, ...args], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
}

describe("npm run synth", () => {
  test("a bad spec: exit 1 with file: field: value: accepted, nothing written; a good one: exit 0, warnings on stderr", () => {
    const clustersDir = fs.mkdtempSync(path.join(BASE, "clusters-"));
    const env = { CLUSTERS_DIR: clustersDir, CDKTF_OUTDIR: path.join(clustersDir, "out") };
    fs.writeFileSync(path.join(clustersDir, "prod.yaml"), "controlPlane: {cuont: 2}\n");
    const bad = node("main.ts", [], env);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("prod.yaml: controlPlane.cuont: 2: unknown field; accepted here: count, instanceType");
    expect(fs.existsSync(path.join(clustersDir, "out"))).toBe(false);

    fs.writeFileSync(path.join(clustersDir, "prod.yaml"), "controlPlane: {count: 2}\n");
    const good = node("main.ts", [], env);
    expect(good.status).toBe(0);
    expect(good.stderr).toMatch(/warning: prod \(.*prod\.yaml\): etcd: 2 members stacked on the control-plane nodes tolerate zero failures/);
    expect(good.stdout).toMatch(/^synthesized prod -> /m);
    expect(fs.existsSync(path.join(clustersDir, "out", "stacks", "prod", "cdk.tf.json"))).toBe(true);
  });

  test("a bad KUBEADM_HA_STRICT: exit 1, nothing written", () => {
    const clustersDir = fs.mkdtempSync(path.join(BASE, "clusters-"));
    fs.writeFileSync(path.join(clustersDir, "prod.yaml"), "controlPlane: {count: 3}\n");
    const result = node("main.ts", [], { CLUSTERS_DIR: clustersDir, CDKTF_OUTDIR: path.join(clustersDir, "out"), KUBEADM_HA_STRICT: "yes" });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('KUBEADM_HA_STRICT: "yes": expected 1');
    expect(fs.existsSync(path.join(clustersDir, "out"))).toBe(false);
  });
});

describe("npm run etcd-backups", () => {
  const bin = path.join(BASE, "bin");
  beforeAll(() =>
    installFakes(bin, {
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

  function run(args: string[], listing: string[]) {
    const listingFile = path.join(BASE, `listing-${Math.random()}`);
    fs.writeFileSync(listingFile, listing.map((line) => `${line}\n`).join(""));
    const calls = path.join(BASE, `calls-${Math.random()}`);
    const result = node("scripts/etcd-backups.ts", args, { PATH: `${bin}:${process.env.PATH}`, FAKE_LISTING: listingFile, FAKE_CALLS: calls });
    return { ...result, calls: fs.existsSync(calls) ? fs.readFileSync(calls, "utf8") : "" };
  }

  test("age: a fresh snapshot is ok (exit 0), through the AWS CLI on PATH", () => {
    const when = new Date(Date.now() - 300_000);
    const key = `etcd/${when.toISOString().slice(0, 10).replace(/-/g, "/")}/${when.toISOString().replace(/[-:]/g, "").slice(0, 15)}Z-etcd-2.db`;
    const result = run(["external-etcd", "age"], [`${key}\t${when.toISOString()}`]);
    expect(result.stdout).toMatch(/^external-etcd: ok: newest snapshot s3:\/\/external-etcd-etcd-111122223333-eu-west-1\/etcd\/\S+ is 30\ds old \(limit 1800s\)$/m);
    expect(result.status).toBe(0);
    expect(result.calls).toMatch(/^--region eu-west-1 sts get-caller-identity --query Account --output text$/m);
    expect(result.calls).toMatch(/^--region eu-west-1 s3api list-objects-v2 --bucket external-etcd-etcd-111122223333-eu-west-1 --prefix etcd\/\d{4}\/\d{2}\/\d{2}\//m);
  });

  test("a usage error: exit 2, the message on stderr, nothing on stdout, no AWS call", () => {
    const result = run(["five-server", "delete"], []);
    expect([result.status, result.stdout, result.calls]).toEqual([2, "", ""]);
    expect(result.stderr).toMatch(/^etcd-backups: delete: expected age or restore-plan\nusage: npm run etcd-backups/);
  });
});
