/**
 * Runs the etcd members the blueprint renders as real `etcd --config-file` processes on this host.
 *
 * The rendered config is used as is except for addresses and paths, which cannot be the AWS ones
 * here. Each rewrite (and only these) is applied by rewriteForLoopback and checked key by key:
 *   1. every member's private IP -> its own 127.0.0.0/8 address (listen/advertise URLs and
 *      initial-cluster), so three members share one host and all traffic stays on loopback;
 *   2. the node-local client listener https://127.0.0.1:2379 -> a second loopback address per member,
 *      because three members cannot all bind 127.0.0.1:2379 on one host;
 *   3. data-dir /var/lib/etcd -> <temp dir>/<member>/data;
 *   4. certificate directory /etc/etcd/pki -> <temp dir>/<member>/pki.
 * Timing, TLS, quotas, cluster token and state stay exactly as rendered.
 *
 * Certificates come from templates/etcd-pki.sh, called as the boot scripts call it, with one
 * addition: ETCD_PKI_EXTRA_PEER_IPS=127.0.0.1. etcd accepts a peer connection only if the peer
 * certificate names its source address, and Linux sends every connection between 127.0.0.0/8
 * addresses from 127.0.0.1; without it, etcd would fall back to resolving the DNS SANs (etcd-1, ...)
 * through the host's resolver, and the test must not send traffic off loopback. On AWS each member
 * dials from its own private IP, which peer.crt already carries.
 */
import { ChildProcess, execFile, spawn, spawnSync } from "child_process";
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "fs";
import { join, resolve } from "path";
import { parse, stringify } from "yaml";
import { ETCD_CONFIG_PATH, ETCD_DATA_DIR, ETCD_PKI_DIR, APISERVER_ETCD_CLIENT, renderEtcdMemberFiles } from "../../lib/render/etcd";
import { ETCD_CLIENT_PORT, Topology } from "../../lib/topology";

/** The source address of every connection between two 127.0.0.0/8 addresses on Linux. */
const LOOPBACK_SOURCE_ADDRESS = "127.0.0.1";

export const ETCD_PKI_SCRIPT = resolve(__dirname, "..", "..", "templates", "etcd-pki.sh");

/** True when `command ...versionArgs` runs: how the tests decide whether local etcd tools exist. */
export function commandAvailable(command: string, versionArgs: readonly string[] = ["--version"]): boolean {
  const result = spawnSync(command, versionArgs, { stdio: "ignore", timeout: 5000 });
  return result.error === undefined && result.status === 0;
}

export interface LoopbackPlan {
  /** Member name -> the loopback address that replaces its private IP. */
  readonly memberIps: ReadonlyMap<string, string>;
  /** Member name -> the loopback address that replaces its node-local 127.0.0.1 listener. */
  readonly nodeLocalIps: ReadonlyMap<string, string>;
}

export interface LocalEtcdMember {
  readonly name: string;
  readonly privateIp: string;
  readonly loopbackIp: string;
  readonly clientUrl: string;
  readonly configPath: string;
  readonly logPath: string;
}

/** Config keys whose values are addresses (rewrite 1 and 2). */
const ADDRESS_KEYS = [
  "listen-peer-urls",
  "listen-client-urls",
  "initial-advertise-peer-urls",
  "advertise-client-urls",
  "initial-cluster",
] as const;
const TLS_KEYS = ["client-transport-security", "peer-transport-security"] as const;
const REWRITTEN_KEYS = new Set<string>([...ADDRESS_KEYS, ...TLS_KEYS, "data-dir"]);

type EtcdConfig = Record<string, unknown>;

/**
 * Applies the four documented rewrites to one rendered config and proves nothing else changed.
 * Throws when a rewrite did not apply (the renderer changed shape) or touched another key.
 */
