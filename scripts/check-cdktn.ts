/**
 * `npm run check:cdktn`: proves the move from cdktf (archived upstream) to its fork CDK Terrain is
 * the mechanical rename the README describes. In a temp copy of the working tree it renames
 * cdktf -> cdktn and @cdktf/provider-aws -> @cdktn/provider-aws, installs the cdktn packages from
 * the npm registry and a Node.js 22 binary (cdktn needs 22.11+), synthesizes there, and compares
 * the stacks and review bundle with this checkout's cdktf synth. Exits 0 only when they are
 * identical apart from the provider and framework version lines; prints the diff summary either way.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { cacheDir, nodeBinary, npm, REPO_ROOT } from "./node-binary";
import { AllowedChange, diffSynthOutputs, formatSynthDiff, isClean } from "./synth-diff";

/** The CDK Terrain releases the rename moves to; constructs as cdktn's peer range requires. */
export const CDKTN_PACKAGES = {
  cdktn: "0.24.0",
  "cdktn-cli": "0.24.0",
  "@cdktn/provider-aws": "25.7.0",
  constructs: "10.7.2",
} as const;
export const CDKTN_NODE_MAJOR = 22;

/** Files the rename reads: code and the two config files that name packages. */
const RENAMED_FILE = /\.(ts|js)$|(^|\/)(package|cdktf)\.json$/;

/** The mechanical rename of one file's text: package names only (cdktn keeps the CDKTF_* variables and @cdktf/ metadata keys). */
export function renameToCdktn(text: string): { text: string; replacements: number } {
  let replacements = 0;
  const renamed = text
    .replace(/@cdktf\/provider-aws/g, () => {
      replacements += 1;
      return "@cdktn/provider-aws";
    })
    .replace(/(["'])cdktf(-cli)?(["'/])/g, (_match, open: string, cli: string | undefined, close: string) => {
      replacements += 1;
      return `${open}cdktn${cli ?? ""}${close}`;
    });
  return { text: renamed, replacements };
}

/** package.json after the rename: the cdktn packages at their pinned versions. */
export function cdktnPackageJson(renamedText: string): Record<string, unknown> {
  const pkg = JSON.parse(renamedText) as Record<string, Record<string, string> | unknown>;
  for (const field of ["dependencies", "devDependencies"] as const) {
    const deps = pkg[field] as Record<string, string> | undefined;
    for (const name of Object.keys(deps ?? {})) {
      if (deps && name in CDKTN_PACKAGES) deps[name] = CDKTN_PACKAGES[name as keyof typeof CDKTN_PACKAGES];
    }
  }
  return pkg;
}

/**
 * A provider source as Terraform reads it: hostname and namespace may be left out for the public
 * registry's hashicorp namespace, so "aws", "hashicorp/aws" and "registry.terraform.io/hashicorp/aws" are one provider.
 */
export function providerAddress(source: unknown): string | undefined {
  if (typeof source !== "string") return undefined;
  const parts = source.toLowerCase().split("/");
  if (parts.length === 1) return `registry.terraform.io/hashicorp/${parts[0]}`;
  if (parts.length === 2) return `registry.terraform.io/${parts.join("/")}`;
  return parts.join("/");
}

export const ALLOWED_CHANGES: readonly AllowedChange[] = [
  // cdktn writes the provider's full source ("hashicorp/aws") where cdktf wrote the short form ("aws"): the same provider.
  {
    file: /^stacks\/[^/]+\/cdk\.tf\.json$/,
    path: /^terraform\.required_providers\.aws\.source$/,
    when: (before, after) => providerAddress(before) !== undefined && providerAddress(before) === providerAddress(after),
  },
  // The provider's version constraint in every stack (the cdktn provider bindings are generated from a newer hashicorp/aws 6.x).
  { file: /^stacks\/[^/]+\/cdk\.tf\.json$/, path: /^terraform\.required_providers\.aws\.version$/ },
  // The framework's version in each stack's metadata and in the manifest.
  { file: /^stacks\/[^/]+\/cdk\.tf\.json$/, path: /^\/\/\.metadata\.version$/ },
  { file: /^manifest\.json$/, path: /^version$/ },
];

function trackedFiles(): string[] {
  const listed = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: REPO_ROOT, encoding: "utf8" });
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  return listed.stdout.split("\0").filter((file) => file && fs.existsSync(path.join(REPO_ROOT, file)));
}

/** Dev packages the type check of the renamed tree needs besides the runtime ones (tsc itself is this checkout's). */
const TYPE_PACKAGES = ["@types/node", "@types/jest"];

