/**
 * Harness for load-balancer failover tests: runs the real haproxy / nginx with a rendered config
 * in front of fake API servers on loopback addresses, drives HTTPS traffic through it, injects a
 * master failure and measures what clients saw.
 *
 * Safety rules it enforces: traffic only goes to 127.0.0.0/8, every wait is bounded, and every
 * process it starts is tracked by PID and stopped by PID (ProcessTracker.stopAll in afterAll).
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as net from "net";
import * as path from "path";
import { performance } from "perf_hooks";
import { FAKE_API_READY_LINE } from "./fake-api-server";

export const HAPROXY_BINARY = "/usr/sbin/haproxy";
export const NGINX_BINARY = "/usr/sbin/nginx";
const REPO_ROOT = path.join(__dirname, "..", "..");
const TS_LOADER = path.join(REPO_ROOT, "scripts", "register.js");
const FAKE_API_SCRIPT = path.join(__dirname, "fake-api-server.ts");

// ---------------------------------------------------------------------------------------------
// Processes

export interface TrackedProcess {
  readonly label: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited and been reaped (its sockets are closed by then). */
  readonly exited: Promise<void>;
  /** stdout and stderr so far (last 64 KiB), for failure messages. */
  output(): string;
  /** Every output line matching the spawn's keepLines pattern, however much output followed. */
  keptLines(): readonly string[];
}

const OUTPUT_LIMIT = 64 * 1024;

/** Every process a test starts, so afterAll can stop what a failed test left behind. */
export class ProcessTracker {
  private readonly running = new Map<number, TrackedProcess>();

  spawn(
    label: string,
    command: string,
    args: readonly string[],
    options: { stdin?: "pipe" | "ignore"; keepLines?: RegExp } = {},
  ): TrackedProcess {
    const child = spawn(command, args, { stdio: [options.stdin ?? "ignore", "pipe", "pipe"] });
    if (child.pid === undefined) throw new Error(`${label}: could not start ${command}`);
    const pid = child.pid;
    let captured = "";
    const kept: string[] = [];
    const capture = (chunk: Buffer): void => {
      const text = chunk.toString("utf8");
      if (options.keepLines) kept.push(...text.split("\n").filter((line) => options.keepLines!.test(line)));
      captured = (captured + text).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on("data", capture);
    child.stderr?.on("data", capture);
    const exited = new Promise<void>((resolve) =>
      child.once("exit", () => {
        // Our end of a stdin pipe would otherwise keep jest's event loop alive.
        child.stdin?.destroy();
        resolve();
      }),
    );
    const tracked: TrackedProcess = { label, pid, child, exited, output: () => captured, keptLines: () => kept };
    this.running.set(pid, tracked);
    void exited.then(() => this.running.delete(pid));
    return tracked;
  }

  /**
   * Stops one process by PID: `signal` first (nginx needs SIGTERM to stop its workers), then
   * SIGKILL for it and any children it left (found by parent PID in /proc) after graceMs.
   */
  async stop(process: TrackedProcess, signal: NodeJS.Signals = "SIGKILL", graceMs = 2000): Promise<void> {
    if (!this.running.has(process.pid)) return;
    const children = childPids(process.pid);
    sendSignal(process.pid, signal);
    if ((await within(process.exited, graceMs)) === TIMED_OUT) {
      sendSignal(process.pid, "SIGKILL");
      await within(process.exited, graceMs);
    }
    for (const pid of children) sendSignal(pid, "SIGKILL");
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running.values()].map((tracked) => this.stop(tracked, "SIGKILL")));
  }
}

function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

/** Direct children of pid (e.g. nginx workers), read from /proc before the parent goes away. */
function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      // Field 4 is the parent PID; the command name (field 2) may contain spaces, so parse after ")".
      const parentPid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parentPid === parent) pids.push(Number(entry));
    } catch {
      // The process exited while we looked.
    }
  }
  return pids;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export const TIMED_OUT = Symbol("timed out");

/** promise's value, or TIMED_OUT after ms; the timer is cleared so it never holds jest open. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls until check() returns a value, or throws after timeoutMs with describe()'s text. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  describe: () => string = () => "",
  intervalMs = 50,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${describe()}`);
    await sleep(intervalMs);
  }
}

export function waitForOutput(process: TrackedProcess, text: string, timeoutMs: number): Promise<true> {
  return waitFor(
    `${process.label} to print "${text}"`,
    () => {
      if (process.output().includes(text)) return true;
      if (process.child.exitCode !== null) throw new Error(`${process.label} exited early:\n${process.output()}`);
      return undefined;
    },
    timeoutMs,
    () => process.output(),
    20,
  );
}

export function binaryAvailable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** First line of `binary -v` (haproxy prints it on stdout, nginx on stderr). */
export function toolVersion(binary: string): string {
  const result = spawnSync(binary, ["-v"], { encoding: "utf8" });
  return `${result.stdout}${result.stderr}`.split("\n")[0].trim();
}

// ---------------------------------------------------------------------------------------------
// Loopback endpoints

