/** `npx cdktf synth` must produce exactly what `npm run synth` does: stacks and review bundle. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../support/specs";

function listFiles(dir: string, prefix = ""): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(path.join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
  ).sort();
}

test("npx cdktf synth and npm run synth write identical output", () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "cli-"));
  try {
    const env = { ...process.env, CHECKPOINT_DISABLE: "1" };
    const direct = spawnSync("npm", ["run", "--silent", "synth"], {
      cwd: REPO_ROOT, env: { ...env, CDKTF_OUTDIR: path.join(work, "direct") }, encoding: "utf8",
    });
    expect(direct.status).toBe(0);
    const cli = spawnSync("npx", ["cdktf", "synth", "--output", path.join(work, "cli")], { cwd: REPO_ROOT, env, encoding: "utf8" });
    expect(cli.status).toBe(0);
    expect(cli.stdout).toMatch(/WARN \[five-server\]: etcd: 2 members stacked on the control-plane nodes tolerate zero failures/);

    const directFiles = listFiles(path.join(work, "direct"));
    expect(directFiles).toEqual(expect.arrayContaining(["stacks/five-server/cdk.tf.json", "review/external-etcd/topology.json"]));
    expect(listFiles(path.join(work, "cli"))).toEqual(directFiles);
    for (const file of directFiles) {
      expect([file, fs.readFileSync(path.join(work, "cli", file), "utf8")]).toEqual([file, fs.readFileSync(path.join(work, "direct", file), "utf8")]);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