/** Installs the renamed runtime dependencies (and type packages) once per set; returns the node_modules folder. */
function installDependencies(pkg: Record<string, unknown>, log: (line: string) => void): string {
  const devDependencies = pkg.devDependencies as Record<string, string>;
  const dependencies: Record<string, string> = { ...(pkg.dependencies as Record<string, string>) };
  for (const name of TYPE_PACKAGES) dependencies[name] = devDependencies[name];
  const key = crypto.createHash("sha256").update(JSON.stringify(dependencies)).digest("hex").slice(0, 12);
  const dir = path.join(cacheDir(), `cdktn-${key}`);
  const marker = path.join(dir, "installed.json");
  if (!fs.existsSync(marker)) {
    log(`installing ${Object.entries(dependencies).map(([name, version]) => `${name}@${version}`).join(", ")} from the npm registry`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "package.json"), `${JSON.stringify({ name: "kubeadm-ha-cdktn", private: true, dependencies }, null, 2)}\n`);
    // --engine-strict=false: the installing npm may run on Node.js 20; the app runs on 22.
    npm(["install", "--omit=dev", "--no-package-lock", "--ignore-scripts", "--engine-strict=false"], dir);
    fs.writeFileSync(marker, `${JSON.stringify(dependencies)}\n`);
  }
  return path.join(dir, "node_modules");
}

function synth(node: string, appDir: string, outdir: string): { stderr: string } {
  // The TypeScript loader is a dev tool of this checkout (swc), not part of the renamed app.
  const result = spawnSync(node, ["-r", path.join(REPO_ROOT, "scripts", "register.js"), "main.ts"], {
    cwd: appDir,
    env: { ...process.env, CDKTF_OUTDIR: outdir, CLUSTERS_DIR: process.env.CLUSTERS_DIR ?? path.join(appDir, "clusters") },
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`synth with ${node} in ${appDir} failed:\n${result.stderr}${result.stdout}`);
  return { stderr: result.stderr };
}

export function checkCdktn(log: (line: string) => void = console.log): boolean {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "cdktn-check-"));
  try {
    const node22 = nodeBinary(CDKTN_NODE_MAJOR, log);
    const appDir = path.join(work, "app");
    let renamedFiles = 0;
    let replacements = 0;
    for (const file of trackedFiles()) {
      const target = path.join(appDir, file);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      if (!RENAMED_FILE.test(file) || file === "package-lock.json") {
        fs.copyFileSync(path.join(REPO_ROOT, file), target);
        continue;
      }
      const renamed = renameToCdktn(fs.readFileSync(path.join(REPO_ROOT, file), "utf8"));
      if (renamed.replacements > 0) renamedFiles += 1;
      replacements += renamed.replacements;
      fs.writeFileSync(target, renamed.text);
    }
    // The lock file pins cdktf; the renamed tree resolves the cdktn packages afresh.
    fs.rmSync(path.join(appDir, "package-lock.json"), { force: true });
    const pkg = cdktnPackageJson(fs.readFileSync(path.join(appDir, "package.json"), "utf8"));
    fs.writeFileSync(path.join(appDir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
    log(`renamed ${replacements} package reference(s) in ${renamedFiles} file(s) (cdktf -> cdktn, @cdktf/provider-aws -> @cdktn/provider-aws)`);
    const leftover = spawnSync("grep", ["-rlE", "from \"cdktf|@cdktf/provider-aws", "--include=*.ts", appDir], { encoding: "utf8" }).stdout.trim();
    if (leftover) throw new Error(`the rename left cdktf imports in:\n${leftover}`);

    fs.symlinkSync(installDependencies(pkg, log), path.join(appDir, "node_modules"), "dir");
    const typecheck = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", path.join(appDir, "tsconfig.json"), "--noEmit"], {
      cwd: appDir,
      encoding: "utf8",
    });
    if (typecheck.status !== 0) throw new Error(`the renamed tree does not type-check against cdktn:\n${typecheck.stdout}${typecheck.stderr}`);
    log("the renamed tree type-checks against the cdktn packages (tsc --noEmit)");

    const cdktfOut = path.join(work, "cdktf.out");
    const cdktnOut = path.join(work, "cdktn.out");
    synth(process.execPath, REPO_ROOT, cdktfOut);
    const { stderr } = synth(node22, appDir, cdktnOut);
    log(`synthesized with cdktf ${dependencyVersion("cdktf")} on Node.js ${process.versions.node} and cdktn ${CDKTN_PACKAGES.cdktn} on ${spawnSync(node22, ["--version"], { encoding: "utf8" }).stdout.trim()}`);
    const deprecations = stderr.split("\n").filter((line) => /DeprecationWarning|DEP\d{4}/.test(line));
    for (const line of deprecations) log(`unexpected on Node.js ${CDKTN_NODE_MAJOR}: ${line}`);

    const diff = diffSynthOutputs(cdktfOut, cdktnOut, ALLOWED_CHANGES);
    for (const line of formatSynthDiff(diff)) log(line);
    const clean = isClean(diff) && deprecations.length === 0;
    log(clean ? "cdktn: the stacks are identical apart from the provider and framework version lines and the provider address spelling" : "cdktn: the outputs differ (see above)");
    return clean;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function dependencyVersion(name: string): string {
  return (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies[name];
}

if (require.main === module) {
  try {
    process.exitCode = checkCdktn() ? 0 : 1;
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