export function assertLoopback(address: string): void {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)) {
    throw new Error(`refusing to use ${address}: tests only send traffic to 127.0.0.0/8`);
  }
}

/** A port free on host right now (the kernel picks it; a tiny race with other processes remains). */
export function freePort(host: string): Promise<number> {
  assertLoopback(host);
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen({ host, port: 0 }, () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}

/** True when a TCP handshake with host:port completes within timeoutMs. */
export function tcpConnects(host: string, port: number, timeoutMs: number): Promise<boolean> {
  assertLoopback(host);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(connected: boolean): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(connected);
    }
    socket.once("connect", () => finish(true));
    socket.once("error", () => finish(false));
  });
}

export interface TlsMaterial {
  readonly certPath: string;
  readonly keyPath: string;
}

/** A throwaway self-signed certificate for the fake API servers (clients do not verify it). */
export function makeSelfSignedCertificate(dir: string): TlsMaterial {
  const certPath = path.join(dir, "apiserver.crt");
  const keyPath = path.join(dir, "apiserver.key");
  execFileSync("openssl", [
    "req", "-x509", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
    "-keyout", keyPath, "-out", certPath, "-days", "1", "-subj", "/CN=kube-apiserver",
  ], { stdio: "pipe" });
  return { certPath, keyPath };
}

export function startFakeApiServer(
  tracker: ProcessTracker,
  name: string,
  host: string,
  port: number,
  tls: TlsMaterial,
  /** How long its etcd checks fail after SIGUSR1 (fake-api-server.ts). */
  etcdHiccupMs = 3000,
): TrackedProcess {
  assertLoopback(host);
  return tracker.spawn(`fake-api ${name} ${host}:${port}`, process.execPath, [
    "-r", TS_LOADER, FAKE_API_SCRIPT, host, String(port), tls.certPath, tls.keyPath, name, String(etcdHiccupMs),
  ]);
}

export async function waitForFakeApiServer(server: TrackedProcess): Promise<void> {
  await waitForOutput(server, FAKE_API_READY_LINE, 10_000);
}

/**
 * A black-holed master, like an EC2 host that vanished: SYNs to host:port get no answer. A
 * python3 listener with backlog 0 never accepts; once one connection fills its accept queue the
 * kernel drops every further SYN, so connects time out instead of being refused.
 *
 * It starts "armed" (not bound) so the swap from a live server is immediate: call engage() once
 * the live server on host:port has exited.
 */
export interface BlackHole {
  readonly process: TrackedProcess;
  engage(): Promise<void>;
}

const BLACK_HOLE_SCRIPT = `
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
print("armed", flush=True)
sys.stdin.readline()
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((host, port))
listener.listen(0)
# Backlog 0 leaves room for exactly one queued connection: take it, so the queue is full.
filler = socket.create_connection((host, port), timeout=1)
print("engaged", flush=True)
sys.stdin.read()
`;

