/**
 * `npm run review -- --base <ref>` end to end, in a scratch git repository holding a copy of the
 * project: the base ref is synthesized in a temporary worktree (removed afterwards), the working
 * tree's change is reported on stdout and in cdktf.out/review/DIFF.md, with the real plan of each
 * changed stack (Terraform with the provider mirror, every AWS call on the loopback stub): one
 * change Terraform applies (the load balancer replaced, a worker added) and one the day-2 guards
 * refuse (external etcd grown 3 -> 5 members in a plain apply).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../support/specs";
import { STUB_ACCESS_KEY, STUB_SECRET_KEY } from "../../lib/plan/terraform";

const PROJECT_FILES = ["lib", "templates", "scripts", "clusters", "main.ts", "package.json", "tsconfig.json", "cdktf.json"];
const PLAN_TIMEOUT_MS = 600_000;

function sh(cwd: string, command: string, args: string[]) {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, CHECKPOINT_DISABLE: "1" } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

let repo: string;
const review = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, ["-r", "./scripts/register.js", "scripts/review.ts", "--base", "HEAD", ...args], {
    cwd: repo, encoding: "utf8", env: { ...process.env, CHECKPOINT_DISABLE: "1", ...env },
  });
const edit = (file: string, from: string, to: string) => {
  const spec = path.join(repo, "clusters", file);
  const text = fs.readFileSync(spec, "utf8");
  if (!text.includes(from)) throw new Error(`${file}: no ${JSON.stringify(from)}`);
  fs.writeFileSync(spec, text.replace(from, to));
};

beforeAll(() => {
  repo = fs.mkdtempSync(path.join(os.tmpdir(), "review-repo-"));
  for (const entry of PROJECT_FILES) fs.cpSync(path.join(REPO_ROOT, entry), path.join(repo, entry), { recursive: true });
  fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(repo, "node_modules"), "dir");
  fs.writeFileSync(path.join(repo, ".gitignore"), "node_modules\ncdktf.out/\n");
  sh(repo, "git", ["init", "--quiet"]);
  sh(repo, "git", ["add", "-A"]);
  sh(repo, "git", ["-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "--quiet", "-m", "base"]);
  edit("five-server.yaml", "workers:\n  count: 2", "workers:\n  count: 3");
  edit("five-server.yaml", "kind: haproxy", "kind: nginx");
  edit("external-etcd.yaml", "members: 3", "members: 5");
});
afterAll(() => fs.rmSync(repo, { recursive: true, force: true }));

test("with Terraform: the real plan per changed stack, the guards' refusal as a quorum risk, no key in the output; the worktree is cleaned up", () => {
  const started = Date.now();
  const result = review([]);
  const seconds = (Date.now() - started) / 1000;
  expect(result.stderr).toMatch(/DIFF\.md written/);
  expect(result.status).toBe(0);
  const out = result.stdout;
  expect(out).toMatch(/^# kubeadm-ha review: HEAD \([0-9a-f]{7}\) -> working tree/);
  expect(out).toContain("`external-etcd` (changed), `five-server` (changed), `production` (unchanged)");
  expect(out).not.toContain("plan: not run");

  const fiveServer = out.split("## five-server (changed)")[1];
  const externalEtcd = out.split("## external-etcd (changed)")[1].split("## five-server")[0];
  // Applied: the load balancer replaced for its user data, a worker and its record added.
  expect(fiveServer).toMatch(/### Plan\n\n\*\*3 to add, 0 to change, 1 to destroy\*\* \(1 replaced\): `terraform plan` of the head against a synthetic state of the base\./);
  expect(fiveServer).toMatch(/\| `aws_instance\.cluster_nodes_lb-1_[0-9A-F]{8}` \| lb-1 \| replace \| replace_paths: `user_data`; replace_because_cannot_update \|/);
  expect(fiveServer).toMatch(/\| `aws_instance\.cluster_nodes_worker-3_[0-9A-F]{8}` \| worker-3 \| create \| - \|/);
  expect(fiveServer).toContain("| worker-3 | worker | added | Terraform creates the instance; plan: create |");
  expect(fiveServer).toMatch(/Planned offline by Terraform \d+\.\d+\.\d+ with hashicorp\/aws \d+\.\d+\.\d+/);
  expect(fiveServer.split("### Plan")[0]).not.toContain(":warning: plan:");
  // Refused: the membership guard stops the plan; the quorum-risk section says so.
  expect(externalEtcd).toContain("- :warning: plan: refused by the day-2 guards (prevent_destroy on `terraform_data.membership_etcd_members`)");
  expect(externalEtcd).toContain(
    "- refused: `terraform_data.membership_etcd_members`: Instance cannot be destroyed: Resource terraform_data.membership_etcd_members has lifecycle.prevent_destroy set, but the plan calls for this resource to be destroyed.",
  );
  expect(out).toContain("**Quorum risk in `external-etcd`: read before applying.**");

  for (const secret of [STUB_ACCESS_KEY, STUB_SECRET_KEY]) expect(out + result.stderr).not.toContain(secret);
  expect(out).not.toMatch(/\bAKIA[0-9A-Z]{16}\b/);
  const reviewDir = path.join(repo, "cdktf.out", "review");
  expect(fs.readFileSync(path.join(reviewDir, "DIFF.md"), "utf8")).toBe(out);
  expect(fs.existsSync(path.join(reviewDir, "five-server", "REVIEW.md"))).toBe(true);
  expect(sh(repo, "git", ["worktree", "list"]).trim().split("\n")).toHaveLength(1);
  console.log(`review with plans: ${seconds.toFixed(0)} s`);
}, PLAN_TIMEOUT_MS);

test("without Terraform, or with --no-plan: one line says why, the rest of the review is unchanged", () => {
  const missing = review([], { KUBEADM_HA_TERRAFORM: "/nonexistent/terraform" });
  expect(missing.status).toBe(0);
  expect(missing.stdout).toContain("\nplan: not run: KUBEADM_HA_TERRAFORM=/nonexistent/terraform does not run terraform\n");
  expect(missing.stdout).not.toContain("### Plan");
  expect(missing.stdout).toContain("| worker-3 | worker | added | Terraform creates the instance |");

  const skipped = review(["--no-plan"]);
  expect(skipped.status).toBe(0);
  expect(skipped.stdout).toContain("\nplan: not run: --no-plan\n");
  expect(skipped.stdout.replace("plan: not run: --no-plan", "")).toBe(missing.stdout.replace("plan: not run: KUBEADM_HA_TERRAFORM=/nonexistent/terraform does not run terraform", ""));
}, PLAN_TIMEOUT_MS);

test("npm run review: bad arguments are refused with what is accepted", () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ["-r", "./scripts/register.js", "scripts/review.ts", ...args], { cwd: REPO_ROOT, encoding: "utf8" });
  expect(run().stderr).toMatch(/--base is required/);
  expect(run("--base").stderr).toMatch(/--base: a value is required/);
  expect(run("--bsae", "main").stderr).toMatch(/"--bsae": unknown argument; accepted: --base, --out, --no-plan, --plan-timeout/);
  expect(run("--base", "main", "--plan-timeout", "soon").stderr).toMatch(/--plan-timeout: "soon": a whole number of seconds/);
  const bad = run("--base", "no-such-ref-anywhere");
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/--base: "no-such-ref-anywhere": not a commit in this repository/);
});
