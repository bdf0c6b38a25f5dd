/**
 * Multi-line attribute text (user data) keeps its exact value in `cdktf synth --hcl` output:
 * rendered through cdktf's own HCL renderer, the heredoc carries the same string as the JSON.
 * (The integration suite evaluates these templates and plans both outputs with real Terraform.)
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App, TerraformStack } from "cdktf";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { Instance } from "@cdktf/provider-aws/lib/instance";
import { heredocTemplate, multiLineTextForSynth } from "../lib/constructs/hcl-output";

const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "hcl-output-"));
afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

function stackIn(hclOutput: boolean): TerraformStack {
  const stack = new TerraformStack(new App({ outdir, hclOutput }), "s");
  new AwsProvider(stack, "aws", { region: "eu-west-1" });
  return stack;
}

/** The body of cdktf's user_data heredoc `<<EOF\n<body>\nEOF` (up to the first line that closes it). */
function heredocBody(hcl: string): string {
  const body = /user_data\s*=\s*<<EOF\n([\s\S]*?)\n[ \t]*EOF[ \t]*\n/.exec(hcl);
  if (!body) throw new Error(`no user_data heredoc in:\n${hcl}`);
  return body[1];
}

function renderedBody(hclOutput: boolean, text: string): string {
  const stack = stackIn(hclOutput);
  new Instance(stack, "node", { ami: "ami-0123456789abcdef0", instanceType: "t3.small", userData: hclOutput ? multiLineTextForSynth(stack, text) : text });
  return heredocBody(stack.toHclTerraform().hcl);
}

const CLOUD_CONFIG = "#cloud-config\nwrite_files:\n- path: /x\n  content: |\n    a $${HOME} line\n\n    \\n stays\nruncmd:\n- [bash, /x]\n";

test("JSON synth passes the text through unchanged", () => {
  const stack = stackIn(false);
  expect(multiLineTextForSynth(stack, CLOUD_CONFIG)).toBe(CLOUD_CONFIG);
});

test("HCL synth: the heredoc body is the text without its final newline (the heredoc adds it back)", () => {
  expect(renderedBody(true, CLOUD_CONFIG)).toBe(CLOUD_CONFIG.slice(0, -1));
});

test("without the adjustment the heredoc would carry a second trailing newline (the problem this solves)", () => {
  const stack = stackIn(true);
  new Instance(stack, "node", { ami: "ami-0123456789abcdef0", instanceType: "t3.small", userData: CLOUD_CONFIG });
  expect(`${heredocBody(stack.toHclTerraform().hcl)}\n`).toBe(`${CLOUD_CONFIG}\n`);
});

test("single-line text is left alone in HCL too", () => {
  expect(multiLineTextForSynth(stackIn(true), "echo hi")).toBe("echo hi");
});

test("a shell heredoc's EOF line cannot close cdktf's heredoc: it becomes a template that reads EOF", () => {
  const script = "#!/bin/bash\ncat <<'EOF'\nusage\n  EOF\ncat <<EOF\nx\nEOF\n";
  const body = renderedBody(true, script);
  expect(body).toBe('#!/bin/bash\ncat <<\'EOF\'\nusage\n  ${"EOF"}\ncat <<EOF\nx\n${"EOF"}');
  expect(body.split("\n").filter((line) => line.trim() === "EOF")).toEqual([]);
});

test("carriage returns and a missing final newline are written as templates with the same value", () => {
  expect(heredocTemplate("a\r\nb")).toBe('a${"\\r"}\nb${""~}');
  expect(renderedBody(true, "a\r\nb")).toBe('a${"\\r"}\nb${""~}');
});