export function rewriteForLoopback(
  renderedYaml: string,
  topology: Topology,
  memberName: string,
  plan: LoopbackPlan,
  memberDir: string,
): string {
  const rendered = parse(renderedYaml) as EtcdConfig;
  const rewritten: EtcdConfig = structuredClone(rendered);
  const rewriteAddresses = (value: string): string => {
    let result = value;
    for (const member of topology.etcd.members) {
      result = result.split(`//${member.ip}:`).join(`//${mustGet(plan.memberIps, member.name)}:`);
    }
    return result.split(`//127.0.0.1:`).join(`//${mustGet(plan.nodeLocalIps, memberName)}:`);
  };
  for (const key of ADDRESS_KEYS) {
    const value = rendered[key];
    if (typeof value !== "string") throw new Error(`rendered config lacks ${key}`);
    rewritten[key] = rewriteAddresses(value);
    if (/\b10\.\d+\.\d+\.\d+\b/.test(rewritten[key] as string)) throw new Error(`${key} still names a VPC address: ${rewritten[key]}`);
  }
  rewritten["data-dir"] = join(memberDir, "data");
  for (const key of TLS_KEYS) {
    const section = rendered[key] as Record<string, unknown>;
    rewritten[key] = Object.fromEntries(
      Object.entries(section).map(([field, value]) =>
        typeof value === "string" && value.startsWith(`${ETCD_PKI_DIR}/`) ? [field, join(memberDir, "pki", value.slice(ETCD_PKI_DIR.length + 1))] : [field, value],
      ),
    );
  }
  if (rendered["data-dir"] !== ETCD_DATA_DIR) throw new Error(`rendered data-dir is ${String(rendered["data-dir"])}, expected ${ETCD_DATA_DIR}`);
  for (const key of new Set([...Object.keys(rendered), ...Object.keys(rewritten)])) {
    if (!REWRITTEN_KEYS.has(key) && JSON.stringify(rendered[key]) !== JSON.stringify(rewritten[key])) {
      throw new Error(`loopback rewrite changed ${key}, which is neither an address nor a path`);
    }
  }
  return stringify(rewritten, { lineWidth: 0 });
}

function mustGet<K, V>(map: ReadonlyMap<K, V>, key: K): V {
  const value = map.get(key);
  if (value === undefined) throw new Error(`no loopback address planned for ${String(key)}`);
  return value;
}

/** Runs templates/etcd-pki.sh as the boot scripts do; throws with its stderr when it fails. */
export function runEtcdPki(args: readonly string[], env: Readonly<Record<string, string>> = {}): string {
  const result = spawnSync("bash", [ETCD_PKI_SCRIPT, ...args], { encoding: "utf8", timeout: 20000, env: { ...process.env, ...env } });
  if (result.status !== 0) {
    throw new Error(`etcd-pki.sh ${args.join(" ")} failed (${result.status ?? result.signal}): ${result.stderr}`);
  }
  return result.stdout + result.stderr;
}

/**
 * Writes every etcd member's rewritten config plus certificates under workDir:
 * workDir/ca (CA + the API server's client certificate) and workDir/<member>/{etcd.conf.yml,pki}.
 */
export function prepareLocalMembers(topology: Topology, plan: LoopbackPlan, workDir: string): LocalEtcdMember[] {
  const caDir = join(workDir, "ca");
  runEtcdPki(["ca", caDir]);
  runEtcdPki(["client", caDir, APISERVER_ETCD_CLIENT.commonName, APISERVER_ETCD_CLIENT.fileBase]);
  return topology.etcdNodes.map((node) => {
    const memberDir = join(workDir, node.name);
    const pkiDir = join(memberDir, "pki");
    mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
    // As on a node: the cluster CA is copied in, the member signs its own certificates, and the CA
    // key does not stay next to a running member.
    copyFileSync(join(caDir, "ca.crt"), join(pkiDir, "ca.crt"));
    copyFileSync(join(caDir, "ca.key"), join(pkiDir, "ca.key"));
    const loopbackIp = mustGet(plan.memberIps, node.name);
    runEtcdPki(["member", pkiDir, node.name, loopbackIp], { ETCD_PKI_EXTRA_PEER_IPS: LOOPBACK_SOURCE_ADDRESS });
    rmSync(join(pkiDir, "ca.key"));

    const configFile = renderEtcdMemberFiles(topology, node).find((file) => file.path === ETCD_CONFIG_PATH);
    if (!configFile) throw new Error(`no ${ETCD_CONFIG_PATH} rendered for ${node.name}`);
    const configPath = join(memberDir, "etcd.conf.yml");
    writeFileSync(configPath, rewriteForLoopback(configFile.content, topology, node.name, plan, memberDir));
    return {
      name: node.name,
      privateIp: node.privateIp,
      loopbackIp,
      clientUrl: `https://${loopbackIp}:${ETCD_CLIENT_PORT}`,
      configPath,
      logPath: join(memberDir, "etcd.log"),
    };
  });
}

