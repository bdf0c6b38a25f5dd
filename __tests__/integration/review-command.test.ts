/**
 * `npm run review -- --base <ref>` end to end, in a scratch git repository holding a copy of the
 * project: the base ref is synthesized in a temporary worktree (removed afterwards), the working
 * tree's change is reported on stdout and in cdktf.out/review/DIFF.md and its comment parts.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../support/specs";

const PROJECT_FILES = ["lib", "templates", "scripts", "clusters", "main.ts", "package.json", "tsconfig.json", "cdktf.json"];

function sh(cwd: string, command: string, args: string[]) {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, CHECKPOINT_DISABLE: "1" } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

test("reports a scaled worker pool against the committed base, and cleans up its worktree", () => {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), "review-repo-"));
  try {
    for (const entry of PROJECT_FILES) fs.cpSync(path.join(REPO_ROOT, entry), path.join(repo, entry), { recursive: true });
    fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(repo, "node_modules"), "dir");
    fs.writeFileSync(path.join(repo, ".gitignore"), "node_modules\ncdktf.out/\n");
    sh(repo, "git", ["init", "--quiet"]);
    sh(repo, "git", ["add", "-A"]);
    sh(repo, "git", ["-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "--quiet", "-m", "base"]);
    const spec = path.join(repo, "clusters", "five-server.yaml");
    fs.writeFileSync(spec, fs.readFileSync(spec, "utf8").replace("workers:\n  count: 2", "workers:\n  count: 3"));

    const result = spawnSync(process.execPath, ["-r", "./scripts/register.js", "scripts/review.ts", "--base", "HEAD"], {
      cwd: repo, encoding: "utf8", env: { ...process.env, CHECKPOINT_DISABLE: "1" },
    });
    expect(result.stderr).toMatch(/DIFF\.md written/);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^# kubeadm-ha review: HEAD \([0-9a-f]{7}\) -> working tree/);
    expect(result.stdout).toContain("`external-etcd` (unchanged), `five-server` (changed)");
    expect(result.stdout).toContain("| worker-3 | worker | added | Terraform creates the instance |");
    const reviewDir = path.join(repo, "cdktf.out", "review");
    expect(fs.readFileSync(path.join(reviewDir, "DIFF.md"), "utf8")).toBe(result.stdout);
    expect(fs.existsSync(path.join(reviewDir, "five-server", "REVIEW.md"))).toBe(true);
    expect(sh(repo, "git", ["worktree", "list"]).trim().split("\n")).toHaveLength(1);
  } finally {
    fs.rmSync(repo, { recursive: true, force: true });
  }
});

test("npm run review: bad arguments are refused with what is accepted", () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ["-r", "./scripts/register.js", "scripts/review.ts", ...args], { cwd: REPO_ROOT, encoding: "utf8" });
  expect(run().stderr).toMatch(/--base is required/);
  expect(run("--base").stderr).toMatch(/--base: a value is required/);
  expect(run("--bsae", "main").stderr).toMatch(/"--bsae": unknown argument; accepted: --base, --out/);
  const bad = run("--base", "no-such-ref-anywhere");
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/--base: "no-such-ref-anywhere": not a commit in this repository/);
});