export async function armBlackHole(tracker: ProcessTracker, host: string, port: number): Promise<BlackHole> {
  assertLoopback(host);
  const process = tracker.spawn(`black-hole ${host}:${port}`, "python3", ["-c", BLACK_HOLE_SCRIPT, host, String(port)], {
    stdin: "pipe",
  });
  await waitForOutput(process, "armed", 5000);
  return {
    process,
    async engage() {
      process.child.stdin?.write("go\n");
      await waitForOutput(process, "engaged", 3000);
      // Prove SYNs are dropped (a refused or accepted connect would make this a different test).
      if (await tcpConnects(host, port, 300)) throw new Error(`black hole on ${host}:${port} still completes handshakes`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Config rewrites

/**
 * One textual change to a rendered config so it runs unprivileged on loopback. Each must match
 * at least once: a renderer change that makes a rewrite a silent no-op fails the test instead.
 */
export interface ConfigRewrite {
  readonly find: string | RegExp;
  readonly replace: string;
  /** Why the rendered value cannot be used as is in a test. */
  readonly why: string;
}

export function applyRewrites(config: string, rewrites: readonly ConfigRewrite[]): string {
  let result = config;
  for (const rewrite of rewrites) {
    const pattern = typeof rewrite.find === "string" ? new RegExp(escapeRegExp(rewrite.find), "g") : rewrite.find;
    if (!pattern.global) throw new Error(`rewrite ${String(rewrite.find)} must be global`);
    if (!pattern.test(result)) throw new Error(`rewrite (${rewrite.why}) did not match: ${String(rewrite.find)}`);
    pattern.lastIndex = 0;
    result = result.replace(pattern, rewrite.replace);
  }
  return result;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ---------------------------------------------------------------------------------------------
// HAProxy runtime API

/** `show stat` over the stats socket: status per server of one backend, e.g. "UP", "DOWN", "UP 1/2". */
export function haproxyServerStates(
  socketPath: string,
  backend: string,
  timeoutMs = 1000,
): Promise<Map<string, { status: string; checkStatus: string }>> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: socketPath });
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("connect", () => socket.write("show stat\n"));
    socket.on("data", (chunk) => (text += chunk.toString("utf8")));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("end", () => {
      clearTimeout(timer);
      const [header, ...rows] = text.trim().split("\n");
      const columns = header.replace(/^# /, "").split(",");
      const column = (name: string): number => columns.indexOf(name);
      const states = new Map<string, { status: string; checkStatus: string }>();
      for (const row of rows) {
        const fields = row.split(",");
        if (fields[column("pxname")] !== backend) continue;
        const server = fields[column("svname")];
        if (server === "BACKEND" || server === "FRONTEND") continue;
        states.set(server, { status: fields[column("status")], checkStatus: fields[column("check_status")] });
      }
      resolve(states);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Client traffic

export interface RequestRecord {
  /** performance.now() at start and end. */
  readonly startMs: number;
  readonly endMs: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly servedBy?: string;
}

export interface LoadOptions {
  readonly host: string;
  readonly port: number;
  /** A new batch of requests starts every tickMs... */
  readonly tickMs: number;
  /** ...with this many requests, each on its own new connection (like kubectl). */
  readonly requestsPerTick: number;
  /** Client deadline per request; a frozen master shows up as requests hitting it. */
  readonly timeoutMs: number;
}

/** HTTPS requests through the load balancer at a steady rate, each recorded. */
export class LoadGenerator {
  readonly records: RequestRecord[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private paused = false;

  constructor(private readonly options: LoadOptions) {
    assertLoopback(options.host);
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.paused) return;
      for (let i = 0; i < this.options.requestsPerTick; i++) this.launch();
    }, this.options.tickMs);
  }

  /**
   * Runs fn while no request is in flight, so a crash injected by fn cannot cut a request that
   * had already reached the master: no L4 balancer can replay bytes a dead process swallowed
   * (client-go retries those itself). What remains measured is the balancer's own part: new
   * connections after the failure.
   */
  async quiesce<T>(fn: () => Promise<T>): Promise<T> {
    this.paused = true;
    try {
      // Requests end by themselves within the client timeout.
      await within(Promise.all([...this.inFlight]), this.options.timeoutMs + 500);
      return await fn();
    } finally {
      this.paused = false;
    }
  }

  async stop(): Promise<RequestRecord[]> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.inFlight]);
    return this.records;
  }

  private launch(): void {
    const request = this.requestOnce().then((record) => {
      this.records.push(record);
    });
    this.inFlight.add(request);
    void request.finally(() => this.inFlight.delete(request));
  }

  private requestOnce(): Promise<RequestRecord> {
    return timedHttpsGet(this.options.host, this.options.port, this.options.timeoutMs);
  }
}

/** One HTTPS GET on a new connection (no keep-alive, certificate not verified), never rejects. */
export function timedHttpsGet(host: string, port: number, timeoutMs: number): Promise<RequestRecord> {
  assertLoopback(host);
  const startMs = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (ok: boolean, error?: string, servedBy?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve({ startMs, endMs: performance.now(), ok, error: ok ? undefined : error, servedBy });
    };
    const request = https.request(
      { host, port, path: "/api/v1/namespaces/default/pods", method: "GET", agent: false, rejectUnauthorized: false },
      (response) => {
        const servedBy = String(response.headers["x-served-by"] ?? "");
        response.resume();
        response.on("end", () => finish(response.statusCode === 200, `HTTP ${response.statusCode}`, servedBy));
        response.on("error", (error) => finish(false, error.message));
      },
    );
    const deadline = setTimeout(() => {
      finish(false, "client timeout");
      request.destroy();
    }, timeoutMs);
    request.on("error", (error) => finish(false, error.message));
    request.end();
  });
}

// ---------------------------------------------------------------------------------------------
// Figures

export interface TrafficFigures {
  readonly requests: number;
  readonly failed: number;
  /** Succeeded, but slower than the slow threshold. */
  readonly slow: number;
  /** From the start of the first failed/slow request to the end of the last one; 0 if none. */
  readonly failureWindowMs: number;
  readonly maxLatencyMs: number;
  readonly errors: Record<string, number>;
}

export function trafficFigures(records: readonly RequestRecord[], slowThresholdMs: number): TrafficFigures {
  const bad = records.filter((r) => !r.ok || r.endMs - r.startMs > slowThresholdMs);
  const errors: Record<string, number> = {};
  for (const record of records) {
    if (!record.ok) errors[record.error ?? "unknown"] = (errors[record.error ?? "unknown"] ?? 0) + 1;
  }
  return {
    requests: records.length,
    failed: records.filter((r) => !r.ok).length,
    slow: records.filter((r) => r.ok && r.endMs - r.startMs > slowThresholdMs).length,
    failureWindowMs:
      bad.length === 0 ? 0 : Math.max(...bad.map((r) => r.endMs)) - Math.min(...bad.map((r) => r.startMs)),
    maxLatencyMs: records.reduce((max, r) => Math.max(max, r.endMs - r.startMs), 0),
    errors,
  };
}