export function clientTlsFiles(workDir: string): { cacert: string; cert: string; key: string } {
  const caDir = join(workDir, "ca");
  return {
    cacert: join(caDir, "ca.crt"),
    cert: join(caDir, `${APISERVER_ETCD_CLIENT.fileBase}.crt`),
    key: join(caDir, `${APISERVER_ETCD_CLIENT.fileBase}.key`),
  };
}

/**
 * The etcd processes this test started, by PID. kill() and killAll() wait for the exit, so a port
 * is free again and no process outlives the test.
 */
export class EtcdProcesses {
  private readonly running = new Map<string, ChildProcess>();
  private readonly helpers = new Set<ChildProcess>();

  constructor(private readonly etcdBinary = "etcd") {}

  start(member: LocalEtcdMember): number {
    if (this.running.has(member.name)) throw new Error(`${member.name} is already running`);
    const log = openSync(member.logPath, "a");
    try {
      const child = spawn(this.etcdBinary, ["--config-file", member.configPath], { stdio: ["ignore", log, log] });
      if (child.pid === undefined) throw new Error(`could not start etcd for ${member.name}`);
      this.running.set(member.name, child);
      child.once("exit", () => {
        if (this.running.get(member.name) === child) this.running.delete(member.name);
      });
      return child.pid;
    } finally {
      closeSync(log);
    }
  }

  isRunning(name: string): boolean {
    return this.running.has(name);
  }

  pid(name: string): number | undefined {
    return this.running.get(name)?.pid;
  }

  /** SIGKILL: a crash, not a shutdown, so nothing is flushed or handed over. */
  async kill(name: string): Promise<void> {
    const child = this.running.get(name);
    if (!child) return;
    await killAndWait(child);
    this.running.delete(name);
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((name) => this.kill(name)));
    await Promise.all([...this.helpers].map((child) => killAndWait(child)));
  }

  /** etcdctl with the API server's client certificate; its PID is tracked until it exits. */
  etcdctl(args: readonly string[], tls: { cacert: string; cert: string; key: string }, timeoutMs: number): Promise<CommandResult> {
    return new Promise((resolveResult) => {
      const child = execFile(
        "etcdctl",
        [`--cacert=${tls.cacert}`, `--cert=${tls.cert}`, `--key=${tls.key}`, ...args],
        { env: { ...process.env, ETCDCTL_API: "3" }, timeout: timeoutMs, killSignal: "SIGKILL", encoding: "utf8" },
        (error, stdout, stderr) => {
          this.helpers.delete(child);
          const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
          resolveResult({ code, stdout, stderr });
        },
      );
      this.helpers.add(child);
    });
  }
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function killAndWait(child: ChildProcess): Promise<void> {
  return new Promise((resolveExit) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      resolveExit();
      return;
    }
    const timer = setTimeout(resolveExit, 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolveExit();
    });
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {
      // Already gone between the check and the kill.
    }
  });
}

/** The last lines of a member's log, for failure messages. */
export function logTail(member: LocalEtcdMember, lines = 15): string {
  try {
    return readFileSync(member.logPath, "utf8").trim().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
